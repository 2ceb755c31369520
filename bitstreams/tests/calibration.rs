//! perf_model's resource formulas against yosys: every block's LUTs and flip-flops on
//! iCE40 within 10% of what `synth_ice40` maps it to, and its DSPs exactly, without
//! DSPs (HX8K) and with them (`-dsp`, UP5K), for every ring width and several
//! truncations.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bitstreams::synth::ice40_cells;
use hdl::blocks::BlockKind;
use perf_model::Device;

fn within(model: u64, tool: u64, what: &str) -> Result<(), String> {
    let err = (model as f64 - tool as f64).abs() / (tool.max(1) as f64);
    if err <= 0.10 || model.abs_diff(tool) <= 2 {
        Ok(())
    } else {
        Err(format!(
            "{what}: perf_model {model}, yosys {tool} ({:.1}% off)",
            100.0 * err
        ))
    }
}

#[test]
fn every_block_matches_yosys() {
    let mut failures = Vec::new();
    for (device, dsp) in [("up5k", true), ("hx8k", false)] {
        let d = Device::find(device).unwrap();
        for l in [16u32, 32, 64] {
            for kind in BlockKind::ALL {
                // The truncation changes the lanes, not the multiplier.
                let fs: &[u32] = match kind {
                    BlockKind::RingMul => &[12],
                    _ if l < 64 => &[4, 12],
                    _ => &[12],
                };
                for &f in fs {
                    let v = kind.verilog(l, f).unwrap();
                    let cells = ice40_cells(&kind.name(l), &v, dsp).unwrap();
                    let m = kind.resources(l, f, &d);
                    let what = format!("{} f={f} on {device}", kind.name(l));
                    eprintln!(
                        "{what}: LUT {}/{}, FF {}/{}, DSP {}/{} (perf_model/yosys)",
                        m.luts, cells.luts, m.flip_flops, cells.flip_flops, m.dsps, cells.dsps
                    );
                    failures.extend(within(m.luts, cells.luts, &format!("{what} LUTs")).err());
                    failures.extend(
                        within(m.flip_flops, cells.flip_flops, &format!("{what} FFs")).err(),
                    );
                    if m.dsps != cells.dsps {
                        failures.push(format!(
                            "{what} DSPs: perf_model {}, yosys {}",
                            m.dsps, cells.dsps
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
