//! MAC lanes: the linear layers' datapath. A lane multiplies a stream of (share, weight)
//! pairs mod 2^l, accumulates them, and at the last pair of a dot product gives the
//! sum truncated by f bits the way the protocol truncates shares locally (SecureML):
//! party 0 keeps `x0 >> f`, party 1 `-((-x1) >> f)`, both mod 2^l.
//!
//! Latency is the multiplier's plus the accumulate stage:
//! [`mac_lane`](perf_model::accel::units::mac_lane); one pair per cycle.

use crate::ring::{mask, mul, RingMul16, RingMul32, RingMul64};
use rust_hdl::prelude::*;

/// The golden model of SecureML's local truncation of party `party`'s share.
pub fn truncate_share(x: u64, f: u32, party: u8, l: u32) -> u64 {
    let x = x & mask(l);
    if party == 0 {
        x >> f
    } else {
        // -((-x) >> f) mod 2^l
        ((x.wrapping_neg() & mask(l)) >> f).wrapping_neg() & mask(l)
    }
}

/// The golden model of a lane: the truncated dot product of one party's shares with
/// the weights.
pub fn dot_truncated(pairs: &[(u64, u64)], f: u32, party: u8, l: u32) -> u64 {
    let acc = pairs
        .iter()
        .fold(0u64, |acc, &(x, w)| acc.wrapping_add(mul(x, w, l)));
    truncate_share(acc, f, party, l)
}

/// The fractional bits a lane truncates by when none are given.
pub const DEFAULT_FRAC_BITS: u32 = 12;

macro_rules! mac_lane {
    ($name:ident, $mul:ty, $l:literal, $depth:literal) => {
        #[doc = concat!("A ", stringify!($l), "-bit MAC lane with truncation.")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// The party whose share this is (0 or 1): picks the truncation.
            pub party: Signal<In, Bit>,
            /// A share.
            pub x: Signal<In, Bits<$l>>,
            /// A weight.
            pub w: Signal<In, Bits<$l>>,
            /// This pair ends a dot product.
            pub last: Signal<In, Bit>,
            /// The pair is valid.
            pub valid_in: Signal<In, Bit>,
            /// The lane takes a pair this cycle.
            pub ready_in: Signal<Out, Bit>,
            /// A truncated dot product.
            pub y: Signal<Out, Bits<$l>>,
            /// `y` is valid.
            pub valid_out: Signal<Out, Bit>,
            /// The consumer takes `y` this cycle.
            pub ready_out: Signal<In, Bit>,
            mul: $mul,
            last_d: [DFF<Bit>; $depth],
            acc: DFF<Bits<$l>>,
            out: DFF<Bits<$l>>,
            out_valid: DFF<Bit>,
            frac: Constant<Bits<8>>,
            // Constants of the ring's width keep the Verilog free of width casts.
            zero: Constant<Bits<$l>>,
            one: Constant<Bits<$l>>,
        }

        impl $name {
            /// A lane truncating by `frac_bits`.
            pub fn new(frac_bits: u32) -> Self {
                Self {
                    clock: Default::default(),
                    party: Default::default(),
                    x: Default::default(),
                    w: Default::default(),
                    last: Default::default(),
                    valid_in: Default::default(),
                    ready_in: Default::default(),
                    y: Default::default(),
                    valid_out: Default::default(),
                    ready_out: Default::default(),
                    mul: Default::default(),
                    last_d: Default::default(),
                    acc: Default::default(),
                    out: Default::default(),
                    out_valid: Default::default(),
                    frac: Constant::new(u64::from(frac_bits).into()),
                    zero: Constant::new(0u64.into()),
                    one: Constant::new(1u64.into()),
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
                dff_setup!(self, clock, acc, out, out_valid);
                self.mul.clock.next = self.clock.val();
                self.mul.a.next = self.x.val();
                self.mul.b.next = self.w.val();
                self.mul.valid_in.next = self.valid_in.val();
                self.mul.ready_out.next = self.ready_out.val();
                self.ready_in.next = self.mul.ready_in.val();
                for i in 0..$depth {
                    self.last_d[i].clock.next = self.clock.val();
                    self.last_d[i].d.next = self.last_d[i].q.val();
                }
                if self.ready_out.val() {
                    self.last_d[0].d.next = self.last.val();
                    for i in 1..$depth {
                        self.last_d[i].d.next = self.last_d[i - 1].q.val();
                    }
                    self.out_valid.d.next = false;
                    if self.mul.valid_out.val() {
                        if self.last_d[$depth - 1].q.val() {
                            self.acc.d.next = self.zero.val();
                            self.out_valid.d.next = true;
                            if self.party.val() {
                                // -((-sum) >> f), negating as !v + 1.
                                self.out.d.next = !((!(self.acc.q.val() + self.mul.y.val())
                                    + self.one.val())
                                    >> self.frac.val())
                                    + self.one.val();
                            } else {
                                self.out.d.next =
                                    (self.acc.q.val() + self.mul.y.val()) >> self.frac.val();
                            }
                        } else {
                            self.acc.d.next = self.acc.q.val() + self.mul.y.val();
                        }
                    }
                }
                self.y.next = self.out.q.val();
                self.valid_out.next = self.out_valid.q.val();
            }
        }
    };
}

mac_lane!(MacLane16, RingMul16, 16, 2);
mac_lane!(MacLane32, RingMul32, 32, 4);
mac_lane!(MacLane64, RingMul64, 64, 6);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_of_shares_is_off_by_at_most_one() {
        let (l, f) = (32, 12);
        for (x, x0) in [
            (5000i64 << 12, 123_456_789u64),
            (-7i64 << 12, 42),
            (3, 0xdead_beef),
        ] {
            let x = (x as u64) & mask(l);
            let x1 = x.wrapping_sub(x0) & mask(l);
            let sum =
                truncate_share(x0, f, 0, l).wrapping_add(truncate_share(x1, f, 1, l)) & mask(l);
            let want = ((((x << 32) as i64) >> 32) >> f) as u64 & mask(l);
            let diff = sum.wrapping_sub(want) & mask(l);
            assert!(
                diff <= 1 || diff == mask(l),
                "x={x:#x} sum={sum:#x} want={want:#x}"
            );
        }
    }
}
