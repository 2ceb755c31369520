//! `polympc bitstream` as a user meets it: real yosys, nextpnr-ice40 and icepack runs
//! giving bitstreams of the host-link top level for both boards with timing met (and
//! of the largest core that fits the HX8K, the accelerator's link with 1 Beaver lane,
//! and its self-test from the report), the
//! report's figures equal to the tools' logs, and clear errors (with the tools' figures)
//! for a clock the design cannot meet and a part it does not fit, leaving an earlier
//! build in the folder untouched.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use std::path::Path;

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// The ICESTORM_LC line of nextpnr's last utilisation table: (used, available).
fn logged_lcs(dir: &Path) -> (u64, u64) {
    let log = std::fs::read_to_string(dir.join("nextpnr.log")).unwrap();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("ICESTORM_LC:"))
        .unwrap();
    let counts = line.split_once("ICESTORM_LC:").unwrap().1;
    let mut n = counts
        .split('/')
        .map(|x| x.split_whitespace().next().unwrap().parse::<u64>().unwrap());
    (n.next().unwrap(), n.next().unwrap())
}

/// `polympc host --simulate --report DIR/report.json --json` with `extra`: passes, every
/// reply equal to the golden model; gives the self-test's JSON.
fn self_test_from_report(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let rep = dir.join("report.json");
    let mut args = vec![
        "host",
        "--simulate",
        "--report",
        rep.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = polympc(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["mismatches"], serde_json::json!([]));
    t
}

fn check_build(board: &str, clock_mhz: f64, pll: bool, dir: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "bitstream",
        "--board",
        board,
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = polympc(&args);
    assert!(out.status.success(), "{board}: {}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = report(dir);
    assert_eq!(printed, r, "the printed report is the written one");
    assert_eq!(r["clock_mhz"].as_f64().unwrap(), clock_mhz, "{board}");
    assert_eq!(r["pll"].is_object(), pll, "{board}");
    let fmax = r["fmax_mhz"].as_f64().unwrap();
    assert!(fmax >= clock_mhz, "{board}: {fmax} MHz < {clock_mhz}");
    let log = std::fs::read_to_string(dir.join("nextpnr.log")).unwrap();
    assert!(
        log.contains(&format!("{fmax:.2} MHz (PASS at {clock_mhz:.2} MHz)")),
        "{board}: the figure is nextpnr's"
    );
    let lc = r["utilisation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "ICESTORM_LC")
        .unwrap();
    let (used, available) = logged_lcs(dir);
    assert_eq!(lc["used"], used);
    assert_eq!(lc["available"], available);
    assert!(
        used > 1000 && used <= available,
        "{board}: {used}/{available}"
    );
    let luts = r["yosys_cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == "SB_LUT4")
        .unwrap()[1]
        .as_u64()
        .unwrap();
    assert!(luts > 1000 && luts <= used, "{board}: {luts} LUTs");
    // The UART divisor is the clock's at 115200 baud.
    assert_eq!(
        r["uart_divisor"].as_u64().unwrap(),
        u64::from(hdl::uart::divisor(clock_mhz * 1e6, 115_200).unwrap())
    );
    // An iCE40 bitstream: icepack's preamble and the sync word.
    let bin = std::fs::read(dir.join("polympc_board.bin")).unwrap();
    assert!(bin.len() > 50_000, "{board}: {} bytes", bin.len());
    assert!(
        bin.windows(4)
            .take(64)
            .any(|w| w == [0x7e, 0xaa, 0x99, 0x7e]),
        "{board}: no iCE40 sync word"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("maximum frequency (nextpnr)"), "{md}");
    bin
}

#[test]
fn bitstreams_for_both_boards_meet_timing_and_a_failed_rebuild_keeps_them() {
    let cu = scratch("bitstream-cu");
    let bin = check_build("alchitry-cu", 50.0, true, &cu, &[]);
    let ib = scratch("bitstream-icebreaker");
    check_build("icebreaker", 12.0, false, &ib, &[]);

    // 100 MHz straight from the oscillator is more than the design makes on the HX8K.
    let before = std::fs::read_to_string(cu.join("report.json")).unwrap();
    let out = polympc(&[
        "bitstream",
        "--board",
        "alchitry-cu",
        "--freq",
        "100",
        "--out",
        cu.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("timing not met on the iCE40-HX8K"), "{e}");
    let fmax: f64 = e
        .split("maximum frequency is ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(fmax < 100.0, "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let log = std::fs::read_to_string(cu.join("nextpnr.log")).unwrap();
    assert!(
        log.contains(&format!("{fmax:.2} MHz (FAIL at 100.00 MHz)")),
        "{e}"
    );
    assert_eq!(std::fs::read(cu.join("polympc_board.bin")).unwrap(), bin);
    assert_eq!(
        std::fs::read_to_string(cu.join("report.json")).unwrap(),
        before
    );

    // The host link's report names its core and f for the self-test.
    let r = report(&cu);
    assert_eq!(r["core_kind"], "host_link");
    assert_eq!(r["refused"], serde_json::json!([]));
    let t = self_test_from_report(&cu, &["--requests", "1"]);
    assert_eq!(t["identity"][5], r["frac_bits"]);

    // The build's clock is what an estimate for another FPGA refuses.
    let out = polympc(&[
        "estimate",
        &example("mlp"),
        "--fpga",
        "zcu102",
        "--bitstream",
        cu.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("the bitstream is for the alchitry-cu"), "{e}");
}

#[test]
fn a_part_too_small_gets_the_resource_that_is_short() {
    // An HX1K board (1280 logic cells): the host link needs several times that.
    let dir = scratch("bitstream-hx1k");
    let board = dir.join("hx1k.yaml");
    std::fs::write(
        &board,
        "name: hx1k-stick\ndescription: an HX1K stick\ndevice: hx8k\nfamily: hx1k\npackage: tq144\n\
         clock: { pin: \"21\", mhz: 12.0 }\nreset: { pin: \"1\", active_low: true }\n\
         uart: { rx: \"9\", tx: \"8\" }\nleds: [\"99\"]\nopenfpgaloader_board: ice40_generic\n",
    )
    .unwrap();
    let out = polympc(&[
        "bitstream",
        "--board",
        board.to_str().unwrap(),
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("does not fit the iCE40-HX1K"), "{e}");
    let (used, available) = logged_lcs(&dir.join("out"));
    assert_eq!(available, 1280);
    assert!(
        e.contains(&format!(
            "ICESTORM_LC {used} used of 1280, {} short",
            used - 1280
        )),
        "{e}"
    );
    assert!(!dir.join("out").join("polympc_board.bin").exists());

    // No core fits: each is refused with nextpnr's figures, the largest first.
    let out = polympc(&[
        "bitstream",
        "--board",
        board.to_str().unwrap(),
        "--largest",
        "--out",
        dir.join("largest").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("no core fits the hx1k-stick at its clock"),
        "{e}"
    );
    let lines: Vec<&str> = e
        .lines()
        .filter(|l| l.contains("does not fit the iCE40-HX1K"))
        .collect();
    assert_eq!(lines.len(), 3, "{e}");
    for (line, tag) in lines.iter().zip(["accel-b2", "accel-b1", "host-link"]) {
        assert!(
            line.contains(&format!("refused-{tag}/nextpnr.log")),
            "{line}"
        );
    }
    assert!(
        lines[0].contains("2 Beaver lanes") && lines[2].starts_with("  host link"),
        "{e}"
    );
    assert!(!dir.join("largest").join("polympc_board.bin").exists());
}

/// The accelerator's link for a 16-bit configuration: on the Alchitry Cu's HX8K with
/// timing met at 50 MHz, its banks in RAM blocks; the iCEBreaker's UP5K has too few RAM
/// blocks, and says so with nextpnr's figures; a configuration of another ring is
/// refused by name.
#[test]
fn the_accelerators_link_builds_for_a_16_bit_configuration() {
    use perf_model::{AcceleratorConfig, Device, FixedPoint};
    let dir = scratch("bitstream-accel");
    let hx8k = Device::find("hx8k").unwrap();
    let mut c = AcceleratorConfig::for_device(
        &hx8k,
        FixedPoint {
            ring_bits: 16,
            frac_bits: 7,
        },
    );
    (c.mac_lanes, c.beaver_lanes) = (2, 1);
    let acc = dir.join("acc16.yaml");
    std::fs::write(&acc, c.to_yaml()).unwrap();
    let acc = acc.to_str().unwrap();
    // The largest core that fits the HX8K: 2 Beaver lanes are refused with nextpnr's
    // figures (their logs kept apart), 1 fits.
    let cu = dir.join("cu");
    check_build(
        "alchitry-cu",
        50.0,
        true,
        &cu,
        &["--largest", "--frac-bits", "7"],
    );
    let r = report(&cu);
    assert!(
        r["core"].as_str().unwrap().starts_with("accelerator link")
            && r["core"].as_str().unwrap().contains("1 Beaver lane,"),
        "{r}"
    );
    assert_eq!(
        r["core_kind"],
        serde_json::json!({"accelerator": {"beaver_lanes": 1}})
    );
    assert_eq!(r["frac_bits"], 7);
    let refused = r["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{r}");
    let why = refused[0].as_str().unwrap();
    assert!(
        why.contains("2 Beaver lanes")
            && why.contains("does not fit the iCE40-HX8K")
            && why.contains("ICESTORM_LC")
            && why.contains("its log: refused-accel-b2/nextpnr.log"),
        "the report names the log within its folder: {why}"
    );
    let log = std::fs::read_to_string(cu.join("refused-accel-b2/nextpnr.log")).unwrap();
    assert!(
        log.contains("ICESTORM_LC"),
        "the refusal's log is nextpnr's"
    );
    let md = std::fs::read_to_string(cu.join("report.md")).unwrap();
    assert!(md.contains("| larger core refused |"), "{md}");

    // The report names the core for the self-test: its f and Beaver lanes.
    let t = self_test_from_report(&cu, &[]);
    assert_eq!(
        (&t["identity"][5], &t["identity"][7]),
        (&7.into(), &1.into())
    );
    let out = polympc(&["host", "--simulate", "--report", acc]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("acc16.yaml: not JSON"), "{e}");
    let ram = r["utilisation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "ICESTORM_RAM")
        .unwrap();
    assert!(ram["used"].as_u64().unwrap() > 16, "{ram}");
    let v = std::fs::read_to_string(cu.join("accel_link.v")).unwrap();
    assert!(v.contains("ram_style = \"logic\""));

    let out = polympc(&[
        "bitstream",
        "--board",
        "icebreaker",
        "--config",
        acc,
        "--out",
        dir.join("ib").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("does not fit the iCE40-UP5K") && e.contains("ICESTORM_RAM"),
        "{e}"
    );

    c.ring_bits = 64;
    let wide = dir.join("acc64.yaml");
    std::fs::write(&wide, c.to_yaml()).unwrap();
    let out = polympc(&[
        "bitstream",
        "--board",
        "alchitry-cu",
        "--config",
        wide.to_str().unwrap(),
        "--out",
        dir.join("wide").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("acc64.yaml: the board's accelerator is the small-memory top level")
            && e.contains("ring_bits 64"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn bad_boards_and_clocks_get_clear_errors() {
    let dir = scratch("bitstream-bad");
    let out_dir = dir.join("out");
    let run = |args: &[&str]| {
        let mut a = vec!["bitstream", "--out", out_dir.to_str().unwrap()];
        a.extend_from_slice(args);
        let out = polympc(&a);
        assert!(!out.status.success(), "{args:?}");
        let e = stderr(&out);
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    let e = run(&["--board", "nexys"]);
    assert!(
        e.contains("unknown board `nexys`") && e.contains("icebreaker"),
        "{e}"
    );
    let e = run(&["--board", "alchitry-cu", "--freq", "5"]);
    assert!(e.contains("PLL cannot make 5 MHz"), "{e}");
    let e = run(&["--board", "icebreaker", "--baud", "5000000"]);
    assert!(e.contains("5000000 baud at 12000000 Hz"), "{e}");
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "name: x\nfamily: [\n").unwrap();
    let e = run(&["--board", broken.to_str().unwrap()]);
    assert!(
        e.contains(&format!("board file {}", broken.display())),
        "{e}"
    );
    assert!(!out_dir.join("polympc_board.bin").exists());
}

#[test]
fn vivado_projects_for_xilinx_boards_are_consistent() {
    for board in ["pynq-z2", "zcu102", "u250"] {
        let dir = scratch(&format!("vivado-{board}"));
        let out = polympc(&[
            "vivado",
            "--board",
            board,
            "--freq",
            "125",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{board}: {}", stderr(&out));
        let b = bitstreams::vivado::XilinxBoard::find(board).unwrap();
        let tcl = std::fs::read_to_string(dir.join("build.tcl")).unwrap();
        assert!(
            tcl.contains(&format!(
                "synth_design -top polympc_axis -part {} -mode out_of_context",
                b.part
            )),
            "{tcl}"
        );
        let xdc = std::fs::read_to_string(dir.join("polympc_axis.xdc")).unwrap();
        assert!(xdc.contains("-period 8.000 [get_ports aclk]"), "{xdc}");
        // The Verilog the Tcl reads is well-formed: Verilator lints core and wrapper
        // together, with polympc_axis on top.
        let v = ["axis_core.v", "polympc_axis.v"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
            .collect::<String>();
        sim::verilator::lint(&format!("vivado-{board}"), &v).unwrap();
        bitstreams::vivado::check(&dir, &b, 125.0).unwrap();
    }
    // With a configuration, the accelerator behind its AXI-Stream engine: the full-size
    // top level on the configuration's ring, with the most MAC lanes up to its own.
    use perf_model::{AcceleratorConfig, Device, FixedPoint};
    let dir = scratch("vivado-accel");
    let fixed = FixedPoint {
        ring_bits: 64,
        frac_bits: 16,
    };
    let mut c = AcceleratorConfig::for_device(&Device::find("zcu102").unwrap(), fixed);
    (c.mac_lanes, c.beaver_lanes) = (6, 3);
    let acc = dir.join("acc64.yaml");
    std::fs::write(&acc, c.to_yaml()).unwrap();
    let acc = acc.to_str().unwrap();
    let out_dir = dir.join("project");
    let out = polympc(&[
        "vivado",
        "--board",
        "zcu102",
        "--config",
        acc,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("the accelerator (64-bit ring, f = 16, 4 MAC lanes, 1 Beaver lane,"),
        "{said}"
    );
    let v = ["axis_core.v", "polympc_axis.v"]
        .iter()
        .map(|f| std::fs::read_to_string(out_dir.join(f)).unwrap())
        .collect::<String>();
    assert!(
        v.contains("hdr[47:8]"),
        "two-byte addresses in a 6-byte header"
    );
    sim::verilator::lint("vivado-accel64", &v).unwrap();
    let b = bitstreams::vivado::XilinxBoard::find("zcu102").unwrap();
    bitstreams::vivado::check(&out_dir, &b, b.clock_mhz).unwrap();
    let readme = std::fs::read_to_string(out_dir.join("README.md")).unwrap();
    assert!(readme.contains("identify, load, run, read"), "{readme}");
    c.mac_lanes = 1;
    std::fs::write(dir.join("acc1.yaml"), c.to_yaml()).unwrap();
    let acc1 = dir.join("acc1.yaml");
    let out = polympc(&[
        "vivado",
        "--board",
        "zcu102",
        "--config",
        acc1.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("acc1.yaml: the accelerator's top level is generated"),
        "{}",
        stderr(&out)
    );
    // Broken projects: each fault is named.
    let dir = scratch("vivado-broken");
    let core = bitstreams::vivado::VivadoCore::HostLink { frac_bits: 12 };
    bitstreams::vivado::generate(&b, None, &core, &dir).unwrap();
    std::fs::remove_file(dir.join("axis_core.v")).unwrap();
    let tcl = std::fs::read_to_string(dir.join("build.tcl")).unwrap();
    std::fs::write(
        dir.join("build.tcl"),
        tcl.replace(&b.part, "xc7a35tcpg236-1"),
    )
    .unwrap();
    let xdc = std::fs::read_to_string(dir.join("polympc_axis.xdc")).unwrap();
    std::fs::write(dir.join("polympc_axis.xdc"), xdc.replace("aclk]", "clk]")).unwrap();
    let e = bitstreams::vivado::check(&dir, &b, 100.0)
        .unwrap_err()
        .to_string();
    for want in [
        "reads axis_core.v, which does not exist",
        "part xc7a35tcpg236-1 is not the zcu102's xczu9eg-ffvb1156-2-e",
        "port `clk`, which polympc_axis lacks",
        "core module `top` is declared in none",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    let out = polympc(&["vivado", "--board", "arty"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown Xilinx board `arty`"));
}

#[test]
fn the_host_self_test_runs_on_the_simulated_board() {
    let out = polympc(&[
        "host",
        "--simulate",
        "--requests",
        "1",
        "--frac-bits",
        "9",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["requests"], serde_json::json!([1, 2, 1, 4]));
    assert_eq!(t["mismatches"], serde_json::json!([]));
    assert_eq!(t["identity"][5], 9, "the board's f");
    let out = polympc(&["host", "--port", "/dev/polympc-no-such-port"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("serial port /dev/polympc-no-such-port"), "{e}");
}

/// `polympc host --config`: the accelerator link's self-test on the simulated board,
/// with the configuration's fractional bits and Beaver lanes.
#[test]
fn the_accelerator_link_self_test_runs_on_the_simulated_board() {
    use perf_model::{AcceleratorConfig, Device, FixedPoint};
    let dir = scratch("host-accel");
    let fixed = FixedPoint {
        ring_bits: 16,
        frac_bits: 6,
    };
    let mut c = AcceleratorConfig::for_device(&Device::find("hx8k").unwrap(), fixed);
    (c.mac_lanes, c.beaver_lanes) = (4, 4);
    let acc = dir.join("acc16.yaml");
    std::fs::write(&acc, c.to_yaml()).unwrap();
    let acc = acc.to_str().unwrap();
    let out = polympc(&["host", "--simulate", "--config", acc, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["mismatches"], serde_json::json!([]));
    assert_eq!(t["identity"][5], 6, "the board's f");
    assert_eq!(
        t["identity"][7], 2,
        "2 MAC lanes' share of 4 of 4 Beaver lanes"
    );
    assert!(t["rows"].as_u64().unwrap() > 100, "{t}");
    let out = polympc(&["host", "--simulate", "--config", acc]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("every one equal to the golden model") && text.contains("2 Beaver lanes"),
        "{text}"
    );
    let out = polympc(&["host", "--simulate", "--config", acc, "--frac-bits", "3"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--frac-bits"), "{}", stderr(&out));
}
