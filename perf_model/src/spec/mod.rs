//! Model specs: the YAML description of a network that every stage of polympc reads.
//!
//! A spec names the input shape, the fixed-point format of the ring the two parties
//! compute in, and the layers. Every activation site says which 2PC operator runs
//! there (`relu`, `poly` or `circa`). Layers run in order, each taking the previous
//! layer's output unless it names another (`input:`); `add` sums two tensors, so
//! residual networks are described directly. [`CheckedSpec`] is a spec whose shapes
//! have been inferred and checked; every later stage takes one.
//!
//! ```yaml
//! name: tiny
//! input: [1, 28, 28]
//! fixed_point: { ring_bits: 32, frac_bits: 12 }
//! layers:
//!   - conv2d: { out_channels: 4, kernel: 3, padding: 1 }
//!     name: conv1
//!   - relu
//!   - maxpool: { kernel: 2 }
//!   - flatten
//!   - dense: { out_features: 10 }
//! ```

mod check;
mod layer;

pub use check::{CheckedSpec, LayerInfo, Source};
pub use layer::{
    Add, BatchNorm, Circa, Coeffs, Conv2d, Dense, Layer, LayerOp, Poly, Pool, Shortcut,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The fixed-point format: values are integers in the ring Z_2^l scaled by 2^-f.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedPoint {
    /// Ring width l in bits: 16, 32 or 64.
    pub ring_bits: u32,
    /// Fractional bits f; products carry 2f and must fit, so 2f < l.
    pub frac_bits: u32,
}

impl FixedPoint {
    /// The ring widths the protocol and the accelerator support.
    pub const RING_BITS: [u32; 3] = [16, 32, 64];

    /// The usual format of an `l`-bit ring: 12 fractional bits, or the most whose
    /// products still fit (`2f < l`) in a narrower ring.
    pub fn for_ring(ring_bits: u32) -> FixedPoint {
        FixedPoint {
            ring_bits,
            frac_bits: 12.min((ring_bits / 2).saturating_sub(1)),
        }
    }
}

impl Default for FixedPoint {
    fn default() -> Self {
        FixedPoint {
            ring_bits: 32,
            frac_bits: 12,
        }
    }
}

/// A tensor shape without the batch dimension: `[C, H, W]` for images, `[N]` when flat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// `(channels, height, width)` of a 3-D shape.
    pub fn chw(&self) -> Option<(usize, usize, usize)> {
        match self.0[..] {
            [c, h, w] => Some((c, h, w)),
            _ => None,
        }
    }

    /// Channels: the first dimension (features of a flat shape).
    pub fn channels(&self) -> usize {
        self.0.first().copied().unwrap_or(0)
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        f.write_str(&dims.join("x"))
    }
}

/// Per-channel input normalisation `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputNorm {
    /// Mean per input channel.
    pub mean: Vec<f64>,
    /// Standard deviation per input channel (positive).
    pub std: Vec<f64>,
}

/// A model spec as written in its YAML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name of the network (reports, file names).
    pub name: String,
    /// Input shape without batch dimension: `[C, H, W]` or `[N]`.
    pub input: Shape,
    /// Ring and fixed-point format of the 2PC computation.
    #[serde(default)]
    pub fixed_point: FixedPoint,
    /// The trained weights (`.safetensors`), relative to the spec file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// How the client normalises its input before sharing it (public, per channel),
    /// as the trainer did; none means the input is used as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<InputNorm>,
    /// The layers, in execution order.
    pub layers: Vec<Layer>,
}

impl ModelSpec {
    /// Parses a spec from YAML text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<ModelSpec, SpecError> {
        serde_yaml_ng::from_str(text).map_err(|e| SpecError::Parse {
            file: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The name of layer `i` and of its tensors in weights files: the name the spec
    /// gives it, else its kind and index (`batchnorm5`).
    pub fn layer_name(&self, i: usize) -> String {
        let l = &self.layers[i];
        l.name
            .clone()
            .unwrap_or_else(|| format!("{}{i}", l.op.kind()))
    }

    /// The spec as YAML text.
    pub fn to_yaml(&self) -> String {
        // A ModelSpec holds only strings, numbers, sequences and maps with string
        // keys, which YAML always represents.
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# unserialisable: {e}"))
    }
}

/// What can be wrong with a spec. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The spec file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not match the spec's schema.
    #[error("{}: {message}", file.display())]
    Parse {
        /// The spec file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field outside the layers is invalid.
    #[error("{}: field `{field}`: {message}", file.display())]
    Field {
        /// The spec file.
        file: PathBuf,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A layer is invalid (bad parameter, shape mismatch, unknown reference).
    #[error("{}: layer {index} {}({kind}): {message}", file.display(), label(name))]
    Layer {
        /// The spec file.
        file: PathBuf,
        /// Position in `layers`, from 0.
        index: usize,
        /// The layer's name, when it has one.
        name: Option<String>,
        /// The layer's kind (`conv2d`, `add`, ...).
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn label(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!("`{n}` ")).unwrap_or_default()
}
