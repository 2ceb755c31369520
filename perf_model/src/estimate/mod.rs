//! Latency, traffic and rounds of a network's 2PC operators on an accelerator, a device
//! and a network, per layer and phase, beside the lower bound a perfect schedule could
//! reach.
//!
//! For each operator: its protocol costs ([`crate::protocol`]) become cycles on the
//! accelerator's units ([`crate::accel::units`]), bytes on the off-chip memory (garbled
//! tables), bytes on the link and rounds. Within one operator the steps run one after
//! the other (compute, transfer, round latency add up): that is the estimate. The bound
//! lets every unit, the memory and the link work at full rate at once, so only the
//! busiest of them and the rounds' latency remain; the scheduler's overlapped schedules
//! are judged against it. Offline work is bulk and streams, so its estimate is already
//! the largest of its parts plus the rounds.
//!
//! Both parties are taken to run the same accelerator configuration on the same device.
//! Beaver triples come from a dealer: counted, but no party's time.

pub mod plot;

use crate::accel::{units, AcceleratorConfig, ConfigError, FitReport};
use crate::device::Device;
use crate::network::NetworkProfile;
use crate::protocol::{self, OpCost, Operation, PhaseCost};
use crate::spec::FixedPoint;
use serde::Serialize;
use std::fmt::Write as _;

/// One operator of a network as the estimate takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Name for people (the layer).
    pub label: String,
    /// Operator kind for people (`conv2d+bn`, `gc-relu`, ...).
    pub kind: String,
    /// What it costs as.
    pub operation: Operation,
    /// Output elements.
    pub elements: u64,
}

/// What limits a phase of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// Nothing happens.
    None,
    /// The accelerator's units.
    Compute,
    /// Off-chip memory (garbled tables).
    Memory,
    /// Link bandwidth.
    Network,
    /// Round latency.
    Latency,
}

impl Bottleneck {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Bottleneck::None => "-",
            Bottleneck::Compute => "compute",
            Bottleneck::Memory => "memory",
            Bottleneck::Network => "network",
            Bottleneck::Latency => "latency",
        }
    }
}

/// Time, traffic and rounds of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PhaseEstimate {
    /// Seconds on the accelerators' units.
    pub compute_s: f64,
    /// Seconds moving garbled tables through off-chip memory.
    pub memory_s: f64,
    /// Seconds sending bytes (each round as long as its larger direction).
    pub transfer_s: f64,
    /// Seconds of round latency (a one-way delay per round).
    pub latency_s: f64,
    /// The estimate.
    pub total_s: f64,
    /// The lower bound: busiest unit, memory or link at full rate, plus the rounds.
    pub bound_s: f64,
    /// Bytes from the server to the client.
    pub bytes_s2c: u64,
    /// Bytes from the client to the server.
    pub bytes_c2s: u64,
    /// Rounds.
    pub rounds: u64,
}

impl PhaseEstimate {
    /// What takes the most time.
    pub fn bottleneck(&self) -> Bottleneck {
        let parts = [
            (self.compute_s, Bottleneck::Compute),
            (self.memory_s, Bottleneck::Memory),
            (self.transfer_s, Bottleneck::Network),
            (self.latency_s, Bottleneck::Latency),
        ];
        parts
            .into_iter()
            .filter(|(t, _)| *t > 0.0)
            .fold(
                (0.0, Bottleneck::None),
                |best, p| if p.0 > best.0 { p } else { best },
            )
            .1
    }

    fn add(&mut self, o: &PhaseEstimate) {
        self.compute_s += o.compute_s;
        self.memory_s += o.memory_s;
        self.transfer_s += o.transfer_s;
        self.latency_s += o.latency_s;
        self.total_s += o.total_s;
        self.bound_s += o.bound_s;
        self.bytes_s2c += o.bytes_s2c;
        self.bytes_c2s += o.bytes_c2s;
        self.rounds += o.rounds;
    }
}

/// Counts of one operator, both phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Garbled AND gates.
    pub and_gates: u64,
    /// Free (XOR, INV) gates.
    pub xor_gates: u64,
    /// AES calls, server and client, both phases.
    pub aes_calls: u64,
    /// Oblivious transfers.
    pub ots: u64,
    /// Beaver triples.
    pub triples: u64,
    /// Online multiply-accumulates.
    pub macs: u64,
}

impl Counts {
    fn of(c: &OpCost) -> Counts {
        Counts {
            and_gates: c.offline.and_gates(),
            xor_gates: c.offline.xor_gates(),
            aes_calls: c.offline.aes_server
                + c.offline.aes_client
                + c.online.aes_server
                + c.online.aes_client,
            ots: c.offline.ots,
            triples: c.offline.triples,
            macs: c.online.macs,
        }
    }

    fn add(&mut self, o: &Counts) {
        self.and_gates += o.and_gates;
        self.xor_gates += o.xor_gates;
        self.aes_calls += o.aes_calls;
        self.ots += o.ots;
        self.triples += o.triples;
        self.macs += o.macs;
    }
}

/// The estimate of one operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerEstimate {
    /// The operator.
    #[serde(flatten)]
    pub workload: Workload,
    /// Protocol counts.
    pub counts: Counts,
    /// Preprocessing.
    pub offline: PhaseEstimate,
    /// Online.
    pub online: PhaseEstimate,
}

/// The estimate of a whole network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkEstimate {
    /// The network.
    pub name: String,
    /// The device.
    pub device: String,
    /// The network profile.
    pub network: NetworkProfile,
    /// The accelerator configuration.
    pub config: AcceleratorConfig,
    /// Its resource use.
    pub resources: FitReport,
    /// Per operator, in graph order.
    pub layers: Vec<LayerEstimate>,
    /// Sums over the operators.
    pub counts: Counts,
    /// Preprocessing, summed.
    pub offline: PhaseEstimate,
    /// Online, summed.
    pub online: PhaseEstimate,
}

/// The cost of one kind of activation at a site.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SiteCost {
    /// Online seconds for the whole site.
    pub online_s: f64,
    /// Offline seconds for the whole site.
    pub offline_s: f64,
    /// Online seconds paid once when any element of the site uses it (rounds and
    /// pipeline latency).
    pub fixed_online_s: f64,
    /// Online seconds per element beyond that.
    pub per_element_online_s: f64,
}

/// The costs of the choices at one activation site.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SiteCosts {
    /// Garbled-circuit ReLU.
    pub relu: SiteCost,
    /// Polynomial (one Beaver square).
    pub poly: SiteCost,
    /// Circa ReLU with the requested truncated bits, when asked for.
    pub circa: Option<SiteCost>,
}

/// Why an estimate cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// The configuration is unusable on the device.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration's fixed-point format is not the model's.
    #[error(
        "the accelerator computes in a {}-bit ring with {} fractional bits but the model in a \
         {}-bit ring with {} (fixed_point)",
        config.ring_bits, config.frac_bits, model.ring_bits, model.frac_bits
    )]
    Format {
        /// The configuration's.
        config: FixedPoint,
        /// The model's.
        model: FixedPoint,
    },
}

/// A device, an accelerator configuration on it, and a network: everything an estimate
/// needs besides the operators.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    device: Device,
    config: AcceleratorConfig,
    network: NetworkProfile,
    resources: FitReport,
}

impl CostModel {
    /// A cost model; the configuration must fit the device.
    pub fn new(
        device: Device,
        config: AcceleratorConfig,
        network: NetworkProfile,
    ) -> Result<CostModel, EstimateError> {
        config.check("configuration")?;
        let resources = config.fit(&device)?;
        Ok(CostModel {
            device,
            config,
            network,
            resources,
        })
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The accelerator configuration.
    pub fn config(&self) -> &AcceleratorConfig {
        &self.config
    }

    /// The network.
    pub fn network(&self) -> &NetworkProfile {
        &self.network
    }

    /// Resource use of the configuration.
    pub fn resources(&self) -> &FitReport {
        &self.resources
    }

    fn memory_s(&self, bytes: u64) -> f64 {
        bytes as f64 / (self.device.memory.gbps * 1e9)
    }

    fn link(&self, p: &PhaseCost) -> (f64, f64) {
        let transfer = p
            .flights
            .iter()
            .map(|f| self.network.transfer_s(f.s2c.max(f.c2s)))
            .sum();
        (transfer, p.rounds() as f64 * self.network.round_s())
    }

    /// Cycles (estimate) and the busiest unit's cycles at full rate (bound) of an
    /// online phase.
    fn online_cycles(&self, p: &PhaseCost) -> (u64, f64) {
        let c = &self.config;
        let l = c.ring_bits;
        let (lanes, bl) = (u64::from(c.mac_lanes), u64::from(c.beaver_lanes));
        let engines = u64::from(c.gc.engines);
        let mac = units::mac_lane(l).cycles(p.macs, lanes);
        let elementwise = units::Timing { latency: 1, ii: 1 }.cycles(p.elementwise, lanes);
        let beaver = units::beaver_lane(l).cycles(p.beaver_elements, bl);
        let (labels, eval, eval_ideal, label_bits) = match p.gc {
            Some(w) => {
                let t = units::evaluator(c.gc.aes_cores, c.gc.aes_round_units);
                let bits = w.instances * w.garbler_inputs;
                (
                    units::Timing { latency: 1, ii: 1 }.cycles(bits, engines),
                    units::gc_cycles(t, engines, &w, c.gc.label_ram_wires.into()),
                    w.issue_slots(t.ii) as f64 / engines as f64,
                    bits,
                )
            }
            None => (0, 0, 0.0, 0),
        };
        let ideal = [
            (p.macs + p.elementwise) as f64 / lanes as f64,
            p.beaver_elements as f64 / bl as f64,
            label_bits as f64 / engines as f64,
            eval_ideal,
        ];
        (
            mac + elementwise + beaver + labels + eval,
            ideal.into_iter().fold(0.0, f64::max),
        )
    }

    fn offline_cycles(&self, p: &PhaseCost) -> (u64, f64) {
        let c = &self.config;
        let lanes = u64::from(c.mac_lanes);
        let engines = u64::from(c.gc.engines);
        let mac = units::mac_lane(c.ring_bits).cycles(p.macs, lanes);
        let aes = units::aes_core(c.gc.aes_round_units);
        let cores = engines * u64::from(c.gc.aes_cores);
        let (garble, garble_ideal) = match p.gc {
            Some(w) => {
                let t = units::garbler(c.gc.aes_cores, c.gc.aes_round_units);
                (
                    units::gc_cycles(t, engines, &w, c.gc.label_ram_wires.into()),
                    w.issue_slots(t.ii) as f64 / engines as f64,
                )
            }
            None => (0, 0.0),
        };
        // The server's OT hashing; the client's AES calls offline are all OT hashing.
        let ot_server = p.ots * protocol::OT_AES_SENDER;
        let ot_s = aes.cycles(ot_server, cores);
        let ot_c = aes.cycles(p.aes_client, cores);
        let ideal = [
            p.macs as f64 / lanes as f64,
            garble_ideal + (ot_server * aes.ii) as f64 / cores as f64,
            (p.aes_client * aes.ii) as f64 / cores as f64,
        ];
        (
            mac + garble + ot_s.max(ot_c),
            ideal.into_iter().fold(0.0, f64::max),
        )
    }

    fn tables(p: &PhaseCost) -> u64 {
        p.gc.map_or(0, |w| w.total_and() * protocol::garbled_and_bytes())
    }

    /// The estimate of one phase's costs.
    fn phase(&self, p: &PhaseCost, online: bool) -> PhaseEstimate {
        let (cycles, ideal) = if online {
            self.online_cycles(p)
        } else {
            self.offline_cycles(p)
        };
        let cycle_s = self.config.cycle_s();
        let compute_s = cycles as f64 * cycle_s;
        let memory_s = self.memory_s(Self::tables(p));
        let (transfer_s, latency_s) = self.link(p);
        let total_s = if online {
            compute_s.max(memory_s) + transfer_s + latency_s
        } else {
            compute_s.max(memory_s).max(transfer_s) + latency_s
        };
        PhaseEstimate {
            compute_s,
            memory_s,
            transfer_s,
            latency_s,
            total_s,
            bound_s: (ideal * cycle_s).max(memory_s).max(transfer_s) + latency_s,
            bytes_s2c: p.bytes_s2c(),
            bytes_c2s: p.bytes_c2s(),
            rounds: p.rounds(),
        }
    }

    /// The estimate of one operator.
    pub fn layer(&self, w: &Workload) -> LayerEstimate {
        self.layer_with_cost(w, &w.operation.cost(w.elements, self.config.ring_bits))
    }

    /// The estimate of one operator whose protocol cost (`w.operation.cost(w.elements,
    /// l)`) is already known: it depends on the ring only, so an exploration of many
    /// configurations computes it once.
    pub fn layer_with_cost(&self, w: &Workload, cost: &OpCost) -> LayerEstimate {
        LayerEstimate {
            workload: w.clone(),
            counts: Counts::of(cost),
            offline: self.phase(&cost.offline, false),
            online: self.phase(&cost.online, true),
        }
    }

    /// The estimate of a network's operators, computed in the fixed-point format `fixed`.
    pub fn network_estimate(
        &self,
        name: &str,
        fixed: FixedPoint,
        workloads: &[Workload],
    ) -> Result<NetworkEstimate, EstimateError> {
        let config = FixedPoint {
            ring_bits: self.config.ring_bits,
            frac_bits: self.config.frac_bits,
        };
        if fixed != config {
            return Err(EstimateError::Format {
                config,
                model: fixed,
            });
        }
        let layers: Vec<LayerEstimate> = workloads.iter().map(|w| self.layer(w)).collect();
        let (mut counts, mut offline, mut online) = Default::default();
        for l in &layers {
            Counts::add(&mut counts, &l.counts);
            PhaseEstimate::add(&mut offline, &l.offline);
            PhaseEstimate::add(&mut online, &l.online);
        }
        Ok(NetworkEstimate {
            name: name.to_string(),
            device: self.device.name.clone(),
            network: self.network.clone(),
            config: self.config,
            resources: self.resources.clone(),
            layers,
            counts,
            offline,
            online,
        })
    }

    /// What each activation choice costs at a site of `elements` elements: the
    /// trainer's latency term. `circa_k` asks for Circa ReLU with that many truncated
    /// bits too.
    pub fn activation_site(&self, elements: u64, circa_k: Option<u32>) -> SiteCosts {
        let site = |operation: Operation| {
            let est = |n: u64| {
                self.layer(&Workload {
                    label: String::new(),
                    kind: String::new(),
                    operation,
                    elements: n,
                })
            };
            let (one, all) = (est(1), est(elements.max(1)));
            // The cost is affine in the element count: a fixed part (rounds, pipeline
            // fill) and a per-element slope; two points give both (exact up to the
            // rounding of elements to whole lanes).
            let per_element = if elements > 1 {
                (all.online.total_s - one.online.total_s) / (elements - 1) as f64
            } else {
                0.0
            };
            SiteCost {
                online_s: all.online.total_s,
                offline_s: all.offline.total_s,
                fixed_online_s: (one.online.total_s - per_element).max(0.0),
                per_element_online_s: per_element,
            }
        };
        SiteCosts {
            relu: site(Operation::Relu),
            poly: site(Operation::Poly),
            circa: circa_k.map(|k| site(Operation::Circa { k })),
        }
    }
}

/// Milliseconds, printed compactly.
fn ms(s: f64) -> String {
    let v = s * 1e3;
    if v == 0.0 {
        "0".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Bytes, printed with a binary-free SI unit.
fn bytes(b: u64) -> String {
    let b = b as f64;
    match b {
        _ if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        _ if b >= 1e6 => format!("{:.2} MB", b / 1e6),
        _ if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        _ => format!("{b:.0} B"),
    }
}

impl NetworkEstimate {
    /// JSON of the whole estimate.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A per-layer table and totals, for people.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let c = &self.config;
        let _ = writeln!(
            s,
            "{} on {} at {} MHz, {} ({} Mbit/s, {} ms RTT)",
            self.name,
            self.device,
            c.clock_mhz,
            self.network.name,
            self.network.bandwidth_mbps,
            self.network.rtt_ms
        );
        let _ = writeln!(
            s,
            "accelerator: {} MAC lanes, {} Beaver lanes, {} GC engines ({} AES cores, {} round units each), {}-bit ring\n",
            c.mac_lanes, c.beaver_lanes, c.gc.engines, c.gc.aes_cores, c.gc.aes_round_units, c.ring_bits
        );
        let _ = writeln!(
            s,
            "{:<18} {:<12} {:>9} | {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8} | {:>10} {:>10} {:>3} | {:>9}",
            "layer", "operator", "elements", "compute", "memory", "transfer", "latency", "online", "bound", "limit", "S->C", "C->S", "rnd", "offline"
        );
        let _ = writeln!(
            s,
            "{:<18} {:<12} {:>9} | {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8} | {:>10} {:>10} {:>3} | {:>9}",
            "", "", "", "ms", "ms", "ms", "ms", "ms", "ms", "", "online", "online", "", "ms"
        );
        let mut row = |label: &str,
                       kind: &str,
                       elements: String,
                       on: &PhaseEstimate,
                       off: &PhaseEstimate| {
            let _ = writeln!(
                s,
                "{:<18} {:<12} {:>9} | {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8} | {:>10} {:>10} {:>3} | {:>9}",
                label,
                kind,
                elements,
                ms(on.compute_s),
                ms(on.memory_s),
                ms(on.transfer_s),
                ms(on.latency_s),
                ms(on.total_s),
                ms(on.bound_s),
                on.bottleneck().name(),
                bytes(on.bytes_s2c),
                bytes(on.bytes_c2s),
                on.rounds,
                ms(off.total_s)
            );
        };
        for l in &self.layers {
            row(
                &l.workload.label,
                &l.workload.kind,
                l.workload.elements.to_string(),
                &l.online,
                &l.offline,
            );
        }
        row("total", "", String::new(), &self.online, &self.offline);
        let t = &self.counts;
        let _ = writeln!(
            s,
            "\nonline {} ms (bound {} ms), offline {} ms; online traffic {} to the client, {} to the server, {} rounds",
            ms(self.online.total_s),
            ms(self.online.bound_s),
            ms(self.offline.total_s),
            bytes(self.online.bytes_s2c),
            bytes(self.online.bytes_c2s),
            self.online.rounds
        );
        let _ = writeln!(
            s,
            "offline traffic {} to the client, {} to the server; {} AND gates, {} AES calls, {} OTs, {} triples, {} MACs\n",
            bytes(self.offline.bytes_s2c),
            bytes(self.offline.bytes_c2s),
            t.and_gates,
            t.aes_calls,
            t.ots,
            t.triples,
            t.macs
        );
        let _ = write!(s, "{}", self.resources);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(device: &str, net: &str) -> CostModel {
        let d = Device::find(device).unwrap();
        let c = AcceleratorConfig::for_device(&d, FixedPoint::default());
        CostModel::new(d, c, NetworkProfile::find(net).unwrap()).unwrap()
    }

    fn relu_layer(n: u64) -> Workload {
        Workload {
            label: "r".into(),
            kind: "gc-relu".into(),
            operation: Operation::Relu,
            elements: n,
        }
    }

    #[test]
    fn wan_is_never_faster_than_lan() {
        let (lan, wan) = (model("zcu102", "lan"), model("zcu102", "wan"));
        for op in [
            Operation::Relu,
            Operation::Poly,
            Operation::Circa { k: 12 },
            Operation::MaxPool { window: 4 },
            Operation::Linear { macs: 1 << 20 },
            Operation::Truncate,
            Operation::Input,
        ] {
            for n in [1, 1000, 100_000] {
                let w = Workload {
                    operation: op,
                    ..relu_layer(n)
                };
                let (a, b) = (lan.layer(&w), wan.layer(&w));
                assert!(b.online.total_s >= a.online.total_s, "{op:?} {n}");
                assert!(b.offline.total_s >= a.offline.total_s, "{op:?} {n}");
            }
        }
    }

    #[test]
    fn the_bound_never_exceeds_the_estimate() {
        let m = model("pynq-z2", "lan");
        for op in [
            Operation::Relu,
            Operation::Poly,
            Operation::Linear { macs: 12345 },
        ] {
            for n in [1, 77, 10_000] {
                let e = m.layer(&Workload {
                    operation: op,
                    ..relu_layer(n)
                });
                assert!(e.online.bound_s <= e.online.total_s + 1e-15, "{op:?} {n}");
                assert!(e.offline.bound_s <= e.offline.total_s + 1e-15, "{op:?} {n}");
            }
        }
    }

    #[test]
    fn site_costs_are_affine_and_relu_dearest() {
        let m = model("zcu102", "lan");
        let s = m.activation_site(4096, Some(12));
        let circa = s.circa.unwrap();
        assert!(s.relu.online_s > circa.online_s && circa.online_s > s.poly.online_s);
        // The two-point fit predicts a third site size to within lane rounding.
        let mid = m.activation_site(1500, Some(12));
        for (c, at) in [
            (s.relu, mid.relu),
            (s.poly, mid.poly),
            (circa, mid.circa.unwrap()),
        ] {
            let affine = c.fixed_online_s + 1500.0 * c.per_element_online_s;
            assert!(
                (affine - at.online_s).abs() <= 0.02 * at.online_s,
                "{c:?} {at:?}"
            );
        }
    }

    #[test]
    fn format_mismatch_is_an_error() {
        let m = model("zcu102", "lan");
        let e = m
            .network_estimate("n", FixedPoint::for_ring(16), &[relu_layer(1)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("32-bit") && e.contains("16-bit"), "{e}");
        let other = FixedPoint {
            frac_bits: 8,
            ..FixedPoint::default()
        };
        let e = m
            .network_estimate("n", other, &[relu_layer(1)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("12 fractional bits") && e.contains("with 8"),
            "{e}"
        );
        assert!(m.network_estimate("n", FixedPoint::default(), &[]).is_ok());
    }
}
