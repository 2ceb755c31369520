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

/// What a site computes: one choice for all its channels, or, with
/// [`Choice::Poly`], the garbled ReLU on `relu_channels` and the polynomial on the
/// others (a site gated per channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePlan {
    /// The site's choice (the polynomial's, for a site gated per channel).
    pub choice: Choice,
    /// Channels that keep the garbled ReLU, in increasing order (only with `Poly`).
    pub relu_channels: Vec<usize>,
}

impl From<Choice> for SitePlan {
    fn from(choice: Choice) -> Self {
        SitePlan {
            choice,
            relu_channels: Vec::new(),
        }
    }
}

impl SitePlan {
    /// `relu`, `poly`, `circa8`, or `poly/relu=1,3` for a site gated per channel.
    pub fn name(&self) -> String {
        let base = match self.choice {
            Choice::Circa(k) => format!("circa{k}"),
            c => c.name().to_string(),
        };
        if self.relu_channels.is_empty() {
            return base;
        }
        let list: Vec<String> = self.relu_channels.iter().map(|c| c.to_string()).collect();
        format!("{base}/relu={}", list.join(","))
    }

    /// The plan [`SitePlan::name`] wrote.
    pub fn parse(s: &str) -> Option<SitePlan> {
        let (base, relu) = match s.split_once("/relu=") {
            Some((b, list)) => (
                b,
                list.split(',')
                    .map(|c| c.parse().ok())
                    .collect::<Option<Vec<usize>>>()?,
            ),
            None => (s, Vec::new()),
        };
        let choice = match base {
            "relu" => Choice::Relu,
            "poly" => Choice::Poly,
            _ => Choice::Circa(base.strip_prefix("circa")?.parse().ok()?),
        };
        (relu.is_empty() || choice == Choice::Poly).then_some(SitePlan {
            choice,
            relu_channels: relu,
        })
    }

    /// The elements of a site of `elements` in `channels` channels that go through a
    /// garbled circuit (ReLU or Circa).
    pub fn relu_elements(&self, elements: u64, channels: usize) -> u64 {
        match self.choice {
            Choice::Poly => elements / channels.max(1) as u64 * self.relu_channels.len() as u64,
            _ => elements,
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
    /// One gate per channel (ReLU or polynomial) instead of one per site.
    pub per_channel: bool,
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            circa_k: None,
            init_logit: 1.0,
            per_channel: false,
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
    /// Channels of the site's tensor.
    pub channels: usize,
    /// The choices, in the order of the gate's logits.
    pub options: Vec<Choice>,
    /// The gate's logits while the choice is searched: `[K]`, or `[C, K]` with a gate
    /// per channel.
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
    /// The gate `[K]` (or `[C, K]`, a gate per channel): one-hot on the chosen option
    /// in the forward pass, with the softmax's gradient (straight-through estimator)
    /// while searching.
    pub fn gates(&self) -> Tensor {
        let k = self.options.len() as i64;
        let dev = self.w1.device();
        match (&self.logits, self.fixed) {
            (Some(logits), None) => {
                let last = logits.dim() as i64 - 1;
                let soft = logits.softmax(last, Kind::Float);
                let hard = logits.argmax(last, false).one_hot(k).to_kind(Kind::Float);
                hard + &soft - soft.detach()
            }
            (_, fixed) => Tensor::from_slice(&[fixed.unwrap_or(0) as i64])
                .one_hot(k)
                .squeeze_dim(0)
                .to_kind(Kind::Float)
                .to_device(dev),
        }
    }

    /// Whether the site has a gate per channel.
    pub fn per_channel(&self) -> bool {
        self.logits.as_ref().is_some_and(|l| l.dim() == 2)
    }

    /// What the site computes now: the fixed plan, or the gates' picks.
    pub fn plan(&self) -> SitePlan {
        let own_relu = || {
            self.relu_channels
                .as_ref()
                .map_or_else(Vec::new, |(r, _)| r.clone())
        };
        let with_relu = |choice: Choice| SitePlan {
            choice,
            relu_channels: if choice == Choice::Poly {
                own_relu()
            } else {
                Vec::new()
            },
        };
        match (&self.logits, self.fixed) {
            (_, Some(i)) => with_relu(self.options[i]),
            (Some(l), None) if l.dim() == 2 => {
                let picks = Vec::<i64>::try_from(l.argmax(1, false).to_device(tch::Device::Cpu))
                    .unwrap_or_default();
                let relu: Vec<usize> = (0..picks.len())
                    .filter(|&c| self.options[picks[c] as usize] == Choice::Relu)
                    .collect();
                if relu.len() == picks.len() {
                    SitePlan::from(Choice::Relu)
                } else {
                    SitePlan {
                        choice: Choice::Poly,
                        relu_channels: relu,
                    }
                }
            }
            (Some(l), None) => {
                with_relu(self.options[l.argmax(0, false).int64_value(&[]) as usize])
            }
            (None, None) => with_relu(self.options[0]),
        }
    }

    /// The site's choice now (the polynomial's for a site gated per channel).
    pub fn choice(&self) -> Choice {
        self.plan().choice
    }

    /// Whether the gate is still searched.
    pub fn searching(&self) -> bool {
        self.fixed.is_none() && self.logits.is_some()
    }

    /// Fixes the plan (to `p` when given, else the gates' current picks).
    pub fn fix(&mut self, p: Option<SitePlan>) {
        let p = p.unwrap_or_else(|| self.plan());
        self.fixed = self.options.iter().position(|&o| o == p.choice).or(Some(0));
        self.relu_channels = (p.choice == Choice::Poly && !p.relu_channels.is_empty()).then(|| {
            let mask = relu_mask(&p.relu_channels, self.channels).to_device(self.w1.device());
            (p.relu_channels, mask)
        });
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
            .map(|(i, &c)| {
                let gate = match g.dim() {
                    2 => g.select(1, i as i64).view_as_shape(x),
                    _ => g.get(i as i64),
                };
                self.apply(c, x, fp) * gate
            })
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

    /// What every site computes now.
    pub fn plans(&self) -> Vec<SitePlan> {
        self.sites.iter().map(Site::plan).collect()
    }

    /// Fixes every site's plan (to `plan` when given, else the gates' picks).
    pub fn fix_plans(&mut self, plan: Option<&[SitePlan]>) {
        for (i, s) in self.sites.iter_mut().enumerate() {
            s.fix(plan.map(|p| p[i].clone()));
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
            let plan = s.plan();
            out.layers[s.layer].op = match plan.choice {
                Choice::Relu => LayerOp::Relu,
                Choice::Poly => LayerOp::Poly(Poly {
                    w2: coeffs(&s.w2),
                    w1: coeffs(&s.w1),
                    b: coeffs(&s.b),
                    relu_channels: plan.relu_channels,
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
    let per_channel = space.is_some_and(|s| s.per_channel);
    // A gate per channel decides the channels itself; otherwise the spec's ReLU
    // channels stay with its polynomial.
    let relu_channels = (poly.mixed() && !per_channel).then(|| {
        let m = relu_mask(&poly.relu_channels, dims[0]).to_device(p.device());
        (poly.relu_channels.clone(), m)
    });
    match space {
        None => Site {
            layer,
            elements,
            channels: dims[0],
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
                _ if per_channel => {}
                (Choice::Circa(k), _) | (_, Some(k)) => options.push(Choice::Circa(k)),
                _ => {}
            }
            // Each gate starts on the spec's choice for its channel (a Circa site's
            // channels, with a gate per channel, on ReLU).
            let gates = if per_channel { dims[0] } else { 1 };
            let own_at = |c: usize| match own {
                Choice::Poly if poly.relu_channels.binary_search(&c).is_ok() => Choice::Relu,
                Choice::Circa(_) if per_channel => Choice::Relu,
                o => o,
            };
            let init: Vec<f32> = (0..gates)
                .flat_map(|c| {
                    let own_c = own_at(c);
                    options.iter().map(move |&o| {
                        if o == own_c {
                            space.init_logit as f32
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            let k = options.len() as i64;
            let shape: Vec<i64> = if per_channel {
                vec![gates as i64, k]
            } else {
                vec![k]
            };
            let mut logits = p.var("logits", &shape, nn::Init::Const(0.0));
            tch::no_grad(|| logits.copy_(&Tensor::from_slice(&init).view(&shape[..])));
            Site {
                layer,
                elements,
                channels: dims[0],
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

/// `[C]`: 1.0 on the channels in `relu` (increasing), 0.0 elsewhere.
fn relu_mask(relu: &[usize], channels: usize) -> Tensor {
    let m: Vec<f32> = (0..channels)
        .map(|k| f32::from(u8::from(relu.binary_search(&k).is_ok())))
        .collect();
    Tensor::from_slice(&m)
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
