//! Boolean circuits of the garbled-circuit operators: the source of truth for their
//! AND and XOR counts.
//!
//! A [`Circuit`] has garbler inputs (the server's), evaluator inputs (the client's, whose
//! labels travel by oblivious transfer), XOR/INV gates (free with free-XOR) and AND
//! gates (two ciphertexts each with half-gates), and outputs. The circuits of the 2PC
//! profile are in [`library`]; the cost model counts their gates, and the garbling
//! engines run them.

pub mod garble;
pub mod library;
pub mod program;

use std::fmt;

/// A wire index. Wires `0..garbler_inputs` are the garbler's inputs, the next
/// `evaluator_inputs` the evaluator's, and every further wire is driven by one gate.
pub type Wire = u32;

/// A gate. Gates are listed in an order where every input is defined before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `out = a ^ b` (free).
    Xor {
        /// First input.
        a: Wire,
        /// Second input.
        b: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = a & b` (two ciphertexts with half-gates).
    And {
        /// First input.
        a: Wire,
        /// Second input.
        b: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = !a` (free).
    Inv {
        /// Input.
        a: Wire,
        /// Output.
        out: Wire,
    },
}

impl Gate {
    fn output(&self) -> Wire {
        match *self {
            Gate::Xor { out, .. } | Gate::And { out, .. } | Gate::Inv { out, .. } => out,
        }
    }

    fn inputs(&self) -> [Option<Wire>; 2] {
        match *self {
            Gate::Xor { a, b, .. } | Gate::And { a, b, .. } => [Some(a), Some(b)],
            Gate::Inv { a, .. } => [Some(a), None],
        }
    }
}

/// Gate counts of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateCounts {
    /// AND gates.
    pub and: u64,
    /// XOR gates.
    pub xor: u64,
    /// Inverters.
    pub inv: u64,
}

/// A Boolean circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circuit {
    /// Number of garbler input wires.
    pub garbler_inputs: u32,
    /// Number of evaluator input wires.
    pub evaluator_inputs: u32,
    /// Total number of wires.
    pub wires: u32,
    /// Gates in evaluation order.
    pub gates: Vec<Gate>,
    /// Output wires, in order.
    pub outputs: Vec<Wire>,
}

/// What is wrong with a circuit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircuitError {
    /// A gate reads a wire that is never driven, or driven only later (a cycle or a
    /// mis-ordered gate).
    #[error("gate {gate} reads wire {wire}, which is not driven before it")]
    Undriven {
        /// Index of the gate.
        gate: usize,
        /// The wire.
        wire: Wire,
    },
    /// Two drivers for one wire.
    #[error("gate {gate} drives wire {wire}, which already has a driver")]
    Redriven {
        /// Index of the gate.
        gate: usize,
        /// The wire.
        wire: Wire,
    },
    /// A wire index at or beyond `wires`.
    #[error("gate {gate} uses wire {wire}, beyond the circuit's {wires} wires")]
    OutOfRange {
        /// Index of the gate (or `gates.len()` for an output).
        gate: usize,
        /// The wire.
        wire: Wire,
        /// The circuit's wire count.
        wires: u32,
    },
    /// An output wire that no gate or input drives.
    #[error("output {index} is wire {wire}, which nothing drives")]
    DanglingOutput {
        /// Position in `outputs`.
        index: usize,
        /// The wire.
        wire: Wire,
    },
    /// A garbled circuit with the wrong number of tables.
    #[error("the garbled circuit has {got} tables but the circuit {expected} AND gates")]
    Tables {
        /// AND gates of the circuit.
        expected: usize,
        /// Tables supplied.
        got: usize,
    },
    /// Inputs of the wrong length were supplied.
    #[error("expected {expected} {party} input bits, got {got}")]
    InputLength {
        /// `garbler` or `evaluator`.
        party: &'static str,
        /// Bits the circuit takes.
        expected: usize,
        /// Bits supplied.
        got: usize,
    },
}

impl Circuit {
    /// Gate counts.
    pub fn counts(&self) -> GateCounts {
        let mut c = GateCounts::default();
        for g in &self.gates {
            match g {
                Gate::Xor { .. } => c.xor += 1,
                Gate::And { .. } => c.and += 1,
                Gate::Inv { .. } => c.inv += 1,
            }
        }
        c
    }

    /// Checks that every wire is driven exactly once before it is read and that the
    /// outputs are driven.
    pub fn validate(&self) -> Result<(), CircuitError> {
        let n_inputs = self.garbler_inputs + self.evaluator_inputs;
        let mut driven = vec![false; self.wires as usize];
        let in_range = |gate: usize, wire: Wire| {
            if wire < self.wires {
                Ok(())
            } else {
                Err(CircuitError::OutOfRange {
                    gate,
                    wire,
                    wires: self.wires,
                })
            }
        };
        for w in 0..n_inputs.min(self.wires) {
            driven[w as usize] = true;
        }
        for (i, g) in self.gates.iter().enumerate() {
            for w in g.inputs().into_iter().flatten() {
                in_range(i, w)?;
                if !driven[w as usize] {
                    return Err(CircuitError::Undriven { gate: i, wire: w });
                }
            }
            let out = g.output();
            in_range(i, out)?;
            if driven[out as usize] {
                return Err(CircuitError::Redriven { gate: i, wire: out });
            }
            driven[out as usize] = true;
        }
        for (index, &wire) in self.outputs.iter().enumerate() {
            in_range(self.gates.len(), wire)?;
            if !driven[wire as usize] {
                return Err(CircuitError::DanglingOutput { index, wire });
            }
        }
        Ok(())
    }

    /// Evaluates the circuit in the clear; returns the outputs and the gates evaluated.
    /// The circuit must be valid ([`Circuit::validate`]).
    pub fn eval(
        &self,
        garbler: &[bool],
        evaluator: &[bool],
    ) -> Result<(Vec<bool>, GateCounts), CircuitError> {
        let check = |party, expected: u32, got: usize| {
            if expected as usize == got {
                Ok(())
            } else {
                Err(CircuitError::InputLength {
                    party,
                    expected: expected as usize,
                    got,
                })
            }
        };
        check("garbler", self.garbler_inputs, garbler.len())?;
        check("evaluator", self.evaluator_inputs, evaluator.len())?;
        self.validate()?;
        let mut v = vec![false; self.wires as usize];
        v[..garbler.len()].copy_from_slice(garbler);
        v[garbler.len()..garbler.len() + evaluator.len()].copy_from_slice(evaluator);
        let mut done = GateCounts::default();
        for g in &self.gates {
            match *g {
                Gate::Xor { a, b, out } => {
                    v[out as usize] = v[a as usize] ^ v[b as usize];
                    done.xor += 1;
                }
                Gate::And { a, b, out } => {
                    v[out as usize] = v[a as usize] & v[b as usize];
                    done.and += 1;
                }
                Gate::Inv { a, out } => {
                    v[out as usize] = !v[a as usize];
                    done.inv += 1;
                }
            }
        }
        Ok((self.outputs.iter().map(|&w| v[w as usize]).collect(), done))
    }
}

impl fmt::Display for GateCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} AND, {} XOR, {} INV", self.and, self.xor, self.inv)
    }
}

/// The low `bits` bits of `v`, least significant first.
pub fn to_bits(v: u64, bits: u32) -> Vec<bool> {
    (0..bits).map(|i| (v >> i) & 1 == 1).collect()
}

/// The number whose bits, least significant first, are `bits`.
pub fn from_bits(bits: &[bool]) -> u64 {
    bits.iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u64::from(b) << i))
}
