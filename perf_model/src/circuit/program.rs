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
//!
//! The ReLU engine (`hdl::gc::relu`) does that interleaving in hardware: it holds one
//! instance's program in a ROM and [`sequence`]s it over batches of instances, each
//! instance in its own region of the label RAM.

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

/// The ReLU engine's issue order and cycles for `instances` copies of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Instances per batch: as many as the label RAM holds.
    pub per_batch: u32,
    /// Every issue, in order: (cycle, instruction of the program, instance).
    pub issues: Vec<(u64, usize, u32)>,
    /// The cycle after the last output.
    pub end: u64,
}

/// Why a program cannot be sequenced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// One instance needs more label slots than the RAM has.
    #[error("one instance needs {slots} label slots; the label RAM has {ram}")]
    LabelRam {
        /// Slots one instance needs.
        slots: u32,
        /// Slots of the label RAM.
        ram: u32,
    },
}

/// Instances of `p` the label RAM of `ram_slots` holds at once.
pub fn per_batch(p: &Program, ram_slots: u32) -> Result<u32, SequenceError> {
    match ram_slots / p.slots.max(1) {
        0 => Err(SequenceError::LabelRam {
            slots: p.slots,
            ram: ram_slots,
        }),
        n => Ok(n),
    }
}

/// The ReLU engine's sequencer, cycle by cycle, given `start` in cycle `start`.
///
/// Instances go in batches of [`per_batch`]; instance `j` of a batch uses slots from
/// `j * p.slots`. Within a batch the program runs row by row: instruction `k` for
/// every instance, then instruction `k + 1`. A row starts on a multiple of the AND
/// interval; its AND gates issue one interval apart, other instructions on
/// consecutive cycles; after a row of `n` instances the sequencer idles
/// `distance - n` cycles when `n` is below the distance. So an instance's instruction
/// issues at least `distance` cycles after its previous one and never reads a label
/// before it is written. Batches follow each other row after row.
pub fn sequence(
    p: &Program,
    instances: u32,
    ram_slots: u32,
    t: &GcTiming,
    start: u64,
) -> Result<Sequence, SequenceError> {
    let per = per_batch(p, ram_slots)?;
    let ii = t.and_ii.max(1);
    let mut issues = Vec::with_capacity(p.instrs.len() * instances as usize);
    let mut next = start + 1;
    let mut done = 0u32;
    while done < instances {
        let n = per.min(instances - done);
        let pad = t.distance.saturating_sub(n.into());
        for (k, i) in p.instrs.iter().enumerate() {
            let mut at = next.div_ceil(ii) * ii;
            for j in 0..n {
                if j > 0 {
                    at += if i.op == Op::And { ii } else { 1 };
                }
                issues.push((at, k, done + j));
            }
            next = at + 1 + pad;
        }
        done += n;
    }
    let end = issues.last().map_or(start, |&(l, _, _)| l + t.latency + 1);
    Ok(Sequence {
        per_batch: per,
        issues,
        end,
    })
}

impl Circuit {
    /// `instances` copies of the circuit as one, in the ReLU engine's order: batches of
    /// `per_batch` copies, each batch's gates interleaved round-robin (gate `k` of every
    /// copy of the batch, then gate `k + 1`), outputs likewise. Inputs: the garbler
    /// inputs of copy 0, 1, ..., then the evaluator inputs of copy 0, 1, ....
    pub fn batched(&self, instances: u32, per_batch: u32) -> Circuit {
        let n = instances;
        let per = per_batch.max(1);
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
        let batches: Vec<std::ops::Range<u32>> = (0..n.div_ceil(per))
            .map(|b| b * per..((b + 1) * per).min(n))
            .collect();
        let mut gates = Vec::with_capacity(self.gates.len() * n as usize);
        let mut outputs = Vec::with_capacity(self.outputs.len() * n as usize);
        for batch in &batches {
            for gate in &self.gates {
                for copy in batch.clone() {
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
            for &o in &self.outputs {
                outputs.extend(batch.clone().map(|copy| map(copy, o)));
            }
        }
        Circuit {
            garbler_inputs: n * g,
            evaluator_inputs: n * e,
            wires: n * self.wires,
            gates,
            outputs,
        }
    }

    /// `n` copies of the circuit as one, their gates interleaved round-robin (gate `k`
    /// of every copy, then gate `k + 1`). Inputs: the garbler inputs of copy 0, 1, ...,
    /// then the evaluator inputs of copy 0, 1, ...; outputs: output `k` of every copy,
    /// then output `k + 1`.
    pub fn interleave(&self, n: u32) -> Circuit {
        self.batched(n, n)
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

    /// Replays a sequence: every read comes `distance` cycles or more after the write
    /// of the same instance, AND gates on the interval, one issue per cycle.
    fn check_sequence(p: &Program, s: &Sequence, t: &GcTiming) {
        let mut ready = vec![0u64; (s.per_batch * p.slots) as usize];
        let mut last = None;
        for &(at, k, inst) in &s.issues {
            assert!(last.is_none_or(|l| at > l), "two issues in cycle {at}");
            last = Some(at);
            let i = p.instrs[k];
            let base = (inst % s.per_batch) * p.slots;
            for r in i.reads().into_iter().flatten() {
                assert!(
                    at >= ready[(base + r) as usize],
                    "instr {k} of {inst} too early"
                );
            }
            if i.op == Op::And {
                assert_eq!(at % t.and_ii, 0);
            }
            if i.op.writes() {
                ready[(base + i.out) as usize] = at + t.distance;
            }
        }
    }

    #[test]
    fn sequences_are_legal_and_match_the_closed_form() {
        use crate::accel::units;
        use crate::protocol::GcWork;
        for (c, ram) in [
            (library::relu(16), 1024),
            (library::relu(32), 1024),
            (library::relu(64), 1024),
            (library::circa_sign(32, 8), 512),
            (library::max(16, 4), 1024),
        ] {
            let p = compile(&c).unwrap();
            for r in [1, 2, 5, 10] {
                let t = units::gc_engine(r);
                for n in [1, 3, 13, 17, 40] {
                    let s = sequence(&p, n, ram, &t, 0).unwrap();
                    check_sequence(&p, &s, &t);
                    assert_eq!(s.issues.len(), p.instrs.len() * n as usize);
                    let w = GcWork::of(&c, n.into());
                    assert_eq!(
                        units::gc_cycles(units::garbler(4, r), 1, &w, ram.into()),
                        s.end,
                        "{} slots, R = {r}, n = {n}",
                        p.slots
                    );
                }
            }
        }
        let p = compile(&library::max(64, 9)).unwrap();
        assert_eq!(
            sequence(&p, 1, 1024, &units::gc_engine(10), 0),
            Err(SequenceError::LabelRam {
                slots: p.slots,
                ram: 1024
            })
        );
    }

    #[test]
    fn batched_copies_follow_the_sequence() {
        let c = library::relu(16);
        let p = compile(&c).unwrap();
        let s = sequence(&p, 5, 2 * p.slots, &crate::accel::units::gc_engine(10), 0).unwrap();
        let big = c.batched(5, s.per_batch);
        big.validate().unwrap();
        // The batched circuit's gates come in the sequence's gate order.
        let gates_per = c.wires - c.garbler_inputs - c.evaluator_inputs;
        let order: Vec<u32> = s
            .issues
            .iter()
            .filter(|&&(_, k, _)| !matches!(p.instrs[k].op, Op::Load | Op::Out))
            .map(|&(_, _, inst)| inst)
            .collect();
        let base = big.garbler_inputs + big.evaluator_inputs;
        let got: Vec<u32> = big
            .gates
            .iter()
            .map(|g| (g.output() - base) / gates_per)
            .collect();
        assert_eq!(got, order);
        assert_eq!(c.interleave(3), c.batched(3, 3));
    }
}
