//! The 64-bit ring multiplier: ten limb products and a four-level adder tree.

use rust_hdl::prelude::*;

/// `y = a * b mod 2^64`, latency 6, a pair per cycle.
#[derive(LogicBlock, Default)]
pub struct RingMul64 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// First operand.
    pub a: Signal<In, Bits<64>>,
    /// Second operand.
    pub b: Signal<In, Bits<64>>,
    /// The operands are valid.
    pub valid_in: Signal<In, Bit>,
    /// The multiplier takes operands this cycle.
    pub ready_in: Signal<Out, Bit>,
    /// The product.
    pub y: Signal<Out, Bits<64>>,
    /// The product is valid.
    pub valid_out: Signal<Out, Bit>,
    /// The consumer takes the product this cycle.
    pub ready_out: Signal<In, Bit>,
    a_r: DFF<Bits<64>>,
    b_r: DFF<Bits<64>>,
    v1: DFF<Bit>,
    // Limb products a_i b_j << 16 (i + j), i + j < 4, in the order
    // (0,0) (0,1) (1,0) (0,2) (1,1) (2,0) (0,3) (1,2) (2,1) (3,0).
    p: [DFF<Bits<64>>; 10],
    v2: DFF<Bit>,
    t: [DFF<Bits<64>>; 5],
    v3: DFF<Bit>,
    u: [DFF<Bits<64>>; 3],
    v4: DFF<Bit>,
    w: [DFF<Bits<64>>; 2],
    v5: DFF<Bit>,
    sum: DFF<Bits<64>>,
    v6: DFF<Bit>,
}

impl Logic for RingMul64 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, a_r, b_r, v1, v2, v3, v4, v5, sum, v6);
        for i in 0..10 {
            self.p[i].clock.next = self.clock.val();
            self.p[i].d.next = self.p[i].q.val();
        }
        for i in 0..5 {
            self.t[i].clock.next = self.clock.val();
            self.t[i].d.next = self.t[i].q.val();
        }
        for i in 0..3 {
            self.u[i].clock.next = self.clock.val();
            self.u[i].d.next = self.u[i].q.val();
        }
        for i in 0..2 {
            self.w[i].clock.next = self.clock.val();
            self.w[i].d.next = self.w[i].q.val();
        }
        self.ready_in.next = self.ready_out.val();
        if self.ready_out.val() {
            self.a_r.d.next = self.a.val();
            self.b_r.d.next = self.b.val();
            self.v1.d.next = self.valid_in.val();
            self.p[0].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(0),
            );
            self.p[1].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(16),
            ) << 16;
            self.p[2].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(16) * self.b_r.q.val().get_bits::<16>(0),
            ) << 16;
            self.p[3].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(32),
            ) << 32;
            self.p[4].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(16) * self.b_r.q.val().get_bits::<16>(16),
            ) << 32;
            self.p[5].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(32) * self.b_r.q.val().get_bits::<16>(0),
            ) << 32;
            self.p[6].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(0) * self.b_r.q.val().get_bits::<16>(48),
            ) << 48;
            self.p[7].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(16) * self.b_r.q.val().get_bits::<16>(32),
            ) << 48;
            self.p[8].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(32) * self.b_r.q.val().get_bits::<16>(16),
            ) << 48;
            self.p[9].d.next = bit_cast::<64, 32>(
                self.a_r.q.val().get_bits::<16>(48) * self.b_r.q.val().get_bits::<16>(0),
            ) << 48;
            self.v2.d.next = self.v1.q.val();
            for i in 0..5 {
                self.t[i].d.next = self.p[2 * i].q.val() + self.p[2 * i + 1].q.val();
            }
            self.v3.d.next = self.v2.q.val();
            self.u[0].d.next = self.t[0].q.val() + self.t[1].q.val();
            self.u[1].d.next = self.t[2].q.val() + self.t[3].q.val();
            self.u[2].d.next = self.t[4].q.val();
            self.v4.d.next = self.v3.q.val();
            self.w[0].d.next = self.u[0].q.val() + self.u[1].q.val();
            self.w[1].d.next = self.u[2].q.val();
            self.v5.d.next = self.v4.q.val();
            self.sum.d.next = self.w[0].q.val() + self.w[1].q.val();
            self.v6.d.next = self.v5.q.val();
        }
        self.y.next = self.sum.q.val();
        self.valid_out.next = self.v6.q.val();
    }
}
