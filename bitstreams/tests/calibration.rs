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

/// The rolled AES core and the half-gates engine built on four of them (the fully
/// pipelined ones take ABC many minutes): LUTs and flip-flops within 10%, block RAMs
/// exactly, on the HX8K (they use no multiplier, so the UltraPlus maps them alike).
#[test]
fn gc_blocks_match_yosys() {
    use perf_model::accel::{units, AcceleratorConfig, Sbox};
    let d = Device::find("hx8k").unwrap();
    let mut cfg = AcceleratorConfig::for_device(&d, perf_model::FixedPoint::for_ring(16));
    cfg.gc.aes_cores = 4;
    cfg.gc.aes_round_units = 1;
    cfg.gc.sbox = Sbox::Lut;
    cfg.gc.label_ram_wires = 1 << hdl::gc::engine::SLOT_BITS;
    let blocks = [
        (
            "aes1",
            hdl::gc::aes_verilog(1).unwrap(),
            units::aes_core_resources(1, Sbox::Lut, &d),
        ),
        (
            "gc_engine1",
            hdl::gc::engine_verilog(1).unwrap(),
            units::gc_engine_resources(&cfg, &d),
        ),
    ];
    let mut failures = Vec::new();
    for (name, v, m) in blocks {
        let cells = ice40_cells(name, &v, false).unwrap();
        eprintln!(
            "{name} on hx8k: LUT {}/{}, FF {}/{}, BRAM {}/{} (perf_model/yosys)",
            m.luts, cells.luts, m.flip_flops, cells.flip_flops, m.bram, cells.brams
        );
        failures.extend(within(m.luts, cells.luts, &format!("{name} LUTs")).err());
        failures.extend(within(m.flip_flops, cells.flip_flops, &format!("{name} FFs")).err());
        if m.bram != cells.brams {
            failures.push(format!(
                "{name} BRAMs: perf_model {}, yosys {}",
                m.bram, cells.brams
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
