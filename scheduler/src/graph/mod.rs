//! The 2PC operator graph: one node per protocol-level operator, edges carrying
//! tensor shapes.
//!
//! Built from a [`CheckedSpec`] following the protocol profile of polympc's design:
//! linear layers run locally on shares (batch norm folded into the convolution or dense
//! layer before it), every multiplication by fixed-point weights is followed by a local
//! truncation by f bits, ReLU is a garbled circuit, Circa ReLU a cheaper garbled
//! sign test, a polynomial activation one Beaver square (its scaling and truncations
//! are local and belong to the node), and max pooling garbled comparisons.

mod render;

use perf_model::spec::{CheckedSpec, LayerOp, Shortcut, Source};
use perf_model::{FixedPoint, Operation, Shape, Workload};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

/// A linear operator: computed locally on additive shares, no interaction online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "linear", rename_all = "snake_case")]
pub enum LinearOp {
    /// Convolution (with batch norm folded in when `bn` is set).
    Conv2d {
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding.
        padding: usize,
        /// A batch norm layer is folded into the weights.
        bn: bool,
    },
    /// Dense layer (with batch norm folded in when `bn` is set).
    Dense {
        /// A batch norm layer is folded into the weights.
        bn: bool,
    },
    /// Batch norm that could not be folded: a per-channel scale and shift.
    BatchNorm,
    /// Average pooling: a sum, then a scale by 1/k^2.
    AvgPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Residual add of two shared tensors.
    Add {
        /// How the second operand is matched to the first.
        shortcut: Shortcut,
    },
    /// Reshape to one dimension (free).
    Flatten,
    /// The listed channels of the operand, in order (free): the part of a site gated
    /// per channel that one kind of activation computes.
    Select {
        /// Channels of the operand, in increasing order.
        channels: Vec<usize>,
    },
    /// A site gated per channel put back together (free): channel `c` comes from the
    /// first operand (garbled ReLU) where `c` is in `relu_channels`, else from the
    /// second (the polynomial).
    Merge {
        /// The channels the first operand holds, in increasing order.
        relu_channels: Vec<usize>,
    },
}

impl LinearOp {
    /// Whether the operator multiplies by fixed-point constants, so a truncation
    /// must follow.
    pub fn scales(&self) -> bool {
        !matches!(
            self,
            LinearOp::Add { .. }
                | LinearOp::Flatten
                | LinearOp::Select { .. }
                | LinearOp::Merge { .. }
        )
    }
}

/// A protocol-level operator of the 2PC graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operator {
    /// The client's input, secret-shared.
    Input,
    /// A local linear operator on shares.
    Linear(LinearOp),
    /// Local probabilistic truncation by `frac_bits` (SecureML).
    Truncate {
        /// Bits shifted out.
        frac_bits: u32,
    },
    /// Garbled-circuit ReLU, one circuit per element.
    GcRelu,
    /// Circa's stochastic ReLU: garbled sign test on the top `l - k` bits.
    CircaRelu {
        /// Low bits left out of the sign test.
        truncated_bits: u32,
    },
    /// Polynomial activation: one Beaver square, then local scaling and truncation.
    BeaverPoly {
        /// Coefficients per channel (else per layer).
        per_channel: bool,
    },
    /// Max pooling with garbled comparisons: `kernel^2 - 1` per output element.
    GcMaxPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
}

impl Operator {
    /// Short name used in tables and drawings.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Input => "input",
            Operator::Linear(l) => match l {
                LinearOp::Conv2d { bn: true, .. } => "conv2d+bn",
                LinearOp::Conv2d { .. } => "conv2d",
                LinearOp::Dense { bn: true } => "dense+bn",
                LinearOp::Dense { .. } => "dense",
                LinearOp::BatchNorm => "batchnorm",
                LinearOp::AvgPool { .. } => "avgpool",
                LinearOp::Add { .. } => "add",
                LinearOp::Flatten => "flatten",
                LinearOp::Select { .. } => "select",
                LinearOp::Merge { .. } => "merge",
            },
            Operator::Truncate { .. } => "truncate",
            Operator::GcRelu => "gc-relu",
            Operator::CircaRelu { .. } => "circa-relu",
            Operator::BeaverPoly { .. } => "beaver-poly",
            Operator::GcMaxPool { .. } => "gc-maxpool",
        }
    }

    /// Whether the operator needs interaction between the parties online.
    pub fn is_interactive(&self) -> bool {
        matches!(
            self,
            Operator::GcRelu
                | Operator::CircaRelu { .. }
                | Operator::BeaverPoly { .. }
                | Operator::GcMaxPool { .. }
        )
    }
}

/// A node: an operator applied to whole tensors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// What runs.
    #[serde(flatten)]
    pub op: Operator,
    /// The spec layers this node computes (several when batch norm is folded).
    pub layers: Vec<usize>,
    /// Name for people: the layer's name, else its kind and index.
    pub label: String,
    /// Output shape.
    pub out_shape: Shape,
    /// Multiply-accumulates on shares (convolution and dense).
    pub macs: u64,
    /// Trainable parameters of the layers the node computes.
    pub params: u64,
    /// Elements the node processes (output elements; for max pool, output windows).
    pub elements: u64,
}

impl Node {
    /// What the node costs as in the cost model.
    pub fn operation(&self) -> Operation {
        match self.op {
            Operator::Input => Operation::Input,
            Operator::Linear(ref l) => match *l {
                LinearOp::Conv2d { .. } | LinearOp::Dense { .. } => {
                    Operation::Linear { macs: self.macs }
                }
                // The server's private scale per element.
                LinearOp::BatchNorm => Operation::Linear {
                    macs: self.elements,
                },
                // Public weights: each party sums its own share's windows.
                LinearOp::AvgPool { kernel, .. } => Operation::Elementwise {
                    adds: self.elements * (kernel * kernel) as u64,
                },
                LinearOp::Add { .. } => Operation::Elementwise {
                    adds: self.elements,
                },
                LinearOp::Flatten | LinearOp::Select { .. } | LinearOp::Merge { .. } => {
                    Operation::Elementwise { adds: 0 }
                }
            },
            Operator::Truncate { .. } => Operation::Truncate,
            Operator::GcRelu => Operation::Relu,
            Operator::CircaRelu { truncated_bits } => Operation::Circa { k: truncated_bits },
            Operator::BeaverPoly { .. } => Operation::Poly,
            Operator::GcMaxPool { kernel, .. } => Operation::MaxPool {
                window: (kernel * kernel) as u32,
            },
        }
    }
}

/// An edge: a tensor flowing from one operator to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// Shape of the tensor.
    pub shape: Shape,
    /// Which operand of the consumer it is (0, or 1 for the second input of `add`).
    pub operand: usize,
}

/// Whole-network counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Totals {
    /// Elements through garbled-circuit ReLU.
    pub relu_elements: u64,
    /// Elements through Circa ReLU.
    pub circa_elements: u64,
    /// Elements through polynomial activations.
    pub poly_elements: u64,
    /// Output elements of garbled max pooling.
    pub maxpool_elements: u64,
    /// Garbled comparisons in max pooling.
    pub maxpool_comparisons: u64,
    /// Elements truncated.
    pub truncated_elements: u64,
    /// Multiply-accumulates in convolution and dense layers.
    pub macs: u64,
    /// Trainable parameters.
    pub params: u64,
    /// Number of operators.
    pub nodes: u64,
}

/// The 2PC operator graph of a network.
#[derive(Debug, Clone)]
pub struct TwoPcGraph {
    name: String,
    fixed_point: FixedPoint,
    graph: DiGraph<Node, Edge>,
    output: NodeIndex,
}

impl TwoPcGraph {
    /// Builds the graph of a checked spec.
    pub fn build(spec: &CheckedSpec) -> TwoPcGraph {
        Builder::new(spec).run()
    }

    /// Name of the network.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fixed-point format the graph computes in.
    pub fn fixed_point(&self) -> FixedPoint {
        self.fixed_point
    }

    /// The underlying petgraph graph; node indices are in topological order.
    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    /// The node producing the network's output.
    pub fn output(&self) -> NodeIndex {
        self.output
    }

    /// Nodes with their indices, in topological order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &Node)> {
        self.graph.node_indices().map(move |i| (i, &self.graph[i]))
    }

    /// The operand nodes of `n`, in operand order.
    pub fn operands(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut ins: Vec<_> = self
            .graph
            .edges_directed(n, Direction::Incoming)
            .map(|e| (e.weight().operand, e.source()))
            .collect();
        ins.sort();
        ins.into_iter().map(|(_, s)| s).collect()
    }

    /// The operators as the cost model takes them, in topological order.
    pub fn workloads(&self) -> Vec<Workload> {
        self.nodes()
            .map(|(_, n)| Workload {
                label: n.label.clone(),
                kind: n.op.name().to_string(),
                operation: n.operation(),
                elements: n.elements,
            })
            .collect()
    }

    /// Whole-network counts.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, n) in self.nodes() {
            t.nodes += 1;
            t.macs += n.macs;
            t.params += n.params;
            match n.op {
                Operator::GcRelu => t.relu_elements += n.elements,
                Operator::CircaRelu { .. } => t.circa_elements += n.elements,
                Operator::BeaverPoly { .. } => t.poly_elements += n.elements,
                Operator::Truncate { .. } => t.truncated_elements += n.elements,
                Operator::GcMaxPool { kernel, .. } => {
                    t.maxpool_elements += n.elements;
                    t.maxpool_comparisons += n.elements * (kernel * kernel - 1) as u64;
                }
                Operator::Input | Operator::Linear(_) => {}
            }
        }
        t
    }
}

struct Builder<'a> {
    spec: &'a CheckedSpec,
    graph: DiGraph<Node, Edge>,
    input: NodeIndex,
    /// The node holding each layer's output; filled in layer order.
    out: Vec<NodeIndex>,
    /// How many layers read each layer's output.
    readers: Vec<usize>,
}

impl<'a> Builder<'a> {
    fn new(spec: &'a CheckedSpec) -> Self {
        let mut readers = vec![0; spec.layers().len()];
        for info in spec.layers() {
            for s in &info.sources {
                if let Source::Layer(j) = s {
                    readers[*j] += 1;
                }
            }
        }
        let mut graph = DiGraph::new();
        let shape = spec.spec().input.clone();
        let input = graph.add_node(Node {
            op: Operator::Input,
            layers: vec![],
            label: "input".into(),
            elements: shape.numel() as u64,
            out_shape: shape,
            macs: 0,
            params: 0,
        });
        Builder {
            spec,
            graph,
            input,
            out: Vec::new(),
            readers,
        }
    }

    fn source(&self, s: Source) -> NodeIndex {
        match s {
            Source::Input => self.input,
            Source::Layer(j) => self.out[j],
        }
    }

    fn add(&mut self, op: Operator, layer: usize, operands: &[NodeIndex]) -> NodeIndex {
        let spec = self.spec;
        let info = &spec.layers()[layer];
        let elements = info.out_shape.numel() as u64;
        let n = self.graph.add_node(Node {
            op,
            layers: vec![layer],
            label: spec.spec().layer_name(layer),
            out_shape: info.out_shape.clone(),
            macs: info.macs,
            params: info.params,
            elements,
        });
        for (operand, &src) in operands.iter().enumerate() {
            let shape = self.graph[src].out_shape.clone();
            self.graph.add_edge(src, n, Edge { shape, operand });
        }
        n
    }

    /// A node of part of layer `layer`'s channels (a site gated per channel): `op` on
    /// `operand`, with `channels` channels of the layer's output shape.
    fn part(
        &mut self,
        op: Operator,
        layer: usize,
        label: String,
        channels: usize,
        operand: NodeIndex,
    ) -> NodeIndex {
        let mut dims = self.spec.layers()[layer].out_shape.dims().to_vec();
        dims[0] = channels;
        let out_shape = Shape(dims);
        let node = Node {
            op,
            layers: vec![layer],
            label,
            elements: out_shape.numel() as u64,
            out_shape,
            macs: 0,
            params: 0,
        };
        let shape = self.graph[operand].out_shape.clone();
        let n = self.graph.add_node(node);
        self.graph.add_edge(operand, n, Edge { shape, operand: 0 });
        n
    }

    /// A site gated per channel: the ReLU channels through garbled ReLU and the others
    /// through the polynomial, side by side, then merged.
    fn mixed_site(&mut self, layer: usize, p: &perf_model::spec::Poly, x: NodeIndex) -> NodeIndex {
        let name = self.spec.spec().layer_name(layer);
        let c = self.spec.layers()[layer].out_shape.channels();
        let relu = p.relu_channels.clone();
        let poly = p.poly_channels(c);
        let (r, q) = (relu.len(), poly.len());
        let select = |channels| Operator::Linear(LinearOp::Select { channels });
        let rs = self.part(select(relu.clone()), layer, format!("{name}.relu.in"), r, x);
        let rn = self.part(Operator::GcRelu, layer, format!("{name}.relu"), r, rs);
        let ps = self.part(select(poly), layer, format!("{name}.poly.in"), q, x);
        let per_channel = p.per_channel();
        let pn = self.part(
            Operator::BeaverPoly { per_channel },
            layer,
            format!("{name}.poly"),
            q,
            ps,
        );
        self.graph[pn].params = self.spec.layers()[layer].params;
        let merge = Operator::Linear(LinearOp::Merge {
            relu_channels: relu,
        });
        let n = self.add(merge, layer, &[rn, pn]);
        self.graph[n].params = 0;
        n
    }

    fn truncate(&mut self, after: NodeIndex) -> NodeIndex {
        let prev = &self.graph[after];
        let node = Node {
            op: Operator::Truncate {
                frac_bits: self.spec.spec().fixed_point.frac_bits,
            },
            layers: prev.layers.clone(),
            label: format!("{}.trunc", prev.label),
            out_shape: prev.out_shape.clone(),
            macs: 0,
            params: 0,
            elements: prev.out_shape.numel() as u64,
        };
        let shape = node.out_shape.clone();
        let n = self.graph.add_node(node);
        self.graph.add_edge(after, n, Edge { shape, operand: 0 });
        n
    }

    /// The (linear, truncation) nodes of the conv/dense layer that batch norm layer
    /// `i` folds into, if any: its input is a conv/dense layer read by nothing else.
    fn fold_target(&self, i: usize) -> Option<(NodeIndex, NodeIndex)> {
        let Source::Layer(j) = self.spec.layers()[i].sources[0] else {
            return None;
        };
        let foldable = matches!(
            self.spec.spec().layers[j].op,
            LayerOp::Conv2d(_) | LayerOp::Dense(_)
        );
        if !foldable || self.readers[j] != 1 {
            return None;
        }
        // Layer j's output node is its truncation; the linear node feeds it.
        let trunc = self.out[j];
        let linear = self
            .graph
            .neighbors_directed(trunc, Direction::Incoming)
            .next()?;
        Some((linear, trunc))
    }

    fn run(mut self) -> TwoPcGraph {
        let spec = self.spec;
        for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
            let operands: Vec<NodeIndex> = info.sources.iter().map(|&s| self.source(s)).collect();
            let out = match &layer.op {
                LayerOp::Conv2d(c) => {
                    let op = LinearOp::Conv2d {
                        kernel: c.kernel,
                        stride: c.stride,
                        padding: c.padding,
                        bn: false,
                    };
                    let n = self.add(Operator::Linear(op), i, &operands);
                    self.truncate(n)
                }
                LayerOp::Dense(_) => {
                    let n = self.add(
                        Operator::Linear(LinearOp::Dense { bn: false }),
                        i,
                        &operands,
                    );
                    self.truncate(n)
                }
                LayerOp::BatchNorm(_) => match self.fold_target(i) {
                    Some((lin, trunc)) => {
                        let node = &mut self.graph[lin];
                        if let Operator::Linear(
                            LinearOp::Conv2d { bn, .. } | LinearOp::Dense { bn },
                        ) = &mut node.op
                        {
                            *bn = true;
                        }
                        node.layers.push(i);
                        node.params += info.params;
                        self.graph[trunc].layers.push(i);
                        trunc
                    }
                    None => {
                        let n = self.add(Operator::Linear(LinearOp::BatchNorm), i, &operands);
                        self.truncate(n)
                    }
                },
                LayerOp::AvgPool(p) => {
                    let op = LinearOp::AvgPool {
                        kernel: p.kernel,
                        stride: p.stride(),
                    };
                    let n = self.add(Operator::Linear(op), i, &operands);
                    self.truncate(n)
                }
                LayerOp::MaxPool(p) => {
                    let op = Operator::GcMaxPool {
                        kernel: p.kernel,
                        stride: p.stride(),
                    };
                    self.add(op, i, &operands)
                }
                LayerOp::Flatten => self.add(Operator::Linear(LinearOp::Flatten), i, &operands),
                LayerOp::Add(a) => {
                    let op = LinearOp::Add {
                        shortcut: a.shortcut,
                    };
                    self.add(Operator::Linear(op), i, &operands)
                }
                LayerOp::Relu => self.add(Operator::GcRelu, i, &operands),
                LayerOp::Circa(c) => {
                    let op = Operator::CircaRelu {
                        truncated_bits: c.truncated_bits,
                    };
                    self.add(op, i, &operands)
                }
                LayerOp::Poly(p) if p.mixed() => self.mixed_site(i, p, operands[0]),
                LayerOp::Poly(p) => {
                    let per_channel = p.per_channel();
                    self.add(Operator::BeaverPoly { per_channel }, i, &operands)
                }
            };
            self.out.push(out);
        }
        let output = self.out.last().copied().unwrap_or(self.input);
        TwoPcGraph {
            name: spec.spec().name.clone(),
            fixed_point: spec.spec().fixed_point,
            graph: self.graph,
            output,
        }
    }
}
