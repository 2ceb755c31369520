//! Layers of a model spec and their YAML form.
//!
//! A layer is written as its kind, alone (`- relu`) or with its parameters
//! (`- conv2d: {out_channels: 16, kernel: 3}`), with `name:` and `input:` beside the
//! kind when it needs them. The (de)serialisers are written by hand so that this
//! form keeps serde's line numbers in errors and rejects unknown fields.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One layer: an operation, an optional name, and where its input comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The layer's name, so other layers can refer to it.
    pub name: Option<String>,
    /// The layer whose output this one takes (`input` for the network input);
    /// by default the previous layer.
    pub input: Option<String>,
    /// What the layer computes.
    pub op: LayerOp,
}

impl Layer {
    /// A layer without name or explicit input.
    pub fn new(op: LayerOp) -> Layer {
        Layer {
            name: None,
            input: None,
            op,
        }
    }

    /// The layer with a name.
    pub fn named(mut self, name: impl Into<String>) -> Layer {
        self.name = Some(name.into());
        self
    }

    /// The layer taking its input from the named layer.
    pub fn from(mut self, input: impl Into<String>) -> Layer {
        self.input = Some(input.into());
        self
    }
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerOp {
    /// 2-D convolution.
    Conv2d(Conv2d),
    /// Fully connected layer on a flat input.
    Dense(Dense),
    /// Batch normalisation (per channel affine at inference; folded where it can be).
    BatchNorm(BatchNorm),
    /// Max pooling (garbled comparisons in 2PC).
    MaxPool(Pool),
    /// Average pooling (linear in 2PC).
    AvgPool(Pool),
    /// Reshape to one dimension.
    Flatten,
    /// Residual add of this layer's input and another layer's output.
    Add(Add),
    /// ReLU activation site (garbled-circuit ReLU).
    Relu,
    /// Polynomial activation site `w2 x^2 + w1 x + b` (one Beaver square).
    Poly(Poly),
    /// Circa's stochastic ReLU (sign of the top `l - k` bits).
    Circa(Circa),
}

impl LayerOp {
    /// All layer kinds as written in YAML.
    pub const KINDS: [&'static str; 10] = [
        "conv2d",
        "dense",
        "batchnorm",
        "maxpool",
        "avgpool",
        "flatten",
        "add",
        "relu",
        "poly",
        "circa",
    ];

    /// The kind as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerOp::Conv2d(_) => "conv2d",
            LayerOp::Dense(_) => "dense",
            LayerOp::BatchNorm(_) => "batchnorm",
            LayerOp::MaxPool(_) => "maxpool",
            LayerOp::AvgPool(_) => "avgpool",
            LayerOp::Flatten => "flatten",
            LayerOp::Add(_) => "add",
            LayerOp::Relu => "relu",
            LayerOp::Poly(_) => "poly",
            LayerOp::Circa(_) => "circa",
        }
    }

    /// Whether this is an activation site (ReLU, polynomial or Circa ReLU).
    pub fn is_activation(&self) -> bool {
        matches!(self, LayerOp::Relu | LayerOp::Poly(_) | LayerOp::Circa(_))
    }
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// 2-D convolution with square kernels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Zero padding on each side (default 0).
    #[serde(default)]
    pub padding: usize,
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

/// Fully connected layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Output features.
    pub out_features: usize,
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

/// Batch normalisation over the first dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {
    /// Added to the variance before the square root (default 1e-5).
    #[serde(default = "BatchNorm::default_eps")]
    pub eps: f64,
}

impl BatchNorm {
    fn default_eps() -> f64 {
        1e-5
    }
}

impl Default for BatchNorm {
    fn default() -> Self {
        BatchNorm {
            eps: BatchNorm::default_eps(),
        }
    }
}

/// Max or average pooling over square windows, without padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Window height and width.
    pub kernel: usize,
    /// Stride (default: the kernel size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
}

impl Pool {
    /// The stride in effect.
    pub fn stride(&self) -> usize {
        self.stride.unwrap_or(self.kernel)
    }
}

/// How the second operand of a residual add is brought to the first one's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// The shapes are equal.
    #[default]
    Identity,
    /// Parameter-free downsampling shortcut (ResNet's option A): subsample by the
    /// ratio of spatial sizes and pad the missing channels with zeros.
    Pad,
}

/// Residual add: this layer's input plus the output of layer `with`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// Name of the layer whose output is added (`input` for the network input).
    pub with: String,
    /// How `with` is matched to this layer's input shape (default identity).
    #[serde(default)]
    pub shortcut: Shortcut,
}

/// Coefficients of a polynomial activation: one per layer or one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Coeffs {
    /// One value for every channel.
    Layer(f64),
    /// One value per channel.
    Channel(Vec<f64>),
}

impl Coeffs {
    /// The coefficient of channel `c`.
    pub fn at(&self, c: usize) -> f64 {
        match self {
            Coeffs::Layer(v) => *v,
            Coeffs::Channel(v) => v[c],
        }
    }

    /// Number of per-channel values, if per channel.
    pub fn channels(&self) -> Option<usize> {
        match self {
            Coeffs::Layer(_) => None,
            Coeffs::Channel(v) => Some(v.len()),
        }
    }
}

/// Polynomial activation `w2 x^2 + w1 x + b`. The default is the identity
/// (w2 = 0, w1 = 1, b = 0): the straight-through starting point of training.
///
/// A site gated per channel lists the channels that keep the garbled-circuit ReLU in
/// `relu_channels`; the polynomial computes the others (their coefficients are the
/// per-channel values at those channels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poly {
    /// Coefficient of x^2.
    #[serde(default = "Poly::zero")]
    pub w2: Coeffs,
    /// Coefficient of x.
    #[serde(default = "Poly::unit")]
    pub w1: Coeffs,
    /// Constant term.
    #[serde(default = "Poly::zero")]
    pub b: Coeffs,
    /// Channels computed by the garbled-circuit ReLU instead, in increasing order;
    /// empty for a site that is all polynomial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relu_channels: Vec<usize>,
}

impl Poly {
    fn zero() -> Coeffs {
        Coeffs::Layer(0.0)
    }
    fn unit() -> Coeffs {
        Coeffs::Layer(1.0)
    }
    /// The three coefficient sets, named.
    pub fn coeffs(&self) -> [(&'static str, &Coeffs); 3] {
        [("w2", &self.w2), ("w1", &self.w1), ("b", &self.b)]
    }

    /// Whether any coefficient is given per channel (then all are stored per channel).
    pub fn per_channel(&self) -> bool {
        self.coeffs().iter().any(|(_, c)| c.channels().is_some())
    }

    /// Whether some channels keep the garbled-circuit ReLU (a site gated per channel).
    pub fn mixed(&self) -> bool {
        !self.relu_channels.is_empty()
    }

    /// The channels of `channels` the polynomial computes: those not in
    /// `relu_channels`, in increasing order.
    pub fn poly_channels(&self, channels: usize) -> Vec<usize> {
        (0..channels)
            .filter(|c| self.relu_channels.binary_search(c).is_err())
            .collect()
    }
}

impl Default for Poly {
    fn default() -> Self {
        Poly {
            w2: Poly::zero(),
            w1: Poly::unit(),
            b: Poly::zero(),
            relu_channels: Vec::new(),
        }
    }
}

/// Circa's stochastic ReLU: the sign test drops the `truncated_bits` low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circa {
    /// Low bits k left out of the sign test (1 <= k < ring bits).
    pub truncated_bits: u32,
}

// ---- YAML form -----------------------------------------------------------------

impl Serialize for Layer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let unit = matches!(self.op, LayerOp::Flatten | LayerOp::Relu);
        if unit && self.name.is_none() && self.input.is_none() {
            return s.serialize_str(self.op.kind());
        }
        let mut m = s.serialize_map(None)?;
        let kind = self.op.kind();
        match &self.op {
            LayerOp::Conv2d(p) => m.serialize_entry(kind, p)?,
            LayerOp::Dense(p) => m.serialize_entry(kind, p)?,
            LayerOp::BatchNorm(p) => m.serialize_entry(kind, p)?,
            LayerOp::MaxPool(p) | LayerOp::AvgPool(p) => m.serialize_entry(kind, p)?,
            LayerOp::Add(p) => m.serialize_entry(kind, p)?,
            LayerOp::Poly(p) => m.serialize_entry(kind, p)?,
            LayerOp::Circa(p) => m.serialize_entry(kind, p)?,
            LayerOp::Flatten | LayerOp::Relu => m.serialize_entry(kind, &())?,
        }
        if let Some(n) = &self.name {
            m.serialize_entry("name", n)?;
        }
        if let Some(i) = &self.input {
            m.serialize_entry("input", i)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Layer, D::Error> {
        d.deserialize_any(LayerVisitor)
    }
}

struct LayerVisitor;

/// Kinds whose parameters all have defaults may be written bare.
fn bare<E: de::Error>(kind: &str) -> Result<LayerOp, E> {
    Ok(match kind {
        "flatten" => LayerOp::Flatten,
        "relu" => LayerOp::Relu,
        "batchnorm" => LayerOp::BatchNorm(BatchNorm::default()),
        "poly" => LayerOp::Poly(Poly::default()),
        "conv2d" | "dense" | "maxpool" | "avgpool" | "add" | "circa" => {
            return Err(E::custom(format_args!(
                "layer `{kind}` needs parameters, e.g. `{kind}: {{...}}`"
            )))
        }
        other => return Err(E::unknown_variant(other, &LayerOp::KINDS)),
    })
}

/// Parameters of a kind; `null` (as in `relu:` followed by `name:`) means defaults.
fn params<'de, A: MapAccess<'de>>(kind: &str, map: &mut A) -> Result<LayerOp, A::Error> {
    fn or_bare<T, E: de::Error>(
        v: Option<T>,
        kind: &str,
        f: fn(T) -> LayerOp,
    ) -> Result<LayerOp, E> {
        match v {
            Some(p) => Ok(f(p)),
            None => bare(kind),
        }
    }
    match kind {
        "conv2d" => or_bare(map.next_value()?, kind, LayerOp::Conv2d),
        "dense" => or_bare(map.next_value()?, kind, LayerOp::Dense),
        "batchnorm" => or_bare(map.next_value()?, kind, LayerOp::BatchNorm),
        "maxpool" => or_bare(map.next_value()?, kind, LayerOp::MaxPool),
        "avgpool" => or_bare(map.next_value()?, kind, LayerOp::AvgPool),
        "add" => or_bare(map.next_value()?, kind, LayerOp::Add),
        "poly" => or_bare(map.next_value()?, kind, LayerOp::Poly),
        "circa" => or_bare(map.next_value()?, kind, LayerOp::Circa),
        "flatten" | "relu" => {
            // Read (and so validate) the empty parameters.
            map.next_value::<Option<Empty>>()?;
            bare(kind)
        }
        other => Err(de::Error::unknown_variant(other, &LayerOp::KINDS)),
    }
}

/// The (empty) parameters of `flatten` and `relu`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl<'de> Visitor<'de> for LayerVisitor {
    type Value = Layer;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a layer: one of {} (alone or with parameters)",
            LayerOp::KINDS.join(", ")
        )
    }

    fn visit_str<E: de::Error>(self, kind: &str) -> Result<Layer, E> {
        bare(kind).map(Layer::new)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Layer, A::Error> {
        let (mut name, mut input, mut op) = (None, None, None::<LayerOp>);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => name = Some(map.next_value::<String>()?),
                "input" => input = Some(map.next_value::<String>()?),
                kind => {
                    if let Some(first) = &op {
                        return Err(de::Error::custom(format_args!(
                            "one layer has two kinds, `{}` and `{kind}`; start a new list item",
                            first.kind()
                        )));
                    }
                    op = Some(params(kind, &mut map)?);
                }
            }
        }
        let op = op.ok_or_else(|| {
            de::Error::custom(format_args!(
                "layer without a kind; expected one of {}",
                LayerOp::KINDS.join(", ")
            ))
        })?;
        Ok(Layer { name, input, op })
    }
}
