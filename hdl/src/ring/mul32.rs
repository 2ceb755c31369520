//! The 32-bit ring multiplier: three limb products and a two-level adder tree.

use rust_hdl::prelude::*;

/// `y = a * b mod 2^32`, latency 4, a pair per cycle.
#[derive(LogicBlock, Default)]
pub struct RingMul32 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// First operand.
    pub a: Signal<In, Bits<32>>,
    /// Second operand.
    pub b: Signal<In, Bits<32>>,
    /// The operands are valid.
    pub valid_in: Signal<In, Bit>,
    /// The multiplier takes operands this cycle.
    pub ready_in: Signal<Out, Bit>,
    /// The product.
    pub y: Signal<Out, Bits<32>>,
    /// The product is valid.
    pub valid_out: Signal<Out, Bit>,
    /// The consumer takes the product this cycle.
    pub ready_out: Signal<In, Bit>,
    a_r: DFF<Bits<32>>,
    b_r: DFF<Bits<32>>,
    v1: DFF<Bit>,
    // Limb products a0 b0, (a0 b1) << 16, (a1 b0) << 16.
    p00: DFF<Bits<32>>,
    p01: DFF<Bits<32>>,
    p10: DFF<Bits<32>>,
    v2: DFF<Bit>,
    s0: DFF<Bits<32>>,
    s1: DFF<Bits<32>>,
    v3: DFF<Bit>,
    sum: DFF<Bits<32>>,
    v4: DFF<Bit>,
}

impl Logic for RingMul32 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, a_r, b_r, v1, p00, p01, p10, v2, s0, s1, v3, sum, v4);
        self.ready_in.next = self.ready_out.val();
        if self.ready_out.val() {
            self.a_r.d.next = self.a.val();
            self.b_r.d.next = self.b.val();
            self.v1.d.next = self.valid_in.val();
            self.p00.d.next =
                self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(0);
            self.p01.d.next =
                (self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(16)) << 16;
            self.p10.d.next =
                (self.a_r.q.val().get_bits::<16>(16) * self.b_r.q.val().get_bits::<16>(0)) << 16;
            self.v2.d.next = self.v1.q.val();
            self.s0.d.next = self.p00.q.val() + self.p01.q.val();
            self.s1.d.next = self.p10.q.val();
            self.v3.d.next = self.v2.q.val();
            self.sum.d.next = self.s0.q.val() + self.s1.q.val();
            self.v4.d.next = self.v3.q.val();
        }
        self.y.next = self.sum.q.val();
        self.valid_out.next = self.v4.q.val();
    }
}
