//! Networks built from model specs, so what is trained is exactly what the 2PC graph
//! describes: the same layers, the same residual connections, the same activation at
//! every site.
//!
//! Activations: `relu` is ReLU; `poly` is the trainable `w2 x^2 + w1 x + b` (per
//! channel or per layer, starting from the spec's coefficients, by default the
//! identity: the straight-through initialisation); `circa` is Circa's stochastic ReLU
//! with its fault simulated exactly: the input is encoded in the spec's ring, split
//! into two random additive shares, each share loses its `k` low bits, and the sign
//! comes from their sum, as in the garbled sign test.

use perf_model::spec::{CheckedSpec, Coeffs, LayerOp, ModelSpec, Poly, Shortcut, Source};
use perf_model::FixedPoint;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// What can run at an activation site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Garbled-circuit ReLU.
    Relu,
    /// Polynomial `w2 x^2 + w1 x + b` (one Beaver square).
    Poly,
    /// Circa's stochastic ReLU with `k` truncated bits.
    Circa(u32),
}

impl Choice {
    /// Short name (`relu`, `poly`, `circa`).
    pub fn name(self) -> &'static str {
        match self {
            Choice::Relu => "relu",
            Choice::Poly => "poly",
            Choice::Circa(_) => "circa",
        }
    }

    /// The spec's choice at an activation layer.
    pub fn of(op: &LayerOp) -> Option<Choice> {
        match op {
            LayerOp::Relu => Some(Choice::Relu),
            LayerOp::Poly(_) => Some(Choice::Poly),
            LayerOp::Circa(c) => Some(Choice::Circa(c.truncated_bits)),
            _ => None,
        }
    }
}

/// How a network is searched: which choices each activation site has.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    /// Offer Circa ReLU with this many truncated bits beside ReLU and the polynomial.
    pub circa_k: Option<u32>,
    /// The logit the spec's own choice starts with (the others start at 0).
    pub init_logit: f64,
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            circa_k: None,
            init_logit: 1.0,
        }
    }
}

/// An activation site: its choices, its gate and its polynomial's coefficients.
#[derive(Debug)]
pub struct Site {
    /// The spec layer.
    pub layer: usize,
    /// Elements per example (the size of the site's tensor).
    pub elements: u64,
    /// The choices, in the order of the gate's logits.
    pub options: Vec<Choice>,
    /// The gate's logits `[K]` while the choice is searched.
    logits: Option<Tensor>,
    /// The choice in force once fixed (an index into `options`).
    fixed: Option<usize>,
    /// Polynomial coefficients, one per channel (or one for the layer).
    pub w2: Tensor,
    /// Coefficient of x.
    pub w1: Tensor,
    /// Constant term.
    pub b: Tensor,
    /// For a spec's site gated per channel, `[C]`: 1 on the channels that keep ReLU
    /// when the polynomial is chosen (its `relu_channels`), 0 elsewhere.
    relu_channels: Option<(Vec<usize>, Tensor)>,
}

impl Site {
    /// The gate `[K]`: one-hot on the chosen option in the forward pass, with the
    /// softmax's gradient (straight-through estimator) while searching.
    pub fn gates(&self) -> Tensor {
        let k = self.options.len() as i64;
        let dev = self.w1.device();
        match (&self.logits, self.fixed) {
            (Some(logits), None) => {
                let soft = logits.softmax(0, Kind::Float);
                let hard = logits.argmax(0, false).one_hot(k).to_kind(Kind::Float);
                hard + &soft - soft.detach()
            }
            (_, fixed) => Tensor::from_slice(&[fixed.unwrap_or(0) as i64])
                .one_hot(k)
                .squeeze_dim(0)
                .to_kind(Kind::Float)
                .to_device(dev),
        }
    }

    /// The option the gate picks now.
    pub fn choice(&self) -> Choice {
        let i = match (&self.logits, self.fixed) {
            (_, Some(i)) => i,
            (Some(l), None) => l.argmax(0, false).int64_value(&[]) as usize,
            (None, None) => 0,
        };
        self.options[i]
    }

    /// Whether the gate is still searched.
    pub fn searching(&self) -> bool {
        self.fixed.is_none() && self.logits.is_some()
    }

    /// Fixes the choice (to `c` when given, else the gate's current pick).
    pub fn fix(&mut self, c: Option<Choice>) {
        let c = c.unwrap_or_else(|| self.choice());
        self.fixed = self.options.iter().position(|&o| o == c).or(Some(0));
    }

    fn poly(&self, x: &Tensor) -> Tensor {
        x * x * self.w2.view_as_shape(x) + x * self.w1.view_as_shape(x) + self.b.view_as_shape(x)
    }

    fn apply(&self, c: Choice, x: &Tensor, fp: FixedPoint) -> Tensor {
        match c {
            Choice::Relu => x.relu(),
            Choice::Poly => match &self.relu_channels {
                Some((_, m)) => {
                    let m = m.view_as_shape(x);
                    x.relu() * &m + self.poly(x) * (1.0 - &m)
                }
                None => self.poly(x),
            },
            Choice::Circa(k) => x * circa_positive(x, fp, k).to_kind(x.kind()),
        }
    }

    fn forward(&self, x: &Tensor, fp: FixedPoint) -> Tensor {
        if !self.searching() {
            return self.apply(self.choice(), x, fp);
        }
        let g = self.gates();
        self.options
            .iter()
            .enumerate()
            .map(|(i, &c)| self.apply(c, x, fp) * g.get(i as i64))
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| x.shallow_clone())
    }
}

/// A network built from a checked spec, its parameters in a `VarStore` path.
#[derive(Debug)]
pub struct SpecNet {
    layers: Vec<(Vec<Source>, Block)>,
    sites: Vec<Site>,
    names: Vec<String>,
    fixed_point: FixedPoint,
}

#[derive(Debug)]
enum Block {
    Conv(nn::Conv2D),
    Dense(nn::Linear),
    BatchNorm(nn::BatchNorm),
    MaxPool { kernel: i64, stride: i64 },
    AvgPool { kernel: i64, stride: i64 },
    Flatten,
    Add(Shortcut),
    Site(usize),
}

impl SpecNet {
    /// Creates the network's variables under `root` and returns the network, every
    /// activation site fixed to the spec's choice.
    pub fn new(root: &nn::Path, spec: &CheckedSpec) -> SpecNet {
        SpecNet::build(root, spec, None)
    }

    /// The network with every activation site's choice searched: ReLU or polynomial
    /// (or Circa ReLU), through a trainable gate per site.
    pub fn search(root: &nn::Path, spec: &CheckedSpec, space: &SearchSpace) -> SpecNet {
        SpecNet::build(root, spec, Some(space))
    }

    fn build(root: &nn::Path, spec: &CheckedSpec, space: Option<&SearchSpace>) -> SpecNet {
        let mut layers = Vec::with_capacity(spec.layers().len());
        let mut sites = Vec::new();
        let mut names = Vec::new();
        for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
            let name = spec.spec().layer_name(i);
            let p = root / name.as_str();
            names.push(name);
            let in_ch = info.in_shapes[0].channels() as i64;
            let block = match &layer.op {
                LayerOp::Conv2d(c) => Block::Conv(nn::conv2d(
                    &p,
                    in_ch,
                    c.out_channels as i64,
                    c.kernel as i64,
                    nn::ConvConfig {
                        stride: c.stride as i64,
                        padding: c.padding as i64,
                        bias: c.bias,
                        ..Default::default()
                    },
                )),
                LayerOp::Dense(d) => Block::Dense(nn::linear(
                    &p,
                    in_ch,
                    d.out_features as i64,
                    nn::LinearConfig {
                        bias: d.bias,
                        ..Default::default()
                    },
                )),
                LayerOp::BatchNorm(b) => {
                    let cfg = nn::BatchNormConfig {
                        eps: b.eps,
                        ..Default::default()
                    };
                    Block::BatchNorm(match info.in_shapes[0].dims().len() {
                        1 => nn::batch_norm1d(&p, in_ch, cfg),
                        _ => nn::batch_norm2d(&p, in_ch, cfg),
                    })
                }
                LayerOp::MaxPool(q) => Block::MaxPool {
                    kernel: q.kernel as i64,
                    stride: q.stride() as i64,
                },
                LayerOp::AvgPool(q) => Block::AvgPool {
                    kernel: q.kernel as i64,
                    stride: q.stride() as i64,
                },
                LayerOp::Flatten => Block::Flatten,
                LayerOp::Add(a) => Block::Add(a.shortcut),
                LayerOp::Relu | LayerOp::Poly(_) | LayerOp::Circa(_) => {
                    sites.push(site(&p, i, &layer.op, info, space));
                    Block::Site(sites.len() - 1)
                }
            };
            layers.push((info.sources.clone(), block));
        }
        SpecNet {
            layers,
            sites,
            names,
            fixed_point: spec.spec().fixed_point,
        }
    }

    /// The activation sites, in layer order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The current choice at every site.
    pub fn choices(&self) -> Vec<Choice> {
        self.sites.iter().map(Site::choice).collect()
    }

    /// Fixes every site's choice (to `plan` when given, else the gates' picks).
    pub fn fix_choices(&mut self, plan: Option<&[Choice]>) {
        for (i, s) in self.sites.iter_mut().enumerate() {
            s.fix(plan.map(|p| p[i]));
        }
    }

    /// The spec with the current choices and coefficients written in: `relu`,
    /// `poly` with per-channel coefficients, or `circa`, site by site.
    pub fn trained_spec(&self, spec: &ModelSpec) -> ModelSpec {
        let mut out = spec.clone();
        for s in &self.sites {
            let coeffs = |t: &Tensor| {
                let v = Vec::<f64>::try_from(
                    t.detach().to_kind(Kind::Double).to_device(tch::Device::Cpu),
                )
                .unwrap_or_default();
                if v.len() == 1 {
                    Coeffs::Layer(v[0])
                } else {
                    Coeffs::Channel(v)
                }
            };
            out.layers[s.layer].op = match s.choice() {
                Choice::Relu => LayerOp::Relu,
                Choice::Poly => LayerOp::Poly(Poly {
                    w2: coeffs(&s.w2),
                    w1: coeffs(&s.w1),
                    b: coeffs(&s.b),
                    relu_channels: s
                        .relu_channels
                        .as_ref()
                        .map_or_else(Vec::new, |(r, _)| r.clone()),
                }),
                Choice::Circa(k) => LayerOp::Circa(perf_model::spec::Circa { truncated_bits: k }),
            };
        }
        out
    }

    /// The variables of `vs` (this network's store) named as a network built from
    /// `trained` (its [`SpecNet::trained_spec`]) names them: gates left out, and a
    /// site's coefficients only where it is a polynomial.
    pub fn export(&self, vs: &nn::VarStore, trained: &ModelSpec) -> Vec<(String, Tensor)> {
        let vars = vs.variables();
        let mut out = Vec::new();
        let site_of: std::collections::HashMap<usize, &Site> =
            self.sites.iter().map(|s| (s.layer, s)).collect();
        for (i, old) in self.names.iter().enumerate() {
            let new = trained.layer_name(i);
            let keep_coeffs = matches!(trained.layers[i].op, LayerOp::Poly(_));
            let prefix = format!("{old}.");
            let mut mine: Vec<(&String, &Tensor)> = vars
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .collect();
            mine.sort_by(|a, b| a.0.cmp(b.0));
            for (k, t) in mine {
                let suffix = &k[prefix.len()..];
                let site_var = site_of.contains_key(&i);
                if site_var && (suffix == "logits" || !keep_coeffs) {
                    continue;
                }
                out.push((format!("{new}.{suffix}"), t.detach().shallow_clone()));
            }
        }
        out
    }

    /// Forward pass recording each site's input.
    pub fn site_inputs(&self, xs: &Tensor) -> Vec<Tensor> {
        let mut seen = Vec::new();
        let _ = self.run(xs, false, Some(&mut seen));
        seen
    }

    fn run(&self, xs: &Tensor, train: bool, mut capture: Option<&mut Vec<Tensor>>) -> Tensor {
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for (sources, block) in &self.layers {
            let get = |s: Source| match s {
                Source::Input => xs,
                Source::Layer(j) => &outs[j],
            };
            let x = get(sources[0]);
            let y = match block {
                Block::Conv(c) => c.forward_t(x, train),
                Block::Dense(d) => d.forward_t(x, train),
                Block::BatchNorm(b) => b.forward_t(x, train),
                Block::MaxPool { kernel, stride } => x.max_pool2d(
                    [*kernel, *kernel],
                    [*stride, *stride],
                    [0, 0],
                    [1, 1],
                    false,
                ),
                Block::AvgPool { kernel, stride } => x.avg_pool2d(
                    [*kernel, *kernel],
                    [*stride, *stride],
                    [0, 0],
                    false,
                    true,
                    None,
                ),
                Block::Flatten => x.flatten(1, -1),
                Block::Add(shortcut) => x + pad_shortcut(get(sources[1]), x, *shortcut),
                Block::Site(s) => {
                    if let Some(c) = capture.as_deref_mut() {
                        c.push(x.detach().shallow_clone());
                    }
                    self.sites[*s].forward(x, self.fixed_point)
                }
            };
            outs.push(y);
        }
        outs.pop().unwrap_or_else(|| xs.shallow_clone())
    }
}

/// A site's variables: per-channel polynomial coefficients (from the spec's, else the
/// identity) and, when searched, the gate's logits.
fn site(
    p: &nn::Path,
    layer: usize,
    op: &LayerOp,
    info: &perf_model::spec::LayerInfo,
    space: Option<&SearchSpace>,
) -> Site {
    let dims = info.in_shapes[0].dims();
    let own = Choice::of(op).unwrap_or(Choice::Relu);
    let poly = match op {
        LayerOp::Poly(poly) => poly.clone(),
        _ => Poly::default(),
    };
    // Searched sites and per-channel specs train one coefficient per channel.
    let channels = if space.is_some() || poly.per_channel() {
        dims[0]
    } else {
        1
    };
    // A fixed ReLU or Circa site has no polynomial: its coefficients are constants,
    // not variables of the store.
    let variables = space.is_some() || own == Choice::Poly;
    let var = |name: &str, c: &Coeffs| {
        let values: Vec<f32> = (0..channels).map(|k| c.at(k) as f32).collect();
        let init = Tensor::from_slice(&values);
        if !variables {
            return init.to_device(p.device());
        }
        let mut v = p.var(name, &[channels as i64], nn::Init::Const(0.0));
        tch::no_grad(|| v.copy_(&init));
        v
    };
    let (w2, w1, b) = (var("w2", &poly.w2), var("w1", &poly.w1), var("b", &poly.b));
    let elements = info.out_shape.numel() as u64;
    let relu_channels = poly.mixed().then(|| {
        let m: Vec<f32> = (0..dims[0])
            .map(|k| f32::from(u8::from(poly.relu_channels.binary_search(&k).is_ok())))
            .collect();
        let m = Tensor::from_slice(&m).to_device(p.device());
        (poly.relu_channels.clone(), m)
    });
    match space {
        None => Site {
            layer,
            elements,
            options: vec![own],
            logits: None,
            fixed: Some(0),
            w2,
            w1,
            b,
            relu_channels,
        },
        Some(space) => {
            let mut options = vec![Choice::Relu, Choice::Poly];
            match (own, space.circa_k) {
                (Choice::Circa(k), _) | (_, Some(k)) => options.push(Choice::Circa(k)),
                _ => {}
            }
            let init: Vec<f32> = options
                .iter()
                .map(|&o| {
                    if o == own {
                        space.init_logit as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut logits = p.var("logits", &[options.len() as i64], nn::Init::Const(0.0));
            tch::no_grad(|| logits.copy_(&Tensor::from_slice(&init)));
            Site {
                layer,
                elements,
                options,
                logits: Some(logits),
                fixed: None,
                w2,
                w1,
                b,
                relu_channels,
            }
        }
    }
}

impl ModuleT for SpecNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.run(xs, train, None)
    }
}

trait BroadcastLike {
    fn view_as_shape(&self, x: &Tensor) -> Tensor;
}

impl BroadcastLike for Tensor {
    /// Per-channel coefficients `[C]`, reshaped to broadcast over `x = [N, C, ...]`.
    fn view_as_shape(&self, x: &Tensor) -> Tensor {
        let mut shape = vec![1i64; x.dim()];
        shape[1] = self.numel() as i64;
        self.view(&shape[..])
    }
}

/// Brings the shortcut `y` to `x`'s shape: subsample and zero-pad channels.
fn pad_shortcut(y: &Tensor, x: &Tensor, shortcut: Shortcut) -> Tensor {
    match shortcut {
        Shortcut::Identity => y.shallow_clone(),
        Shortcut::Pad => {
            let (xs, ys) = (x.size(), y.size());
            let step = ys[2] / xs[2];
            let sub = y.slice(2, 0, None, step).slice(3, 0, None, step);
            let missing = xs[1] - ys[1];
            // Pad channels at the end (F.pad takes the last dimension first).
            sub.constant_pad_nd([0, 0, 0, 0, 0, missing])
        }
    }
}

/// Circa's truncated sign test on random additive shares of `x` in Z_2^l:
/// 1 where the garbled circuit would call `x` positive (so ReLU passes it), else 0.
fn circa_positive(x: &Tensor, fp: FixedPoint, k: u32) -> Tensor {
    let _guard = tch::no_grad_guard();
    let enc = crate::fixed::encode(&x.detach(), fp);
    crate::fixed::circa_positive_ring(&enc, fp.ring_bits, k)
}
