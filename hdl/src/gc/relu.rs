//! The ReLU engine: a half-gates engine ([`super::engine`]), one instance's program in
//! a ROM, and the sequencer that runs it over many instances.
//!
//! The program is [`compile`](perf_model::circuit::program::compile)'s: ReLU on
//! l-bit shares, Circa's sign test, or any circuit whose program fits the ROM and whose
//! labels fit the label RAM. On `start` the engine runs `instances` copies, in batches
//! of as many as the label RAM holds (instance `j` of a batch in slots
//! `j * slots ..`), row by row: instruction `k` for every instance of the batch, then
//! instruction `k + 1`. A row starts on the AES phase, its AND gates go one interval
//! apart, other instructions one per cycle, and a row of fewer than `distance`
//! instances is followed by idle cycles, so no instruction reads a label before it is
//! written. [`sequence`](perf_model::circuit::program::sequence) gives every issue's
//! cycle and [`gc_cycles`](perf_model::accel::units::gc_cycles) the total; the
//! Verilator tests hold the hardware to both.
//!
//! Inputs stream in on `x0`/`x1` with `in_valid`, one word per `Load` (its label on
//! `x0`) and, when evaluating, one per AND gate (its two ciphertexts), in issue order;
//! `in_ready` marks the cycle a word is taken, and the sequencer waits while
//! `in_valid` is low. Outputs leave as the engine's do. `busy` is high from the cycle
//! after `start` to the last output's cycle.

use super::engine::{GcEngine1, GcEngine10, GcEngine2, GcEngine5, SLOT_BITS};
use perf_model::circuit::program::{Instr, Op, Program};
use rust_hdl::prelude::*;
use std::collections::BTreeMap;

/// Address bits of the program ROM: programs of up to 8192 instructions.
pub const PC_BITS: usize = 13;

/// Bits of the instance counts: up to 2^24 - 1 instances per run.
pub const COUNT_BITS: usize = 24;

/// Bits of a ROM word: the operation, then the slots `a`, `b` and `out`.
pub const WORD_BITS: usize = 3 + 3 * SLOT_BITS;

// The update logic spells out the word's fields for these widths.
const _: () = assert!(SLOT_BITS == 11 && WORD_BITS == 36);

/// The ROM word of an instruction (a `Load`'s input index is not needed: its label
/// streams in).
pub fn encode(i: &Instr) -> u64 {
    let a = if i.op == Op::Load { 0 } else { i.a };
    (u64::from(i.op.code()) << (3 * SLOT_BITS))
        | (u64::from(a) << (2 * SLOT_BITS))
        | (u64::from(i.b) << SLOT_BITS)
        | u64::from(i.out)
}

/// Why a program cannot go into the ReLU engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// No instructions.
    #[error("the program is empty")]
    Empty,
    /// More instructions than the ROM holds.
    #[error("{len} instructions; the program ROM holds {}", 1usize << PC_BITS)]
    TooLong {
        /// Instructions.
        len: usize,
    },
    /// One instance needs more label slots than the RAM has.
    #[error("one instance needs {slots} label slots; the label RAM has {}", 1u32 << SLOT_BITS)]
    TooWide {
        /// Slots.
        slots: u32,
    },
    /// No engine with that many AES round circuits.
    #[error("{0} round units: there are engines with 1, 2, 5 or 10")]
    RoundUnits(u32),
}

fn rom(p: &Program) -> Result<ROM<Bits<WORD_BITS>, PC_BITS>, ProgramError> {
    if p.instrs.is_empty() {
        return Err(ProgramError::Empty);
    }
    if p.slots > 1 << SLOT_BITS {
        return Err(ProgramError::TooWide { slots: p.slots });
    }
    if p.instrs.len() > 1 << PC_BITS {
        return Err(ProgramError::TooLong {
            len: p.instrs.len(),
        });
    }
    let words: BTreeMap<Bits<PC_BITS>, Bits<WORD_BITS>> = p
        .instrs
        .iter()
        .enumerate()
        .map(|(k, i)| (k.to_bits(), encode(i).to_bits()))
        .collect();
    Ok(ROM::new(words))
}

macro_rules! relu_engine {
    ($name:ident, $engine:ty, $ii:literal) => {
        #[doc = concat!("The ReLU engine on [`", stringify!($engine), "`].")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// Garble (high) or evaluate (low); hold it for the run.
            pub garble: Signal<In, Bit>,
            /// The offset between a wire's labels (garbling).
            pub delta: Signal<In, Bits<128>>,
            /// Run `instances` copies of the program (ignored while busy).
            pub start: Signal<In, Bit>,
            /// Copies to run.
            pub instances: Signal<In, Bits<COUNT_BITS>>,
            /// An input word is presented.
            pub in_valid: Signal<In, Bit>,
            /// A `Load`'s label; an evaluated AND gate's first ciphertext.
            pub x0: Signal<In, Bits<128>>,
            /// An evaluated AND gate's second ciphertext.
            pub x1: Signal<In, Bits<128>>,
            /// The input word is taken this cycle.
            pub in_ready: Signal<Out, Bit>,
            /// A run is under way.
            pub busy: Signal<Out, Bit>,
            /// An output leaves: a garbled AND gate's tables, or an `Out` label.
            pub valid_out: Signal<Out, Bit>,
            /// The operation the output comes from.
            pub op_out: Signal<Out, Bits<3>>,
            /// `T_G`, or the label.
            pub y0: Signal<Out, Bits<128>>,
            /// `T_E`.
            pub y1: Signal<Out, Bits<128>>,
            /// The engine's fault flag.
            pub fault: Signal<Out, Bit>,
            engine: $engine,
            rom: ROM<Bits<WORD_BITS>, PC_BITS>,
            pc: DFF<Bits<PC_BITS>>,
            j: DFF<Bits<COUNT_BITS>>,
            n: DFF<Bits<COUNT_BITS>>,
            left: DFF<Bits<COUNT_BITS>>,
            base: DFF<Bits<SLOT_BITS>>,
            pad: DFF<Bits<4>>,
            pad_len: DFF<Bits<4>>,
            running: DFF<Bit>,
            drain: DFF<Bits<4>>,
            // Combinational.
            word: Signal<Local, Bits<WORD_BITS>>,
            op: Signal<Local, Bits<3>>,
            needs: Signal<Local, Bit>,
            go: Signal<Local, Bit>,
            idle: Signal<Local, Bit>,
            left_next: Signal<Local, Bits<COUNT_BITS>>,
            n_next: Signal<Local, Bits<COUNT_BITS>>,
            pad_next: Signal<Local, Bits<4>>,
            // Constants.
            last_pc: Constant<Bits<PC_BITS>>,
            slots: Constant<Bits<SLOT_BITS>>,
            per_batch: Constant<Bits<COUNT_BITS>>,
            distance: Constant<Bits<COUNT_BITS>>,
            distance4: Constant<Bits<4>>,
            zero4: Constant<Bits<4>>,
            one4: Constant<Bits<4>>,
            drain_len: Constant<Bits<4>>,
            zero_pc: Constant<Bits<PC_BITS>>,
            one_pc: Constant<Bits<PC_BITS>>,
            zero_n: Constant<Bits<COUNT_BITS>>,
            one_n: Constant<Bits<COUNT_BITS>>,
            zero_slot: Constant<Bits<SLOT_BITS>>,
            code_and: Constant<Bits<3>>,
            code_load: Constant<Bits<3>>,
        }

        impl $name {
            /// The engine with `p` in its ROM.
            pub fn new(p: &Program) -> Result<Self, ProgramError> {
                let rom = rom(p)?;
                let t = perf_model::accel::units::gc_engine(10 / $ii);
                let per = (1u64 << SLOT_BITS) / u64::from(p.slots.max(1));
                Ok(Self {
                    clock: Default::default(),
                    garble: Default::default(),
                    delta: Default::default(),
                    start: Default::default(),
                    instances: Default::default(),
                    in_valid: Default::default(),
                    x0: Default::default(),
                    x1: Default::default(),
                    in_ready: Default::default(),
                    busy: Default::default(),
                    valid_out: Default::default(),
                    op_out: Default::default(),
                    y0: Default::default(),
                    y1: Default::default(),
                    fault: Default::default(),
                    engine: Default::default(),
                    rom,
                    pc: Default::default(),
                    j: Default::default(),
                    n: Default::default(),
                    left: Default::default(),
                    base: Default::default(),
                    pad: Default::default(),
                    pad_len: Default::default(),
                    running: Default::default(),
                    drain: Default::default(),
                    word: Default::default(),
                    op: Default::default(),
                    needs: Default::default(),
                    go: Default::default(),
                    idle: Default::default(),
                    left_next: Default::default(),
                    n_next: Default::default(),
                    pad_next: Default::default(),
                    last_pc: Constant::new((p.instrs.len() as u64 - 1).into()),
                    slots: Constant::new(u64::from(p.slots).into()),
                    per_batch: Constant::new(per.into()),
                    distance: Constant::new(t.distance.into()),
                    distance4: Constant::new(t.distance.into()),
                    zero4: Constant::new(0u64.into()),
                    one4: Constant::new(1u64.into()),
                    drain_len: Constant::new(t.latency.into()),
                    zero_pc: Constant::new(0u64.into()),
                    one_pc: Constant::new(1u64.into()),
                    zero_n: Constant::new(0u64.into()),
                    one_n: Constant::new(1u64.into()),
                    zero_slot: Constant::new(0u64.into()),
                    code_and: Constant::new(u64::from(Op::And.code()).into()),
                    code_load: Constant::new(u64::from(Op::Load.code()).into()),
                })
            }
        }

        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                dff_setup!(self, clock, pc, j, n, left, base, pad, pad_len, running, drain);
                self.idle.next = !self.running.q.val() & (self.drain.q.val() == self.zero4.val());
                self.engine.clock.next = self.clock.val();
                self.engine.garble.next = self.garble.val();
                self.engine.delta.next = self.delta.val();
                self.engine.x0.next = self.x0.val();
                self.engine.x1.next = self.x1.val();
                // The instruction of the current row, for instance j.
                self.rom.address.next = self.pc.q.val();
                self.word.next = self.rom.data.val();
                self.op.next = self.word.val().get_bits::<3>(33);
                self.engine.op.next = self.op.val();
                self.engine.a.next = self.word.val().get_bits::<11>(22) + self.base.q.val();
                self.engine.b.next = self.word.val().get_bits::<11>(11) + self.base.q.val();
                self.engine.out.next = self.word.val().get_bits::<11>(0) + self.base.q.val();
                self.needs.next = (self.op.val() == self.code_load.val())
                    | ((self.op.val() == self.code_and.val()) & !self.garble.val());
                // Issue: running, no padding left, a row's first instruction and every
                // AND gate on the phase, the input word there when one is needed.
                self.go.next = self.running.q.val()
                    & (self.pad.q.val() == self.zero4.val())
                    & (((self.j.q.val() != self.zero_n.val())
                        & (self.op.val() != self.code_and.val()))
                        | self.engine.ready_in.val())
                    & (!self.needs.val() | self.in_valid.val());
                self.engine.valid_in.next = self.go.val();
                self.in_ready.next = self.go.val() & self.needs.val();
                // The next batch: min(left - n, per_batch) instances, padded rows when
                // fewer than the distance.
                self.left_next.next = self.left.q.val() - self.n.q.val();
                if self.start.val() & self.idle.val() {
                    self.left_next.next = self.instances.val();
                }
                self.n_next.next = self.left_next.val();
                if self.left_next.val() > self.per_batch.val() {
                    self.n_next.next = self.per_batch.val();
                }
                self.pad_next.next = self.zero4.val();
                if self.n_next.val() < self.distance.val() {
                    self.pad_next.next = self.distance4.val() - self.n_next.val().get_bits::<4>(0);
                }
                self.engine.start.next = self.start.val() & self.idle.val();
                if self.pad.q.val() != self.zero4.val() {
                    self.pad.d.next = self.pad.q.val() - self.one4.val();
                }
                if self.drain.q.val() != self.zero4.val() {
                    self.drain.d.next = self.drain.q.val() - self.one4.val();
                }
                if self.start.val() & self.idle.val() {
                    self.left.d.next = self.left_next.val();
                    self.n.d.next = self.n_next.val();
                    self.pad_len.d.next = self.pad_next.val();
                    self.pc.d.next = self.zero_pc.val();
                    self.j.d.next = self.zero_n.val();
                    self.base.d.next = self.zero_slot.val();
                    self.pad.d.next = self.zero4.val();
                    self.running.d.next = self.instances.val() != self.zero_n.val();
                }
                if self.go.val() {
                    if self.j.q.val() + self.one_n.val() == self.n.q.val() {
                        // The row's last instance.
                        self.j.d.next = self.zero_n.val();
                        self.base.d.next = self.zero_slot.val();
                        self.pad.d.next = self.pad_len.q.val();
                        if self.pc.q.val() == self.last_pc.val() {
                            // The batch's last row.
                            self.pc.d.next = self.zero_pc.val();
                            self.left.d.next = self.left_next.val();
                            self.n.d.next = self.n_next.val();
                            self.pad_len.d.next = self.pad_next.val();
                            if self.left_next.val() == self.zero_n.val() {
                                self.running.d.next = false;
                                self.drain.d.next = self.drain_len.val();
                            }
                        } else {
                            self.pc.d.next = self.pc.q.val() + self.one_pc.val();
                        }
                    } else {
                        self.j.d.next = self.j.q.val() + self.one_n.val();
                        self.base.d.next = self.base.q.val() + self.slots.val();
                    }
                }
                self.busy.next = !self.idle.val();
                self.valid_out.next = self.engine.valid_out.val();
                self.op_out.next = self.engine.op_out.val();
                self.y0.next = self.engine.y0.val();
                self.y1.next = self.engine.y1.val();
                self.fault.next = self.engine.fault.val();
            }
        }
    };
}

relu_engine!(ReluEngine1, GcEngine1, 10);
relu_engine!(ReluEngine2, GcEngine2, 5);
relu_engine!(ReluEngine5, GcEngine5, 2);
relu_engine!(ReluEngine10, GcEngine10, 1);
