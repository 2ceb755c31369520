//! Beaver lanes: the online phase of a polynomial activation `w2 x^2 + w1 x + b` on
//! one party's shares.
//!
//! Offline each party got shares `a_p`, `c_p` of a square pair `(a, a^2)`. Online the
//! parties open `d = x - a`; then party p holds `z_p = c_p + 2 d a_p` (+ `d^2` for party
//! 0), a share of `x^2`. The lane truncates it by f bits, multiplies by the
//! coefficients, adds `w1 x_p`, truncates again and adds `b` (party 0), all mod 2^l.
//! Truncation is SecureML's local one ([`crate::mac::truncate_share`]).
//!
//! Pipeline: two multiplier stages (`d a` and `d d`; then `w2 sq` and `w1 x`), each
//! followed by an adder stage: latency `2 M + 2` for multiplier latency M, one element
//! per cycle: [`beaver_lane`](perf_model::accel::units::beaver_lane).

use crate::mac::{truncate_share, DEFAULT_FRAC_BITS};
use crate::ring::{mask, mul, RingMul16, RingMul32, RingMul64};
use rust_hdl::prelude::*;

/// Party p's share of `x^2` from its triple shares and the opened `d = x - a`.
pub fn square_share(a: u64, c: u64, d: u64, party: u8, l: u32) -> u64 {
    let z = c.wrapping_add(mul(2, mul(d, a, l), l));
    let z = if party == 0 {
        z.wrapping_add(mul(d, d, l))
    } else {
        z
    };
    z & mask(l)
}

/// One element through a Beaver lane, as party `party`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolyInput {
    /// The party's share of x.
    pub x: u64,
    /// Its share of the pair's `a`.
    pub a: u64,
    /// Its share of `a^2`.
    pub c: u64,
    /// The opened `x - a`.
    pub d: u64,
    /// Coefficient of x^2 (fixed point, f fractional bits).
    pub w2: u64,
    /// Coefficient of x.
    pub w1: u64,
    /// Constant term (party 0 adds it).
    pub b: u64,
}

/// The golden model of a Beaver lane.
pub fn poly_share(i: &PolyInput, f: u32, party: u8, l: u32) -> u64 {
    let sq = truncate_share(square_share(i.a, i.c, i.d, party, l), f, party, l);
    let s = mul(i.w2, sq, l).wrapping_add(mul(i.w1, i.x, l));
    let y = truncate_share(s & mask(l), f, party, l);
    let y = if party == 0 { y.wrapping_add(i.b) } else { y };
    y & mask(l)
}

macro_rules! beaver_lane {
    ($name:ident, $mul:ty, $l:literal, $m:literal, $m1:literal, $m2:literal) => {
        #[doc = concat!("A ", stringify!($l), "-bit Beaver lane (square, then polynomial).")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// The party (0 or 1).
            pub party: Signal<In, Bit>,
            /// The party's share of x.
            pub x: Signal<In, Bits<$l>>,
            /// Its share of `a`.
            pub a: Signal<In, Bits<$l>>,
            /// Its share of `a^2`.
            pub c: Signal<In, Bits<$l>>,
            /// The opened `x - a`.
            pub d: Signal<In, Bits<$l>>,
            /// Coefficient of x^2.
            pub w2: Signal<In, Bits<$l>>,
            /// Coefficient of x.
            pub w1: Signal<In, Bits<$l>>,
            /// Constant term.
            pub b: Signal<In, Bits<$l>>,
            /// The element is valid.
            pub valid_in: Signal<In, Bit>,
            /// The lane takes an element this cycle.
            pub ready_in: Signal<Out, Bit>,
            /// The party's share of the polynomial.
            pub y: Signal<Out, Bits<$l>>,
            /// `y` is valid.
            pub valid_out: Signal<Out, Bit>,
            /// The consumer takes `y` this cycle.
            pub ready_out: Signal<In, Bit>,
            mul_da: $mul,
            mul_dd: $mul,
            mul_w2: $mul,
            mul_w1: $mul,
            c_d: [DFF<Bits<$l>>; $m],
            x_d: [DFF<Bits<$l>>; $m1],
            w2_d: [DFF<Bits<$l>>; $m1],
            w1_d: [DFF<Bits<$l>>; $m1],
            b_d: [DFF<Bits<$l>>; $m2],
            sq: DFF<Bits<$l>>,
            sq_valid: DFF<Bit>,
            out: DFF<Bits<$l>>,
            out_valid: DFF<Bit>,
            frac: Constant<Bits<8>>,
            one: Constant<Bits<$l>>,
            z: Signal<Local, Bits<$l>>,
            s: Signal<Local, Bits<$l>>,
            t: Signal<Local, Bits<$l>>,
        }

        impl $name {
            /// A lane truncating by `frac_bits`.
            pub fn new(frac_bits: u32) -> Self {
                Self {
                    clock: Default::default(),
                    party: Default::default(),
                    x: Default::default(),
                    a: Default::default(),
                    c: Default::default(),
                    d: Default::default(),
                    w2: Default::default(),
                    w1: Default::default(),
                    b: Default::default(),
                    valid_in: Default::default(),
                    ready_in: Default::default(),
                    y: Default::default(),
                    valid_out: Default::default(),
                    ready_out: Default::default(),
                    mul_da: Default::default(),
                    mul_dd: Default::default(),
                    mul_w2: Default::default(),
                    mul_w1: Default::default(),
                    c_d: Default::default(),
                    x_d: Default::default(),
                    w2_d: Default::default(),
                    w1_d: Default::default(),
                    b_d: Default::default(),
                    sq: Default::default(),
                    sq_valid: Default::default(),
                    out: Default::default(),
                    out_valid: Default::default(),
                    frac: Constant::new(u64::from(frac_bits).into()),
                    one: Constant::new(1u64.into()),
                    z: Default::default(),
                    s: Default::default(),
                    t: Default::default(),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new(DEFAULT_FRAC_BITS)
            }
        }

        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                dff_setup!(self, clock, sq, sq_valid, out, out_valid);
                for i in 0..$m {
                    self.c_d[i].clock.next = self.clock.val();
                    self.c_d[i].d.next = self.c_d[i].q.val();
                }
                for i in 0..$m1 {
                    self.x_d[i].clock.next = self.clock.val();
                    self.x_d[i].d.next = self.x_d[i].q.val();
                    self.w2_d[i].clock.next = self.clock.val();
                    self.w2_d[i].d.next = self.w2_d[i].q.val();
                    self.w1_d[i].clock.next = self.clock.val();
                    self.w1_d[i].d.next = self.w1_d[i].q.val();
                }
                for i in 0..$m2 {
                    self.b_d[i].clock.next = self.clock.val();
                    self.b_d[i].d.next = self.b_d[i].q.val();
                }
                // First multiplier stage: d a and d d.
                self.mul_da.clock.next = self.clock.val();
                self.mul_dd.clock.next = self.clock.val();
                self.mul_da.a.next = self.d.val();
                self.mul_da.b.next = self.a.val();
                self.mul_dd.a.next = self.d.val();
                self.mul_dd.b.next = self.d.val();
                self.mul_da.valid_in.next = self.valid_in.val();
                self.mul_dd.valid_in.next = self.valid_in.val();
                self.mul_da.ready_out.next = self.ready_out.val();
                self.mul_dd.ready_out.next = self.ready_out.val();
                self.ready_in.next = self.mul_da.ready_in.val()
                    & self.mul_dd.ready_in.val()
                    & self.mul_w2.ready_in.val()
                    & self.mul_w1.ready_in.val();
                // z = c + 2 d a (+ d d for party 0), a share of x^2.
                self.z.next = self.c_d[$m - 1].q.val() + self.mul_da.y.val() + self.mul_da.y.val();
                if !self.party.val() {
                    self.z.next = self.c_d[$m - 1].q.val()
                        + self.mul_da.y.val()
                        + self.mul_da.y.val()
                        + self.mul_dd.y.val();
                }
                // Second multiplier stage: w2 sq and w1 x.
                self.mul_w2.clock.next = self.clock.val();
                self.mul_w1.clock.next = self.clock.val();
                self.mul_w2.a.next = self.w2_d[$m1 - 1].q.val();
                self.mul_w2.b.next = self.sq.q.val();
                self.mul_w1.a.next = self.w1_d[$m1 - 1].q.val();
                self.mul_w1.b.next = self.x_d[$m1 - 1].q.val();
                self.mul_w2.valid_in.next = self.sq_valid.q.val();
                self.mul_w1.valid_in.next = self.sq_valid.q.val();
                self.mul_w2.ready_out.next = self.ready_out.val();
                self.mul_w1.ready_out.next = self.ready_out.val();
                self.s.next = self.mul_w2.y.val() + self.mul_w1.y.val();
                // Truncations: party 0 shifts, party 1 negates, shifts and negates back.
                self.t.next =
                    !((!self.s.val() + self.one.val()) >> self.frac.val()) + self.one.val();
                if !self.party.val() {
                    self.t.next = (self.s.val() >> self.frac.val()) + self.b_d[$m2 - 1].q.val();
                }
                if self.ready_out.val() {
                    self.c_d[0].d.next = self.c.val();
                    self.x_d[0].d.next = self.x.val();
                    self.w2_d[0].d.next = self.w2.val();
                    self.w1_d[0].d.next = self.w1.val();
                    self.b_d[0].d.next = self.b.val();
                    for i in 1..$m {
                        self.c_d[i].d.next = self.c_d[i - 1].q.val();
                    }
                    for i in 1..$m1 {
                        self.x_d[i].d.next = self.x_d[i - 1].q.val();
                        self.w2_d[i].d.next = self.w2_d[i - 1].q.val();
                        self.w1_d[i].d.next = self.w1_d[i - 1].q.val();
                    }
                    for i in 1..$m2 {
                        self.b_d[i].d.next = self.b_d[i - 1].q.val();
                    }
                    if self.party.val() {
                        self.sq.d.next =
                            !((!self.z.val() + self.one.val()) >> self.frac.val()) + self.one.val();
                    } else {
                        self.sq.d.next = self.z.val() >> self.frac.val();
                    }
                    self.sq_valid.d.next =
                        self.mul_da.valid_out.val() & self.mul_dd.valid_out.val();
                    self.out.d.next = self.t.val();
                    self.out_valid.d.next =
                        self.mul_w2.valid_out.val() & self.mul_w1.valid_out.val();
                }
                self.y.next = self.out.q.val();
                self.valid_out.next = self.out_valid.q.val();
            }
        }
    };
}

beaver_lane!(BeaverLane16, RingMul16, 16, 2, 3, 5);
beaver_lane!(BeaverLane32, RingMul32, 32, 4, 5, 9);
beaver_lane!(BeaverLane64, RingMul64, 64, 6, 7, 13);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_square_add_up_to_the_square() {
        let l = 32;
        let (x, a) = (123_456u64, 987_654_321u64);
        let a0 = 0x1234_5678u64;
        let c = mul(a, a, l);
        let c0 = 0x0bad_f00du64;
        let (a1, c1) = (a.wrapping_sub(a0) & mask(l), c.wrapping_sub(c0) & mask(l));
        let d = x.wrapping_sub(a) & mask(l);
        let sum =
            square_share(a0, c0, d, 0, l).wrapping_add(square_share(a1, c1, d, 1, l)) & mask(l);
        assert_eq!(sum, mul(x, x, l));
    }
}
