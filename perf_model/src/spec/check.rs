//! Shape inference and checking of a model spec.
//!
//! Walks the layers once, resolving `input:`/`with:` references, inferring every
//! tensor's shape and rejecting what a network cannot compute, with an error that names
//! the layer. The result, [`CheckedSpec`], carries the per-layer shapes and counts that
//! the graph, the cost model and the trainer all read.

use super::layer::{Layer, LayerOp, Shortcut};
use super::{FixedPoint, ModelSpec, Shape, SpecError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a layer's operand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The network input (the client's data).
    Input,
    /// The output of the layer at this index.
    Layer(usize),
}

/// What shape inference found for one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// Operands: the input, then for `add` the second operand.
    pub sources: Vec<Source>,
    /// Shapes of the operands, in the same order.
    pub in_shapes: Vec<Shape>,
    /// Output shape.
    pub out_shape: Shape,
    /// Multiply-accumulates (convolution and dense layers).
    pub macs: u64,
    /// Trainable parameters, counted as PyTorch counts them.
    pub params: u64,
}

/// A model spec whose layers have been checked and whose shapes are known.
#[derive(Debug, Clone)]
pub struct CheckedSpec {
    spec: ModelSpec,
    file: PathBuf,
    layers: Vec<LayerInfo>,
}

impl CheckedSpec {
    /// Reads, parses and checks a spec file.
    pub fn load(path: &Path) -> Result<CheckedSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        CheckedSpec::new(ModelSpec::from_yaml(&text, path)?, path)
    }

    /// Checks a spec; `file` names it in errors and anchors its relative paths.
    pub fn new(spec: ModelSpec, file: &Path) -> Result<CheckedSpec, SpecError> {
        let layers = Checker::new(&spec, file).run()?;
        Ok(CheckedSpec {
            spec,
            file: file.to_path_buf(),
            layers,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The file the spec came from (or was named after).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Per-layer shapes and counts, parallel to `spec().layers`.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The shape of an operand.
    pub fn shape_of(&self, source: Source) -> &Shape {
        match source {
            Source::Input => &self.spec.input,
            Source::Layer(i) => &self.layers[i].out_shape,
        }
    }

    /// The network's output shape.
    pub fn output_shape(&self) -> &Shape {
        self.layers
            .last()
            .map(|l| &l.out_shape)
            .unwrap_or(&self.spec.input)
    }

    /// The weights file, resolved against the spec's folder.
    pub fn weights_path(&self) -> Option<PathBuf> {
        let w = self.spec.weights.as_ref()?;
        let dir = self.file.parent().unwrap_or(Path::new(""));
        Some(dir.join(w))
    }
}

struct Checker<'a> {
    spec: &'a ModelSpec,
    file: &'a Path,
    names: HashMap<&'a str, usize>,
    infos: Vec<LayerInfo>,
    used: Vec<bool>,
}

type Fail = (usize, String);

impl<'a> Checker<'a> {
    fn new(spec: &'a ModelSpec, file: &'a Path) -> Self {
        Checker {
            spec,
            file,
            names: HashMap::new(),
            infos: Vec::with_capacity(spec.layers.len()),
            used: vec![false; spec.layers.len()],
        }
    }

    fn field(&self, field: &'static str, message: String) -> SpecError {
        SpecError::Field {
            file: self.file.to_path_buf(),
            field,
            message,
        }
    }

    fn run(mut self) -> Result<Vec<LayerInfo>, SpecError> {
        self.check_header()?;
        let spec = self.spec;
        for (i, layer) in spec.layers.iter().enumerate() {
            let info = self.layer(i, layer).map_err(|(index, message)| {
                let l = &spec.layers[index];
                SpecError::Layer {
                    file: self.file.to_path_buf(),
                    index,
                    name: l.name.clone(),
                    kind: l.op.kind(),
                    message,
                }
            })?;
            self.infos.push(info);
        }
        // A layer whose output nobody reads is almost always a misspelt reference.
        if let Some(i) = (0..spec.layers.len().saturating_sub(1)).find(|&i| !self.used[i]) {
            let l = &spec.layers[i];
            return Err(SpecError::Layer {
                file: self.file.to_path_buf(),
                index: i,
                name: l.name.clone(),
                kind: l.op.kind(),
                message: "its output is never used (only the last layer may be an output)".into(),
            });
        }
        Ok(self.infos)
    }

    fn check_header(&self) -> Result<(), SpecError> {
        let FixedPoint {
            ring_bits: l,
            frac_bits: f,
        } = self.spec.fixed_point;
        if !FixedPoint::RING_BITS.contains(&l) {
            return Err(self.field(
                "fixed_point.ring_bits",
                format!("{l} is not a supported ring width; use 16, 32 or 64"),
            ));
        }
        if f == 0 || 2 * f >= l {
            return Err(self.field(
                "fixed_point.frac_bits",
                format!(
                    "{f} fractional bits do not fit a {l}-bit ring: need 1 <= f and 2f < l \
                     (products carry 2f fractional bits)"
                ),
            ));
        }
        let dims = self.spec.input.dims();
        if !(dims.len() == 1 || dims.len() == 3) || dims.contains(&0) {
            return Err(self.field(
                "input",
                format!(
                    "shape [{}] is not [C, H, W] or [N] with positive sizes",
                    dims.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(n) = &self.spec.normalize {
            let c = if dims.len() == 3 { dims[0] } else { 1 };
            for (field, v) in [("normalize.mean", &n.mean), ("normalize.std", &n.std)] {
                if v.len() != c {
                    return Err(self.field(
                        field,
                        format!("{} values for {c} input channel(s)", v.len()),
                    ));
                }
            }
            if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(self.field("normalize.std", format!("{s} is not positive")));
            }
            if let Some(m) = n.mean.iter().find(|m| !m.is_finite()) {
                return Err(self.field("normalize.mean", format!("{m} is not finite")));
            }
        }
        if self.spec.layers.is_empty() {
            return Err(self.field("layers", "the network has no layers".into()));
        }
        Ok(())
    }

    /// Resolves a reference by name, from the layer at `at`.
    fn resolve(&mut self, at: usize, name: &str) -> Result<Source, Fail> {
        if name == "input" {
            return Ok(Source::Input);
        }
        match self.names.get(name) {
            Some(&j) => {
                self.used[j] = true;
                Ok(Source::Layer(j))
            }
            None => {
                let later = self.spec.layers[at..]
                    .iter()
                    .any(|l| l.name.as_deref() == Some(name));
                Err((
                    at,
                    if later {
                        format!("refers to `{name}`, which comes later; a layer can only read earlier ones")
                    } else {
                        format!("refers to `{name}`, but no earlier layer has that name")
                    },
                ))
            }
        }
    }

    fn shape(&self, s: Source) -> &Shape {
        match s {
            Source::Input => &self.spec.input,
            Source::Layer(j) => &self.infos[j].out_shape,
        }
    }

    fn layer(&mut self, i: usize, layer: &'a Layer) -> Result<LayerInfo, Fail> {
        let err = |m: String| Err((i, m));
        if let Some(name) = &layer.name {
            if name == "input" {
                return err(
                    "`input` is reserved for the network input; choose another name".into(),
                );
            }
            if self.names.insert(name, i).is_some() {
                return err(format!("the name `{name}` is used by an earlier layer too"));
            }
        }
        let src = match &layer.input {
            Some(n) => self.resolve(i, n)?,
            None if i == 0 => Source::Input,
            None => {
                self.used[i - 1] = true;
                Source::Layer(i - 1)
            }
        };
        let x = self.shape(src).clone();
        let mut sources = vec![src];
        let mut in_shapes = vec![x.clone()];
        let positive = |what: &str, v: usize| {
            if v == 0 {
                Err((i, format!("{what} must be positive")))
            } else {
                Ok(())
            }
        };
        let need_chw = |x: &Shape| {
            x.chw().ok_or((
                i,
                format!(
                    "needs a [C, H, W] input, got {x} (flat); spatial layers come before `flatten`"
                ),
            ))
        };
        let (out, macs, params) = match &layer.op {
            LayerOp::Conv2d(c) => {
                let (ci, h, w) = need_chw(&x)?;
                positive("out_channels", c.out_channels)?;
                positive("kernel", c.kernel)?;
                positive("stride", c.stride)?;
                let (ho, wo) = window(i, (h, w), c.kernel, c.stride, c.padding)?;
                let k2 = (c.kernel * c.kernel) as u64;
                let weights = ci as u64 * c.out_channels as u64 * k2;
                let macs = weights * (ho * wo) as u64;
                let bias = if c.bias { c.out_channels as u64 } else { 0 };
                (Shape(vec![c.out_channels, ho, wo]), macs, weights + bias)
            }
            LayerOp::Dense(d) => {
                positive("out_features", d.out_features)?;
                let [n] = x.dims()[..] else {
                    return err(format!(
                        "needs a flat input, got {x}; put `flatten` before it"
                    ));
                };
                let weights = n as u64 * d.out_features as u64;
                let bias = if d.bias { d.out_features as u64 } else { 0 };
                (Shape(vec![d.out_features]), weights, weights + bias)
            }
            LayerOp::BatchNorm(b) => {
                if !(b.eps > 0.0 && b.eps.is_finite()) {
                    return err(format!("eps must be positive, got {}", b.eps));
                }
                (x.clone(), 0, 2 * x.channels() as u64)
            }
            LayerOp::MaxPool(p) | LayerOp::AvgPool(p) => {
                let (c, h, w) = need_chw(&x)?;
                positive("kernel", p.kernel)?;
                positive("stride", p.stride())?;
                let (ho, wo) = window(i, (h, w), p.kernel, p.stride(), 0)?;
                (Shape(vec![c, ho, wo]), 0, 0)
            }
            LayerOp::Flatten => (Shape(vec![x.numel()]), 0, 0),
            LayerOp::Add(a) => {
                let other = self.resolve(i, &a.with)?;
                let y = self.shape(other).clone();
                check_add(&x, &y, a.shortcut).map_err(|m| (i, m))?;
                sources.push(other);
                in_shapes.push(y);
                (x.clone(), 0, 0)
            }
            LayerOp::Relu => (x.clone(), 0, 0),
            LayerOp::Poly(p) => {
                let c = x.channels();
                for (coef, v) in p.coeffs() {
                    if let Some(n) = v.channels() {
                        if n != c {
                            return err(format!(
                                "`{coef}` has {n} per-channel values but the input {x} has {c} channels"
                            ));
                        }
                    }
                }
                let r = &p.relu_channels;
                if let Some(&k) = r.iter().find(|&&k| k >= c) {
                    return err(format!(
                        "`relu_channels` names channel {k}, but the input {x} has {c} channels"
                    ));
                }
                if r.windows(2).any(|w| w[0] >= w[1]) {
                    return err(
                        "`relu_channels` must be in increasing order, each channel once".into(),
                    );
                }
                if !r.is_empty() && r.len() == c {
                    return err(format!(
                        "`relu_channels` names all {c} channels: write `relu` for an all-ReLU site"
                    ));
                }
                let per = if p.per_channel() { c } else { 1 };
                (x.clone(), 0, 3 * per as u64)
            }
            LayerOp::Circa(c) => {
                let l = self.spec.fixed_point.ring_bits;
                if c.truncated_bits == 0 || c.truncated_bits >= l {
                    return err(format!(
                        "truncated_bits = {} must be between 1 and {} for a {l}-bit ring",
                        c.truncated_bits,
                        l - 1
                    ));
                }
                (x.clone(), 0, 0)
            }
        };
        Ok(LayerInfo {
            sources,
            in_shapes,
            out_shape: out,
            macs,
            params,
        })
    }
}

/// Output size of a sliding window, or why there is none.
fn window(
    i: usize,
    (h, w): (usize, usize),
    k: usize,
    s: usize,
    p: usize,
) -> Result<(usize, usize), Fail> {
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    if k > hp || k > wp {
        return Err((
            i,
            format!("kernel {k}x{k} is larger than its (padded) input {hp}x{wp}"),
        ));
    }
    if p >= k {
        return Err((
            i,
            format!("padding {p} must be smaller than the kernel {k}"),
        ));
    }
    Ok(((hp - k) / s + 1, (wp - k) / s + 1))
}

/// Whether `y` can be added to `x` with the given shortcut.
fn check_add(x: &Shape, y: &Shape, shortcut: Shortcut) -> Result<(), String> {
    match shortcut {
        Shortcut::Identity if x == y => Ok(()),
        Shortcut::Identity => Err(format!(
            "cannot add tensors of different shapes {x} and {y}{}",
            if x.chw().is_some() && y.chw().is_some() {
                "; for a downsampling shortcut write `shortcut: pad`, or add a 1x1 conv2d projection"
            } else {
                ""
            }
        )),
        Shortcut::Pad => {
            let (Some((c, h, w)), Some((cy, hy, wy))) = (x.chw(), y.chw()) else {
                return Err(format!(
                    "`shortcut: pad` needs [C, H, W] tensors, got {x} and {y}"
                ));
            };
            let ok =
                cy <= c && hy >= h && wy >= w && hy % h == 0 && wy % w == 0 && hy / h == wy / w;
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "`shortcut: pad` cannot bring {y} to {x}: it subsamples by a whole factor \
                     and pads channels, so it needs at most {c} channels and {h}x{w} times a factor"
                ))
            }
        }
    }
}
