//! Beaver multiply units: the online phase of a product `x * y` of two shared values
//! on one party's shares.
//!
//! Offline each party got shares `a_p`, `b_p`, `c_p` of a triple `c = a b`. Online the
//! parties open `d = x - a` and `e = y - b`; then party p holds
//! `z_p = c_p + d b_p + e a_p` (+ `d e` for party 0), a share of `x y`. A product of two
//! fixed-point values carries 2f fractional bits, so an element can ask for SecureML's
//! local truncation by f ([`crate::mac::truncate_share`]); a product with an integer
//! (Circa's `x * [x >= 0]`) does not.
//!
//! Pipeline: three multipliers side by side (`d b`, `e a`, `d e`), then an adder and
//! truncation stage: latency `M + 1` for multiplier latency M, one element per cycle:
//! [`beaver_mul`](perf_model::accel::units::beaver_mul).

use crate::mac::{truncate_share, DEFAULT_FRAC_BITS};
use crate::ring::{mask, mul, RingMul16, RingMul32, RingMul64};
use rust_hdl::prelude::*;

/// One element through a Beaver multiply unit, as one party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulInput {
    /// The party's share of the triple's `a`.
    pub a: u64,
    /// Its share of `b`.
    pub b: u64,
    /// Its share of `c = a b`.
    pub c: u64,
    /// The opened `x - a`.
    pub d: u64,
    /// The opened `y - b`.
    pub e: u64,
    /// Truncate the product by f bits (a product of two fixed-point values).
    pub truncate: bool,
}

/// The golden model: party `party`'s share of `x y`, truncated when asked.
pub fn product_share(i: &MulInput, f: u32, party: u8, l: u32) -> u64 {
    let z =
        i.c.wrapping_add(mul(i.d, i.b, l))
            .wrapping_add(mul(i.e, i.a, l));
    let z = if party == 0 {
        z.wrapping_add(mul(i.d, i.e, l))
    } else {
        z
    } & mask(l);
    if i.truncate {
        truncate_share(z, f, party, l)
    } else {
        z
    }
}

macro_rules! beaver_mul {
    ($name:ident, $mul:ty, $l:literal, $m:literal) => {
        #[doc = concat!("A ", stringify!($l), "-bit Beaver multiply unit.")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// The party (0 or 1).
            pub party: Signal<In, Bit>,
            /// The party's share of `a`.
            pub a: Signal<In, Bits<$l>>,
            /// Its share of `b`.
            pub b: Signal<In, Bits<$l>>,
            /// Its share of `c = a b`.
            pub c: Signal<In, Bits<$l>>,
            /// The opened `x - a`.
            pub d: Signal<In, Bits<$l>>,
            /// The opened `y - b`.
            pub e: Signal<In, Bits<$l>>,
            /// Truncate this product by f bits.
            pub truncate: Signal<In, Bit>,
            /// The element is valid.
            pub valid_in: Signal<In, Bit>,
            /// The unit takes an element this cycle.
            pub ready_in: Signal<Out, Bit>,
            /// The party's share of the product.
            pub y: Signal<Out, Bits<$l>>,
            /// `y` is valid.
            pub valid_out: Signal<Out, Bit>,
            /// The consumer takes `y` this cycle.
            pub ready_out: Signal<In, Bit>,
            mul_db: $mul,
            mul_ea: $mul,
            mul_de: $mul,
            c_d: [DFF<Bits<$l>>; $m],
            t_d: [DFF<Bit>; $m],
            out: DFF<Bits<$l>>,
            out_valid: DFF<Bit>,
            frac: Constant<Bits<8>>,
            one: Constant<Bits<$l>>,
            z: Signal<Local, Bits<$l>>,
        }

        impl $name {
            /// A unit truncating by `frac_bits` when asked.
            pub fn new(frac_bits: u32) -> Self {
                Self {
                    clock: Default::default(),
                    party: Default::default(),
                    a: Default::default(),
                    b: Default::default(),
                    c: Default::default(),
                    d: Default::default(),
                    e: Default::default(),
                    truncate: Default::default(),
                    valid_in: Default::default(),
                    ready_in: Default::default(),
                    y: Default::default(),
                    valid_out: Default::default(),
                    ready_out: Default::default(),
                    mul_db: Default::default(),
                    mul_ea: Default::default(),
                    mul_de: Default::default(),
                    c_d: Default::default(),
                    t_d: Default::default(),
                    out: Default::default(),
                    out_valid: Default::default(),
                    frac: Constant::new(u64::from(frac_bits).into()),
                    one: Constant::new(1u64.into()),
                    z: Default::default(),
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
                dff_setup!(self, clock, out, out_valid);
                for i in 0..$m {
                    self.c_d[i].clock.next = self.clock.val();
                    self.c_d[i].d.next = self.c_d[i].q.val();
                    self.t_d[i].clock.next = self.clock.val();
                    self.t_d[i].d.next = self.t_d[i].q.val();
                }
                self.mul_db.clock.next = self.clock.val();
                self.mul_ea.clock.next = self.clock.val();
                self.mul_de.clock.next = self.clock.val();
                self.mul_db.a.next = self.d.val();
                self.mul_db.b.next = self.b.val();
                self.mul_ea.a.next = self.e.val();
                self.mul_ea.b.next = self.a.val();
                self.mul_de.a.next = self.d.val();
                self.mul_de.b.next = self.e.val();
                self.mul_db.valid_in.next = self.valid_in.val();
                self.mul_ea.valid_in.next = self.valid_in.val();
                self.mul_de.valid_in.next = self.valid_in.val();
                self.mul_db.ready_out.next = self.ready_out.val();
                self.mul_ea.ready_out.next = self.ready_out.val();
                self.mul_de.ready_out.next = self.ready_out.val();
                self.ready_in.next = self.mul_db.ready_in.val()
                    & self.mul_ea.ready_in.val()
                    & self.mul_de.ready_in.val();
                // z = c + d b + e a [+ d e], party 0 adding d e.
                self.z.next = self.c_d[$m - 1].q.val() + self.mul_db.y.val() + self.mul_ea.y.val();
                if !self.party.val() {
                    self.z.next = self.c_d[$m - 1].q.val()
                        + self.mul_db.y.val()
                        + self.mul_ea.y.val()
                        + self.mul_de.y.val();
                }
                if self.ready_out.val() {
                    self.c_d[0].d.next = self.c.val();
                    self.t_d[0].d.next = self.truncate.val();
                    for i in 1..$m {
                        self.c_d[i].d.next = self.c_d[i - 1].q.val();
                        self.t_d[i].d.next = self.t_d[i - 1].q.val();
                    }
                    self.out.d.next = self.z.val();
                    if self.t_d[$m - 1].q.val() {
                        if self.party.val() {
                            self.out.d.next = !((!self.z.val() + self.one.val())
                                >> self.frac.val())
                                + self.one.val();
                        } else {
                            self.out.d.next = self.z.val() >> self.frac.val();
                        }
                    }
                    self.out_valid.d.next = self.mul_db.valid_out.val()
                        & self.mul_ea.valid_out.val()
                        & self.mul_de.valid_out.val();
                }
                self.y.next = self.out.q.val();
                self.valid_out.next = self.out_valid.q.val();
            }
        }
    };
}

beaver_mul!(BeaverMul16, RingMul16, 16, 2);
beaver_mul!(BeaverMul32, RingMul32, 32, 4);
beaver_mul!(BeaverMul64, RingMul64, 64, 6);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_product_add_up_to_the_product() {
        let l = 32;
        let (x, y, a, b) = (123_456u64, 987_654u64, 0x1234_5678u64, 0x0bad_f00du64);
        let c = mul(a, b, l);
        let (a0, b0, c0) = (0x1111u64, 0x2222u64, 0x3333u64);
        let (d, e) = (x.wrapping_sub(a) & mask(l), y.wrapping_sub(b) & mask(l));
        let share = |p: u8| {
            let i = if p == 0 {
                MulInput {
                    a: a0,
                    b: b0,
                    c: c0,
                    d,
                    e,
                    truncate: false,
                }
            } else {
                MulInput {
                    a: a.wrapping_sub(a0) & mask(l),
                    b: b.wrapping_sub(b0) & mask(l),
                    c: c.wrapping_sub(c0) & mask(l),
                    d,
                    e,
                    truncate: false,
                }
            };
            product_share(&i, 12, p, l)
        };
        assert_eq!(share(0).wrapping_add(share(1)) & mask(l), mul(x, y, l));
    }
}
