//! The server's accelerator on Verilator: a schedule's MAC-array and Beaver-lane tasks
//! compiled into the programs of [`hdl::accel::Accelerator`], its memories loaded from
//! a private inference's test vectors, the programs run, and their results and cycles
//! read back.
//!
//! [`compile`] turns every task the schedule gives the server's MAC array or Beaver
//! lanes into one instruction issuing at the task's start cycle:
//! - the input's task: the client's message (`x - r`, in the aux memory, the link's
//!   receive buffer) copied into the activations (`ADD` of zeros);
//! - a dense layer's tile: `DOT` of its rows, the server's masks from aux;
//! - a convolution's tile: `GEOM` and `TILE` (its geometry and where it starts), then
//!   `CONV` of its output elements, lanes across output channels; a convolution's
//!   output is kept channel-last, so a group of lanes is one window's channels;
//! - a truncation's tile: `ADD` of the bias (the lanes truncated already);
//! - a polynomial's Beaver tile: `WALK` (where its per-channel coefficients start) and
//!   `POLY` on the Beaver lanes, the server's pair shares and the opened `d` from the
//!   Beaver memory; its element-wise tile: `ADD` of the client's re-share (the
//!   server's output less `z`, as received) to the lanes' `z`.
//!
//! A window of the schedule (some of its nodes) compiles too, its start cycles taken
//! from its first task's: a deep network's whole online phase is millions of cycles,
//! too many to simulate cycle by cycle, but each layer's tasks run at their own
//! relative cycles.
//!
//! The garbled ReLUs and max pools and Circa's ReLUs run elsewhere (the GC engines and
//! the client); the server's share of their outputs is loaded as the protocol left it
//! (for a garbled ReLU, the server's own output mask, chosen offline). So is a
//! polynomial's when a convolution of the window reads it and its input is kept
//! channel-last.

use crate::twopc::channel::Role;
use crate::twopc::model::{Network, NodeKind, Weights};
use crate::twopc::vectors::{TestVectors, VectorSet};
use crate::verilator::{HarnessError, VerilatedDesign};
use hdl::accel::{self, CoefWalk, Instr, Memories, Op, Size};
use scheduler::schedule::{Schedule, Unit, Work};
use std::path::Path;

/// The server's arrays of a private inference's test vectors.
pub trait ServerShares {
    /// The server's array `name` of `node`, as ring elements.
    fn share(&self, node: usize, name: &str) -> Option<Vec<u64>>;
}

impl ServerShares for TestVectors {
    fn share(&self, node: usize, name: &str) -> Option<Vec<u64>> {
        self.get(Some(node), name)
            .map(|a| a.values.iter().map(|&v| v as u64).collect())
    }
}

impl ServerShares for VectorSet {
    fn share(&self, node: usize, name: &str) -> Option<Vec<u64>> {
        self.get(Role::Server, Some(node), name)
    }
}

/// What cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The accelerator has no lane count like this.
    #[error("the accelerator's top level is generated for 2, 4, 8, 16 or 32 MAC lanes, not {0}")]
    Lanes(u32),
    /// A node the MAC array cannot run on the server.
    #[error("node {node} ({label}): {what}")]
    Node {
        /// The node.
        node: usize,
        /// Its label.
        label: String,
        /// What is wrong.
        what: String,
    },
    /// The top level is not generated for the schedule's Beaver lanes.
    #[error(
        "the top level with {lanes} MAC lanes is generated for {counts:?} Beaver lanes; \
         the schedule has {schedule}"
    )]
    BeaverLanes {
        /// The MAC lanes.
        lanes: u32,
        /// The Beaver lane counts the top level is generated for with them.
        counts: Vec<u32>,
        /// The schedule's.
        schedule: u32,
    },
    /// The top level is not generated for this ring.
    #[error(
        "the accelerator's top level is generated for the 16-, 32- and 64-bit rings with \
         fewer fractional bits than ring bits, not l = {l}, f = {f}"
    )]
    Ring {
        /// The ring's bits.
        l: u32,
        /// Fractional bits.
        f: u32,
    },
    /// The top level of this size is not generated for the ring or lanes.
    #[error(
        "the {size} top level is generated for the 16-bit ring with 2 MAC lanes only, \
         not l = {l} with {lanes} MAC lanes and {beaver_lanes} Beaver lanes"
    )]
    Size {
        /// The size.
        size: Size,
        /// The ring's bits.
        l: u32,
        /// The MAC lanes.
        lanes: u32,
        /// The Beaver lanes.
        beaver_lanes: u32,
    },
    /// The memories' contents do not fit the top level's.
    #[error("the {memory} needs {needs} {unit} a bank; the {size} top level's banks have {has}")]
    Memory {
        /// The memory.
        memory: &'static str,
        /// What it is counted in.
        unit: &'static str,
        /// Entries the layout needs.
        needs: u64,
        /// Entries a bank has.
        has: u64,
        /// The top level's size.
        size: Size,
    },
    /// The program does not fit.
    #[error(transparent)]
    Program(#[from] accel::AccelError),
}

/// Builds the accelerator on the `l`-bit ring truncating by `f`, with `lanes` MAC lanes
/// and `beaver_lanes` Beaver lanes and memories of `size`, on Verilator (cached).
pub fn design(
    (l, f): (u32, u32),
    lanes: u32,
    beaver_lanes: u32,
    size: Size,
) -> Result<VerilatedDesign, HarnessError> {
    let name = format!(
        "accelerator-l{l}f{f}-x{lanes}b{beaver_lanes}{}",
        size.suffix()
    );
    let refused = |message: String| HarnessError::Ports {
        design: name.clone(),
        message,
    };
    generated_for((l, f), lanes, beaver_lanes, size).map_err(|e| refused(e.to_string()))?;
    let v = accel::verilog(l, f, lanes, beaver_lanes, size)
        .ok_or_else(|| refused("no Verilog for this top level".into()))?;
    VerilatedDesign::build(&name, &v)
}

/// Whether the top level is generated for the `l`-bit ring truncating by `f`, `lanes`
/// MAC lanes, `beaver_lanes` Beaver lanes and memories of `size`; the first that it is
/// not, if any.
fn generated_for(
    (l, f): (u32, u32),
    lanes: u32,
    beaver_lanes: u32,
    size: Size,
) -> Result<(), CompileError> {
    if !accel::LANE_COUNTS.contains(&lanes) {
        return Err(CompileError::Lanes(lanes));
    }
    let counts = accel::beaver_lane_counts(lanes);
    if !counts.contains(&beaver_lanes) {
        return Err(CompileError::BeaverLanes {
            lanes,
            counts,
            schedule: beaver_lanes,
        });
    }
    if !accel::RING_COUNTS.contains(&l) || f >= l {
        return Err(CompileError::Ring { l, f });
    }
    if !size.generated_for(l, lanes, beaver_lanes) {
        return Err(CompileError::Size {
            size,
            l,
            lanes,
            beaver_lanes,
        });
    }
    Ok(())
}

/// A compiled program with its memory image.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The instructions (without the end).
    pub program: Vec<Instr>,
    /// The memories before the run.
    pub mem: Memories,
    /// The memories' rows and words in use.
    pub used: Used,
    /// Each node's output: (node, first activation row, elements, `[C, H, W]` when kept
    /// channel-last).
    pub outputs: Vec<Output>,
    /// The cycle of the schedule the program's cycle 0 is.
    pub offset: u64,
    /// MAC-array tasks left out, per node: the element-wise steps of the GC
    /// operators and Circa's ReLUs, which have no instruction yet.
    pub skipped: Vec<(usize, usize)>,
    /// The schedule's task of each MAC-array instruction: (node, tile, start, end,
    /// ready).
    pub tasks: Vec<(usize, u32, u64, u64, u64)>,
    /// The same of each `POLY`.
    pub beaver_tasks: Vec<(usize, u32, u64, u64, u64)>,
}

/// The memories' rows and words in use (the host loads these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    /// Activation rows.
    pub act: u64,
    /// Aux rows.
    pub aux: u64,
    /// Weight words.
    pub weights: u64,
    /// Beaver rows.
    pub beaver: u64,
    /// Coefficient words.
    pub coef: u64,
}

impl Used {
    /// Whether these fit the memories of a top level of `size`; the first that does
    /// not, if any.
    pub fn fits(&self, size: Size) -> Result<(), CompileError> {
        let b = size.bits();
        let all = [
            ("activation memory", "rows", self.act, b.rows),
            ("aux memory", "rows", self.aux, b.rows),
            ("weight memory", "words", self.weights, b.weights),
            ("Beaver memory", "rows", self.beaver, b.beaver),
            ("coefficient memory", "words", self.coef, b.coef),
        ];
        for (memory, unit, needs, bits) in all {
            if needs > 1 << bits {
                return Err(CompileError::Memory {
                    memory,
                    unit,
                    needs,
                    has: 1 << bits,
                    size,
                });
            }
        }
        Ok(())
    }
}

impl Compiled {
    /// A hand-written `program` with its memories, `used` as in [`Compiled::used`]: no
    /// schedule's tasks or nodes behind it.
    pub fn by_hand(program: Vec<Instr>, mem: Memories, used: Used) -> Compiled {
        Compiled {
            program,
            mem,
            used,
            outputs: Vec::new(),
            offset: 0,
            skipped: Vec::new(),
            tasks: Vec::new(),
            beaver_tasks: Vec::new(),
        }
    }
}

/// Where a node's output lies in the activations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The node.
    pub node: usize,
    /// Its first row.
    pub row: u64,
    /// Its elements.
    pub elements: usize,
    /// `[C, H, W]` when kept channel-last (a convolution and its truncation).
    pub hwc: Option<[usize; 3]>,
}

impl Output {
    /// Position in memory (from the first row's first element) of element `e` in the
    /// network's `[C, H, W]` order.
    pub fn place(&self, e: usize) -> usize {
        match self.hwc {
            Some([c, h, w]) => {
                let (ch, p) = (e / (h * w), e % (h * w));
                p * c + ch
            }
            None => e,
        }
    }

    /// `v` (in `[C, H, W]` order) laid out as in memory.
    pub fn lay_out(&self, v: &[u64]) -> Vec<u64> {
        let mut out = vec![0; v.len()];
        for (e, &x) in v.iter().enumerate() {
            out[self.place(e)] = x;
        }
        out
    }

    /// The vector in `[C, H, W]` order, reading memory element `k` with `get(k)`.
    pub fn read(&self, get: impl Fn(u64) -> u64) -> Vec<u64> {
        (0..self.elements)
            .map(|e| get(self.place(e) as u64))
            .collect()
    }
}

/// The most MAC lanes, at most `most`, the top level is generated for that `net`
/// compiles on: lanes run across a convolution's output channels, so the count must
/// divide every convolution's. `None` when not even two lanes do.
pub fn lanes_for(net: &Network, most: u32) -> Option<u32> {
    accel::lane_counts_up_to(most).find(|&l| {
        net.nodes.iter().all(|n| match n.kind {
            NodeKind::Conv { output, .. } => output[0] % l as usize == 0,
            _ => true,
        })
    })
}

/// How polynomial node `node`'s coefficients lie from word `base` of the coefficient
/// banks when its output `o` is on `lanes` lanes: the walk, after its words are
/// stored in `mem`.
fn place_coefficients(
    node: &crate::twopc::model::NetNode,
    o: &Output,
    lanes: u64,
    base: u64,
    mem: &mut Memories,
) -> Result<CoefWalk, String> {
    let NodeKind::Poly { w2, w1, b } = &node.kind else {
        return Err("not a polynomial".into());
    };
    let (c, n) = (w2.len().max(1) as u64, node.elements as u64);
    let inner = (n / c).max(1);
    let (rep, period) = match o.hwc {
        _ if c == 1 => (1, 1),
        Some([ch, ..]) if ch as u64 % lanes == 0 => (1, ch as u64 / lanes),
        None if inner % lanes == 0 => (inner / lanes, c),
        None if inner == 1 => (1, n.div_ceil(lanes)),
        _ => {
            return Err(format!(
                "its {c} channels do not line up with {lanes} lanes (channels last need a \
                 multiple of the lanes, channels first a multiple in each channel's \
                 {inner} elements)"
            ))
        }
    };
    if rep > 1 << 12 || base + period > 1 << accel::COEF_BITS {
        return Err(format!(
            "its coefficients ({period} words from word {base}, {rep} rows each) do not fit \
             the {}-word coefficient memory",
            1 << accel::COEF_BITS
        ));
    }
    let walk = CoefWalk {
        base: base as u16,
        rep: rep as u16,
        period: period as u16,
    };
    let mut owner = vec![None; (period * lanes) as usize];
    for e in 0..node.elements {
        let p = o.place(e) as u64;
        let (j, q) = ((p % lanes) as usize, walk.word(p / lanes) as usize);
        let ch = node.channel_of(e);
        let slot = &mut owner[(q - base as usize) * lanes as usize + j];
        if let Some(k) = *slot {
            if k != ch {
                return Err(format!(
                    "channels {k} and {ch} would share coefficient word {q} of lane {j}"
                ));
            }
        }
        *slot = Some(ch);
        for (bank, v) in mem.coef.iter_mut().zip([w2, w1, b]) {
            bank[j][q] = v[ch.min(v.len() - 1)];
        }
    }
    Ok(walk)
}

/// Compiles the server's MAC-array and Beaver tasks of `schedule` for `net` with weights `w`,
/// the offline data and the client's message taken from the server's `vectors`; only
/// the tasks of the nodes `only` when given, their cycles from the first one's; for
/// the top level with memories of `size`.
pub fn compile(
    net: &Network,
    w: &Weights,
    schedule: &Schedule,
    vectors: &dyn ServerShares,
    only: Option<&[usize]>,
    size: Size,
) -> Result<Compiled, CompileError> {
    let (lanes, beaver_lanes) = (schedule.config.mac_lanes, schedule.config.beaver_lanes);
    let fixed = net.graph.fixed_point();
    let (l, f) = (fixed.ring_bits, fixed.frac_bits);
    generated_for((l, f), lanes, beaver_lanes, size)?;
    let ln = u64::from(lanes);
    let mut mem = Memories::new(lanes as usize, beaver_lanes as usize).ring(l, f);
    let n = net.nodes.len();
    let bad = |node: usize, what: String| CompileError::Node {
        node,
        label: net.nodes[node].label.clone(),
        what,
    };
    let ring = |node: usize, name: &str| -> Result<Vec<u64>, CompileError> {
        vectors
            .share(node, name)
            .ok_or_else(|| bad(node, format!("the vectors have no server `{name}`")))
    };
    // Rows: every node's output in the activations, offline data in aux.
    let (mut act_top, mut aux_top, mut wgt_top) = (0u64, 0u64, 0u64);
    let mut out_row = vec![0u64; n];
    let mut aux_row = vec![0u64; n];
    let mut wgt_word = vec![0u64; n];
    let mut zero_row = 0u64;
    let (mut bvr_top, mut coef_top) = (0u64, 0u64);
    let mut bvr_row = vec![0u64; n];
    let mut walks: Vec<Option<CoefWalk>> = vec![None; n];
    let mut outputs: Vec<Output> = Vec::new();
    let mut hwc: Vec<Option<[usize; 3]>> = vec![None; n];
    // The nodes in the window, and those whose outputs it reads (through reshapes).
    let inside = |i: usize| only.is_none_or(|o| o.contains(&i));
    let mut read = vec![false; n];
    for i in (0..n).rev() {
        if inside(i) || (read[i] && matches!(net.nodes[i].kind, NodeKind::Flatten)) {
            for &o in &net.nodes[i].operands {
                read[o] = true;
            }
        }
    }
    // Nodes a convolution of the window reads: their outputs must be channels first.
    let mut feeds_conv = vec![false; n];
    for (i, node) in net.nodes.iter().enumerate() {
        if inside(i) && matches!(node.kind, NodeKind::Conv { .. }) {
            feeds_conv[node.operands[0]] = true;
        }
    }
    for (i, node) in net.nodes.iter().enumerate() {
        let rows = (node.elements as u64).div_ceil(ln);
        let out = |hwc: Option<[usize; 3]>| Output {
            node: i,
            row: 0,
            elements: node.elements,
            hwc,
        };
        if !inside(i) && !matches!(node.kind, NodeKind::Flatten) {
            if read[i] {
                // Computed before the window (by the GC engines, the Beaver lanes, or
                // the array): its share as the protocol left it, channels first. A
                // linear layer's own output is the array's intermediate (before the
                // bias), which the vectors do not hold.
                if matches!(node.kind, NodeKind::Dense { .. } | NodeKind::Conv { .. }) {
                    return Err(bad(
                        i,
                        "the window reads this node's output; it must be in the window".into(),
                    ));
                }
                out_row[i] = act_top;
                Memories::put(&mut mem.act, act_top, &ring(i, "y")?);
                act_top += rows;
            }
            continue;
        }
        match node.kind {
            NodeKind::Flatten => {
                out_row[i] = out_row[node.operands[0]];
                hwc[i] = hwc[node.operands[0]];
                continue;
            }
            NodeKind::Input => {
                // Zeros to add the received shares to, then the shares themselves.
                zero_row = act_top;
                act_top += rows;
                aux_row[i] = aux_top;
                Memories::put(&mut mem.aux, aux_top, &ring(i, "y")?);
                aux_top += rows;
            }
            NodeKind::Dense { inputs, .. } => {
                if hwc[node.operands[0]].is_some() {
                    return Err(bad(i, "the input is kept channel-last".into()));
                }
                let p = w.0[i].as_ref().ok_or_else(|| bad(i, "no weights".into()))?;
                aux_row[i] = aux_top;
                Memories::put(&mut mem.aux, aux_top, &ring(i, "mask")?);
                aux_top += rows;
                wgt_word[i] = wgt_top;
                mem.put_weights(wgt_top, &p.w, inputs);
                wgt_top += rows * inputs as u64;
            }
            NodeKind::Conv {
                input,
                output,
                kernel,
                ..
            } => {
                if output[0] % lanes as usize != 0 {
                    return Err(bad(
                        i,
                        format!(
                            "{} output channels are not whole groups of {lanes} lanes",
                            output[0]
                        ),
                    ));
                }
                if hwc[node.operands[0]].is_some() {
                    return Err(bad(i, "the input is kept channel-last".into()));
                }
                let p = w.0[i].as_ref().ok_or_else(|| bad(i, "no weights".into()))?;
                hwc[i] = Some(output);
                aux_row[i] = aux_top;
                Memories::put(
                    &mut mem.aux,
                    aux_top,
                    &out(hwc[i]).lay_out(&ring(i, "mask")?),
                );
                aux_top += rows;
                let depth = input[0] * kernel * kernel;
                wgt_word[i] = wgt_top;
                let words = (output[0] as u64).div_ceil(ln) * depth as u64;
                mem.put_weights(wgt_top, &p.w, depth);
                wgt_top += words;
            }
            NodeKind::Truncate => {
                aux_row[i] = aux_top;
                let linear = node.operands[0];
                hwc[i] = hwc[linear];
                let bias: Vec<u64> = (0..node.elements).map(|e| w.bias(net, linear, e)).collect();
                Memories::put(&mut mem.aux, aux_top, &out(hwc[i]).lay_out(&bias));
                aux_top += rows;
            }
            // A polynomial on the Beaver lanes (unless a convolution reads it and its
            // input is channels last, as the lanes would leave its output).
            NodeKind::Poly { .. } if !(feeds_conv[i] && hwc[node.operands[0]].is_some()) => {
                hwc[i] = hwc[node.operands[0]];
                let o = out(hwc[i]);
                let walk = place_coefficients(node, &o, ln, coef_top, &mut mem)
                    .map_err(|what| bad(i, what))?;
                coef_top += u64::from(walk.period);
                walks[i] = Some(walk);
                bvr_row[i] = bvr_top;
                for (bank, name) in mem.pairs.iter_mut().zip(["a", "c", "d"]) {
                    Memories::put(bank, bvr_top, &o.lay_out(&ring(i, name)?));
                }
                bvr_top += rows;
                // The client's re-share, as received: the server's output less its `z`.
                let (y, z) = (ring(i, "y")?, ring(i, "z")?);
                let received: Vec<u64> =
                    y.iter().zip(&z).map(|(y, z)| y.wrapping_sub(*z)).collect();
                aux_row[i] = aux_top;
                Memories::put(&mut mem.aux, aux_top, &o.lay_out(&received));
                aux_top += rows;
            }
            NodeKind::Relu
            | NodeKind::MaxPool { .. }
            | NodeKind::Poly { .. }
            | NodeKind::Circa { .. }
            | NodeKind::Gather { .. } => {
                // Not the array's work (the GC engines', the Beaver lanes', or the
                // channels of a site gated per channel picked and merged, which no
                // instruction moves yet): the server's share of the output as the
                // protocol left it.
                out_row[i] = act_top;
                Memories::put(&mut mem.act, act_top, &ring(i, "y")?);
                act_top += rows;
                continue;
            }
            _ => {
                return Err(bad(
                    i,
                    "the accelerator's program has no instruction for this node's MAC-array \
                     work yet (it runs the input, dense layers, convolutions and \
                     truncations)"
                        .into(),
                ))
            }
        }
        out_row[i] = act_top;
        act_top += rows;
        outputs.push(Output {
            row: out_row[i],
            ..out(hwc[i])
        });
    }
    let used = Used {
        act: act_top,
        aux: aux_top,
        weights: wgt_top,
        beaver: bvr_top,
        coef: coef_top,
    };
    used.fits(size)?;
    let mem = mem.sized(size);
    let mut program = Vec::new();
    let mut tasks = Vec::new();
    let mut mine: Vec<_> = schedule
        .tasks
        .iter()
        .filter(|t| {
            matches!(t.unit, Unit::ServerMac | Unit::ServerBeaver)
                && only.is_none_or(|o| o.contains(&t.node))
        })
        .collect();
    mine.sort_by_key(|t| t.start);
    // Two cycles ahead of a window's first task, for a `GEOM` and a `TILE` to load.
    let offset = match only {
        Some(_) => mine.first().map_or(0, |t| t.start.saturating_sub(2)),
        None => 0,
    };
    let by_node: std::collections::HashMap<usize, &scheduler::schedule::NodeSchedule> =
        schedule.nodes.iter().map(|s| (s.node, s)).collect();
    let mut skipped = std::collections::BTreeMap::<usize, usize>::new();
    let mut beaver_tasks = Vec::new();
    for t in mine {
        let i = t.node;
        let ns = by_node[&i];
        let runs = match net.nodes[i].kind {
            NodeKind::Poly { .. } => walks[i].is_some(),
            NodeKind::Relu | NodeKind::MaxPool { .. } | NodeKind::Circa { .. } => false,
            _ => true,
        };
        if !runs {
            // The element-wise part of a GC operator or a Circa ReLU, or a polynomial
            // left to the protocol's shares: no instruction.
            if t.unit == Unit::ServerMac {
                *skipped.entry(i).or_insert(0) += 1;
            }
            continue;
        }
        let work = ns.steps[t.step as usize]
            .iter()
            .find(|w| w.units().contains(&t.unit))
            .ok_or_else(|| bad(i, format!("a {:?} task without its work", t.unit)))?;
        let (first, len) = work.tile_range(t.tile, ns.tiles, ns.cut(lanes));
        let (g, count) = (first / ln, len as u16);
        let node = &net.nodes[i];
        let row16 = |r: u64| r as u16;
        let start = (t.start - offset) as u32;
        let ins = match (node.kind.clone(), work) {
            (
                NodeKind::Conv {
                    input,
                    output,
                    kernel,
                    stride,
                    padding,
                },
                Work::Macs { .. },
            ) => {
                let to16 = |v: [usize; 3]| v.map(|x| x as u16);
                let geo = accel::Geometry {
                    input: to16(input),
                    output: to16(output),
                    kernel: kernel as u16,
                    stride: stride as u16,
                    padding: padding as u16,
                };
                let lanes16 = lanes as u16;
                let depth = geo.depth();
                let cg = geo.group_of(lanes16, first as u32);
                if len > 0 {
                    program.push(Instr::setup(geo.geom(lanes16)));
                    program.push(Instr::setup(geo.tile(
                        lanes16,
                        first as u32,
                        wgt_word[i] as u16,
                    )));
                }
                Instr {
                    start,
                    op: Op::Conv,
                    count,
                    depth,
                    a: row16(out_row[node.operands[0]]),
                    b: row16(aux_row[i] + g),
                    o: row16(out_row[i] + g),
                    w: (wgt_word[i] + u64::from(cg) * u64::from(depth)) as u16,
                    raw: 0,
                }
            }
            (NodeKind::Input, Work::Elementwise { .. }) => Instr {
                start,
                op: Op::Add,
                count,
                depth: 0,
                a: row16(zero_row + g),
                b: row16(aux_row[i] + g),
                o: row16(out_row[i] + g),
                w: 0,
                raw: 0,
            },
            (NodeKind::Dense { inputs, .. }, Work::Macs { .. }) => Instr {
                start,
                op: Op::Dot,
                count,
                depth: inputs as u16,
                a: row16(out_row[node.operands[0]]),
                b: row16(aux_row[i] + g),
                o: row16(out_row[i] + g),
                w: (wgt_word[i] + g * inputs as u64) as u16,
                raw: 0,
            },
            (NodeKind::Poly { .. }, Work::Beaver { .. }) => {
                let walk = walks[i].ok_or_else(|| bad(i, "no coefficients".into()))?;
                let ins = Instr::poly(
                    start,
                    count,
                    row16(out_row[node.operands[0]] + g),
                    row16(bvr_row[i] + g),
                );
                if len > 0 {
                    program.push(Instr::setup(walk.setup(g)));
                    program.push(ins);
                    beaver_tasks.push((
                        i,
                        t.tile,
                        t.start - offset,
                        t.end - offset,
                        t.ready - offset,
                    ));
                }
                continue;
            }
            // The polynomial's `z` plus the client's re-share.
            (NodeKind::Poly { .. }, Work::Elementwise { .. }) => Instr {
                start,
                op: Op::Add,
                count,
                depth: 1,
                a: row16(bvr_row[i] + g),
                b: row16(aux_row[i] + g),
                o: row16(out_row[i] + g),
                w: 0,
                raw: 0,
            },
            (NodeKind::Truncate, Work::Elementwise { .. }) => Instr {
                start,
                op: Op::Add,
                count,
                depth: 0,
                a: row16(out_row[node.operands[0]] + g),
                b: row16(aux_row[i] + g),
                o: row16(out_row[i] + g),
                w: 0,
                raw: 0,
            },
            (_, w) => return Err(bad(i, format!("no instruction for its {w:?}"))),
        };
        if len > 0 {
            program.push(ins);
            tasks.push((
                i,
                t.tile,
                t.start - offset,
                t.end - offset,
                t.ready - offset,
            ));
        }
    }
    accel::check(&program, lanes as usize, beaver_lanes as usize, l, size)?;
    Ok(Compiled {
        program,
        mem,
        used,
        outputs,
        offset,
        skipped: skipped.into_iter().collect(),
        tasks,
        beaver_tasks,
    })
}

/// What a run on Verilator gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The start cycle of each MAC-array instruction (the cycle count after its
    /// decode).
    pub issues: Vec<u64>,
    /// The cycle counts at which the array's results were written.
    pub writes: Vec<u64>,
    /// The start cycle of each `POLY`.
    pub beaver_issues: Vec<u64>,
    /// The cycle counts at which the Beaver lanes' results were written.
    pub beaver_writes: Vec<u64>,
    /// Whether an instruction issued late.
    pub late: bool,
    /// Whether a lane refused a pair or missed a write.
    pub fault: bool,
    /// Whether the program reached its end.
    pub halted: bool,
    /// The activation memory's rows `0..used` afterwards, element by element
    /// (`rows * lanes` values).
    pub act: Vec<u64>,
}

fn port(d: &VerilatedDesign, name: &str) -> Result<usize, HarnessError> {
    d.port(name).ok_or_else(|| HarnessError::Ports {
        design: d.name().to_string(),
        message: format!("no port `{name}`"),
    })
}

/// Loads `c` into the design, runs it for `cycles` cycles from `start`, and reads the
/// activations back.
pub fn drive(
    d: &VerilatedDesign,
    c: &Compiled,
    cycles: u64,
    vcd: Option<&Path>,
) -> Result<Trace, HarnessError> {
    let lanes = c.mem.lanes;
    let p = |n| port(d, n);
    let (ld_act, ld_aux, ld_wgt, ld_prog, ld_bprog) = (
        p("ld_act")?,
        p("ld_aux")?,
        p("ld_wgt")?,
        p("ld_prog")?,
        p("ld_bprog")?,
    );
    let (ld_lane, ld_addr, ld_data) = (p("ld_lane")?, p("ld_addr")?, p("ld_data")?);
    let (start, pk_lane, pk_addr) = (p("start")?, p("pk_lane")?, p("pk_addr")?);
    let blank = || vec![0u128; d.inputs().len()];
    let mut rows = Vec::new();
    let u = c.used;
    let [pa, pc, pd] = &c.mem.pairs;
    let [cw2, cw1, cb] = &c.mem.coef;
    for (flag, bank, n) in [
        (ld_act, &c.mem.act, u.act),
        (ld_aux, &c.mem.aux, u.aux),
        (ld_wgt, &c.mem.weights, u.weights),
        (p("ld_pa")?, pa, u.beaver),
        (p("ld_pc")?, pc, u.beaver),
        (p("ld_pd")?, pd, u.beaver),
        (p("ld_cw2")?, cw2, u.coef),
        (p("ld_cw1")?, cw1, u.coef),
        (p("ld_cb")?, cb, u.coef),
    ] {
        for (j, b) in bank.iter().enumerate() {
            for (a, &v) in b.iter().enumerate().take(n as usize) {
                let mut r = blank();
                (r[flag], r[ld_lane], r[ld_addr], r[ld_data]) = (1, 1 << j, a as u128, v.into());
                rows.push(r);
            }
        }
    }
    let end = Instr::end(u32::MAX);
    for (flag, beaver) in [(ld_prog, false), (ld_bprog, true)] {
        let mine = c.program.iter().filter(|i| i.beaver() == beaver);
        for (a, i) in mine.chain([&end]).enumerate() {
            let mut r = blank();
            (r[flag], r[ld_addr], r[ld_data]) = (1, a as u128, i.encode());
            rows.push(r);
        }
    }
    let mut r = blank();
    r[start] = 1;
    rows.push(r);
    let run_from = rows.len();
    for _ in 0..cycles {
        rows.push(blank());
    }
    let peek_from = rows.len();
    for a in 0..u.act {
        for j in 0..lanes {
            let mut r = blank();
            (r[pk_lane], r[pk_addr]) = (1 << j, a.into());
            rows.push(r);
        }
    }
    rows.push(blank());
    let out = d.run(&rows, vcd)?;
    let o = |n| port(d, n);
    let fault = o("fault")?;
    let (bissue, bwriting) = (o("bissue")?, o("bwriting")?);
    let (now, issue, writing, halted, late, pk_data) = (
        o("now")?,
        o("issue")?,
        o("writing")?,
        o("halted")?,
        o("late")?,
        o("pk_data")?,
    );
    let run = &out[run_from..peek_from];
    Ok(Trace {
        issues: run
            .iter()
            .filter(|r| r[issue] == 1)
            .map(|r| (r[now] as u32).wrapping_add(1).into())
            .collect(),
        writes: run
            .iter()
            .filter(|r| r[writing] == 1)
            .map(|r| r[now] as u64)
            .collect(),
        beaver_issues: run
            .iter()
            .filter(|r| r[bissue] == 1)
            .map(|r| (r[now] as u32).wrapping_add(1).into())
            .collect(),
        beaver_writes: run
            .iter()
            .filter(|r| r[bwriting] == 1)
            .map(|r| r[now] as u64)
            .collect(),
        late: run.last().is_some_and(|r| r[late] == 1),
        fault: run.last().is_some_and(|r| r[fault] == 1),
        halted: run.last().is_some_and(|r| r[halted] == 1),
        act: out[peek_from + 1..]
            .iter()
            .map(|r| r[pk_data] as u64)
            .collect(),
    })
}

/// One node's output checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputCheck {
    /// The node.
    pub node: usize,
    /// Its label.
    pub label: String,
    /// Its elements.
    pub elements: usize,
    /// Elements where the golden model differs from the protocol's share (a truncation's
    /// output, the server's share of the layer), if compared.
    pub golden_vs_protocol: Option<usize>,
    /// Elements where Verilator differs from the golden model.
    pub verilator_vs_golden: usize,
}

/// A schedule's MAC-array tasks run on the accelerator and checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// MAC lanes.
    pub lanes: u32,
    /// Beaver lanes.
    pub beaver_lanes: u32,
    /// Instructions (setup words included).
    pub instructions: usize,
    /// The schedule's tasks run.
    pub tasks: usize,
    /// The schedule's cycle the program's cycle 0 is.
    pub offset: u64,
    /// The schedule's last result of these tasks, program cycles.
    pub schedule_ready: u64,
    /// The cycle after Verilator's last write.
    pub measured_ready: u64,
    /// Tasks whose instruction issued at the task's start.
    pub on_time: usize,
    /// Whether an instruction issued late.
    pub late: bool,
    /// Whether a lane missed a pair or a write.
    pub fault: bool,
    /// Every node's output.
    pub outputs: Vec<OutputCheck>,
    /// MAC-array tasks not run, per node label: the element-wise steps of the GC
    /// operators and Circa's ReLUs, which have no instruction yet.
    pub skipped: Vec<(String, usize)>,
}

impl Verification {
    /// Whether everything matched: every instruction on time, the last result when the
    /// schedule says, every output equal.
    pub fn passed(&self) -> bool {
        !self.late
            && !self.fault
            && self.on_time == self.tasks
            && self.measured_ready == self.schedule_ready
            && self
                .outputs
                .iter()
                .all(|o| o.verilator_vs_golden == 0 && o.golden_vs_protocol.is_none_or(|m| m == 0))
    }
}

/// What went wrong running a program.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// It did not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The harness failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),
}

/// Compiles the server's MAC-array and Beaver tasks of `schedule` (those of `only` when
/// given), runs them on the golden model and on the Verilated accelerator, and
/// compares: issue cycles with the tasks' starts, the last write with the last task's
/// result, Verilator's outputs with the golden model's, and the golden model's
/// truncations and polynomials with the protocol's shares in `vectors`.
pub fn verify(
    net: &Network,
    w: &Weights,
    schedule: &Schedule,
    vectors: &dyn ServerShares,
    only: Option<&[usize]>,
    size: Size,
    vcd: Option<&Path>,
) -> Result<Verification, VerifyError> {
    let c = compile(net, w, schedule, vectors, only, size)?;
    let lanes = schedule.config.mac_lanes;
    let mut golden = c.mem.clone();
    accel::run(&c.program, &mut golden).map_err(CompileError::Program)?;
    let schedule_ready = c
        .tasks
        .iter()
        .chain(&c.beaver_tasks)
        .map(|t| t.4)
        .max()
        .unwrap_or(0);
    let beaver_lanes = schedule.config.beaver_lanes;
    let ring = (c.mem.ring_bits, c.mem.frac_bits);
    let design = design(ring, lanes, beaver_lanes, size)?;
    let trace = drive(&design, &c, schedule_ready + 2 * accel::delay(ring.0), vcd)?;
    let l = u64::from(lanes);
    let mismatches = |a: &[u64], b: &[u64]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let outputs = c
        .outputs
        .iter()
        .map(|o| {
            let want = o.read(|k| golden.act[(k % l) as usize][(o.row + k / l) as usize]);
            let got = o.read(|k| {
                trace
                    .act
                    .get(((o.row + k / l) * l + k % l) as usize)
                    .copied()
                    .unwrap_or(!0)
            });
            let protocol = matches!(
                net.nodes[o.node].kind,
                NodeKind::Truncate | NodeKind::Poly { .. }
            )
            .then(|| vectors.share(o.node, "y"))
            .flatten();
            OutputCheck {
                node: o.node,
                label: net.nodes[o.node].label.clone(),
                elements: o.elements,
                golden_vs_protocol: protocol.map(|p| mismatches(&want, &p)),
                verilator_vs_golden: mismatches(&got, &want),
            }
        })
        .collect();
    let on_time = |issues: &[u64], tasks: &[(usize, u32, u64, u64, u64)]| {
        issues.iter().zip(tasks).filter(|(i, t)| **i == t.2).count()
    };
    let on_time = on_time(&trace.issues, &c.tasks) + on_time(&trace.beaver_issues, &c.beaver_tasks);
    let last_write = trace.writes.iter().chain(&trace.beaver_writes).max();
    Ok(Verification {
        lanes,
        beaver_lanes,
        instructions: c.program.len(),
        tasks: c.tasks.len() + c.beaver_tasks.len(),
        offset: c.offset,
        schedule_ready,
        measured_ready: last_write.map_or(0, |w| w + 1),
        on_time,
        late: trace.late,
        fault: trace.fault,
        outputs,
        skipped: c
            .skipped
            .iter()
            .map(|&(n, k)| (net.nodes[n].label.clone(), k))
            .collect(),
    })
}
