//! The 16-bit ring multiplier: one limb product.

use rust_hdl::prelude::*;

/// `y = a * b mod 2^16`, latency 2, a pair per cycle.
#[derive(LogicBlock, Default)]
pub struct RingMul16 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// First operand.
    pub a: Signal<In, Bits<16>>,
    /// Second operand.
    pub b: Signal<In, Bits<16>>,
    /// The operands are valid.
    pub valid_in: Signal<In, Bit>,
    /// The multiplier takes operands this cycle.
    pub ready_in: Signal<Out, Bit>,
    /// The product.
    pub y: Signal<Out, Bits<16>>,
    /// The product is valid.
    pub valid_out: Signal<Out, Bit>,
    /// The consumer takes the product this cycle.
    pub ready_out: Signal<In, Bit>,
    a_r: DFF<Bits<16>>,
    b_r: DFF<Bits<16>>,
    v1: DFF<Bit>,
    p: DFF<Bits<16>>,
    v2: DFF<Bit>,
}

impl Logic for RingMul16 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, a_r, b_r, v1, p, v2);
        self.ready_in.next = self.ready_out.val();
        if self.ready_out.val() {
            self.a_r.d.next = self.a.val();
            self.b_r.d.next = self.b.val();
            self.v1.d.next = self.valid_in.val();
            self.p.d.next = bit_cast::<16, 32>(self.a_r.q.val() * self.b_r.q.val());
            self.v2.d.next = self.v1.q.val();
        }
        self.y.next = self.p.q.val();
        self.valid_out.next = self.v2.q.val();
    }
}
