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

use perf_model::spec::{CheckedSpec, Coeffs, LayerOp, Poly, Shortcut, Source};
use perf_model::FixedPoint;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// A network built from a checked spec, its parameters in a `VarStore` path.
#[derive(Debug)]
pub struct SpecNet {
    layers: Vec<(Vec<Source>, Block)>,
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
    Relu,
    Poly { w2: Tensor, w1: Tensor, b: Tensor },
    Circa { truncated_bits: u32 },
}

/// Variable names follow the layer's spec name, else `<kind><index>`, so weights files
/// name their tensors after the layers people wrote.
fn layer_path<'a>(root: &nn::Path<'a>, spec: &CheckedSpec, i: usize) -> nn::Path<'a> {
    let l = &spec.spec().layers[i];
    let name = l
        .name
        .clone()
        .unwrap_or_else(|| format!("{}{i}", l.op.kind()));
    root / name.as_str()
}

impl SpecNet {
    /// Creates the network's variables under `root` and returns the network.
    pub fn new(root: &nn::Path, spec: &CheckedSpec) -> SpecNet {
        let mut layers = Vec::with_capacity(spec.layers().len());
        for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
            let p = layer_path(root, spec, i);
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
                LayerOp::Relu => Block::Relu,
                LayerOp::Poly(poly) => poly_block(&p, poly, info.in_shapes[0].dims()),
                LayerOp::Circa(c) => Block::Circa {
                    truncated_bits: c.truncated_bits,
                },
            };
            layers.push((info.sources.clone(), block));
        }
        SpecNet {
            layers,
            fixed_point: spec.spec().fixed_point,
        }
    }
}

/// Coefficients as variables of one value per channel (or one per layer).
fn poly_block(p: &nn::Path, poly: &Poly, dims: &[usize]) -> Block {
    let channels = if poly.per_channel() { dims[0] } else { 1 };
    let var = |name: &str, c: &Coeffs| {
        let values: Vec<f32> = (0..channels).map(|k| c.at(k) as f32).collect();
        let mut v = p.var(name, &[channels as i64], nn::Init::Const(0.0));
        tch::no_grad(|| v.copy_(&Tensor::from_slice(&values)));
        v
    };
    Block::Poly {
        w2: var("w2", &poly.w2),
        w1: var("w1", &poly.w1),
        b: var("b", &poly.b),
    }
}

impl ModuleT for SpecNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
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
                Block::Relu => x.relu(),
                Block::Poly { w2, w1, b } => {
                    x * x * w2.view_as_shape(x) + x * w1.view_as_shape(x) + b.view_as_shape(x)
                }
                Block::Circa { truncated_bits } => {
                    x * circa_positive(x, self.fixed_point, *truncated_bits).to_kind(x.kind())
                }
            };
            outs.push(y);
        }
        outs.pop().unwrap_or_else(|| xs.shallow_clone())
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
    let (l, f) = (fp.ring_bits as i64, fp.frac_bits as i64);
    // Work with the ring's l bits at the top of an i64, so i64 wrap-around is mod 2^l.
    let up = 64 - l;
    // Largest ring value; 2^62 bounds it so the float-to-integer cast is exact for l = 64.
    let lim = (2f64.powi(l as i32 - 1) - 1.0).min(2f64.powi(62));
    let enc = (x.detach() * (1i64 << f) as f64)
        .round()
        .clamp(-lim, lim)
        .to_kind(Kind::Int64)
        .bitwise_left_shift_tensor_scalar(up);
    let random =
        |bits: i64| Tensor::randint_low(0, 1i64 << bits, x.size(), (Kind::Int64, x.device()));
    let r = random(32).bitwise_left_shift_tensor_scalar(32) + random(32);
    let s0 = r.bitwise_and(!((1i64 << up) - 1));
    let s1 = &enc - &s0;
    let drop = up + k as i64;
    let t = s0.bitwise_right_shift_tensor_scalar(drop) + s1.bitwise_right_shift_tensor_scalar(drop);
    // Sign bit of t in the (l - k)-bit ring.
    t.bitwise_left_shift_tensor_scalar(drop).ge(0)
}
