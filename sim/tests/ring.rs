//! The ring multipliers on Verilator and on rust-hdl's simulator: bit-exact against the
//! golden model for random operands, with the latency and initiation interval that
//! perf_model's formula predicts, and correct under back-pressure.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::blocks::BlockKind;
use hdl::ring;
use perf_model::accel::units;
use proptest::prelude::*;
use sim::blocks;
use sim::verilator::VerilatedDesign;

fn design(l: u32) -> VerilatedDesign {
    blocks::design(BlockKind::RingMul, l, 12).unwrap()
}

fn drive(d: &VerilatedDesign, pairs: &[(u64, u64)], ready: &[bool]) -> Vec<(usize, u64)> {
    blocks::drive_multiplier(d, pairs, ready, None).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn bit_exact_on_verilator(li in 0usize..3, pairs in prop::collection::vec((any::<u64>(), any::<u64>()), 1..200)) {
        let l = [16u32, 32, 64][li];
        let pairs: Vec<(u64, u64)> = pairs.iter().map(|&(a, b)| (a & ring::mask(l), b & ring::mask(l))).collect();
        let got = drive(&design(l), &pairs, &[true]);
        let want: Vec<u64> = pairs.iter().map(|&(a, b)| ring::mul(a, b, l)).collect();
        prop_assert_eq!(got.iter().map(|&(_, y)| y).collect::<Vec<_>>(), want);
    }

    #[test]
    fn back_pressure_loses_and_repeats_nothing(li in 0usize..3, ready in prop::collection::vec(any::<bool>(), 1..16), pairs in prop::collection::vec((any::<u64>(), any::<u64>()), 1..60)) {
        prop_assume!(ready.iter().any(|&r| r));
        let l = [16u32, 32, 64][li];
        let pairs: Vec<(u64, u64)> = pairs.iter().map(|&(a, b)| (a & ring::mask(l), b & ring::mask(l))).collect();
        let got = drive(&design(l), &pairs, &ready);
        let want: Vec<u64> = pairs.iter().map(|&(a, b)| ring::mul(a, b, l)).collect();
        prop_assert_eq!(got.iter().map(|&(_, y)| y).collect::<Vec<_>>(), want);
    }
}

#[test]
fn latency_and_interval_match_perf_model() {
    for l in [16u32, 32, 64] {
        let pairs: Vec<(u64, u64)> = (1..=20).map(|i| (i, i + 1)).collect();
        let got = drive(&design(l), &pairs, &[true]);
        let timing = units::ring_multiplier(l);
        // The first pair goes in at cycle 0 and its product is out at cycle `latency`.
        assert_eq!(got[0].0 as u64, timing.latency, "l = {l}");
        let ii: Vec<u64> = got.windows(2).map(|w| (w[1].0 - w[0].0) as u64).collect();
        assert!(ii.iter().all(|&d| d == timing.ii), "l = {l}: {ii:?}");
    }
}

#[test]
fn verilog_passes_verilator_lint() {
    for l in [16, 32, 64] {
        let v = BlockKind::RingMul.verilog(l, 12).unwrap();
        if let Err(e) = sim::verilator::lint(&format!("ring{l}"), &v) {
            panic!("{e}");
        }
    }
}
