//! Circuits as programs for the hardware garbled-circuit engine, and the engine's
//! exact cycle schedule.
//!
//! The engine keeps wire labels in a label RAM of slots. [`compile`] turns a circuit
//! into instructions over slots: a `Load` per input (its label comes with the
//! instruction), the gates, an `Out` per output. A slot is reused once the last gate
//! reading it has issued, so the RAM holds only the live labels.
//!
//! The engine issues one instruction per cycle and does not check dependencies: a
//! result reaches the label RAM [`GcTiming::distance`] cycles after its instruction
//! issued, and an AND gate may issue only on cycles that are a multiple of the AES
//! cores' initiation interval. [`schedule`] gives every instruction its earliest legal
//! cycle; the Verilator tests hold the hardware to it cycle for cycle. Interleaving
//! instances ([`super::Circuit::interleave`]) hides the distance: with `n` instances
//! round-robin, gate `k + 1` of an instance issues `n` cycles after its gate `k`.

use super::{Circuit, CircuitError, Gate, Wire};

/// An engine operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `out = a ^ b`.
    Xor,
    /// `out = a & b` (half-gates: four hashes to garble, two to evaluate).
    And,
    /// `out = !a` (the garbler XORs delta, the evaluator copies).
    Inv,
    /// Emit the label of slot `a`.
    Out,
    /// Write the label of input `a` (supplied with the instruction) to slot `out`.
    Load,
}

impl Op {
    /// The 3-bit code the hardware decodes.
    pub fn code(self) -> u8 {
        match self {
            Op::Xor => 0,
            Op::And => 1,
            Op::Inv => 2,
            Op::Out => 3,
            Op::Load => 4,
        }
    }

    /// Whether the instruction writes a slot.
    pub fn writes(self) -> bool {
        self != Op::Out
    }
}

/// One instruction. For `Load`, `a` is the input's index; for `Out`, `a` is the slot
/// emitted; `b` is used by `Xor` and `And` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instr {
    /// Operation.
    pub op: Op,
    /// First operand.
    pub a: u32,
    /// Second operand.
    pub b: u32,
    /// Slot written.
    pub out: u32,
}

impl Instr {
    /// The slots the instruction reads.
    pub fn reads(&self) -> [Option<u32>; 2] {
        match self.op {
            Op::Xor | Op::And => [Some(self.a), Some(self.b)],
            Op::Inv | Op::Out => [Some(self.a), None],
            Op::Load => [None, None],
        }
    }
}

/// A compiled circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Instructions in issue order.
    pub instrs: Vec<Instr>,
    /// Label slots used (the label RAM needs at least this many).
    pub slots: u32,
}

impl Program {
    /// AND gates.
    pub fn and_gates(&self) -> usize {
        self.instrs.iter().filter(|i| i.op == Op::And).count()
    }
}

/// Compiles a valid circuit: inputs loaded in order, gates in order, outputs in order;
/// each result takes the lowest free slot.
pub fn compile(c: &Circuit) -> Result<Program, CircuitError> {
    c.validate()?;
    let n = c.gates.len();
    let inputs = c.garbler_inputs + c.evaluator_inputs;
    // The last instruction reading each wire: gate index, or `n` for an output.
    let mut last: Vec<Option<usize>> = vec![None; c.wires as usize];
    for (i, g) in c.gates.iter().enumerate() {
        for w in g.inputs().into_iter().flatten() {
            last[w as usize] = Some(i);
        }
    }
    for &o in &c.outputs {
        last[o as usize] = Some(n);
    }
    let mut slot_of: Vec<u32> = vec![u32::MAX; c.wires as usize];
    // Free slots, lowest first (a max-heap of reversed indices).
    let mut free = std::collections::BinaryHeap::new();
    let mut slots = 0u32;
    let mut take = |free: &mut std::collections::BinaryHeap<std::cmp::Reverse<u32>>| {
        free.pop().map(|r| r.0).unwrap_or_else(|| {
            slots += 1;
            slots - 1
        })
    };
    let mut instrs = Vec::with_capacity(inputs as usize + n + c.outputs.len());
    for w in 0..inputs {
        let s = take(&mut free);
        slot_of[w as usize] = s;
        instrs.push(Instr {
            op: Op::Load,
            a: w,
            b: 0,
            out: s,
        });
        if last[w as usize].is_none() {
            free.push(std::cmp::Reverse(s));
        }
    }
    for (i, g) in c.gates.iter().enumerate() {
        let ins = g.inputs();
        let slot = |w: Option<Wire>| w.map_or(0, |w| slot_of[w as usize]);
        let (a, b) = (slot(ins[0]), slot(ins[1]));
        // Inputs whose last reader this is free their slots first: the engine reads
        // operands when the gate issues and writes the result later.
        let mut freed: Vec<Wire> = ins.into_iter().flatten().collect();
        freed.dedup();
        for w in freed {
            if last[w as usize] == Some(i) {
                free.push(std::cmp::Reverse(slot_of[w as usize]));
            }
        }
        let out_w = g.output();
        let out = take(&mut free);
        slot_of[out_w as usize] = out;
        if last[out_w as usize].is_none() {
            free.push(std::cmp::Reverse(out));
        }
        let op = match g {
            Gate::Xor { .. } => Op::Xor,
            Gate::And { .. } => Op::And,
            Gate::Inv { .. } => Op::Inv,
        };
        instrs.push(Instr { op, a, b, out });
    }
    for &o in &c.outputs {
        instrs.push(Instr {
            op: Op::Out,
            a: slot_of[o as usize],
            b: 0,
            out: 0,
        });
    }
    Ok(Program { instrs, slots })
}

/// The engine's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcTiming {
    /// Cycles from an instruction's issue to its output (a table pair or a label).
    pub latency: u64,
    /// Cycles from an instruction's issue to the first issue that reads its result.
    pub distance: u64,
    /// AND gates issue on cycles that are multiples of this (the AES initiation
    /// interval).
    pub and_ii: u64,
}

/// The issue cycle of every instruction on an engine that starts at cycle `start`
/// (the engine's AES phase counts from cycle 0), and the cycle after the last output.
pub fn schedule(p: &Program, t: &GcTiming, start: u64) -> (Vec<u64>, u64) {
    let mut ready = vec![0u64; p.slots as usize];
    let mut next = start;
    let mut issue = Vec::with_capacity(p.instrs.len());
    let ii = t.and_ii.max(1);
    for i in &p.instrs {
        let mut at = next;
        for s in i.reads().into_iter().flatten() {
            at = at.max(ready[s as usize]);
        }
        if i.op == Op::And {
            at = at.div_ceil(ii) * ii;
        }
        if i.op.writes() {
            ready[i.out as usize] = at + t.distance;
        }
        issue.push(at);
        next = at + 1;
    }
    let end = issue.last().map_or(start, |&l| l + t.latency + 1);
    (issue, end)
}

impl Circuit {
    /// `n` copies of the circuit as one, their gates interleaved round-robin (gate `k`
    /// of every copy, then gate `k + 1`). Inputs: the garbler inputs of copy 0, 1, ...,
    /// then the evaluator inputs of copy 0, 1, ...; outputs: output `k` of every copy,
    /// then output `k + 1`.
    pub fn interleave(&self, n: u32) -> Circuit {
        let (g, e) = (self.garbler_inputs, self.evaluator_inputs);
        let gates_per = self.wires - g - e;
        let map = |copy: u32, w: Wire| -> Wire {
            if w < g {
                copy * g + w
            } else if w < g + e {
                n * g + copy * e + (w - g)
            } else {
                n * (g + e) + copy * gates_per + (w - g - e)
            }
        };
        let mut gates = Vec::with_capacity(self.gates.len() * n as usize);
        for gate in &self.gates {
            for copy in 0..n {
                let m = |w| map(copy, w);
                gates.push(match *gate {
                    Gate::Xor { a, b, out } => Gate::Xor {
                        a: m(a),
                        b: m(b),
                        out: m(out),
                    },
                    Gate::And { a, b, out } => Gate::And {
                        a: m(a),
                        b: m(b),
                        out: m(out),
                    },
                    Gate::Inv { a, out } => Gate::Inv {
                        a: m(a),
                        out: m(out),
                    },
                });
            }
        }
        let outputs = self
            .outputs
            .iter()
            .flat_map(|&o| (0..n).map(move |copy| map(copy, o)))
            .collect();
        Circuit {
            garbler_inputs: n * g,
            evaluator_inputs: n * e,
            wires: n * self.wires,
            gates,
            outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{library, to_bits};
    use super::*;

    /// Runs a program in the clear (bits for labels), as the engine runs it.
    fn run(p: &Program, inputs: &[bool]) -> Vec<bool> {
        let mut s = vec![false; p.slots as usize];
        let mut out = Vec::new();
        for i in &p.instrs {
            let (a, b) = (s[i.a as usize], s[i.b as usize]);
            match i.op {
                Op::Xor => s[i.out as usize] = a ^ b,
                Op::And => s[i.out as usize] = a & b,
                Op::Inv => s[i.out as usize] = !a,
                Op::Out => out.push(a),
                Op::Load => s[i.out as usize] = inputs[i.a as usize],
            }
        }
        out
    }

    #[test]
    fn compiled_relu_computes_relu_in_few_slots() {
        let c = library::relu(32);
        let p = compile(&c).unwrap();
        let (xs, xc, r) = (0x8000_0123u64, 0x7fff_fffeu64, 0x1234_5678u64);
        let mut inputs = to_bits(xs, 32);
        inputs.extend(to_bits(xc, 32));
        inputs.extend(to_bits(r, 32));
        let (want, _) = c.eval(&inputs[..32], &inputs[32..]).unwrap();
        assert_eq!(run(&p, &inputs), want);
        assert!(
            p.slots < c.wires / 2,
            "{} slots for {} wires",
            p.slots,
            c.wires
        );
        assert_eq!(p.and_gates() as u64, c.counts().and);
    }

    #[test]
    fn interleaved_copies_compute_each_copy() {
        let c = library::relu(16);
        let n = 3;
        let big = c.interleave(n);
        big.validate().unwrap();
        let shares: Vec<[u64; 3]> = vec![[5, 0xfff0, 9], [0x8000, 1, 0], [0x7000, 0x0fff, 0xabcd]];
        let g: Vec<bool> = shares.iter().flat_map(|s| to_bits(s[0], 16)).collect();
        let e: Vec<bool> = shares
            .iter()
            .flat_map(|s| to_bits(s[1], 16).into_iter().chain(to_bits(s[2], 16)))
            .collect();
        let (got, _) = big.eval(&g, &e).unwrap();
        for (copy, s) in shares.iter().enumerate() {
            let mut e1 = to_bits(s[1], 16);
            e1.extend(to_bits(s[2], 16));
            let (want, _) = c.eval(&to_bits(s[0], 16), &e1).unwrap();
            let mine: Vec<bool> = (0..want.len())
                .map(|k| got[k * n as usize + copy])
                .collect();
            assert_eq!(mine, want, "copy {copy}");
        }
    }

    #[test]
    fn schedule_waits_for_operands_and_the_aes_phase() {
        let t = GcTiming {
            latency: 12,
            distance: 13,
            and_ii: 5,
        };
        let p = Program {
            slots: 3,
            instrs: vec![
                Instr {
                    op: Op::Load,
                    a: 0,
                    b: 0,
                    out: 0,
                },
                Instr {
                    op: Op::Load,
                    a: 1,
                    b: 0,
                    out: 1,
                },
                Instr {
                    op: Op::And,
                    a: 0,
                    b: 1,
                    out: 2,
                },
                Instr {
                    op: Op::Xor,
                    a: 0,
                    b: 1,
                    out: 0,
                },
                Instr {
                    op: Op::Out,
                    a: 2,
                    b: 0,
                    out: 0,
                },
            ],
        };
        let (issue, end) = schedule(&p, &t, 0);
        // The AND needs slot 1 (ready at 14) and a multiple of 5; the XOR follows at
        // once (its write to slot 0 comes after the AND read it); the output waits.
        assert_eq!(issue, vec![0, 1, 15, 16, 28]);
        assert_eq!(end, 41);
    }

    #[test]
    fn interleaving_enough_copies_never_waits() {
        let c = library::relu(16).interleave(16);
        let p = compile(&c).unwrap();
        let t = GcTiming {
            latency: 12,
            distance: 13,
            and_ii: 1,
        };
        let (issue, end) = schedule(&p, &t, 0);
        assert!(issue.iter().enumerate().all(|(k, &i)| i == k as u64));
        assert_eq!(end, p.instrs.len() as u64 + 12);
    }
}
