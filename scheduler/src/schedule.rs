//! Schedules of the online phase: every operator of a 2PC graph, tile by tile, on the
//! accelerator's units and the link, with start and end cycles.
//!
//! Each operator's online work is a chain of steps that follows the protocol profile
//! (a garbled ReLU: the server's input labels picked on the GC engines, sent, the
//! circuits evaluated while their tables stream from off-chip memory, colour bits
//! returned; a polynomial: the Beaver opening both ways, the Beaver lanes, the client's
//! re-share sent, then added into the server's share). The step amounts add up to the
//! operator's [`Operation::cost`](perf_model::Operation::cost) exactly.
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

/// A resource operators are scheduled on: each party's accelerator has its own units,
/// the link one direction each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// The server's MAC array (multiply-accumulates and element-wise ring operations).
    ServerMac,
    /// The server's Beaver lanes.
    ServerBeaver,
    /// The server's garbled-circuit engines (input-label selection online).
    ServerGc,
    /// The client's MAC array (element-wise ring operations).
    ClientMac,
    /// The client's Beaver lanes.
    ClientBeaver,
    /// The client's garbled-circuit engines (evaluation online).
    ClientGc,
    /// The client's off-chip memory (garbled tables).
    ClientMemory,
    /// The link, server to client.
    LinkS2c,
    /// The link, client to server.
    LinkC2s,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 9] = [
        Unit::ServerMac,
        Unit::ServerBeaver,
        Unit::ServerGc,
        Unit::ClientMac,
        Unit::ClientBeaver,
        Unit::ClientGc,
        Unit::ClientMemory,
        Unit::LinkS2c,
        Unit::LinkC2s,
    ];

    /// Name for people.
    pub fn name(self) -> &'static str {
        match self {
            Unit::ServerMac => "server mac",
            Unit::ServerBeaver => "server beaver",
            Unit::ServerGc => "server gc",
            Unit::ClientMac => "client mac",
            Unit::ClientBeaver => "client beaver",
            Unit::ClientGc => "client gc",
            Unit::ClientMemory => "client memory",
            Unit::LinkS2c => "link s→c",
            Unit::LinkC2s => "link c→s",
        }
    }
}

/// Work of one step, in the units it is counted in; split over tiles in proportion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Dot products on the MAC array (split over tiles by dot product).
    Macs {
        /// Multiply-accumulates in all.
        n: u64,
        /// Dot products (output elements); each is `n / dots` multiply-accumulates.
        dots: u64,
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
    /// The units that do it, side by side: the server's weights meet the shares on
    /// its MAC array; both parties do element-wise and Beaver work on their shares;
    /// the server picks its input labels, the client evaluates and reads the tables.
    pub fn units(&self) -> &'static [Unit] {
        match self {
            Work::Macs { .. } => &[Unit::ServerMac],
            Work::Elementwise { .. } => &[Unit::ServerMac, Unit::ClientMac],
            Work::Beaver { .. } => &[Unit::ServerBeaver, Unit::ClientBeaver],
            Work::Labels { .. } => &[Unit::ServerGc],
            Work::Evaluate { .. } => &[Unit::ClientGc],
            Work::Read { .. } => &[Unit::ClientMemory],
            Work::SendS2c { .. } => &[Unit::LinkS2c],
            Work::SendC2s { .. } => &[Unit::LinkC2s],
        }
    }

    /// The amount split over tiles: dot products, elements, bytes or circuits.
    pub fn amount(&self) -> u64 {
        match *self {
            Work::Macs { dots: n, .. }
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
            Work::Macs { n, dots } => Work::Macs {
                n: n.checked_div(dots).unwrap_or(0) * a,
                dots: a,
            },
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
        Operation::Linear { .. } => out.push(vec![Work::Macs {
            n: cost.macs,
            dots: elements,
        }]),
        Operation::Elementwise { .. } | Operation::Truncate => {
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
        }
        Operation::Relu | Operation::MaxPool { .. } => gc(&cost, &mut out),
        Operation::Circa { .. } => {
            gc(&cost, &mut out);
            // The Beaver product of the value and the sign bit, then the re-share: the
            // client's masked share sent, and added into the server's.
            out.push(send(&cost.flights[2]));
            out.push(vec![Work::Beaver {
                n: cost.beaver_elements,
            }]);
            out.push(send(&cost.flights[3]));
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
        }
        Operation::Poly => {
            // The opening of x - a both ways, the Beaver lanes (the scaling and both
            // truncations in their pipeline), the client's re-share sent, and the
            // server's addition of it, which cannot start before it has arrived.
            out.push(send(&cost.flights[0]));
            out.push(vec![Work::Beaver {
                n: cost.beaver_elements,
            }]);
            out.push(send(&cost.flights[1]));
            out.push(vec![Work::Elementwise {
                n: cost.elementwise,
            }]);
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
            Work::Macs { n, dots } => (
                units::mac_array_dots(dots, n.checked_div(dots).unwrap_or(0), lanes),
                units::mac_array(l).latency,
            ),
            Work::Elementwise { n } => (n.div_ceil(lanes), units::mac_array(l).latency),
            Work::Beaver { n } => {
                let t = units::beaver_array(l);
                (n.div_ceil(c.beaver_lanes.into()) * t.ii, t.latency)
            }
            Work::Labels { n } => (n.div_ceil(engines), 1),
            // The engines take the next tile's circuits while the last rows of this
            // one drain: the drain is the tile's latency, not its occupancy.
            Work::Evaluate { gc } => {
                let t = units::evaluator(c.gc.aes_cores, c.gc.aes_round_units);
                let all = units::gc_cycles(t, engines, &gc, c.gc.label_ram_wires.into());
                let drain = (t.latency + 1).min(all);
                (all - drain, drain)
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
    fn ideal(&self, w: &Work, tiles: u64) -> f64 {
        let c = self.c;
        let lanes = f64::from(c.mac_lanes);
        let engines = f64::from(c.gc.engines);
        match *w {
            // Whole groups of rows, each its pairs plus the mask's.
            Work::Macs { n, dots } => units::mac_array_dots(
                dots,
                n.checked_div(dots).unwrap_or(0),
                u64::from(c.mac_lanes),
            ) as f64,
            Work::Elementwise { n } => n as f64 / lanes,
            Work::Beaver { n } => n as f64 / f64::from(c.beaver_lanes),
            Work::Labels { n } => n as f64 / engines,
            // The engines run circuits in batches of at most what their label RAM
            // holds, every row of a batch at least a pipeline's length (`gc_cycles`):
            // however the circuits are tiled, an engine runs at least its share's
            // batches of rows that long, less the shorter last row of each of at most
            // `tiles` runs.
            Work::Evaluate { gc } => {
                let t = units::evaluator(c.gc.aes_cores, c.gc.aes_round_units);
                let per = (u64::from(c.gc.label_ram_wires) / gc.slots.max(1)).max(1);
                let share = gc.instances.div_ceil(u64::from(c.gc.engines.max(1)));
                let rows = gc.and_gates
                    + gc.free_gates
                    + gc.garbler_inputs
                    + gc.evaluator_inputs
                    + gc.outputs;
                let distance = t.latency + 1;
                let padded =
                    (rows * share.div_ceil(per) * distance).saturating_sub(tiles * distance);
                (padded as f64).max(gc.issue_slots(t.ii) as f64 / engines)
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

impl NodeSchedule {
    /// Where its tiles were cut, on an array of `lanes` lanes.
    pub fn cut(&self, lanes: u32) -> Cut {
        Cut::of(&self.steps, self.elements, lanes)
    }
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
        "{label}: the shares of {group} output element(s) ({need} bytes, double-buffered) do not \
         fit the {have}-byte activation buffer"
    )]
    Buffer {
        /// The operator.
        label: String,
        /// The fewest output elements a tile holds (a group of MAC lanes, or one).
        group: u64,
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

/// Tile `k`'s part of `t` of an amount `a` (the parts add up to `a`).
fn part(a: u64, k: u32, t: u32) -> u64 {
    part_aligned(a, k, t, 1)
}

/// Tile `k`'s part of `t` of an amount `a`, cut at multiples of `q` (the parts add up
/// to `a`; some may be empty).
fn part_aligned(a: u64, k: u32, t: u32, q: u64) -> u64 {
    start_aligned(a, k + 1, t, q) - start_aligned(a, k, t, q)
}

/// Where tile `k` of `t` starts in an amount `a` cut at multiples of `q`.
fn start_aligned(a: u64, k: u32, t: u32, q: u64) -> u64 {
    let (k, t, q) = (u128::from(k), u128::from(t.max(1)), u128::from(q.max(1)));
    let whole = u128::from(a).div_ceil(q);
    ((whole * k / t) * q).min(u128::from(a)) as u64
}

/// Where an operator's tiles are cut: at the same output elements in every step, at
/// multiples of the array's lanes when any step runs on the MAC array or the Beaver
/// lanes (so every tile but the last fills whole groups of lanes and starts on a row
/// of the banked memories), else anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// The operator's output elements.
    pub elements: u64,
    /// Tiles start at multiples of this many elements.
    pub every: u64,
}

impl Cut {
    /// The cut of an operator with these steps and outputs on an array of `lanes`.
    pub fn of(steps: &[Step], elements: u64, lanes: u32) -> Cut {
        let on_lanes = steps.iter().flatten().any(Work::on_lanes);
        Cut {
            elements,
            every: if on_lanes { lanes.max(1).into() } else { 1 },
        }
    }
}

impl Work {
    /// Whether the MAC array or the Beaver lanes do it, a row of lanes at a time.
    fn on_lanes(&self) -> bool {
        matches!(
            self,
            Work::Macs { .. } | Work::Elementwise { .. } | Work::Beaver { .. }
        )
    }

    /// Tile `k`'s part of `t` of the work's amount (see [`Work::tile_range`]).
    pub fn part(&self, k: u32, t: u32, cut: Cut) -> u64 {
        self.tile_range(k, t, cut).1
    }

    /// Where tile `k` of `t` starts in the work's amount (dot products, elements,
    /// bytes, circuits), and how much of it the tile has: the arrays' and the Beaver
    /// lanes' work at the cut's elements, messages and the GC engines' work in
    /// proportion. So no step of a tile needs what a step before it leaves to a later
    /// tile.
    pub fn tile_range(&self, k: u32, t: u32, cut: Cut) -> (u64, u64) {
        let a = self.amount();
        let at = |k: u32| {
            if self.on_lanes() {
                start_aligned(a, k, t, cut.every)
            } else if cut.elements == 0 {
                start_aligned(a, k, t, 1)
            } else {
                let e = start_aligned(cut.elements, k, t, cut.every);
                (u128::from(a) * u128::from(e) / u128::from(cut.elements)) as u64
            }
        };
        let (first, next) = (at(k), at(k + 1));
        (first, next - first)
    }
}

/// The busy intervals of one unit, by start.
#[derive(Default)]
struct Timeline(BTreeMap<u64, u64>);

impl Timeline {
    /// The intervals that end after `t`.
    fn from(&self, t: u64) -> Timeline {
        let first = self
            .0
            .range(..=t)
            .next_back()
            .filter(|(_, &e)| e > t)
            .map_or(t, |(&s, _)| s);
        Timeline(self.0.range(first..).map(|(&s, &e)| (s, e)).collect())
    }

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
}

/// Books `tiles` tiles of node `node`'s steps on a copy of `lines`, from `from` on.
fn tile_node(
    timer: &Timer<'_>,
    lines: &BTreeMap<Unit, Timeline>,
    steps: &[Step],
    node: usize,
    cut: Cut,
    tiles: u32,
    from: u64,
) -> Tiled {
    // Only what is booked from `from` on matters to this node: a partial copy.
    let mut lines: BTreeMap<Unit, Timeline> =
        lines.iter().map(|(&u, t)| (u, t.from(from))).collect();
    let mut tasks = Vec::new();
    let (mut start, mut end) = (u64::MAX, from);
    for k in 0..tiles {
        let mut ready = from;
        for (j, step) in steps.iter().enumerate() {
            let mut next = ready;
            for w in step {
                let piece = w.with_amount(w.part(k, tiles, cut));
                let (busy, then) = timer.time(&piece);
                if busy == 0 {
                    continue;
                }
                for &u in w.units() {
                    let s = lines.entry(u).or_default().book(ready, busy);
                    start = start.min(s);
                    next = next.max(s + busy + then);
                    tasks.push(Task {
                        node,
                        tile: k,
                        step: j as u32,
                        unit: u,
                        start: s,
                        end: s + busy,
                        ready: s + busy + then,
                    });
                }
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
    }
}

/// The least time one operator's steps can take, however tiled: for each unit, the
/// one-way delays of the messages before its first step (the first tile must pass
/// them), its work at full rate, and the delays from its last step on (the last tile
/// must pass them); and at least every delay once. A message's delay can hide the
/// link's next tile, so delays between a unit's steps do not count. Adds each unit's
/// work to `per_unit`.
fn node_bound(
    timer: &Timer<'_>,
    steps: &[Step],
    tiles: u64,
    per_unit: &mut BTreeMap<Unit, f64>,
) -> u64 {
    let delay = |j: usize| {
        if steps[j].iter().any(Work::is_message) {
            timer.delay()
        } else {
            0
        }
    };
    let all: u64 = (0..steps.len()).map(delay).sum();
    let mut bound = all;
    for u in Unit::ALL {
        let used: Vec<usize> = (0..steps.len())
            .filter(|&j| steps[j].iter().any(|w| w.units().contains(&u)))
            .collect();
        let work: f64 = steps
            .iter()
            .flatten()
            .filter(|w| w.units().contains(&u))
            .map(|w| timer.ideal(w, tiles))
            .sum();
        *per_unit.entry(u).or_default() += work;
        // Any run of the unit's steps: its work there, between the delays before
        // the run's first step and those from its last on.
        for (x, &a) in used.iter().enumerate() {
            for &b in &used[x..] {
                let work: f64 = steps[a..=b]
                    .iter()
                    .flatten()
                    .filter(|w| w.units().contains(&u))
                    .map(|w| timer.ideal(w, tiles))
                    .sum();
                let before: u64 = (0..a).map(delay).sum();
                let after: u64 = (b..steps.len()).map(delay).sum();
                bound = bound.max(before + work.floor() as u64 + after);
            }
        }
    }
    bound
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
        // Tiles of work on the MAC array hold whole groups of its lanes.
        let on_array = steps
            .iter()
            .flatten()
            .any(|w| matches!(w, Work::Macs { .. } | Work::Elementwise { .. }));
        let group = if on_array {
            u64::from(config.mac_lanes).min(node.elements).max(1)
        } else {
            1
        };
        if group * elem_bytes > buffer {
            return Err(ScheduleError::Buffer {
                label: node.label.clone(),
                group,
                need: group * elem_bytes,
                have: buffer,
            });
        }
        let need = (node.elements * elem_bytes).div_ceil(buffer).max(1);
        // The most elements a tile of `t` holds.
        let whole = node.elements.div_ceil(group);
        let largest = |t: u64| {
            (whole.div_ceil(t) * group)
                .min(node.elements)
                .max(part(node.elements, 0, t as u32))
        };
        // Work only on the MAC array gains nothing from tiles past its groups.
        let only_array = steps
            .iter()
            .flatten()
            .all(|w| matches!(w, Work::Macs { .. } | Work::Elementwise { .. }));
        let most = u64::from(opts.max_tiles)
            .min(if only_array { whole } else { u64::MAX })
            .max(need)
            .min(node.elements.max(1));
        let cut = Cut::of(&steps, node.elements, config.mac_lanes);
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
            let tiles = t as u32;
            if largest(t) * elem_bytes <= buffer {
                let trial = tile_node(&timer, &lines, &steps, i, cut, tiles, operands_ready);
                if best.as_ref().is_none_or(|b| trial.end < b.end) {
                    best = Some(trial);
                }
            }
            if t >= most {
                break;
            }
            // Every count up to 32, then doubling.
            t = if t < 32 { t + 1 } else { t * 2 }.min(most);
        }
        let Some(Tiled {
            tiles,
            start,
            end,
            tasks: mine,
        }) = best
        else {
            continue;
        };
        for t in &mine {
            if let Some(line) = lines.get_mut(&t.unit) {
                line.0.insert(t.start, t.end);
            }
        }
        tasks.extend(mine);
        let bound = node_bound(&timer, &steps, most, &mut per_unit);
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
            tile_bytes: largest(u64::from(tiles)) * elem_bytes,
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

impl Schedule {
    /// What is wrong with the schedule, if anything: tasks that overlap on a unit, a
    /// node that starts before an operand's last result, a step of a tile before its
    /// previous step's result, a tile over the activation buffer, work that does not
    /// add up to the operator's steps, or a makespan that is not the last result.
    pub fn violations(&self, graph: &TwoPcGraph) -> Vec<String> {
        let mut v = Vec::new();
        for u in Unit::ALL {
            let mut on: Vec<&Task> = self.tasks.iter().filter(|t| t.unit == u).collect();
            on.sort_by_key(|t| t.start);
            for w in on.windows(2) {
                if w[1].start < w[0].end {
                    v.push(format!(
                        "{}: node {} tile {} [{}, {}) overlaps node {} tile {} [{}, {})",
                        u.name(),
                        w[0].node,
                        w[0].tile,
                        w[0].start,
                        w[0].end,
                        w[1].node,
                        w[1].tile,
                        w[1].start,
                        w[1].end
                    ));
                }
            }
        }
        let by_node: std::collections::HashMap<usize, &NodeSchedule> =
            self.nodes.iter().map(|n| (n.node, n)).collect();
        let buffer = u64::from(self.config.buffers.activation_kib) * 1024;
        for (idx, node) in graph.nodes() {
            let i = idx.index();
            let Some(ns) = by_node.get(&i) else {
                v.push(format!("{}: not scheduled", node.label));
                continue;
            };
            for o in graph.operands(idx) {
                if let Some(os) = by_node.get(&o.index()) {
                    let first = self
                        .tasks
                        .iter()
                        .filter(|t| t.node == i)
                        .map(|t| t.start)
                        .min();
                    if first.is_some_and(|f| f < os.end) {
                        v.push(format!(
                            "{}: starts before its operand {} is ready",
                            ns.label, os.label
                        ));
                    }
                }
            }
            if ns.tile_bytes > buffer {
                v.push(format!(
                    "{}: a tile of {} bytes over the {buffer}-byte buffer",
                    ns.label, ns.tile_bytes
                ));
            }
            let mine: Vec<&Task> = self.tasks.iter().filter(|t| t.node == i).collect();
            for t in &mine {
                let before = mine
                    .iter()
                    .filter(|p| p.tile == t.tile && p.step + 1 == t.step)
                    .map(|p| p.ready)
                    .max();
                if before.is_some_and(|b| t.start < b) {
                    v.push(format!(
                        "{}: tile {} step {} starts before step {} is ready",
                        ns.label,
                        t.tile,
                        t.step,
                        t.step - 1
                    ));
                }
                if t.ready > ns.end {
                    v.push(format!("{}: a result after the node's end", ns.label));
                }
            }
            // Each step's work, over the tiles, is the operator's.
            let want = steps(&node.operation(), node.elements, self.config.ring_bits);
            if want != ns.steps {
                v.push(format!("{}: steps differ from the operator's", ns.label));
            }
            let cut = ns.cut(self.config.mac_lanes);
            for (j, step) in ns.steps.iter().enumerate() {
                for w in step {
                    let parts: u64 = (0..ns.tiles).map(|k| w.part(k, ns.tiles, cut)).sum();
                    if parts != w.amount() {
                        v.push(format!("{}: step {j} split loses work", ns.label));
                    }
                }
            }
        }
        if self.tasks.iter().any(|t| t.ready > self.makespan) {
            v.push("a result after the makespan".into());
        }
        if self.makespan < self.lower_bound {
            v.push(format!(
                "makespan {} under the lower bound {}",
                self.makespan, self.lower_bound
            ));
        }
        v
    }

    /// The schedule as a Gantt chart: one row per unit, a bar per task coloured by
    /// operator, the lower bound marked; with the utilisation of each unit.
    pub fn gantt_svg(&self) -> String {
        use perf_model::estimate::plot::{escape, tick_step, x_axis};
        use std::fmt::Write as _;
        // Twenty colours, so neighbouring operators differ.
        const COLOURS: [&str; 20] = [
            "#4c78a8", "#9ecae9", "#f58518", "#ffbf79", "#54a24b", "#88d27a", "#b79a20", "#f2cf5b",
            "#439894", "#83bcb6", "#e45756", "#ff9d98", "#79706e", "#bab0ac", "#d67195", "#fcbfd2",
            "#b279a2", "#d6a5c9", "#9e765f", "#d8b5a5",
        ];
        let (left, right, top, row_h) = (150.0, 30.0, 60.0, 34.0);
        let width = 1100.0;
        let pw = width - left - right;
        let legend_rows = self.nodes.len().div_ceil(6) as f64;
        let height = top + row_h * Unit::ALL.len() as f64 + 50.0 + 16.0 * legend_rows + 20.0;
        let ms = |c: u64| 1e3 * self.seconds(c);
        let span = ms(self.makespan).max(1e-9);
        let x = |c: u64| left + pw * ms(c) / span;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}: online schedule on {} over {} — {:.3} ms, lower bound {:.3} ms ({:.3}x)</text>"#,
            width / 2.0,
            escape(&self.network),
            escape(&self.device),
            escape(&self.link.name),
            span,
            ms(self.lower_bound),
            self.ratio()
        );
        let bottom = top + row_h * Unit::ALL.len() as f64;
        x_axis(
            &mut s,
            (left, pw, top, bottom),
            (span, tick_step(span)),
            |t| left + pw * t / span,
            "ms",
        );
        for (r, u) in Unit::ALL.iter().enumerate() {
            let y = top + row_h * r as f64;
            let use_ = self.units.iter().find(|x| x.unit == *u);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{} ({:.0}%)</text>"#,
                left - 8.0,
                y + row_h / 2.0 + 4.0,
                u.name(),
                100.0 * use_.map_or(0.0, |x| x.utilisation)
            );
            for t in self.tasks.iter().filter(|t| t.unit == *u) {
                let w = (x(t.end) - x(t.start)).max(0.3);
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{:.1}" width="{w:.2}" height="{:.1}" fill="{}"><title>{} tile {} step {}: {}-{} cycles</title></rect>"#,
                    x(t.start),
                    y + 4.0,
                    row_h - 8.0,
                    COLOURS[t.node % COLOURS.len()],
                    escape(
                        self.nodes
                            .iter()
                            .find(|n| n.node == t.node)
                            .map_or("", |n| n.label.as_str())
                    ),
                    t.tile,
                    t.step,
                    t.start,
                    t.end
                );
            }
        }
        let lb = x(self.lower_bound);
        let _ = writeln!(
            s,
            r##"<line x1="{lb:.1}" y1="{}" x2="{lb:.1}" y2="{bottom}" stroke="#c33" stroke-dasharray="4 3"/><text x="{lb:.1}" y="{}" fill="#c33" text-anchor="end">lower bound</text>"##,
            top - 6.0,
            top - 8.0
        );
        for (k, n) in self.nodes.iter().enumerate() {
            let (col, row) = (k % 6, k / 6);
            let (lx, ly) = (left + 150.0 * col as f64, bottom + 50.0 + 16.0 * row as f64);
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{ly}">{}</text>"#,
                ly - 9.0,
                COLOURS[n.node % COLOURS.len()],
                lx + 14.0,
                escape(&n.label)
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// Per operator: tiles, start, end, bound; then the units and the totals.
    pub fn to_table(&self) -> String {
        use std::fmt::Write as _;
        let ms = |c: u64| 1e3 * self.seconds(c);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<20} {:<12} {:>8} {:>6} {:>11} {:>11} {:>11}",
            "node", "operator", "elements", "tiles", "start ms", "end ms", "bound ms"
        );
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<20} {:<12} {:>8} {:>6} {:>11.3} {:>11.3} {:>11.3}",
                n.label,
                n.kind,
                n.elements,
                n.tiles,
                ms(n.start),
                ms(n.end),
                ms(n.bound)
            );
        }
        let _ = writeln!(
            s,
            "\n{:<14} {:>12} {:>12}",
            "unit", "busy ms", "utilisation"
        );
        for u in &self.units {
            let _ = writeln!(
                s,
                "{:<14} {:>12.3} {:>11.1}%",
                u.unit.name(),
                ms(u.busy),
                100.0 * u.utilisation
            );
        }
        let _ = writeln!(
            s,
            "\nmakespan {:.3} ms ({} cycles at {} MHz); lower bound {:.3} ms (critical path {:.3} ms, roofline {:.3} ms); ratio {:.3}",
            ms(self.makespan),
            self.makespan,
            self.config.clock_mhz,
            ms(self.lower_bound),
            ms(self.critical_path),
            ms(self.roofline),
            self.ratio()
        );
        s
    }
}
