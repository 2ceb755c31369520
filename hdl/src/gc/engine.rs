//! The half-gates engine: garbles, or evaluates, a compiled circuit
//! ([`perf_model::circuit::program`]) whose instructions stream in one per cycle from
//! the instruction memory, with four AES cores.
//!
//! Pipeline, for an instruction issued in cycle t:
//! - t: the label RAM (two copies, one per operand) reads the operands' slots;
//! - t + 1: the operands are there (a `Load` takes its label from the instruction);
//!   an AND gate's four hash inputs `2A ^ 2g`, `2(A ^ R) ^ 2g`, `2B ^ (2g + 1)`,
//!   `2(B ^ R) ^ (2g + 1)` enter the AES cores, g counting the AND gates since `start`;
//! - t + 11: the hashes are out; the half-gates tables and the result label are
//!   computed and registered;
//! - t + 12: the result is written to its slot, and an AND gate's tables (garbling) or
//!   an `Out` instruction's label leave on `y0`/`y1`.
//!
//! So the latency is 12 cycles and a result can be read by an instruction issued 13
//! cycles after its own ([`gc_engine`](perf_model::accel::units::gc_engine)); the
//! engine does not check this, the schedule does
//! ([`schedule`](perf_model::circuit::program::schedule)). An AND gate issues only on
//! cycles that are multiples of the cores' interval (`ready_in`).
//!
//! Garbling (`garble` high) uses the offset `delta`; evaluating, the engine takes the
//! AND gate's two ciphertexts on `x0`/`x1` and uses no offset, so an inverter passes
//! its label through. Given the same delta, input labels and gate order it produces
//! [`garble`](perf_model::circuit::garble::garble)'s tables and labels bit for bit.

use super::aes::{AesCore1, AesCore10, AesCore2, AesCore5};
use perf_model::circuit::program::Op;
use rust_hdl::prelude::*;

/// Address bits of the label RAM: 2048 slots of 128 bits (sixteen 32-bit ReLUs).
pub const SLOT_BITS: usize = 11;

/// AND-counter bits: tweaks `2g` and `2g + 1` for g below 2^32.
pub const COUNTER_BITS: usize = 32;

/// Delay-line stages between the operand registers and the AES outputs (the update
/// logic spells it out: rust-hdl's Verilog generator takes no constants there).
const DELAY: usize = 10;

/// The tweak `2g` of AND gate g as a 128-bit value.
#[derive(LogicBlock, Default)]
pub struct Tweak {
    /// The AND gate's number.
    pub g: Signal<In, Bits<COUNTER_BITS>>,
    /// `2g`.
    pub t: Signal<Out, Bits<128>>,
}

impl Logic for Tweak {
    fn update(&mut self) {
        self.t.next = (u128::from(self.g.val().to_u64()) << 1).to_bits();
    }

    fn connect(&mut self) {
        self.t.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "always @(*) t = {{{}'b0, g, 1'b0}};",
            127 - COUNTER_BITS
        ))
    }
}

macro_rules! engine {
    ($name:ident, $core:ty, $ii:literal) => {
        #[doc = concat!("A half-gates engine whose AES cores take a block every ", stringify!($ii), " cycles.")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// Garble (high) or evaluate (low).
            pub garble: Signal<In, Bit>,
            /// The offset between a wire's labels (garbling).
            pub delta: Signal<In, Bits<128>>,
            /// Restart the AND count (no instruction in the same cycle).
            pub start: Signal<In, Bit>,
            /// An instruction is presented.
            pub valid_in: Signal<In, Bit>,
            /// Its operation ([`Op::code`]).
            pub op: Signal<In, Bits<3>>,
            /// First operand slot.
            pub a: Signal<In, Bits<SLOT_BITS>>,
            /// Second operand slot.
            pub b: Signal<In, Bits<SLOT_BITS>>,
            /// Slot written.
            pub out: Signal<In, Bits<SLOT_BITS>>,
            /// A `Load`'s label; an evaluated AND gate's first ciphertext.
            pub x0: Signal<In, Bits<128>>,
            /// An evaluated AND gate's second ciphertext.
            pub x1: Signal<In, Bits<128>>,
            /// An AND gate may issue this cycle (other instructions always may).
            pub ready_in: Signal<Out, Bit>,
            /// An output leaves: a garbled AND gate's tables, or an `Out` label.
            pub valid_out: Signal<Out, Bit>,
            /// The operation the output comes from.
            pub op_out: Signal<Out, Bits<3>>,
            /// `T_G`, or the label.
            pub y0: Signal<Out, Bits<128>>,
            /// `T_E`.
            pub y1: Signal<Out, Bits<128>>,
            /// Sticky: an AND gate met busy AES cores, or its hashes were not there.
            pub fault: Signal<Out, Bit>,
            ram_a: RAM<Bits<128>, SLOT_BITS>,
            ram_b: RAM<Bits<128>, SLOT_BITS>,
            cores: [$core; 4],
            count: DFF<Bits<COUNTER_BITS>>,
            phase: DFF<Bits<4>>,
            // Operand stage.
            s_valid: DFF<Bit>,
            s_op: DFF<Bits<3>>,
            s_out: DFF<Bits<SLOT_BITS>>,
            s_x0: DFF<Bits<128>>,
            s_x1: DFF<Bits<128>>,
            s_g: DFF<Bits<COUNTER_BITS>>,
            // Delay line beside the AES cores.
            d_valid: [DFF<Bit>; DELAY],
            d_op: [DFF<Bits<3>>; DELAY],
            d_out: [DFF<Bits<SLOT_BITS>>; DELAY],
            d_a: [DFF<Bits<128>>; DELAY],
            d_b: [DFF<Bits<128>>; DELAY],
            d_x0: [DFF<Bits<128>>; DELAY],
            d_x1: [DFF<Bits<128>>; DELAY],
            d_g: [DFF<Bits<COUNTER_BITS>>; DELAY],
            // Result stage.
            r_valid: DFF<Bit>,
            r_op: DFF<Bits<3>>,
            r_out: DFF<Bits<SLOT_BITS>>,
            r_w: DFF<Bits<128>>,
            r_y0: DFF<Bits<128>>,
            r_y1: DFF<Bits<128>>,
            r_garble: DFF<Bit>,
            faulted: DFF<Bit>,
            tweak: Tweak,
            ftweak: Tweak,
            tw: Signal<Local, Bits<128>>,
            ftw: Signal<Local, Bits<128>>,
            // Combinational.
            take: Signal<Local, Bit>,
            offset: Signal<Local, Bits<128>>,
            offset2: Signal<Local, Bits<128>>,
            la: Signal<Local, Bits<128>>,
            lb: Signal<Local, Bits<128>>,
            ka: Signal<Local, Bits<128>>,
            kb: Signal<Local, Bits<128>>,
            fa: Signal<Local, Bits<128>>,
            fb: Signal<Local, Bits<128>>,
            fka: Signal<Local, Bits<128>>,
            fkb: Signal<Local, Bits<128>>,
            ha0: Signal<Local, Bits<128>>,
            ha1: Signal<Local, Bits<128>>,
            hb0: Signal<Local, Bits<128>>,
            hb1: Signal<Local, Bits<128>>,
            tg: Signal<Local, Bits<128>>,
            te: Signal<Local, Bits<128>>,
            wg: Signal<Local, Bits<128>>,
            we: Signal<Local, Bits<128>>,
            key: Constant<Bits<128>>,
            red: Constant<Bits<128>>,
            one: Constant<Bits<128>>,
            inc: Constant<Bits<COUNTER_BITS>>,
            last_phase: Constant<Bits<4>>,
            phase0: Constant<Bits<4>>,
            phase1: Constant<Bits<4>>,
            zero: Constant<Bits<128>>,
            count0: Constant<Bits<COUNTER_BITS>>,
            code_xor: Constant<Bits<3>>,
            code_and: Constant<Bits<3>>,
            code_out: Constant<Bits<3>>,
            code_load: Constant<Bits<3>>,
        }

        impl Default for $name {
            fn default() -> Self {
                let key = u128::from_le_bytes(perf_model::circuit::garble::FIXED_KEY);
                Self {
                    clock: Default::default(),
                    garble: Default::default(),
                    delta: Default::default(),
                    start: Default::default(),
                    valid_in: Default::default(),
                    op: Default::default(),
                    a: Default::default(),
                    b: Default::default(),
                    out: Default::default(),
                    x0: Default::default(),
                    x1: Default::default(),
                    ready_in: Default::default(),
                    valid_out: Default::default(),
                    op_out: Default::default(),
                    y0: Default::default(),
                    y1: Default::default(),
                    ram_a: Default::default(),
                    ram_b: Default::default(),
                    cores: Default::default(),
                    count: Default::default(),
                    phase: Default::default(),
                    s_valid: Default::default(),
                    s_op: Default::default(),
                    s_out: Default::default(),
                    s_x0: Default::default(),
                    s_x1: Default::default(),
                    s_g: Default::default(),
                    d_valid: Default::default(),
                    d_op: Default::default(),
                    d_out: Default::default(),
                    d_a: Default::default(),
                    d_b: Default::default(),
                    d_x0: Default::default(),
                    d_x1: Default::default(),
                    d_g: Default::default(),
                    r_valid: Default::default(),
                    r_op: Default::default(),
                    r_out: Default::default(),
                    r_w: Default::default(),
                    r_y0: Default::default(),
                    r_y1: Default::default(),
                    r_garble: Default::default(),
                    faulted: Default::default(),
                    tweak: Default::default(),
                    ftweak: Default::default(),
                    tw: Default::default(),
                    ftw: Default::default(),
                    fault: Default::default(),
                    take: Default::default(),
                    offset: Default::default(),
                    offset2: Default::default(),
                    la: Default::default(),
                    lb: Default::default(),
                    ka: Default::default(),
                    kb: Default::default(),
                    fa: Default::default(),
                    fb: Default::default(),
                    fka: Default::default(),
                    fkb: Default::default(),
                    ha0: Default::default(),
                    ha1: Default::default(),
                    hb0: Default::default(),
                    hb1: Default::default(),
                    tg: Default::default(),
                    te: Default::default(),
                    wg: Default::default(),
                    we: Default::default(),
                    key: Constant::new(key.to_bits()),
                    red: Constant::new(0x87u128.to_bits()),
                    one: Constant::new(1u128.to_bits()),
                    inc: Constant::new(1u64.into()),
                    last_phase: Constant::new(($ii as u64 - 1).into()),
                    phase0: Constant::new(0u64.into()),
                    phase1: Constant::new(1u64.into()),
                    zero: Constant::new(0u128.to_bits()),
                    count0: Constant::new(0u64.into()),
                    code_xor: Constant::new(u64::from(Op::Xor.code()).into()),
                    code_and: Constant::new(u64::from(Op::And.code()).into()),
                    code_out: Constant::new(u64::from(Op::Out.code()).into()),
                    code_load: Constant::new(u64::from(Op::Load.code()).into()),
                }
            }
        }

        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                dff_setup!(
                    self, clock, count, phase, s_valid, s_op, s_out, s_x0, s_x1, s_g,
                    r_valid, r_op, r_out, r_w, r_y0, r_y1, r_garble, faulted
                );
                for i in 0..10 {
                    self.d_valid[i].clock.next = self.clock.val();
                    self.d_op[i].clock.next = self.clock.val();
                    self.d_out[i].clock.next = self.clock.val();
                    self.d_a[i].clock.next = self.clock.val();
                    self.d_b[i].clock.next = self.clock.val();
                    self.d_x0[i].clock.next = self.clock.val();
                    self.d_x1[i].clock.next = self.clock.val();
                    self.d_g[i].clock.next = self.clock.val();
                }
                for i in 1..10 {
                    self.d_valid[i].d.next = self.d_valid[i - 1].q.val();
                    self.d_op[i].d.next = self.d_op[i - 1].q.val();
                    self.d_out[i].d.next = self.d_out[i - 1].q.val();
                    self.d_a[i].d.next = self.d_a[i - 1].q.val();
                    self.d_b[i].d.next = self.d_b[i - 1].q.val();
                    self.d_x0[i].d.next = self.d_x0[i - 1].q.val();
                    self.d_x1[i].d.next = self.d_x1[i - 1].q.val();
                    self.d_g[i].d.next = self.d_g[i - 1].q.val();
                }
                // The offset and its double (zero when evaluating).
                self.offset.next = self.zero.val();
                if self.garble.val() {
                    self.offset.next = self.delta.val();
                }
                self.offset2.next = self.offset.val() << 1;
                if self.offset.val().get_bit(127) {
                    self.offset2.next = (self.offset.val() << 1) ^ self.red.val();
                }
                // Issue: AND gates on the cores' phase only.
                if self.phase.q.val() == self.last_phase.val() {
                    self.phase.d.next = self.phase0.val();
                } else {
                    self.phase.d.next = self.phase.q.val() + self.phase1.val();
                }
                self.take.next = self.valid_in.val()
                    & ((self.op.val() != self.code_and.val())
                        | (self.phase.q.val() == self.phase0.val()));
                self.ram_a.read_clock.next = self.clock.val();
                self.ram_b.read_clock.next = self.clock.val();
                self.ram_a.write_clock.next = self.clock.val();
                self.ram_b.write_clock.next = self.clock.val();
                self.ram_a.read_address.next = self.a.val();
                self.ram_b.read_address.next = self.b.val();
                self.s_valid.d.next = self.take.val();
                self.s_op.d.next = self.op.val();
                self.s_out.d.next = self.out.val();
                self.s_x0.d.next = self.x0.val();
                self.s_x1.d.next = self.x1.val();
                self.s_g.d.next = self.count.q.val();
                if self.start.val() {
                    self.count.d.next = self.count0.val();
                } else if self.take.val() & (self.op.val() == self.code_and.val())
                {
                    self.count.d.next = self.count.q.val() + self.inc.val();
                }
                // Operands; the hash inputs 2A ^ 2g and 2B ^ (2g + 1).
                self.tweak.g.next = self.s_g.q.val();
                self.tw.next = self.tweak.t.val();
                self.ftweak.g.next = self.d_g[9].q.val();
                self.ftw.next = self.ftweak.t.val();
                self.la.next = self.ram_a.read_data.val();
                if self.s_op.q.val() == self.code_load.val() {
                    self.la.next = self.s_x0.q.val();
                }
                self.lb.next = self.ram_b.read_data.val();
                self.ka.next = (self.la.val() << 1) ^ self.tw.val();
                if self.la.val().get_bit(127) {
                    self.ka.next = (self.la.val() << 1)
                        ^ self.red.val()
                        ^ self.tw.val();
                }
                self.kb.next = (self.lb.val() << 1)
                    ^ self.tw.val()
                    ^ self.one.val();
                if self.lb.val().get_bit(127) {
                    self.kb.next = (self.lb.val() << 1)
                        ^ self.red.val()
                        ^ self.tw.val()
                        ^ self.one.val();
                }
                for i in 0..4 {
                    self.cores[i].clock.next = self.clock.val();
                    self.cores[i].key.next = self.key.val();
                    self.cores[i].valid_in.next =
                        self.s_valid.q.val() & (self.s_op.q.val() == self.code_and.val());
                }
                self.cores[0].block.next = self.ka.val();
                self.cores[1].block.next = self.ka.val() ^ self.offset2.val();
                self.cores[2].block.next = self.kb.val();
                self.cores[3].block.next = self.kb.val() ^ self.offset2.val();
                self.d_valid[0].d.next = self.s_valid.q.val();
                self.d_op[0].d.next = self.s_op.q.val();
                self.d_out[0].d.next = self.s_out.q.val();
                self.d_a[0].d.next = self.la.val();
                self.d_b[0].d.next = self.lb.val();
                self.d_x0[0].d.next = self.s_x0.q.val();
                self.d_x1[0].d.next = self.s_x1.q.val();
                self.d_g[0].d.next = self.s_g.q.val();
                // The hashes: AES(K) ^ K, K recomputed from the delayed operands.
                self.fa.next = self.d_a[9].q.val();
                self.fb.next = self.d_b[9].q.val();
                self.fka.next = (self.fa.val() << 1)
                    ^ self.ftw.val();
                if self.fa.val().get_bit(127) {
                    self.fka.next = (self.fa.val() << 1)
                        ^ self.red.val()
                        ^ self.ftw.val();
                }
                self.fkb.next = (self.fb.val() << 1)
                    ^ self.ftw.val()
                    ^ self.one.val();
                if self.fb.val().get_bit(127) {
                    self.fkb.next = (self.fb.val() << 1)
                        ^ self.red.val()
                        ^ self.ftw.val()
                        ^ self.one.val();
                }
                self.ha0.next = self.cores[0].y.val() ^ self.fka.val();
                self.ha1.next = self.cores[1].y.val() ^ self.fka.val() ^ self.offset2.val();
                self.hb0.next = self.cores[2].y.val() ^ self.fkb.val();
                self.hb1.next = self.cores[3].y.val() ^ self.fkb.val() ^ self.offset2.val();
                // Half gates: T_G = H(A) ^ H(A ^ R) ^ pb R, T_E = H(B) ^ H(B ^ R) ^ A when
                // garbling, the received ciphertexts when evaluating; then
                // W_G = H(A) ^ pa T_G, W_E = H(B) ^ pb (T_E ^ A).
                self.tg.next = self.d_x0[9].q.val();
                self.te.next = self.d_x1[9].q.val();
                if self.garble.val() {
                    self.tg.next = self.ha0.val() ^ self.ha1.val();
                    if self.fb.val().get_bit(0) {
                        self.tg.next = self.ha0.val() ^ self.ha1.val() ^ self.offset.val();
                    }
                    self.te.next = self.hb0.val() ^ self.hb1.val() ^ self.fa.val();
                }
                self.wg.next = self.ha0.val();
                if self.fa.val().get_bit(0) {
                    self.wg.next = self.ha0.val() ^ self.tg.val();
                }
                self.we.next = self.hb0.val();
                if self.fb.val().get_bit(0) {
                    self.we.next = self.hb0.val() ^ self.te.val() ^ self.fa.val();
                }
                self.r_valid.d.next = self.d_valid[9].q.val();
                self.r_op.d.next = self.d_op[9].q.val();
                self.r_out.d.next = self.d_out[9].q.val();
                self.r_garble.d.next = self.garble.val();
                self.r_y0.d.next = self.tg.val();
                self.r_y1.d.next = self.te.val();
                // Result label by operation: XOR, AND, INV, OUT, LOAD.
                self.r_w.d.next = self.fa.val() ^ self.offset.val();
                if self.d_op[9].q.val() == self.code_xor.val() {
                    self.r_w.d.next = self.fa.val() ^ self.fb.val();
                }
                if self.d_op[9].q.val() == self.code_and.val() {
                    self.r_w.d.next = self.wg.val() ^ self.we.val();
                }
                if self.d_op[9].q.val() == self.code_out.val() {
                    self.r_y0.d.next = self.fa.val();
                }
                if self.d_op[9].q.val() == self.code_load.val() {
                    self.r_w.d.next = self.fa.val();
                }
                // Write back; emit tables (garbling) and outputs.
                self.ram_a.write_address.next = self.r_out.q.val();
                self.ram_b.write_address.next = self.r_out.q.val();
                self.ram_a.write_data.next = self.r_w.q.val();
                self.ram_b.write_data.next = self.r_w.q.val();
                self.ram_a.write_enable.next =
                    self.r_valid.q.val() & (self.r_op.q.val() != self.code_out.val());
                self.ram_b.write_enable.next =
                    self.r_valid.q.val() & (self.r_op.q.val() != self.code_out.val());
                self.valid_out.next = self.r_valid.q.val()
                    & ((self.r_op.q.val() == self.code_out.val())
                        | ((self.r_op.q.val() == self.code_and.val()) & self.r_garble.q.val()));
                self.op_out.next = self.r_op.q.val();
                self.faulted.d.next = self.faulted.q.val()
                    | (self.s_valid.q.val()
                        & (self.s_op.q.val() == self.code_and.val())
                        & !(self.cores[0].ready_in.val()
                            & self.cores[1].ready_in.val()
                            & self.cores[2].ready_in.val()
                            & self.cores[3].ready_in.val()))
                    | (self.d_valid[9].q.val()
                        & (self.d_op[9].q.val() == self.code_and.val())
                        & !(self.cores[0].valid_out.val()
                            & self.cores[1].valid_out.val()
                            & self.cores[2].valid_out.val()
                            & self.cores[3].valid_out.val()));
                self.fault.next = self.faulted.q.val();
                self.ready_in.next = self.phase.q.val() == self.phase0.val();
                self.y0.next = self.r_y0.q.val();
                self.y1.next = self.r_y1.q.val();
            }
        }
    };
}

engine!(GcEngine1, AesCore1, 10);
engine!(GcEngine2, AesCore2, 5);
engine!(GcEngine5, AesCore5, 2);
engine!(GcEngine10, AesCore10, 1);
