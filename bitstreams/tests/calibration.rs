//! perf_model's resource formulas against yosys: every calibrated block's LUTs,
//! flip-flops and DSPs on iCE40 within 10% of what `synth_ice40` maps it to, without
//! DSPs (HX8K) and with them (`-dsp`, UP5K).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bitstreams::synth::ice40_cells;
use hdl::blocks::BlockKind;
use perf_model::accel::units::{self, Resources};
use perf_model::Device;

fn within(model: u64, tool: u64, what: &str) {
    let err = (model as f64 - tool as f64).abs() / (tool.max(1) as f64);
    assert!(
        err <= 0.10 || model.abs_diff(tool) <= 2,
        "{what}: perf_model {model}, yosys {tool} ({:.1}% off)",
        100.0 * err
    );
}

#[test]
fn ring_multipliers_match_yosys() {
    for (device, dsp) in [("hx8k", false), ("up5k", true)] {
        let d = Device::find(device).unwrap();
        for l in [16u32, 32] {
            let v = BlockKind::RingMul.verilog(l, 12).unwrap();
            let cells = ice40_cells(&format!("ring_mul{l}"), &v, dsp).unwrap();
            let m: Resources = units::ring_multiplier_resources(l, &d);
            let what = format!("ring_mul{l} on {device}");
            within(m.luts, cells.luts, &format!("{what} LUTs"));
            within(m.flip_flops, cells.flip_flops, &format!("{what} FFs"));
            assert_eq!(m.dsps, cells.dsps, "{what} DSPs");
        }
    }
}

#[test]
fn lanes_use_the_dsps_yosys_maps_them_to() {
    let d = Device::find("up5k").unwrap();
    for l in [16u32, 32] {
        for (kind, model) in [
            (BlockKind::MacLane, units::mac_lane_resources(l, &d)),
            (BlockKind::BeaverLane, units::beaver_lane_resources(l, &d)),
        ] {
            let v = kind.verilog(l, 12).unwrap();
            let cells = ice40_cells(&kind.name(l), &v, true).unwrap();
            assert_eq!(model.dsps, cells.dsps, "{}", kind.name(l));
        }
    }
}
