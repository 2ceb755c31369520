//! Beaver lanes on Verilator: the polynomial activation on each party's shares,
//! bit-exact against the golden model, with perf_model's latency; and the two
//! parties' outputs together give the fixed-point polynomial of the shared value.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::beaver::{self, PolyInput};
use hdl::blocks::BlockKind;
use hdl::mac::DEFAULT_FRAC_BITS as F;
use hdl::ring::{mask, mul};
use perf_model::accel::units;
use proptest::prelude::*;
use sim::blocks;
use sim::verilator::VerilatedDesign;

fn design(l: u32) -> VerilatedDesign {
    blocks::design(BlockKind::BeaverLane, l, F).unwrap()
}

fn drive(d: &VerilatedDesign, elems: &[PolyInput], party: u8) -> Vec<(usize, u64)> {
    blocks::drive_beaver(d, elems, party, None).unwrap()
}

fn input(v: [u64; 7], l: u32) -> PolyInput {
    let m = mask(l);
    PolyInput {
        x: v[0] & m,
        a: v[1] & m,
        c: v[2] & m,
        d: v[3] & m,
        w2: v[4] & m,
        w1: v[5] & m,
        b: v[6] & m,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn bit_exact_for_both_parties(li in 0usize..3, party in 0u8..2, raw in prop::collection::vec(any::<[u64; 7]>(), 1..80)) {
        let l = [16u32, 32, 64][li];
        let elems: Vec<PolyInput> = raw.iter().map(|&v| input(v, l)).collect();
        let got: Vec<u64> = drive(&design(l), &elems, party).into_iter().map(|(_, y)| y).collect();
        let want: Vec<u64> = elems.iter().map(|e| beaver::poly_share(e, F, party, l)).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn latency_matches_perf_model() {
    for l in [16u32, 32, 64] {
        let got = drive(&design(l), &[input([1, 2, 3, 4, 5, 6, 7], l); 3], 0);
        let lane = units::beaver_lane(l);
        let cycles: Vec<u64> = got.iter().map(|&(t, _)| t as u64).collect();
        assert_eq!(
            cycles,
            vec![lane.latency, lane.latency + 1, lane.latency + 2],
            "l = {l}"
        );
    }
}

#[test]
fn two_parties_compute_the_polynomial() {
    // y = 0.25 x^2 + 0.5 x + 0.125 in fixed point with f = 12, on a secret-shared x, in
    // the 64-bit ring: SecureML's local truncation of a value below 2^k fails with
    // probability about 2^(k + 1 - l), which the 2f-bit square makes common at l = 32.
    let l = 64u32;
    let one = 1i64 << F;
    let (w2, w1, b) = ((one / 4) as u64, (one / 2) as u64, (one / 8) as u64);
    let d = design(l);
    // splitmix64: uniform 64-bit shares.
    let mut seed = 0x9e37_79b9u64;
    let mut rnd = || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) & mask(l)
    };
    let xs: Vec<i64> = (-20..=20).map(|i| i * one / 4 + i).collect();
    let mut shares = [Vec::new(), Vec::new()];
    for &x in &xs {
        let xe = (x as u64) & mask(l);
        let (x0, a, a0, c0) = (rnd(), rnd(), rnd(), rnd());
        let c = mul(a, a, l);
        let dv = xe.wrapping_sub(a) & mask(l);
        shares[0].push(PolyInput {
            x: x0,
            a: a0,
            c: c0,
            d: dv,
            w2,
            w1,
            b,
        });
        shares[1].push(PolyInput {
            x: xe.wrapping_sub(x0) & mask(l),
            a: a.wrapping_sub(a0) & mask(l),
            c: c.wrapping_sub(c0) & mask(l),
            d: dv,
            w2,
            w1,
            b,
        });
    }
    let y0 = drive(&d, &shares[0], 0);
    let y1 = drive(&d, &shares[1], 1);
    for (i, &x) in xs.iter().enumerate() {
        let y = y0[i].1.wrapping_add(y1[i].1) & mask(l);
        let y = y as i64;
        let xf = x as f64 / one as f64;
        let want = (0.25 * xf * xf + 0.5 * xf + 0.125) * one as f64;
        // Two local truncations, each off by at most one unit in the last place,
        // the first one scaled by w2.
        assert!((y as f64 - want).abs() <= 3.0, "x = {xf}: {y} vs {want}");
    }
}

#[test]
fn verilog_passes_verilator_lint() {
    for l in [16, 32, 64] {
        let v = BlockKind::BeaverLane.verilog(l, F).unwrap();
        if let Err(e) = sim::verilator::lint(&format!("beaver{l}"), &v) {
            panic!("{e}");
        }
    }
}
