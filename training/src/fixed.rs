//! Evaluation in the ring: what 2PC inference of a trained network computes, so the
//! accuracy reported is the accuracy private inference gives.
//!
//! The network is evaluated on integers of Z_2^l (held sign-extended in `i64`), in the
//! spec's fixed-point format (f fractional bits), operator by operator as the 2PC graph
//! runs them:
//!
//! - the client's input is encoded `round(x 2^f)`;
//! - weights are quantised `round(w 2^f)`, with a batch norm folded into the
//!   convolution or dense layer before it where the graph folds it (the same rule);
//! - convolutions, dense layers and average pools (a sum, then a multiply by
//!   `round(2^f / k^2)`) are exact mod 2^l, then truncated; the bias (`round(b 2^f)`)
//!   is added after the truncation; a batch norm that is not folded multiplies by its
//!   quantised scale, truncates and adds its shift;
//! - truncation is SecureML's local one on random additive shares (party 0 keeps
//!   `x0 >> f`, party 1 `-((-x1) >> f)`): one too large in the last bit about half
//!   the time, and wrong by about 2^(l-f) with probability `|x| / 2^l` (x the value
//!   before truncation, carrying 2f fractional bits), as in the protocol. That is why
//!   the Fashion-MNIST examples compute in a 64-bit ring: in 32 bits with f = 12 a
//!   value of 4 fails once in 64 truncations;
//! - ReLU and max pool are exact (garbled circuits compute them exactly); Circa's
//!   sign test runs on the truncated shares; the polynomial is one square truncated,
//!   then `w2 sq + w1 x` truncated, plus `b`: the Beaver lane's arithmetic.
//!
//! Products are computed exactly mod 2^l by splitting both operands into 16-bit limbs
//! and accumulating limb products in `f64`, where every partial sum is an integer below
//! 2^53.

use crate::TrainError;
use perf_model::spec::{Coeffs, LayerOp, Shortcut, Source};
use perf_model::{CheckedSpec, FixedPoint};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Sign-extends the low `l` bits of every element: the canonical form of a ring value.
pub fn wrap(t: &Tensor, l: u32) -> Tensor {
    if l >= 64 {
        return t.shallow_clone();
    }
    let up = 64 - l as i64;
    t.bitwise_left_shift_tensor_scalar(up)
        .bitwise_right_shift_tensor_scalar(up)
}

/// The `l`-bit pattern shifted right by `s` without sign extension.
fn ushr(t: &Tensor, s: u32, l: u32) -> Tensor {
    if l >= 64 {
        let keep = if s == 0 {
            -1i64
        } else {
            (1i64 << (64 - s)) - 1
        };
        t.bitwise_right_shift_tensor_scalar(s as i64)
            .bitwise_and(keep)
    } else {
        t.bitwise_and((1i64 << l) - 1)
            .bitwise_right_shift_tensor_scalar(s as i64)
    }
}

/// Uniform ring elements of `shape`, from libtorch's generator.
fn random_ring(like: &Tensor, l: u32) -> Tensor {
    let opts = (Kind::Int64, like.device());
    let hi = Tensor::randint_low(0, 1i64 << 32, like.size(), opts);
    let lo = Tensor::randint_low(0, 1i64 << 32, like.size(), opts);
    wrap(&(hi.bitwise_left_shift_tensor_scalar(32) + lo), l)
}

/// SecureML's local truncation by `f` of `v`, split into random shares first.
pub fn truncate(v: &Tensor, f: u32, l: u32) -> Tensor {
    let r = random_ring(v, l);
    let x0 = wrap(&(v - &r), l);
    let y0 = ushr(&x0, f, l);
    let y1 = -ushr(&wrap(&(-&r), l), f, l);
    wrap(&(y0 + y1), l)
}

/// Circa's sign test on random shares of ring values `v`, the `k` low bits of each
/// share dropped: 1 where the garbled circuit calls the value positive.
pub fn circa_positive_ring(v: &Tensor, l: u32, k: u32) -> Tensor {
    // Work with the ring's l bits at the top of an i64, so wrap-around is mod 2^l.
    let up = 64 - l as i64;
    let e = v.bitwise_left_shift_tensor_scalar(up);
    let r = random_ring(v, 64);
    let s0 = r.bitwise_and(!((1i64 << up) - 1));
    let s1 = &e - &s0;
    let drop = up + k as i64;
    let t = s0.bitwise_right_shift_tensor_scalar(drop) + s1.bitwise_right_shift_tensor_scalar(drop);
    // Sign bit of t in the (l - k)-bit ring.
    t.bitwise_left_shift_tensor_scalar(drop).ge(0)
}

/// `round(x 2^f)` in the ring, saturated at its largest values (so already in the
/// sign-extended form [`wrap`] gives).
pub fn encode(x: &Tensor, fp: FixedPoint) -> Tensor {
    let (l, f) = (fp.ring_bits, fp.frac_bits);
    // 2^62 bounds the limit so the float-to-integer cast is exact for l = 64.
    let lim = (2f64.powi(l as i32 - 1) - 1.0).min(2f64.powi(62));
    (x.to_kind(Kind::Double) * 2f64.powi(f as i32))
        .round()
        .clamp(-lim, lim)
        .to_kind(Kind::Int64)
}

/// The ring values as reals.
pub fn decode(v: &Tensor, fp: FixedPoint) -> Tensor {
    v.to_kind(Kind::Double) / 2f64.powi(fp.frac_bits as i32)
}

/// 16-bit limbs of the `l`-bit patterns, as `f64`.
fn limbs(t: &Tensor, l: u32) -> Vec<Tensor> {
    (0..l / 16)
        .map(|i| {
            t.bitwise_right_shift_tensor_scalar(16 * i as i64)
                .bitwise_and(0xffff)
                .to_kind(Kind::Double)
        })
        .collect()
}

/// A bilinear operator (convolution, matrix product) on ring values, exactly mod 2^l.
pub fn bilinear(x: &Tensor, w: &Tensor, l: u32, op: impl Fn(&Tensor, &Tensor) -> Tensor) -> Tensor {
    let (xs, ws) = (limbs(x, l), limbs(w, l));
    let n = xs.len();
    let mut acc: Option<Tensor> = None;
    for (i, xl) in xs.iter().enumerate() {
        for (j, wl) in ws.iter().enumerate().take(n - i) {
            let part = op(xl, wl)
                .round()
                .to_kind(Kind::Int64)
                .bitwise_left_shift_tensor_scalar(16 * (i + j) as i64);
            acc = Some(match acc {
                Some(a) => a + part,
                None => part,
            });
        }
    }
    wrap(&acc.unwrap_or_else(|| x.zeros_like()), l)
}

/// Per-channel values `[C]` reshaped to broadcast over `[N, C, ...]`.
fn per_channel(v: &Tensor, like: &Tensor) -> Tensor {
    let mut shape = vec![1i64; like.dim()];
    shape[1] = v.numel() as i64;
    v.view(&shape[..])
}

/// Weights by name, as the trainer exports them.
pub type Weights = HashMap<String, Tensor>;

struct Ctx<'a> {
    spec: &'a CheckedSpec,
    weights: &'a Weights,
}

impl Ctx<'_> {
    fn tensor(&self, layer: usize, what: &str) -> Result<Tensor, TrainError> {
        let name = format!("{}.{what}", self.spec.spec().layer_name(layer));
        self.weights
            .get(&name)
            .map(|t| t.to_kind(Kind::Double))
            .ok_or_else(|| TrainError::Weights {
                name,
                message: "missing from the weights".into(),
            })
    }

    /// Per-channel `(scale, shift)` of batch norm layer `i`.
    fn bn(&self, i: usize) -> Result<(Tensor, Tensor), TrainError> {
        let LayerOp::BatchNorm(b) = &self.spec.spec().layers[i].op else {
            unreachable!("bn() is called on batch norm layers")
        };
        let gamma = self.tensor(i, "weight")?;
        let beta = self.tensor(i, "bias")?;
        let mean = self.tensor(i, "running_mean")?;
        let var = self.tensor(i, "running_var")?;
        let scale = gamma / (var + b.eps).sqrt();
        let shift = beta - &mean * &scale;
        Ok((scale, shift))
    }
}

/// The layers a batch norm folds into, as the 2PC graph folds them: batch norm layer
/// `i` folds into conv/dense layer `j` when `j` is its input and nothing else reads `j`.
pub fn folds(spec: &CheckedSpec) -> HashMap<usize, usize> {
    let mut readers = vec![0usize; spec.layers().len()];
    for info in spec.layers() {
        for s in &info.sources {
            if let Source::Layer(j) = s {
                readers[*j] += 1;
            }
        }
    }
    let mut out = HashMap::new();
    for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
        if let (LayerOp::BatchNorm(_), Source::Layer(j)) = (&layer.op, info.sources[0]) {
            let linear = matches!(
                spec.spec().layers[j].op,
                LayerOp::Conv2d(_) | LayerOp::Dense(_)
            );
            if linear && readers[j] == 1 {
                out.insert(j, i);
            }
        }
    }
    out
}

/// Runs the network on `images` (already normalised, `[N, ...]`) in the ring and
/// returns the output as ring values `[N, classes]`.
pub fn forward(
    spec: &CheckedSpec,
    weights: &Weights,
    images: &Tensor,
) -> Result<Tensor, TrainError> {
    let mut outs = forward_layers(spec, weights, images)?;
    // A checked spec has at least one layer; without any the output is the input.
    Ok(outs
        .pop()
        .unwrap_or_else(|| encode(images, spec.spec().fixed_point)))
}

/// Every layer's output in the ring, in layer order (a folded batch norm repeats its
/// convolution's).
pub fn forward_layers(
    spec: &CheckedSpec,
    weights: &Weights,
    images: &Tensor,
) -> Result<Vec<Tensor>, TrainError> {
    let _guard = tch::no_grad_guard();
    let fp = spec.spec().fixed_point;
    let (l, f) = (fp.ring_bits, fp.frac_bits);
    let cx = Ctx { spec, weights };
    let folded = folds(spec);
    let coeff = |c: &Coeffs, ch: usize, dev: tch::Device| {
        let v: Vec<f64> = (0..ch).map(|k| c.at(k)).collect();
        encode(&Tensor::from_slice(&v).to_device(dev), fp)
    };
    let input = encode(images, fp);
    let mut outs: Vec<Tensor> = Vec::with_capacity(spec.layers().len());
    for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
        let get = |s: Source| match s {
            Source::Input => &input,
            Source::Layer(j) => &outs[j],
        };
        let x = get(info.sources[0]);
        let y = match &layer.op {
            LayerOp::Conv2d(_) | LayerOp::Dense(_) => {
                let mut w = cx.tensor(i, "weight")?;
                let has_bias = match &layer.op {
                    LayerOp::Conv2d(c) => c.bias,
                    LayerOp::Dense(d) => d.bias,
                    _ => false,
                };
                let mut b = if has_bias {
                    cx.tensor(i, "bias")?
                } else {
                    Tensor::zeros([w.size()[0]], (Kind::Double, w.device()))
                };
                if let Some(&bn) = folded.get(&i) {
                    let (scale, shift) = cx.bn(bn)?;
                    let mut shape = vec![1i64; w.dim()];
                    shape[0] = -1;
                    w *= scale.view(&shape[..]);
                    b = b * &scale + shift;
                }
                let wq = encode(&w, fp).to_device(x.device());
                let bq = encode(&b, fp).to_device(x.device());
                let acc = match &layer.op {
                    LayerOp::Conv2d(c) => bilinear(x, &wq, l, |a, k| {
                        a.conv2d(
                            k,
                            None::<Tensor>,
                            [c.stride as i64; 2],
                            [c.padding as i64; 2],
                            [1, 1],
                            1,
                        )
                    }),
                    _ => bilinear(x, &wq, l, |a, k| a.matmul(&k.tr())),
                };
                wrap(&(truncate(&acc, f, l) + per_channel(&bq, &acc)), l)
            }
            LayerOp::BatchNorm(_) => {
                if folded.values().any(|&bn| bn == i) {
                    x.shallow_clone()
                } else {
                    let (scale, shift) = cx.bn(i)?;
                    let s = per_channel(&encode(&scale, fp), x).to_device(x.device());
                    let t = per_channel(&encode(&shift, fp), x).to_device(x.device());
                    wrap(&(truncate(&wrap(&(x * s), l), f, l) + t), l)
                }
            }
            LayerOp::AvgPool(p) => {
                let (k, s) = (p.kernel as i64, p.stride() as i64);
                let c = x.size()[1];
                let ones = Tensor::ones([c, 1, k, k], (Kind::Int64, x.device()));
                let sum = bilinear(x, &ones, l, |a, o| {
                    a.conv2d(o, None::<Tensor>, [s, s], [0, 0], [1, 1], c)
                });
                let scale = (2f64.powi(f as i32) / (k * k) as f64).round() as i64;
                truncate(&wrap(&(sum * scale), l), f, l)
            }
            LayerOp::MaxPool(p) => {
                let (k, s) = (p.kernel as i64, p.stride() as i64);
                x.unfold(2, k, s)
                    .unfold(3, k, s)
                    .flatten(4, 5)
                    .amax([4], false)
            }
            LayerOp::Flatten => x.flatten(1, -1),
            LayerOp::Add(a) => {
                let y = get(info.sources[1]);
                let y = match a.shortcut {
                    Shortcut::Identity => y.shallow_clone(),
                    Shortcut::Pad => {
                        let (xs, ys) = (x.size(), y.size());
                        let step = ys[2] / xs[2];
                        y.slice(2, 0, None, step)
                            .slice(3, 0, None, step)
                            .constant_pad_nd([0, 0, 0, 0, 0, xs[1] - ys[1]])
                    }
                };
                wrap(&(x + y), l)
            }
            LayerOp::Relu => x.clamp_min(0),
            LayerOp::Circa(c) => {
                x * circa_positive_ring(x, l, c.truncated_bits).to_kind(Kind::Int64)
            }
            LayerOp::Poly(p) => {
                let ch = info.in_shapes[0].channels();
                let ch = if p.per_channel() { ch } else { 1 };
                let dev = x.device();
                let (w2, w1, b) = (
                    per_channel(&coeff(&p.w2, ch, dev), x),
                    per_channel(&coeff(&p.w1, ch, dev), x),
                    per_channel(&coeff(&p.b, ch, dev), x),
                );
                let sq = truncate(&wrap(&(x * x), l), f, l);
                let s = wrap(&(sq * w2 + x * w1), l);
                let y = wrap(&(truncate(&s, f, l) + b), l);
                if p.mixed() {
                    // A site gated per channel: its ReLU channels are exact.
                    let c = info.in_shapes[0].channels();
                    let relu: Vec<bool> = (0..c)
                        .map(|k| p.relu_channels.binary_search(&k).is_ok())
                        .collect();
                    let relu = per_channel(&Tensor::from_slice(&relu).to_device(dev), x);
                    x.clamp_min(0).where_self(&relu, &y)
                } else {
                    y
                }
            }
        };
        outs.push(y);
    }
    Ok(outs)
}

/// Top-1 accuracy (%) of the ring evaluation on `images`/`labels`, in batches.
pub fn accuracy(
    spec: &CheckedSpec,
    weights: &Weights,
    images: &Tensor,
    labels: &Tensor,
    batch: i64,
) -> Result<f64, TrainError> {
    let n = images.size()[0];
    let mut correct = 0i64;
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let y = forward(spec, weights, &images.narrow(0, start, len))?;
        correct += y
            .argmax(-1, false)
            .eq_tensor(&labels.narrow(0, start, len).to_device(y.device()))
            .sum(Kind::Int64)
            .int64_value(&[]);
        start += len;
    }
    Ok(100.0 * correct as f64 / n.max(1) as f64)
}
