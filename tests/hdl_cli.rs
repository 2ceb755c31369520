//! `polympc hdl` and `polympc sim` as a user meets them: Verilog files and their
//! manifest for a configuration, and the Verilator check of every block.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn hdl_writes_every_block_and_a_manifest() {
    let dir = scratch("hdl");
    let out = polympc(&[
        "hdl",
        "--fpga",
        "pynq-z2",
        "--ring-bits",
        "16",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for f in [
        "ring_mul16.v",
        "mac_lane16.v",
        "beaver_lane16.v",
        "beaver_mul16.v",
        "relu_engine10_16.v",
    ] {
        let v = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(v.contains("module top("), "{f}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("blocks.json")).unwrap()).unwrap();
    // The five blocks, then the 16-bit top level and its small-memory variant.
    assert_eq!(manifest.as_array().unwrap().len(), 7);
    assert_eq!(manifest[5]["ring_bits"], 16);
    assert_eq!(manifest[5]["frac_bits"], 7);
    let top = std::fs::read_to_string(dir.join(manifest[5]["file"].as_str().unwrap())).unwrap();
    assert!(top.contains("module top("));
    let small = &manifest[6];
    assert_eq!(
        (small["lanes"].as_u64(), small["rows"].as_u64()),
        (Some(2), Some(256))
    );
    let b = small["beaver_lanes"].as_u64().unwrap();
    assert_eq!(small["block"], format!("accelerator16_x2b{b}_small"));
    let v = std::fs::read_to_string(dir.join(small["file"].as_str().unwrap())).unwrap();
    assert!(v.contains("reg[15:0] mem[255:0];") && !v.contains("mem[65535:0]"));
    assert!(v.contains("(* ram_style = \"logic\" *) reg[15:0] mem[7:0];"));
    assert_eq!(
        manifest[1]["latency"], 3,
        "a 16-bit MAC lane: multiplier 2 + accumulate 1"
    );
    assert_eq!(
        manifest[1]["frac_bits"], 7,
        "the 16-bit ring's usual format"
    );
    // The configuration written beside them reads back, and its truncation is the
    // blocks' when it is given back with `--config`.
    let acc = dir.join("accelerator.yaml");
    let mut c = perf_model::AcceleratorConfig::load(&acc).unwrap();
    c.frac_bits = 5;
    std::fs::write(&acc, c.to_yaml()).unwrap();
    let again = scratch("hdl-config");
    let out = polympc(&[
        "hdl",
        "--config",
        acc.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("blocks.json")).unwrap()).unwrap();
    assert_eq!(manifest[2]["frac_bits"], 5);
}

/// The accelerator's top level comes too, with the most lanes it is generated for up to
/// the configuration's.
#[test]
fn hdl_writes_the_top_level_for_the_64_bit_ring() {
    let dir = scratch("hdl-top");
    let out = polympc(&["hdl", "--ring-bits", "64", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = perf_model::AcceleratorConfig::load(&dir.join("accelerator.yaml")).unwrap();
    let lanes = [32, 16, 8, 4, 2]
        .into_iter()
        .find(|&n| n <= c.mac_lanes)
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("blocks.json")).unwrap()).unwrap();
    let top = manifest.as_array().unwrap().last().unwrap();
    // The configuration's share of Beaver lanes, down to a count generated with them.
    let beaver = hdl::accel::beaver_lanes_for(lanes, c.mac_lanes, c.beaver_lanes).unwrap();
    assert!(beaver <= lanes.max(lanes * c.beaver_lanes / c.mac_lanes));
    assert_eq!(top["block"], format!("accelerator64_x{lanes}b{beaver}"));
    assert_eq!(top["lanes"], lanes);
    assert_eq!(top["beaver_lanes"], beaver);
    assert_eq!(top["configuration_beaver_lanes"], c.beaver_lanes);
    assert_eq!(
        top["latency"], 8,
        "a 64-bit MAC lane's 7 cycles and the write"
    );
    let v = std::fs::read_to_string(dir.join(top["file"].as_str().unwrap())).unwrap();
    assert!(v.contains("module top("));
    assert!(v.contains("halted"), "the controller's ports");
}

#[test]
fn sim_checks_every_block_on_verilator() {
    let out = polympc(&["sim", "--ring-bits", "32", "--vectors", "200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for b in [
        "ring_mul32",
        "mac_lane32",
        "beaver_lane32",
        "beaver_mul32",
        "relu_engine10 l=32",
    ] {
        let line = text.lines().find(|l| l.starts_with(b)).unwrap();
        assert!(line.ends_with("ok"), "{line}");
    }
}

#[test]
fn bad_arguments_fail_clearly() {
    let out = polympc(&["sim", "--ring-bits", "24"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not 16, 32 or 64"),
        "{}",
        stderr(&out)
    );
    let out = polympc(&[
        "hdl",
        "--frac-bits",
        "40",
        "--ring-bits",
        "32",
        "--out",
        scratch("hdl-bad").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--frac-bits 40"), "{}", stderr(&out));
}

#[test]
fn deploy_prints_its_commands_and_says_when_no_board_is_attached() {
    let out = polympc(&[
        "deploy",
        "--board",
        "alchitry-cu",
        "--bitstream",
        "acc.bin",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("openFPGALoader -b ice40_generic --detect")
            && text.contains("openFPGALoader -b ice40_generic acc.bin"),
        "{text}"
    );
    // Only looks for the board: attached, or a clear error naming it.
    for programmer in ["openfpgaloader", "iceprog"] {
        let out = polympc(&[
            "deploy",
            "--board",
            "icebreaker",
            "--check",
            "--programmer",
            programmer,
        ]);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("icebreaker: attached"));
        } else {
            assert!(err.contains("no icebreaker attached"), "{err}");
        }
    }
    let out = polympc(&["deploy", "--board", "nexys", "--check"]);
    assert!(!out.status.success() && stderr(&out).contains("known: alchitry-cu, icebreaker"));
    let out = polympc(&[
        "deploy",
        "--board",
        "icebreaker",
        "--bitstream",
        "/nonexistent/a.bin",
    ]);
    assert!(!out.status.success() && stderr(&out).contains("/nonexistent/a.bin: no such file"));
}
