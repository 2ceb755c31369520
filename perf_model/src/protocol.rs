//! Protocol-level costs of the 2PC operators: what each one computes, sends and waits
//! for, per phase.
//!
//! The counts follow polympc's protocol profile (Delphi's data flow, semi-honest, a
//! preprocessing phase). Gate counts come from building the operator's circuit in
//! [`crate::circuit::library`]; the per-gate and per-OT figures are those of the
//! schemes themselves:
//!
//! - Half-gates garbling with free XOR and fixed-key AES-128: an AND gate has
//!   [`HALF_GATES_CIPHERTEXTS`] ciphertexts of [`LABEL_BYTES`] bytes, costs
//!   [`AES_PER_AND_GARBLE`] AES calls to garble and [`AES_PER_AND_EVAL`] to evaluate;
//!   XOR and INV gates are free of AES and traffic.
//! - The client's input labels travel by IKNP oblivious-transfer extension in the
//!   offline phase (every client input of a circuit is known then): per OT the client
//!   sends one κ-bit column and the server two masked labels; the server hashes twice,
//!   the client once (fixed-key AES as the correlation-robust hash).
//! - The server's input labels travel online, one label per input bit. The client
//!   returns the output labels' colour bits (one bit each); only the server can decode
//!   them, so the result is a fresh share: `y - r` at the server, `r` at the client.
//! - Linear layers are local online (the server computes `W(x - r) + s`); the client's
//!   share `W r - s` is correlated randomness made offline, one ring element per output
//!   element sent to the client (by homomorphic encryption in Delphi, or by a dealer).
//! - Beaver multiplications use dealer triples made offline. A square `x^2` with a pair
//!   `(a, a^2)` opens `x - a`: one ring element each way in one round; a general product
//!   opens two. After a Beaver step the client's share is an online value, so the client
//!   re-shares to its precomputed mask of the next layer: one ring element to the server.
//! - Truncation by f bits is local (SecureML).
//!
//! A round is one flight of messages: in a round each party sends at most one message
//! and then waits for the other's, so its latency is one one-way network delay (half a
//! round-trip time).

use crate::circuit::library;
use serde::Serialize;

/// Bits of security of the garbling and OT extension (the label length).
pub const KAPPA: u64 = 128;
/// Bytes of a wire label.
pub const LABEL_BYTES: u64 = KAPPA / 8;
/// Ciphertexts in a half-gates garbled AND gate.
pub const HALF_GATES_CIPHERTEXTS: u64 = 2;
/// Fixed-key AES calls to garble one AND gate with half-gates (two hashes per half gate).
pub const AES_PER_AND_GARBLE: u64 = 4;
/// Fixed-key AES calls to evaluate one AND gate with half-gates (one per half gate).
pub const AES_PER_AND_EVAL: u64 = 2;
/// Bytes the OT receiver (client) sends per IKNP extended OT: one κ-bit column.
pub const OT_BYTES_RECEIVER: u64 = KAPPA / 8;
/// Bytes the OT sender (server) sends per extended OT: two masked labels.
pub const OT_BYTES_SENDER: u64 = 2 * LABEL_BYTES;
/// AES calls of the OT sender per extended OT (hashing both messages).
pub const OT_AES_SENDER: u64 = 2;
/// AES calls of the OT receiver per extended OT.
pub const OT_AES_RECEIVER: u64 = 1;

/// Bytes of a garbled AND gate: two ciphertexts of one label each (32 bytes).
pub const fn garbled_and_bytes() -> u64 {
    HALF_GATES_CIPHERTEXTS * LABEL_BYTES
}

/// One round: what each party sends before it waits for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Flight {
    /// Bytes from the server to the client.
    pub s2c: u64,
    /// Bytes from the client to the server.
    pub c2s: u64,
}

/// A garbled-circuit workload: `instances` copies of one circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GcWork {
    /// Circuits garbled or evaluated.
    pub instances: u64,
    /// AND gates of one circuit.
    pub and_gates: u64,
    /// XOR and INV gates of one circuit (free, but each passes through the engine).
    pub free_gates: u64,
    /// Garbler input bits of one circuit.
    pub garbler_inputs: u64,
    /// Evaluator input bits of one circuit.
    pub evaluator_inputs: u64,
    /// Output bits of one circuit.
    pub outputs: u64,
    /// Label slots one circuit's compiled program needs
    /// ([`Program::slots`](crate::circuit::program::Program::slots)).
    pub slots: u64,
}

impl GcWork {
    /// `instances` copies of a valid circuit.
    pub fn of(c: &crate::circuit::Circuit, instances: u64) -> GcWork {
        let counts = c.counts();
        GcWork {
            instances,
            and_gates: counts.and,
            free_gates: counts.xor + counts.inv,
            garbler_inputs: c.garbler_inputs.into(),
            evaluator_inputs: c.evaluator_inputs.into(),
            outputs: c.outputs.len() as u64,
            slots: crate::circuit::program::compile(c)
                .map_or(u64::from(c.wires), |p| p.slots.into()),
        }
    }

    /// AND gates over all instances.
    pub fn total_and(&self) -> u64 {
        self.instances * self.and_gates
    }

    /// Issue cycles of all instances on one engine whose AND gates hold the issue slot
    /// for `and_ii` cycles; free gates, input-label loads and outputs take one.
    pub fn issue_slots(&self, and_ii: u64) -> u64 {
        self.instances
            * (self.and_gates * and_ii
                + self.free_gates
                + self.garbler_inputs
                + self.evaluator_inputs
                + self.outputs)
    }
}

/// What one phase of an operator costs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PhaseCost {
    /// Garbled circuits garbled (offline) or evaluated (online).
    pub gc: Option<GcWork>,
    /// AES calls at the server (garbling, OT hashing).
    pub aes_server: u64,
    /// AES calls at the client (evaluation, OT hashing).
    pub aes_client: u64,
    /// Oblivious transfers (1-out-of-2, κ-bit messages).
    pub ots: u64,
    /// Beaver triples (or square pairs) consumed or produced.
    pub triples: u64,
    /// Multiply-accumulates with plaintext weights at the server (MAC array).
    pub macs: u64,
    /// Element-wise ring operations on shares per party: additions, shifts (MAC array
    /// lanes, one per cycle each).
    pub elementwise: u64,
    /// Elements through the Beaver units (one per lane per cycle).
    pub beaver_elements: u64,
    /// Rounds of messages, in order.
    pub flights: Vec<Flight>,
}

impl PhaseCost {
    /// Bytes from the server to the client.
    pub fn bytes_s2c(&self) -> u64 {
        self.flights.iter().map(|f| f.s2c).sum()
    }

    /// Bytes from the client to the server.
    pub fn bytes_c2s(&self) -> u64 {
        self.flights.iter().map(|f| f.c2s).sum()
    }

    /// Rounds of communication.
    pub fn rounds(&self) -> u64 {
        self.flights.len() as u64
    }

    /// AND gates over all circuits.
    pub fn and_gates(&self) -> u64 {
        self.gc.map_or(0, |w| w.total_and())
    }

    /// XOR and INV gates over all circuits.
    pub fn xor_gates(&self) -> u64 {
        self.gc.map_or(0, |w| w.instances * w.free_gates)
    }

    /// Adds another phase's costs, its rounds after these. An operator has at most one
    /// garbled circuit, so at most one side carries one.
    fn then(mut self, other: PhaseCost) -> PhaseCost {
        self.gc = match (self.gc, other.gc) {
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
            (Some(_), Some(_)) => panic!("one garbled circuit per operator"),
        };
        self.aes_server += other.aes_server;
        self.aes_client += other.aes_client;
        self.ots += other.ots;
        self.triples += other.triples;
        self.macs += other.macs;
        self.elementwise += other.elementwise;
        self.beaver_elements += other.beaver_elements;
        self.flights.extend(other.flights);
        self
    }
}

/// What an operator costs, offline and online.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OpCost {
    /// The preprocessing phase (input-independent).
    pub offline: PhaseCost,
    /// The online phase.
    pub online: PhaseCost,
}

/// An operator of the 2PC graph as the cost model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// Secret-sharing the client's input: the client sends `x - r`.
    Input,
    /// Local multiply-accumulates with the server's weights (convolution, dense,
    /// unfolded batch norm, average pooling's scale).
    Linear {
        /// Multiply-accumulates.
        macs: u64,
    },
    /// Local additions or copies (residual add, average pooling's sums, flatten).
    Elementwise {
        /// Ring additions per party.
        adds: u64,
    },
    /// Local truncation by f bits.
    Truncate,
    /// Garbled-circuit ReLU.
    Relu,
    /// Circa's stochastic ReLU with `k` truncated bits.
    Circa {
        /// Low bits left out of the sign test.
        k: u32,
    },
    /// Polynomial activation `w2 x^2 + w1 x + b`.
    Poly,
    /// Garbled max over windows of `window` elements.
    MaxPool {
        /// Elements per window.
        window: u32,
    },
}

/// Bytes of `n` ring elements of `l` bits.
pub fn ring_bytes(n: u64, l: u32) -> u64 {
    (n * u64::from(l)).div_ceil(8)
}

/// The offline and online costs of a garbled circuit run on `n` instances: garbling,
/// tables and the client's labels by OT offline; the server's labels, evaluation and
/// the returned colour bits online.
pub fn garbled(c: &crate::circuit::Circuit, n: u64) -> OpCost {
    let work = GcWork::of(c, n);
    let ands = work.total_and();
    let ots = n * work.evaluator_inputs;
    let offline = PhaseCost {
        gc: Some(work),
        aes_server: ands * AES_PER_AND_GARBLE + ots * OT_AES_SENDER,
        aes_client: ots * OT_AES_RECEIVER,
        ots,
        flights: vec![
            Flight {
                s2c: 0,
                c2s: ots * OT_BYTES_RECEIVER,
            },
            Flight {
                s2c: ands * garbled_and_bytes() + ots * OT_BYTES_SENDER,
                c2s: 0,
            },
        ],
        ..PhaseCost::default()
    };
    let online = PhaseCost {
        gc: Some(work),
        aes_client: ands * AES_PER_AND_EVAL,
        flights: vec![
            Flight {
                s2c: n * work.garbler_inputs * LABEL_BYTES,
                c2s: 0,
            },
            Flight {
                s2c: 0,
                c2s: (n * work.outputs).div_ceil(8),
            },
        ],
        ..PhaseCost::default()
    };
    OpCost { offline, online }
}

/// A Beaver square of `n` elements: a square pair offline, `x - a` opened online.
pub fn beaver_square(n: u64, l: u32) -> OpCost {
    beaver(n, l, 1)
}

/// A Beaver product of `n` element pairs: a triple offline, `x - a` and `y - b` opened.
pub fn beaver_product(n: u64, l: u32) -> OpCost {
    beaver(n, l, 2)
}

fn beaver(n: u64, l: u32, opened: u64) -> OpCost {
    let bytes = ring_bytes(n * opened, l);
    OpCost {
        offline: PhaseCost {
            triples: n,
            ..PhaseCost::default()
        },
        online: PhaseCost {
            beaver_elements: n,
            flights: vec![Flight {
                s2c: bytes,
                c2s: bytes,
            }],
            ..PhaseCost::default()
        },
    }
}

/// The client re-shares `n` online shares to its precomputed masks: it sends its share
/// less its mask (the subtraction is the last stage of its Beaver lanes), and the
/// server adds what it receives into its own, the one element-wise step.
fn reshare(n: u64, l: u32) -> PhaseCost {
    PhaseCost {
        elementwise: n,
        flights: vec![Flight {
            s2c: 0,
            c2s: ring_bytes(n, l),
        }],
        ..PhaseCost::default()
    }
}

impl Operation {
    /// The cost of the operation producing `elements` output elements in the ring of
    /// `l` bits.
    pub fn cost(&self, elements: u64, l: u32) -> OpCost {
        match *self {
            Operation::Input => OpCost {
                offline: PhaseCost::default(),
                online: PhaseCost {
                    elementwise: elements,
                    flights: vec![Flight {
                        s2c: 0,
                        c2s: ring_bytes(elements, l),
                    }],
                    ..PhaseCost::default()
                },
            },
            Operation::Linear { macs } => OpCost {
                offline: PhaseCost {
                    macs,
                    flights: vec![Flight {
                        s2c: ring_bytes(elements, l),
                        c2s: 0,
                    }],
                    ..PhaseCost::default()
                },
                online: PhaseCost {
                    macs,
                    ..PhaseCost::default()
                },
            },
            Operation::Elementwise { adds } => OpCost {
                offline: PhaseCost::default(),
                online: PhaseCost {
                    elementwise: adds,
                    ..PhaseCost::default()
                },
            },
            Operation::Truncate => OpCost {
                offline: PhaseCost::default(),
                online: PhaseCost {
                    elementwise: elements,
                    ..PhaseCost::default()
                },
            },
            Operation::Relu => garbled(&library::relu(l), elements),
            Operation::MaxPool { window } => garbled(&library::max(l, window), elements),
            Operation::Circa { k } => {
                let sign = garbled(&library::circa_sign(l, k), elements);
                let mul = beaver_product(elements, l);
                OpCost {
                    offline: sign.offline.then(mul.offline),
                    online: sign.online.then(mul.online).then(reshare(elements, l)),
                }
            }
            Operation::Poly => {
                // The Beaver lane computes w2 x^2 + w1 x + b with both truncations in
                // its pipeline; the re-share is the one element-wise step.
                let sq = beaver_square(elements, l);
                OpCost {
                    offline: sq.offline,
                    online: sq.online.then(reshare(elements, l)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_gates_and_is_32_bytes() {
        assert_eq!(garbled_and_bytes(), 32);
        let c = library::relu(32);
        let cost = garbled(&c, 1);
        let tables = cost.offline.bytes_s2c() - cost.offline.ots * OT_BYTES_SENDER;
        assert_eq!(tables, 32 * c.counts().and);
    }

    #[test]
    fn relu_counts_come_from_the_circuit() {
        for l in [16u32, 32, 64] {
            let c = library::relu(l);
            let cost = Operation::Relu.cost(10, l);
            assert_eq!(cost.offline.and_gates(), 10 * c.counts().and);
            assert_eq!(
                cost.offline.aes_server,
                10 * (4 * c.counts().and + 2 * 2 * u64::from(l))
            );
            assert_eq!(cost.online.aes_client, 10 * 2 * c.counts().and);
            assert_eq!(cost.offline.ots, 10 * 2 * u64::from(l));
            // The server's l labels go out; l colour bits come back.
            assert_eq!(cost.online.bytes_s2c(), 10 * 16 * u64::from(l));
            assert_eq!(cost.online.bytes_c2s(), 10 * u64::from(l) / 8);
            assert_eq!(cost.online.rounds(), 2);
        }
    }

    #[test]
    fn beaver_square_sends_one_ring_element_each_way() {
        for l in [16u32, 32, 64] {
            let sq = beaver_square(1, l);
            assert_eq!(
                sq.online.flights,
                vec![Flight {
                    s2c: u64::from(l) / 8,
                    c2s: u64::from(l) / 8
                }]
            );
            assert_eq!(sq.offline.triples, 1);
            let poly = Operation::Poly.cost(1, l);
            assert_eq!(poly.online.bytes_s2c(), u64::from(l) / 8);
            assert_eq!(
                poly.online.bytes_c2s(),
                2 * u64::from(l) / 8,
                "square + re-share"
            );
        }
    }

    #[test]
    fn circa_is_cheaper_than_relu_and_dearer_with_fewer_truncated_bits() {
        let relu = Operation::Relu.cost(1, 32);
        let c8 = Operation::Circa { k: 8 }.cost(1, 32);
        let c16 = Operation::Circa { k: 16 }.cost(1, 32);
        assert!(c8.offline.and_gates() < relu.offline.and_gates());
        assert!(c16.offline.and_gates() < c8.offline.and_gates());
        assert!(c16.online.bytes_s2c() < relu.online.bytes_s2c());
        assert_eq!(c8.offline.triples, 1);
    }
}
