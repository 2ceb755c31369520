//! A trained network in the ring: the 2PC graph's nodes with their public parameters
//! (shapes, average-pool scale, polynomial coefficients, which are part of the spec both
//! parties hold), the server's private weights (quantised from `.safetensors`, batch
//! norm folded as the graph folds it), the local operators both parties apply to their
//! shares, and the plaintext fixed-point reference.
//!
//! Quantisation follows the trainer's ring evaluation bit for bit: weights and biases
//! are folded in `f64` exactly as the trainer folds them, then encoded `round(w 2^f)`
//! (ties to even); average pooling multiplies by `round(2^f / k^2)`.

use super::ring::Ring;
use super::SimError;
use ndarray::{Array3, ArrayView3, ArrayView4, Axis, Slice};
use perf_model::spec::{LayerOp, Shortcut};
use perf_model::CheckedSpec;
use scheduler::graph::{LinearOp, Operator, TwoPcGraph};
use std::path::Path;

/// What a node of the graph computes, with its public parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// The client's input.
    Input,
    /// Convolution (the server's weights `[out, in, k, k]`).
    Conv {
        /// Input `[C, H, W]`.
        input: [usize; 3],
        /// Output `[C, H, W]`.
        output: [usize; 3],
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding.
        padding: usize,
    },
    /// Dense layer (the server's weights `[out, in]`).
    Dense {
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// Batch norm that is not folded: the server's scale per channel.
    Scale {
        /// Channels.
        channels: usize,
    },
    /// Average pooling: window sums times `scale = round(2^f / k^2)`.
    AvgPool {
        /// Input `[C, H, W]`.
        input: [usize; 3],
        /// Output `[C, H, W]`.
        output: [usize; 3],
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// The public scale.
        scale: u64,
    },
    /// Local truncation by f, then the server adds the bias of the linear node before.
    Truncate,
    /// Garbled ReLU.
    Relu,
    /// Circa's ReLU with `k` low bits dropped from the sign test.
    Circa {
        /// Truncated bits.
        k: u32,
    },
    /// `w2 x^2 + w1 x + b` per channel (coefficients encoded, one per channel).
    Poly {
        /// Encoded `w2`, per channel.
        w2: Vec<u64>,
        /// Encoded `w1`, per channel.
        w1: Vec<u64>,
        /// Encoded `b`, per channel.
        b: Vec<u64>,
    },
    /// Garbled max over windows: the input elements of every output element.
    MaxPool {
        /// `windows[o]` lists the input indices of output `o`, row-major in the window.
        windows: Vec<Vec<usize>>,
    },
    /// Residual add: output `i` is `a[i] + b[second[i]]` (nothing where `None`).
    Add {
        /// Index into the second operand per output element.
        second: Vec<Option<usize>>,
    },
    /// Reshape (nothing to compute).
    Flatten,
    /// Elements picked from the operands (nothing to compute): output `i` is element
    /// `from[i].1` of operand `from[i].0`. A site gated per channel selects its ReLU
    /// and polynomial channels with it and merges them back.
    Gather {
        /// `(operand, element)` per output element.
        from: Vec<(usize, usize)>,
    },
}

/// A node: what it computes, its operands (graph node indices), and its size.
#[derive(Debug, Clone)]
pub struct NetNode {
    /// What it computes.
    pub kind: NodeKind,
    /// Operand nodes, in order.
    pub operands: Vec<usize>,
    /// Output elements.
    pub elements: usize,
    /// Channels of the output (1 for flat tensors).
    pub channels: usize,
    /// Name for people.
    pub label: String,
}

impl NetNode {
    /// The channel of output element `i`.
    pub fn channel_of(&self, i: usize) -> usize {
        i / (self.elements / self.channels).max(1)
    }
}

/// A checked spec as the parties run it: its graph and the nodes' public parameters.
#[derive(Debug, Clone)]
pub struct Network {
    /// The spec.
    pub spec: CheckedSpec,
    /// Its 2PC graph.
    pub graph: TwoPcGraph,
    /// The ring.
    pub ring: Ring,
    /// Nodes in topological order (graph node indices).
    pub nodes: Vec<NetNode>,
}

fn chw(shape: &perf_model::Shape) -> [usize; 3] {
    match shape.dims() {
        [c, h, w] => [*c, *h, *w],
        [n] => [*n, 1, 1],
        _ => [shape.numel(), 1, 1],
    }
}

impl Network {
    /// The network of a checked spec.
    pub fn new(spec: CheckedSpec) -> Network {
        let graph = TwoPcGraph::build(&spec);
        let ring = Ring::of(spec.spec().fixed_point);
        let g = graph.graph();
        let mut nodes = Vec::with_capacity(g.node_count());
        for (idx, node) in graph.nodes() {
            let ins = graph.operands(idx);
            let in_shape = |k: usize| chw(&g[ins[k]].out_shape);
            let out = chw(&node.out_shape);
            let layer = node.layers.first().copied();
            let op = layer.map(|i| &spec.spec().layers[i].op);
            let kind = match &node.op {
                Operator::Input => NodeKind::Input,
                Operator::Linear(LinearOp::Conv2d {
                    kernel,
                    stride,
                    padding,
                    ..
                }) => NodeKind::Conv {
                    input: in_shape(0),
                    output: out,
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                },
                Operator::Linear(LinearOp::Dense { .. }) => NodeKind::Dense {
                    inputs: g[ins[0]].out_shape.numel(),
                    outputs: node.out_shape.numel(),
                },
                Operator::Linear(LinearOp::BatchNorm) => NodeKind::Scale {
                    channels: node.out_shape.channels(),
                },
                Operator::Linear(LinearOp::AvgPool { kernel, stride }) => NodeKind::AvgPool {
                    input: in_shape(0),
                    output: out,
                    kernel: *kernel,
                    stride: *stride,
                    scale: (2f64.powi(ring.f as i32) / (kernel * kernel) as f64).round() as u64,
                },
                Operator::Linear(LinearOp::Add { shortcut }) => {
                    let b = in_shape(1);
                    let step = (b[1] / out[1].max(1)).max(1);
                    let mut second = Vec::with_capacity(node.elements as usize);
                    for c in 0..out[0] {
                        for y in 0..out[1] {
                            for x in 0..out[2] {
                                second.push(match shortcut {
                                    Shortcut::Identity => Some((c * out[1] + y) * out[2] + x),
                                    Shortcut::Pad => {
                                        (c < b[0]).then(|| (c * b[1] + y * step) * b[2] + x * step)
                                    }
                                });
                            }
                        }
                    }
                    NodeKind::Add { second }
                }
                Operator::Linear(LinearOp::Flatten) => NodeKind::Flatten,
                Operator::Linear(LinearOp::Select { channels }) => {
                    let per = g[ins[0]].out_shape.numel() / in_shape(0)[0].max(1);
                    NodeKind::Gather {
                        from: channels
                            .iter()
                            .flat_map(|&c| (c * per..(c + 1) * per).map(|e| (0, e)))
                            .collect(),
                    }
                }
                Operator::Linear(LinearOp::Merge { relu_channels }) => {
                    let per = node.out_shape.numel() / out[0].max(1);
                    let (mut relu, mut poly) = (0, 0);
                    let mut from = Vec::with_capacity(node.out_shape.numel());
                    for c in 0..out[0] {
                        let (operand, k) = if relu_channels.binary_search(&c).is_ok() {
                            relu += 1;
                            (0, relu - 1)
                        } else {
                            poly += 1;
                            (1, poly - 1)
                        };
                        from.extend((k * per..(k + 1) * per).map(|e| (operand, e)));
                    }
                    NodeKind::Gather { from }
                }
                Operator::Truncate { .. } => NodeKind::Truncate,
                Operator::GcRelu => NodeKind::Relu,
                Operator::CircaRelu { truncated_bits } => NodeKind::Circa { k: *truncated_bits },
                Operator::BeaverPoly { .. } => {
                    let Some(LayerOp::Poly(p)) = op else {
                        unreachable!("a Beaver polynomial node computes a poly layer")
                    };
                    // A site gated per channel computes the polynomial on its
                    // polynomial channels only.
                    let layer_channels = layer.map_or(1, |i| spec.layers()[i].out_shape.channels());
                    let channels = if p.mixed() {
                        p.poly_channels(layer_channels)
                    } else {
                        (0..node.out_shape.channels()).collect()
                    };
                    let enc = |c: &perf_model::spec::Coeffs| {
                        channels
                            .iter()
                            .map(|&k| ring.encode(c.at(k)))
                            .collect::<Vec<u64>>()
                    };
                    NodeKind::Poly {
                        w2: enc(&p.w2),
                        w1: enc(&p.w1),
                        b: enc(&p.b),
                    }
                }
                Operator::GcMaxPool { kernel, stride } => {
                    let i = in_shape(0);
                    let mut windows = Vec::with_capacity(node.elements as usize);
                    for c in 0..out[0] {
                        for y in 0..out[1] {
                            for x in 0..out[2] {
                                let mut w = Vec::with_capacity(kernel * kernel);
                                for dy in 0..*kernel {
                                    for dx in 0..*kernel {
                                        let (yy, xx) = (y * stride + dy, x * stride + dx);
                                        w.push((c * i[1] + yy) * i[2] + xx);
                                    }
                                }
                                windows.push(w);
                            }
                        }
                    }
                    NodeKind::MaxPool { windows }
                }
            };
            nodes.push(NetNode {
                kind,
                operands: ins.iter().map(|o| o.index()).collect(),
                elements: node.out_shape.numel(),
                channels: node.out_shape.channels().max(1),
                label: node.label.clone(),
            });
        }
        Network {
            spec,
            graph,
            ring,
            nodes,
        }
    }

    /// The spec's hash, which both parties check before they run: SHA-256 of its YAML.
    pub fn spec_hash(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut spec = self.spec.spec().clone();
        // Where the server keeps its weights is not part of the network.
        spec.weights = None;
        sha2::Sha256::digest(spec.to_yaml().as_bytes()).into()
    }

    /// The class an output predicts: its largest value (the first of equals).
    pub fn predict(&self, output: &[u64]) -> usize {
        (0..output.len())
            .max_by_key(|&i| (self.ring.signed(output[i]), std::cmp::Reverse(i)))
            .unwrap_or(0)
    }

    /// Input elements.
    pub fn input_elements(&self) -> usize {
        self.spec.spec().input.numel()
    }

    /// Encodes an image of bytes (0..=255) as the trainer does: `x / 255` in `f32`, the
    /// spec's normalisation in `f32`, then `round(x 2^f)`.
    pub fn encode_image(&self, pixels: &[u8]) -> Result<Vec<u64>, SimError> {
        let n = self.input_elements();
        if pixels.len() != n {
            return Err(SimError::Input(format!(
                "{} pixels, but {} takes {:?} ({n} values)",
                pixels.len(),
                self.spec.spec().name,
                self.spec.spec().input.dims()
            )));
        }
        let per = n / self.spec.spec().input.channels().max(1);
        let norm = self.spec.spec().normalize.as_ref();
        Ok(pixels
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut x = f32::from(p) / 255.0;
                if let Some(nm) = norm {
                    let c = i / per;
                    x = (x - nm.mean[c] as f32) / nm.std[c] as f32;
                }
                self.ring.encode(f64::from(x))
            })
            .collect())
    }

    /// A public local operator on one party's shares (or on plain values): average
    /// pooling, residual add, flatten. `None` for the other kinds.
    pub fn local(&self, node: usize, inputs: &[&[u64]]) -> Option<Vec<u64>> {
        let r = self.ring;
        match &self.nodes[node].kind {
            NodeKind::Flatten => Some(inputs[0].to_vec()),
            NodeKind::Gather { from } => Some(from.iter().map(|&(o, e)| inputs[o][e]).collect()),
            NodeKind::Add { second } => Some(
                inputs[0]
                    .iter()
                    .zip(second)
                    .map(|(&a, s)| s.map_or(a, |j| r.add(a, inputs[1][j])))
                    .collect(),
            ),
            NodeKind::AvgPool {
                input,
                output,
                kernel,
                stride,
                scale,
            } => {
                let x = inputs[0];
                let mut out = Vec::with_capacity(output.iter().product());
                for c in 0..output[0] {
                    for y in 0..output[1] {
                        for xx in 0..output[2] {
                            let mut s = 0u64;
                            for dy in 0..*kernel {
                                for dx in 0..*kernel {
                                    let i = (c * input[1] + y * stride + dy) * input[2]
                                        + xx * stride
                                        + dx;
                                    s = s.wrapping_add(x[i]);
                                }
                            }
                            out.push(r.mul(s, *scale));
                        }
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// The server's private parameters of one linear node: weights (conv `[out, in, k,
/// k]`, dense `[out, in]`, or a per-channel scale) and the bias added after truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearParams {
    /// Encoded weights.
    pub w: Vec<u64>,
    /// Encoded bias per output channel.
    pub b: Vec<u64>,
}

/// The server's weights, per graph node (`None` where a node has none).
#[derive(Debug, Clone)]
pub struct Weights(pub Vec<Option<LinearParams>>);

/// Reads a float tensor of a safetensors file as `f64`, checking its shape.
fn tensor(
    st: &safetensors::SafeTensors<'_>,
    file: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f64>, SimError> {
    let err = |message: String| SimError::Weights {
        file: file.to_path_buf(),
        name: name.to_string(),
        message,
    };
    let t = st
        .tensor(name)
        .map_err(|_| err("missing from the weights".into()))?;
    if t.shape() != shape {
        return Err(err(format!(
            "shape {:?}, but the spec needs {shape:?}",
            t.shape()
        )));
    }
    let data = t.data();
    Ok(match t.dtype() {
        safetensors::Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        safetensors::Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            })
            .collect(),
        other => return Err(err(format!("element type {other:?}; expected F32 or F64"))),
    })
}

impl Weights {
    /// Reads and quantises the server's weights from a `.safetensors` file.
    pub fn load(net: &Network, file: &Path) -> Result<Weights, SimError> {
        let bytes = std::fs::read(file).map_err(|e| SimError::Weights {
            file: file.to_path_buf(),
            name: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| SimError::Weights {
            file: file.to_path_buf(),
            name: String::new(),
            message: format!("not a safetensors file: {e:?}"),
        })?;
        Weights::from_safetensors(net, &st, file)
    }

    /// Quantises the weights of a parsed safetensors file (`file` names it in errors).
    pub fn from_safetensors(
        net: &Network,
        st: &safetensors::SafeTensors<'_>,
        file: &Path,
    ) -> Result<Weights, SimError> {
        let spec = &net.spec;
        let ring = net.ring;
        let bn = |i: usize| -> Result<(Vec<f64>, Vec<f64>), SimError> {
            let LayerOp::BatchNorm(b) = &spec.spec().layers[i].op else {
                unreachable!("batch norm parameters of a batch norm layer")
            };
            let ch = spec.layers()[i].out_shape.channels();
            let name = spec.spec().layer_name(i);
            let get = |w: &str| tensor(st, file, &format!("{name}.{w}"), &[ch]);
            let (gamma, beta) = (get("weight")?, get("bias")?);
            let (mean, var) = (get("running_mean")?, get("running_var")?);
            let scale: Vec<f64> = gamma
                .iter()
                .zip(&var)
                .map(|(g, v)| g / (v + b.eps).sqrt())
                .collect();
            let shift = beta
                .iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((b, m), s)| b - m * s)
                .collect();
            Ok((scale, shift))
        };
        let mut out = Vec::with_capacity(net.nodes.len());
        for (idx, node) in net.graph.nodes() {
            let layers = &node.layers;
            let p = match &node.op {
                Operator::Linear(LinearOp::Conv2d { .. } | LinearOp::Dense { .. }) => {
                    let i = layers[0];
                    let name = spec.spec().layer_name(i);
                    let (shape, bias) = match &spec.spec().layers[i].op {
                        LayerOp::Conv2d(c) => {
                            let cin = spec.layers()[i].in_shapes[0].channels();
                            (vec![c.out_channels, cin, c.kernel, c.kernel], c.bias)
                        }
                        LayerOp::Dense(d) => {
                            let fin = spec.layers()[i].in_shapes[0].numel();
                            (vec![d.out_features, fin], d.bias)
                        }
                        _ => unreachable!("conv or dense"),
                    };
                    let mut w = tensor(st, file, &format!("{name}.weight"), &shape)?;
                    let mut b = if bias {
                        tensor(st, file, &format!("{name}.bias"), &shape[..1])?
                    } else {
                        vec![0.0; shape[0]]
                    };
                    if let Some(&j) = layers.get(1) {
                        let (scale, shift) = bn(j)?;
                        let per = w.len() / shape[0];
                        for (k, v) in w.iter_mut().enumerate() {
                            *v *= scale[k / per];
                        }
                        for ((v, s), t) in b.iter_mut().zip(&scale).zip(&shift) {
                            *v = *v * s + t;
                        }
                    }
                    Some(LinearParams {
                        w: w.iter().map(|&v| ring.encode(v)).collect(),
                        b: b.iter().map(|&v| ring.encode(v)).collect(),
                    })
                }
                Operator::Linear(LinearOp::BatchNorm) => {
                    let (scale, shift) = bn(layers[0])?;
                    Some(LinearParams {
                        w: scale.iter().map(|&v| ring.encode(v)).collect(),
                        b: shift.iter().map(|&v| ring.encode(v)).collect(),
                    })
                }
                _ => None,
            };
            debug_assert_eq!(idx.index(), out.len());
            out.push(p);
        }
        Ok(Weights(out))
    }

    /// The server's linear operator of node `node` on `x` (its share or a plain value).
    pub fn apply(&self, net: &Network, node: usize, x: &[u64]) -> Vec<u64> {
        let r = net.ring;
        let Some(p) = &self.0[node] else {
            unreachable!("apply() is called on linear nodes")
        };
        match &net.nodes[node].kind {
            NodeKind::Conv {
                input,
                output,
                kernel,
                stride,
                padding,
            } => conv(x, &p.w, *input, *output, *kernel, *stride, *padding, r),
            NodeKind::Dense { inputs, outputs } => (0..*outputs)
                .map(|o| {
                    let row = &p.w[o * inputs..(o + 1) * inputs];
                    r.wrap(
                        row.iter()
                            .zip(x)
                            .fold(0u64, |s, (&w, &v)| s.wrapping_add(w.wrapping_mul(v))),
                    )
                })
                .collect(),
            NodeKind::Scale { .. } => {
                let nd = &net.nodes[node];
                x.iter()
                    .enumerate()
                    .map(|(i, &v)| r.mul(v, p.w[nd.channel_of(i)]))
                    .collect()
            }
            other => unreachable!("{other:?} has no weights"),
        }
    }

    /// The bias of linear node `node` for its output element `i`.
    pub fn bias(&self, net: &Network, node: usize, i: usize) -> u64 {
        self.0[node]
            .as_ref()
            .map_or(0, |p| p.b[net.nodes[node].channel_of(i)])
    }
}

/// A convolution on ring values: `x` `[C, H, W]` and `w` `[O, C, k, k]` as ndarray
/// views, zero padding, exact mod 2^l.
#[allow(clippy::too_many_arguments)]
fn conv(
    x: &[u64],
    w: &[u64],
    input: [usize; 3],
    output: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    r: Ring,
) -> Vec<u64> {
    let [ci, hi, wi] = input;
    let [co, ho, wo] = output;
    let (Ok(x), Ok(w)) = (
        ArrayView3::from_shape((ci, hi, wi), x),
        ArrayView4::from_shape((co, ci, k, k), w),
    ) else {
        unreachable!("the checked spec gives the shapes the tensors have")
    };
    // Zero padding, once.
    let mut padded = Array3::<u64>::zeros((ci, hi + 2 * pad, wi + 2 * pad));
    {
        let mut rows = padded.slice_axis_mut(Axis(1), Slice::from(pad..pad + hi));
        rows.slice_axis_mut(Axis(2), Slice::from(pad..pad + wi))
            .assign(&x);
    }
    let mut out = Array3::<u64>::zeros((co, ho, wo));
    for ((o, y, xx), v) in out.indexed_iter_mut() {
        let mut window = padded.view();
        window.slice_axis_inplace(Axis(1), Slice::from(y * stride..y * stride + k));
        window.slice_axis_inplace(Axis(2), Slice::from(xx * stride..xx * stride + k));
        let s = window
            .iter()
            .zip(w.index_axis(Axis(0), o).iter())
            .fold(0u64, |acc, (&a, &b)| acc.wrapping_add(a.wrapping_mul(b)));
        *v = r.wrap(s);
    }
    out.into_raw_vec_and_offset().0
}

/// Where a truncation happens: the node and, for a polynomial, which of its two
/// truncations (0: the square, 1: the scaled sum); for Circa, 0 is its sign test.
pub type Site = (usize, u8);

/// The plaintext fixed-point evaluation of the network on an encoded input: every
/// node's value. Every truncation (and Circa's sign test) splits its value `x` as
/// `(x - c, c)` with `c = split(site, x)`, the client's share, and applies the parties'
/// local rules, so with the shares a private run had it gives that run's values exactly;
/// with fresh random shares it is the trainer's ring evaluation.
pub fn reference(
    net: &Network,
    weights: &Weights,
    input: &[u64],
    split: &mut dyn FnMut(Site, &[u64]) -> Vec<u64>,
) -> Vec<Vec<u64>> {
    let r = net.ring;
    let mut vals: Vec<Vec<u64>> = Vec::with_capacity(net.nodes.len());
    for (i, node) in net.nodes.iter().enumerate() {
        let x: &[u64] = node.operands.first().map_or(&[], |&o| &vals[o]);
        let y = match &node.kind {
            NodeKind::Input => input.to_vec(),
            NodeKind::Conv { .. } | NodeKind::Dense { .. } | NodeKind::Scale { .. } => {
                weights.apply(net, i, x)
            }
            NodeKind::Truncate => {
                let c = split((i, 0), x);
                let src = node.operands[0];
                x.iter()
                    .zip(&c)
                    .enumerate()
                    .map(|(k, (&v, &c))| r.add(r.trunc_split(v, c), weights.bias(net, src, k)))
                    .collect()
            }
            NodeKind::Relu => x
                .iter()
                .map(|&v| if r.non_negative(v) { v } else { 0 })
                .collect(),
            NodeKind::Circa { k } => {
                let c = split((i, 0), x);
                x.iter()
                    .zip(&c)
                    .map(|(&v, &c)| {
                        if circa_positive(r, *k, r.sub(v, c), c) {
                            v
                        } else {
                            0
                        }
                    })
                    .collect()
            }
            NodeKind::Poly { w2, w1, b } => {
                let sq: Vec<u64> = x.iter().map(|&v| r.mul(v, v)).collect();
                let c = split((i, 0), &sq);
                let sq: Vec<u64> = sq
                    .iter()
                    .zip(&c)
                    .map(|(&v, &c)| r.trunc_split(v, c))
                    .collect();
                let s: Vec<u64> = (0..x.len())
                    .map(|k| {
                        let ch = node.channel_of(k);
                        r.add(r.mul(w2[ch], sq[k]), r.mul(w1[ch], x[k]))
                    })
                    .collect();
                let c = split((i, 1), &s);
                (0..x.len())
                    .map(|k| r.add(r.trunc_split(s[k], c[k]), b[node.channel_of(k)]))
                    .collect()
            }
            NodeKind::MaxPool { windows } => windows
                .iter()
                .map(|w| {
                    w.iter()
                        .map(|&j| x[j])
                        .max_by_key(|&v| r.signed(v))
                        .unwrap_or(0)
                })
                .collect(),
            NodeKind::Add { .. }
            | NodeKind::Flatten
            | NodeKind::Gather { .. }
            | NodeKind::AvgPool { .. } => {
                let ins: Vec<&[u64]> = node.operands.iter().map(|&o| &vals[o][..]).collect();
                net.local(i, &ins).unwrap_or_default()
            }
        };
        vals.push(y);
    }
    vals
}

/// Circa's sign test on shares `(s, c)`: the sign of the sum of their top `l - k` bits.
pub fn circa_positive(r: Ring, k: u32, s: u64, c: u64) -> bool {
    let n = r.l - k;
    let top = |v: u64| r.wrap(v) >> k;
    let sum = top(s).wrapping_add(top(c));
    (sum >> (n - 1)) & 1 == 0
}
