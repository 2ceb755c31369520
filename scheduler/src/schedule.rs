//! Schedules of the online phase: every operator of a 2PC graph, tile by tile, on the
//! accelerator's units and the link, with start and end cycles.
//!
//! Each operator's online work is a chain of steps that follows the protocol profile
//! (a garbled ReLU: the server's input labels picked on the GC engines, sent, the
//! circuits evaluated while their tables stream from off-chip memory, colour bits
//! returned; a polynomial: the Beaver opening both ways, the Beaver lanes, the local
//! scaling and re-share, the re-share sent). The step amounts add up to the operator's
//! [`Operation::cost`](perf_model::Operation::cost) exactly.
//!
//! An operator is cut into tiles of its output elements, as many as the activation
//! buffer needs (double-buffered) and at least enough that the tiles pipeline: while
//! one tile is on the link the next is on the units. A step of a tile starts when the
//! tile's previous step is done (plus the unit's pipeline latency, or the link's one-way
//! delay after a message) and its unit is free; every operand of an operator must be
//! complete before its first tile starts. Each unit kind is one resource (all its
//! lanes or engines work on a tile together); the link is two, one per direction.
//!
//! The lower bound is the larger of the critical path (along the graph, each operator
//! at least its busiest unit's total work at full rate plus one-way delay per message
//! round) and the roofline (the busiest unit's total work over the whole network).

use crate::graph::TwoPcGraph;
use perf_model::accel::{units, AcceleratorConfig};
use perf_model::device::Device;
use perf_model::network::NetworkProfile;
use perf_model::protocol::{Flight, GcWork, Operation, PhaseCost};
use serde::Serialize;
use std::collections::BTreeMap;

/// A resource operators are scheduled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// The MAC array (multiply-accumulates and element-wise ring operations).
    Mac,
    /// The Beaver lanes.
    Beaver,
    /// The garbled-circuit engines.
    Gc,
    /// Off-chip memory (garbled tables).
    Memory,
    /// The link, server to client.
    LinkS2c,
    /// The link, client to server.
    LinkC2s,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 6] = [
        Unit::Mac,
        Unit::Beaver,
        Unit::Gc,
        Unit::Memory,
        Unit::LinkS2c,
        Unit::LinkC2s,
    ];

    /// Name for people.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Mac => "mac array",
            Unit::Beaver => "beaver lanes",
            Unit::Gc => "gc engines",
            Unit::Memory => "memory",
            Unit::LinkS2c => "link s→c",
            Unit::LinkC2s => "link c→s",
        }
    }
}

/// Work of one step, in the units it is counted in; split over tiles in proportion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Multiply-accumulates on the MAC array.
    Macs {
        /// How many.
        n: u64,
    },
    /// Element-wise ring operations on the MAC array.
    Elementwise {
        /// How many.
        n: u64,
    },
    /// Elements through the Beaver lanes.
    Beaver {
        /// How many.
        n: u64,
    },
    /// Input-label selections on the GC engines (one bit each).
    Labels {
        /// How many.
        n: u64,
    },
    /// Circuits evaluated on the GC engines.
    Evaluate {
        /// The circuits.
        gc: GcWork,
    },
    /// Bytes read from off-chip memory.
    Read {
        /// How many.
        bytes: u64,
    },
    /// Bytes sent server to client.
    SendS2c {
        /// How many.
        bytes: u64,
    },
    /// Bytes sent client to server.
    SendC2s {
        /// How many.
        bytes: u64,
    },
}

impl Work {
    /// The unit that does it.
    pub fn unit(&self) -> Unit {
        match self {
            Work::Macs { .. } | Work::Elementwise { .. } => Unit::Mac,
            Work::Beaver { .. } => Unit::Beaver,
            Work::Labels { .. } | Work::Evaluate { .. } => Unit::Gc,
            Work::Read { .. } => Unit::Memory,
            Work::SendS2c { .. } => Unit::LinkS2c,
            Work::SendC2s { .. } => Unit::LinkC2s,
        }
    }

    fn amount(&self) -> u64 {
        match *self {
            Work::Macs { n }
            | Work::Elementwise { n }
            | Work::Beaver { n }
            | Work::Labels { n }
            | Work::Read { bytes: n }
            | Work::SendS2c { bytes: n }
            | Work::SendC2s { bytes: n } => n,
            Work::Evaluate { gc } => gc.instances,
        }
    }

    fn with_amount(&self, a: u64) -> Work {
        match *self {
            Work::Macs { .. } => Work::Macs { n: a },
            Work::Elementwise { .. } => Work::Elementwise { n: a },
            Work::Beaver { .. } => Work::Beaver { n: a },
            Work::Labels { .. } => Work::Labels { n: a },
            Work::Evaluate { gc } => Work::Evaluate {
                gc: GcWork { instances: a, ..gc },
            },
            Work::Read { .. } => Work::Read { bytes: a },
            Work::SendS2c { .. } => Work::SendS2c { bytes: a },
            Work::SendC2s { .. } => Work::SendC2s { bytes: a },
        }
    }

    fn is_message(&self) -> bool {
        matches!(self, Work::SendS2c { .. } | Work::SendC2s { .. })
    }
}

/// One step of an operator: works that run side by side (a message both ways, an
/// evaluation and the reads of its tables), all done before the next step.
pub type Step = Vec<Work>;

/// The online steps of an operation on `elements` outputs in an `l`-bit ring, in the
/// protocol's order.
pub fn steps(op: &Operation, elements: u64, l: u32) -> Vec<Step> {
    let cost = op.cost(elements, l).online;
    let send = |f: &Flight| -> Step {
        let mut s = Vec::new();
        if f.s2c > 0 {
            s.push(Work::SendS2c { bytes: f.s2c });
        }
        if f.c2s > 0 {
            s.push(Work::SendC2s { bytes: f.c2s });
        }
        s
    };
    let gc = |c: &PhaseCost, out: &mut Vec<Step>| {
        if let Some(w) = c.gc {
            out.push(vec![Work::Labels {
                n: w.instances * w.garbler_inputs,
            }]);
            out.push(send(&c.flights[0]));
            out.push(vec![
                Work::Evaluate { gc: w },
                Work::Read {
                    bytes: w.total_and() * perf_model::protocol::garbled_and_bytes(),
                },
            ]);
            out.push(send(&c.flights[1]));
        }
    };
    let mut out = Vec::new();
    match op {
        Operation::Input => {
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
            out.push(send(&cost.flights[0]));
        }
        Operation::Linear { .. } => out.push(vec![Work::Macs { n: cost.macs }]),
        Operation::Elementwise { .. } | Operation::Truncate => {
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
        }
        Operation::Relu | Operation::MaxPool { .. } => gc(&cost, &mut out),
        Operation::Circa { .. } => {
            gc(&cost, &mut out);
            // The Beaver product of the value and the sign bit, then the re-share.
            out.push(send(&cost.flights[2]));
            out.push(vec![Work::Beaver {
                n: cost.beaver_elements,
            }]);
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
            out.push(send(&cost.flights[3]));
        }
        Operation::Poly => {
            // The opening of x - a both ways, the Beaver lane, the local scaling,
            // truncations and re-share, the re-share sent.
            out.push(send(&cost.flights[0]));
            out.push(vec![Work::Beaver {
                n: cost.beaver_elements,
            }]);
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
            out.push(send(&cost.flights[1]));
        }
    }
    out.retain(|s| !s.is_empty() && s.iter().any(|w| w.amount() > 0));
    out
}

/// The cycles a unit is held by `w`, and the cycles after that until its result can be
/// used (the unit's pipeline latency, or the link's one-way delay).
struct Timer<'a> {
    c: &'a AcceleratorConfig,
    device: &'a Device,
    link: &'a NetworkProfile,
}

impl Timer<'_> {
    fn hz(&self) -> f64 {
        self.c.clock_mhz * 1e6
    }

    fn cycles_of_s(&self, s: f64) -> u64 {
        (s * self.hz()).ceil() as u64
    }

    fn delay(&self) -> u64 {
        self.cycles_of_s(self.link.round_s())
    }

    /// (busy, then) for a piece of work.
    fn time(&self, w: &Work) -> (u64, u64) {
        let c = self.c;
        let l = c.ring_bits;
        let lanes = u64::from(c.mac_lanes);
        let engines = u64::from(c.gc.engines);
        match *w {
            Work::Macs { n } => (n.div_ceil(lanes), units::mac_lane(l).latency),
            Work::Elementwise { n } => (n.div_ceil(lanes), 1),
            Work::Beaver { n } => {
                let t = units::beaver_lane(l);
                (n.div_ceil(c.beaver_lanes.into()) * t.ii, t.latency)
            }
            Work::Labels { n } => (n.div_ceil(engines), 1),
            Work::Evaluate { gc } => {
                let t = units::evaluator(c.gc.aes_cores, c.gc.aes_round_units);
                (
                    units::gc_cycles(t, engines, &gc, c.gc.label_ram_wires.into()),
                    0,
                )
            }
            Work::Read { bytes } => (
                self.cycles_of_s(bytes as f64 / (self.device.memory.gbps * 1e9)),
                0,
            ),
            Work::SendS2c { bytes } | Work::SendC2s { bytes } => {
                (self.cycles_of_s(self.link.transfer_s(bytes)), self.delay())
            }
        }
    }

    /// Cycles of `w` that no schedule can beat: at full rate, with no pipeline fill.
    fn ideal(&self, w: &Work) -> f64 {
        let c = self.c;
        let lanes = f64::from(c.mac_lanes);
        let engines = f64::from(c.gc.engines);
        match *w {
            Work::Macs { n } | Work::Elementwise { n } => n as f64 / lanes,
            Work::Beaver { n } => n as f64 / f64::from(c.beaver_lanes),
            Work::Labels { n } => n as f64 / engines,
            // The engines run circuits in batches of what their label RAM holds, each
            // row at least a pipeline's length: `gc_cycles` is exact for the hardware,
            // and no split of the work into tiles takes fewer cycles.
            Work::Evaluate { gc } => {
                let t = units::evaluator(c.gc.aes_cores, c.gc.aes_round_units);
                let exact =
                    units::gc_cycles(t, c.gc.engines.into(), &gc, c.gc.label_ram_wires.into());
                (exact as f64).max(gc.issue_slots(t.ii) as f64 / engines)
            }
            Work::Read { bytes } => bytes as f64 / (self.device.memory.gbps * 1e9) * self.hz(),
            Work::SendS2c { bytes } | Work::SendC2s { bytes } => {
                self.link.transfer_s(bytes) * self.hz()
            }
        }
    }
}

/// One piece of work of one tile on one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// The graph node.
    pub node: usize,
    /// The tile.
    pub tile: u32,
    /// The step of the node's chain.
    pub step: u32,
    /// The unit.
    pub unit: Unit,
    /// First cycle.
    pub start: u64,
    /// Cycle after the last.
    pub end: u64,
    /// When its result may be used (end plus latency or one-way delay).
    pub ready: u64,
}

/// One operator in the schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSchedule {
    /// The graph node.
    pub node: usize,
    /// Its label.
    pub label: String,
    /// Its kind.
    pub kind: String,
    /// Output elements.
    pub elements: u64,
    /// Tiles it was cut into.
    pub tiles: u32,
    /// Bytes of one tile's shares in the activation buffer (input and output).
    pub tile_bytes: u64,
    /// Its steps.
    pub steps: Vec<Step>,
    /// First cycle of its first task.
    pub start: u64,
    /// When its last result is ready.
    pub end: u64,
    /// Its lower bound alone: busiest unit at full rate plus the message delays.
    pub bound: u64,
}

/// Busy cycles and utilisation of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UnitUse {
    /// The unit.
    pub unit: Unit,
    /// Cycles it is busy.
    pub busy: u64,
    /// Busy over the makespan.
    pub utilisation: f64,
}

/// A schedule of the online phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// The network.
    pub network: String,
    /// The device.
    pub device: String,
    /// The link.
    pub link: NetworkProfile,
    /// The accelerator.
    pub config: AcceleratorConfig,
    /// Cycles from the first task's start to the last result.
    pub makespan: u64,
    /// The lower bound: the larger of the two below.
    pub lower_bound: u64,
    /// The critical path's bound.
    pub critical_path: u64,
    /// The roofline's bound (the busiest unit's total work).
    pub roofline: u64,
    /// Per operator.
    pub nodes: Vec<NodeSchedule>,
    /// Every task.
    pub tasks: Vec<Task>,
    /// Per unit.
    pub units: Vec<UnitUse>,
}

/// Why a graph cannot be scheduled.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// One element's shares do not fit the activation buffer.
    #[error(
        "{label}: one output element's shares ({need} bytes, double-buffered) do not fit the \
         {have}-byte activation buffer"
    )]
    Buffer {
        /// The operator.
        label: String,
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// The ring of the configuration is not the network's.
    #[error("the accelerator computes in a {config}-bit ring; the network in a {model}-bit one")]
    Ring {
        /// The configuration's.
        config: u32,
        /// The network's.
        model: u32,
    },
}

/// Options of the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleOptions {
    /// The most tiles an operator is cut into (more when the activation buffer needs
    /// them): more tiles overlap the link with the units better, at more messages.
    pub max_tiles: u32,
}

impl Default for ScheduleOptions {
    fn default() -> ScheduleOptions {
        ScheduleOptions { max_tiles: 256 }
    }
}

/// Part `k` of `t` of an amount `a` (the parts add up to `a`).
fn part(a: u64, k: u32, t: u32) -> u64 {
    let (k, t) = (u128::from(k), u128::from(t.max(1)));
    let a = u128::from(a);
    ((a * (k + 1)) / t - (a * k) / t) as u64
}

/// The busy intervals of one unit, by start.
#[derive(Default, Clone)]
struct Timeline(BTreeMap<u64, u64>);

impl Timeline {
    /// The first start at or after `at` where `len` cycles are free; books them.
    fn book(&mut self, at: u64, len: u64) -> u64 {
        if len == 0 {
            return at;
        }
        let mut t = at;
        // An interval starting before `t` may still cover it.
        if let Some((_, &end)) = self.0.range(..=t).next_back() {
            t = t.max(end);
        }
        for (&s, &e) in self.0.range(t..) {
            if s >= t + len {
                break;
            }
            t = t.max(e);
        }
        self.0.insert(t, t + len);
        t
    }
}

/// One operator cut into tiles and booked on a copy of the units' timelines.
struct Tiled {
    tiles: u32,
    start: u64,
    end: u64,
    tasks: Vec<Task>,
    lines: BTreeMap<Unit, Timeline>,
}

/// Books `tiles` tiles of node `node`'s steps on a copy of `lines`, from `from` on.
fn tile_node(
    timer: &Timer<'_>,
    lines: &BTreeMap<Unit, Timeline>,
    steps: &[Step],
    node: usize,
    tiles: u32,
    from: u64,
) -> Tiled {
    let mut lines = lines.clone();
    let mut tasks = Vec::new();
    let (mut start, mut end) = (u64::MAX, from);
    for k in 0..tiles {
        let mut ready = from;
        for (j, step) in steps.iter().enumerate() {
            let mut next = ready;
            for w in step {
                let piece = w.with_amount(part(w.amount(), k, tiles));
                let (busy, then) = timer.time(&piece);
                if busy == 0 {
                    continue;
                }
                let s = lines.entry(w.unit()).or_default().book(ready, busy);
                start = start.min(s);
                next = next.max(s + busy + then);
                tasks.push(Task {
                    node,
                    tile: k,
                    step: j as u32,
                    unit: w.unit(),
                    start: s,
                    end: s + busy,
                    ready: s + busy + then,
                });
            }
            ready = next;
        }
        end = end.max(ready);
    }
    Tiled {
        tiles,
        start: if start == u64::MAX { from } else { start },
        end,
        tasks,
        lines,
    }
}

/// Schedules the online phase of `graph` on `config` over `link`.
pub fn schedule(
    graph: &TwoPcGraph,
    config: &AcceleratorConfig,
    device: &Device,
    link: &NetworkProfile,
    opts: ScheduleOptions,
) -> Result<Schedule, ScheduleError> {
    let l = config.ring_bits;
    if graph.fixed_point().ring_bits != l {
        return Err(ScheduleError::Ring {
            config: l,
            model: graph.fixed_point().ring_bits,
        });
    }
    let timer = Timer {
        c: config,
        device,
        link,
    };
    let buffer = u64::from(config.buffers.activation_kib) * 1024;
    let g = graph.graph();
    let order = petgraph::algo::toposort(g, None).unwrap_or_default();
    let n = g.node_count();
    let mut lines: BTreeMap<Unit, Timeline> = Unit::ALL
        .iter()
        .map(|&u| (u, Timeline::default()))
        .collect();
    let mut nodes: Vec<Option<NodeSchedule>> = vec![None; n];
    let mut tasks = Vec::new();
    let mut path = vec![0u64; n];
    let mut per_unit = BTreeMap::<Unit, f64>::new();
    for idx in order {
        let node = &g[idx];
        let i = idx.index();
        let op = node.operation();
        let steps = steps(&op, node.elements, l);
        // Shares of one output element and its inputs, double-buffered.
        let in_elems: u64 = graph
            .operands(idx)
            .iter()
            .map(|&o| g[o].elements)
            .sum::<u64>()
            .max(1);
        let per_out = (in_elems as f64 / node.elements.max(1) as f64).ceil() as u64 + 1;
        let elem_bytes = perf_model::protocol::ring_bytes(per_out, l) * 2;
        if elem_bytes > buffer {
            return Err(ScheduleError::Buffer {
                label: node.label.clone(),
                need: elem_bytes,
                have: buffer,
            });
        }
        let need = (node.elements * elem_bytes).div_ceil(buffer).max(1);
        let most = u64::from(opts.max_tiles)
            .max(need)
            .min(node.elements.max(1));
        let operands_ready = graph
            .operands(idx)
            .iter()
            .map(|o| nodes[o.index()].as_ref().map_or(0, |s| s.end))
            .max()
            .unwrap_or(0);
        // Tile counts from what the buffer needs up to the most allowed, doubling: the
        // one whose last result is ready first (the fewer tiles on a tie). More tiles
        // overlap more, but small tiles waste the units' pipelines (a GC engine's rows
        // last as long for one circuit as for many).
        let mut best: Option<Tiled> = None;
        let mut t = need;
        loop {
            let trial = tile_node(&timer, &lines, &steps, i, t as u32, operands_ready);
            if best.as_ref().is_none_or(|b| trial.end < b.end) {
                best = Some(trial);
            }
            if t >= most {
                break;
            }
            t = (t * 2).min(most);
        }
        let Some(Tiled {
            tiles,
            start,
            end,
            tasks: mine,
            lines: booked,
        }) = best
        else {
            continue;
        };
        lines = booked;
        tasks.extend(mine);
        // The node's bound: its busiest unit at full rate, plus a delay per message.
        let mut busiest = BTreeMap::<Unit, f64>::new();
        let mut delays = 0;
        for step in &steps {
            if step.iter().any(Work::is_message) {
                delays += timer.delay();
            }
            for w in step {
                *busiest.entry(w.unit()).or_default() += timer.ideal(w);
                *per_unit.entry(w.unit()).or_default() += timer.ideal(w);
            }
        }
        let bound = busiest.values().copied().fold(0.0, f64::max).floor() as u64 + delays;
        path[i] = bound
            + graph
                .operands(idx)
                .iter()
                .map(|o| path[o.index()])
                .max()
                .unwrap_or(0);
        nodes[i] = Some(NodeSchedule {
            node: i,
            label: node.label.clone(),
            kind: node.op.name().to_string(),
            elements: node.elements,
            tiles,
            tile_bytes: node.elements.div_ceil(u64::from(tiles)) * elem_bytes,
            steps,
            start,
            end,
            bound,
        });
    }
    let nodes: Vec<NodeSchedule> = nodes.into_iter().flatten().collect();
    let makespan = nodes.iter().map(|s| s.end).max().unwrap_or(0);
    let critical_path = path.iter().copied().max().unwrap_or(0);
    let roofline = per_unit.values().copied().fold(0.0, f64::max).floor() as u64;
    let units = Unit::ALL
        .iter()
        .map(|&u| {
            let busy: u64 = tasks
                .iter()
                .filter(|t| t.unit == u)
                .map(|t| t.end - t.start)
                .sum();
            UnitUse {
                unit: u,
                busy,
                utilisation: busy as f64 / makespan.max(1) as f64,
            }
        })
        .collect();
    Ok(Schedule {
        network: graph.name().to_string(),
        device: device.name.clone(),
        link: link.clone(),
        config: *config,
        makespan,
        lower_bound: critical_path.max(roofline),
        critical_path,
        roofline,
        nodes,
        tasks,
        units,
    })
}

impl Schedule {
    /// Seconds of `cycles` at the accelerator's clock.
    pub fn seconds(&self, cycles: u64) -> f64 {
        cycles as f64 * self.config.cycle_s()
    }

    /// The makespan over the lower bound.
    pub fn ratio(&self) -> f64 {
        self.makespan as f64 / self.lower_bound.max(1) as f64
    }
}
