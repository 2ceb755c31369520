//! MAC lanes on Verilator: truncated dot products of random shares for both parties,
//! bit-exact against the golden model, with perf_model's latency, lint-clean.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::blocks::BlockKind;
use hdl::mac;
use hdl::ring::mask;
use perf_model::accel::units;
use proptest::prelude::*;
use sim::blocks;
use sim::verilator::VerilatedDesign;

fn design(l: u32) -> VerilatedDesign {
    blocks::design(BlockKind::MacLane, l, mac::DEFAULT_FRAC_BITS).unwrap()
}

fn drive(d: &VerilatedDesign, dots: &[Vec<(u64, u64)>], party: u8) -> Vec<(usize, u64)> {
    blocks::drive_mac(d, dots, party, None).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn truncated_dot_products_are_bit_exact(
        li in 0usize..3,
        party in 0u8..2,
        dots in prop::collection::vec(prop::collection::vec((any::<u64>(), any::<u64>()), 1..12), 1..20),
    ) {
        let l = [16u32, 32, 64][li];
        let dots: Vec<Vec<(u64, u64)>> = dots
            .iter()
            .map(|d| d.iter().map(|&(x, w)| (x & mask(l), w & mask(l))).collect())
            .collect();
        let got: Vec<u64> = drive(&design(l), &dots, party).into_iter().map(|(_, y)| y).collect();
        let want: Vec<u64> = dots
            .iter()
            .map(|d| mac::dot_truncated(d, mac::DEFAULT_FRAC_BITS, party, l))
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn latency_matches_perf_model() {
    for l in [16u32, 32, 64] {
        let got = drive(&design(l), &[vec![(3 << 12, 5)], vec![(1, 1), (2, 2)]], 0);
        let lane = units::mac_lane(l);
        assert_eq!(got[0].0 as u64, lane.latency, "l = {l}");
        // The second dot product's last pair goes in at cycle 2.
        assert_eq!(got[1].0 as u64, 2 + lane.latency, "l = {l}");
    }
}

#[test]
fn verilog_passes_verilator_lint() {
    for l in [16, 32, 64] {
        let v = BlockKind::MacLane
            .verilog(l, mac::DEFAULT_FRAC_BITS)
            .unwrap();
        if let Err(e) = sim::verilator::lint(&format!("mac{l}"), &v) {
            panic!("{e}");
        }
    }
}
