//! Beaver multiply units on Verilator: the product of two shared values on each party's
//! shares, bit-exact against the golden model, with perf_model's latency; and the two
//! parties' outputs together give the product.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::beaver_mul::{self, MulInput};
use hdl::blocks::BlockKind;
use hdl::mac::DEFAULT_FRAC_BITS as F;
use hdl::ring::{mask, mul};
use perf_model::accel::units;
use proptest::prelude::*;
use sim::blocks::{self, Vectors};
use sim::verilator::VerilatedDesign;

fn design(l: u32) -> VerilatedDesign {
    blocks::design(BlockKind::BeaverMul, l, F).unwrap()
}

fn drive(d: &VerilatedDesign, elems: &[MulInput], party: u8) -> Vec<(usize, u64)> {
    blocks::drive_beaver_mul(d, elems, party, None).unwrap()
}

fn input(v: [u64; 5], truncate: bool, l: u32) -> MulInput {
    let m = mask(l);
    MulInput {
        a: v[0] & m,
        b: v[1] & m,
        c: v[2] & m,
        d: v[3] & m,
        e: v[4] & m,
        truncate,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn bit_exact_for_both_parties(
        li in 0usize..3,
        party in 0u8..2,
        raw in prop::collection::vec((any::<[u64; 5]>(), any::<bool>()), 1..80),
    ) {
        let l = [16u32, 32, 64][li];
        let elems: Vec<MulInput> = raw.iter().map(|&(v, t)| input(v, t, l)).collect();
        let got: Vec<u64> = drive(&design(l), &elems, party).into_iter().map(|(_, y)| y).collect();
        let want: Vec<u64> =
            elems.iter().map(|e| beaver_mul::product_share(e, F, party, l)).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn latency_matches_perf_model() {
    for l in [16u32, 32, 64] {
        let got = drive(&design(l), &[input([1, 2, 3, 4, 5], true, l); 3], 1);
        let unit = units::beaver_mul(l);
        let cycles: Vec<u64> = got.iter().map(|&(t, _)| t as u64).collect();
        assert_eq!(
            cycles,
            vec![unit.latency, unit.latency + 1, unit.latency + 2],
            "l = {l}"
        );
    }
}

#[test]
fn two_parties_multiply_shared_values() {
    // Integer products (Circa's x * bit) and fixed-point ones with truncation.
    let l = 64u32;
    let d = design(l);
    let mut v = Vectors::new(7);
    let mut rnd = || v.next_u64() & mask(l);
    let one = 1i64 << F;
    let pairs: Vec<(i64, i64, bool)> = (-10..=10)
        .flat_map(|i| {
            [
                (i * 1000 + 7, i64::from(i > 0), false),
                (i * one / 3, (i - 2) * one / 5, true),
            ]
        })
        .collect();
    let mut shares = [Vec::new(), Vec::new()];
    for &(x, y, truncate) in &pairs {
        let (xe, ye) = ((x as u64) & mask(l), (y as u64) & mask(l));
        let (a, b, a0, b0, c0) = (rnd(), rnd(), rnd(), rnd(), rnd());
        let c = mul(a, b, l);
        let (dv, ev) = (xe.wrapping_sub(a) & mask(l), ye.wrapping_sub(b) & mask(l));
        let sub = |u: u64, w: u64| u.wrapping_sub(w) & mask(l);
        shares[0].push(MulInput {
            a: a0,
            b: b0,
            c: c0,
            d: dv,
            e: ev,
            truncate,
        });
        shares[1].push(MulInput {
            a: sub(a, a0),
            b: sub(b, b0),
            c: sub(c, c0),
            d: dv,
            e: ev,
            truncate,
        });
    }
    let z0 = drive(&d, &shares[0], 0);
    let z1 = drive(&d, &shares[1], 1);
    for (i, &(x, y, truncate)) in pairs.iter().enumerate() {
        let z = (z0[i].1.wrapping_add(z1[i].1) & mask(l)) as i64;
        if truncate {
            let want = (x as f64) * (y as f64) / one as f64;
            assert!((z as f64 - want).abs() <= 1.5, "{x} * {y}: {z} vs {want}");
        } else {
            assert_eq!(z, x * y, "{x} * {y}");
        }
    }
}

#[test]
fn verilog_passes_verilator_lint() {
    for l in [16, 32, 64] {
        let v = BlockKind::BeaverMul.verilog(l, F).unwrap();
        if let Err(e) = sim::verilator::lint(&format!("beaver_mul{l}"), &v) {
            panic!("{e}");
        }
    }
}
