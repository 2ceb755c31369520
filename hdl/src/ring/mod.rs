//! Ring arithmetic mod 2^l from 16 x 16 partial products: the multiplier every MAC and
//! Beaver lane is built on.
//!
//! An l x l product mod 2^l needs the 16 x 16 limb products `a_i * b_j` with
//! `i + j < l / 16` only (the others land at or above bit l): 1, 3 and 10 of them for
//! l = 16, 32, 64, each a DSP block (an SB_MAC16 on the UP5K). The multipliers are
//! pipelined with a registered input, one stage of limb products and a registered
//! adder tree, and take a new operand pair every cycle: `perf_model`'s
//! [`ring_multiplier`](perf_model::accel::units::ring_multiplier) gives their latency.
//!
//! Streams: `valid_in`/`ready_in` in front, `valid_out`/`ready_out` behind. The whole
//! pipeline advances when the consumer is ready (`ready_in` is `ready_out`) and holds
//! its contents when it is not.

mod mul16;
mod mul32;
mod mul64;
pub mod rusthdl;

pub use mul16::RingMul16;
pub use mul32::RingMul32;
pub use mul64::RingMul64;

/// `2^l - 1`.
pub fn mask(l: u32) -> u64 {
    if l >= 64 {
        u64::MAX
    } else {
        (1 << l) - 1
    }
}

/// The golden model of the ring multipliers: `a * b mod 2^l`.
pub fn mul(a: u64, b: u64, l: u32) -> u64 {
    a.wrapping_mul(b) & mask(l)
}

/// The golden model built the way the hardware builds it: the sum, mod 2^l, of the
/// limb products `a_i * b_j << 16 (i + j)` with `i + j < l / 16`. Equal to [`mul`]
/// (a test holds them together); kept to document the datapath.
pub fn mul_by_limbs(a: u64, b: u64, l: u32) -> u64 {
    let n = l / 16;
    let limb = |x: u64, i: u32| (x >> (16 * i)) & 0xffff;
    let mut acc = 0u64;
    for i in 0..n {
        for j in 0..n - i {
            acc = acc.wrapping_add((limb(a, i) * limb(b, j)) << (16 * (i + j)));
        }
    }
    acc & mask(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn limb_products_equal_the_ring_product(a: u64, b: u64, li in 0usize..3) {
            let l = [16, 32, 64][li];
            prop_assert_eq!(mul_by_limbs(a & mask(l), b & mask(l), l), mul(a, b, l));
        }
    }
}
