//! `polympc flow` on a small configuration (the MLP, a short training on part of
//! Fashion-MNIST): the report's figures are what the individual commands print for the
//! same inputs; unchanged stages are skipped and changed ones rerun; an interrupted
//! flow resumes without redoing finished stages and leaves no half-written artifact.

#![cfg(feature = "train")]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The small flow's arguments into `out`; each of `extra` replaces the value of a flag
/// already there (`--epochs 40`) or is added.
fn flow_args<'a>(spec: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "flow",
        "--spec",
        spec,
        "--search-epochs",
        "1",
        "--epochs",
        "1",
        "--train-limit",
        "2000",
        "--test-limit",
        "200",
        "--images",
        "0..4",
        "--vectors",
        "50",
        "--board",
        "none",
        // The accelerator stage on 4 lanes (the MLP would take the configuration's
        // 32, whose model takes a quarter of an hour to build).
        "--accel-lanes",
        "4",
        "--out",
        out,
    ];
    let mut k = 0;
    while k < extra.len() {
        let value = extra.get(k + 1).filter(|v| !v.starts_with("--"));
        match (a.iter().position(|x| *x == extra[k]), value) {
            (Some(i), Some(v)) => a[i + 1] = v,
            (None, Some(v)) => a.extend([extra[k], v]),
            (_, None) => a.push(extra[k]),
        }
        k += 1 + usize::from(value.is_some());
    }
    a
}

/// The predictions of a `private-infer --json` run without their timings.
fn predictions(v: &Value) -> Vec<Value> {
    v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::json!([p["image"], p["label"], p["predicted"], p["logits"]]))
        .collect()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let o = polympc(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ran(report: &Value) -> Vec<String> {
    statuses(report)
        .into_iter()
        .filter(|(_, s)| s == "ran")
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn the_report_has_the_commands_figures_and_unchanged_stages_are_skipped() {
    let spec = example("mlp");
    let dir = scratch("flow-report");
    let out = dir.to_str().unwrap();
    let board = ["--board", "icebreaker"];
    let o = polympc(&flow_args(&spec, out, &board));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read(&dir.join("report.json"));
    assert_eq!(ran(&report).len(), 10, "{report}");
    for f in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        for plot in [
            "train/curves.svg",
            "explore/pareto.svg",
            "estimate/breakdown.svg",
            "schedule/gantt.svg",
        ] {
            assert!(text.contains(plot), "{f} lacks {plot}");
            assert!(dir.join(plot).is_file(), "{plot} missing");
        }
    }

    // Training: the trainer's own report.
    let train = read(&dir.join("train/report.json"));
    assert_eq!(
        report["training"]["float_accuracy"],
        train["float_accuracy"]
    );
    assert_eq!(report["training"]["ring_accuracy"], train["fixed_accuracy"]);

    // The same commands by hand, on the flow's trained spec and chosen configuration.
    let trained = dir.join("train/mlp.yaml");
    let trained = trained.to_str().unwrap();
    let acc = dir.join("explore/accelerator.yaml");
    let acc = acc.to_str().unwrap();
    let est = json_of(&["estimate", trained, "--config", acc, "--json"]);
    assert_eq!(
        report["estimate"]["online_ms"].as_f64().unwrap(),
        est["online"]["total_s"].as_f64().unwrap() * 1e3
    );
    let x = json_of(&["explore", trained, "--json"]);
    let chosen = &x["points"][x["chosen"].as_u64().unwrap() as usize];
    assert_eq!(report["accelerator"]["config"], chosen["config"]);
    let s = json_of(&["schedule", trained, "--config", acc, "--json"]);
    assert_eq!(report["schedule"]["makespan_cycles"], s["makespan"]);
    assert_eq!(report["schedule"]["lower_bound_cycles"], s["lower_bound"]);
    let v = json_of(&[
        "sim",
        "--config",
        acc,
        "--vectors",
        "50",
        "--seed",
        "1",
        "--json",
    ]);
    assert_eq!(v["passed"], true);
    assert_eq!(report["verify"]["passed"], true);
    for (b, r) in v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(report["verify"]["block_latency_cycles"].as_array().unwrap())
    {
        assert_eq!(b["block"], r["block"]);
        assert_eq!(b["latency"]["verilator"], r["verilator"]);
    }
    assert_eq!(
        report["verify"]["relu_garble_cycles"],
        v["relu_engine"]["garble_cycles"]
    );
    let p = json_of(&[
        "private-infer",
        trained,
        "--input",
        "0..4",
        "--check",
        "--json",
        "--seed",
        "1",
    ]);
    assert_eq!(report["private"]["accuracy"], p["accuracy"]);
    assert_eq!(report["private"]["images"], 4);
    assert_eq!(report["private"]["bit_exact"], true);
    let flow_private = read(&dir.join("private/private.json"));
    assert_eq!(predictions(&flow_private), predictions(&p));

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    // On the ZCU102, the hdl stage wrote the accelerator's Vivado project, checked.
    let tcl = std::fs::read_to_string(dir.join("hdl/vivado/build.tcl")).unwrap();
    assert!(tcl.contains("-part xczu9eg-ffvb1156-2-e"), "{tcl}");
    let said = std::fs::read_to_string(dir.join("hdl/vivado.txt")).unwrap();
    assert!(said.contains("core: the accelerator"), "{said}");
    // What the steps printed names the stages' own folders, not the partial ones
    // they ran in.
    let hdl = dir.join("hdl").to_str().unwrap().to_owned();
    assert!(said.contains(&hdl) && !said.contains(".partial"), "{said}");
    assert!(md.contains("Vivado project for the zcu102") && md.contains("`hdl/vivado/`"));
    // The accelerator: the same vectors replayed by hand.
    let image = dir.join("accel/vectors/image-0");
    let a = json_of(&[
        "accel",
        trained,
        "--vectors",
        image.to_str().unwrap(),
        "--config",
        acc,
        "--lanes",
        "4",
        "--json",
    ]);
    let ar = &report["accelerator_run"];
    assert_eq!(ar["lanes"], 4);
    assert_eq!(a["passed"], true);
    assert_eq!(ar["passed"], true);
    assert_eq!(ar["beaver_lanes"], a["beaver_lanes"]);
    let chosen_acc = perf_model::AcceleratorConfig::load(Path::new(acc)).unwrap();
    assert_eq!(
        a["beaver_lanes"],
        hdl::accel::beaver_lanes_for(4, chosen_acc.mac_lanes, chosen_acc.beaver_lanes).unwrap(),
        "the configuration's share of Beaver lanes"
    );
    for (k, field) in [
        ("lanes", "lanes"),
        ("tasks", "tasks"),
        ("measured_ready_cycles", "measured_ready"),
        ("schedule_ready_cycles", "schedule_ready"),
    ] {
        assert_eq!(ar[k], a[field], "{k}");
    }
    // The MLP's three truncations against the protocol's shares, nothing differing.
    assert_eq!(ar["truncations_checked"], 3);
    assert_eq!(ar["elements_differing"], 0);
    assert!(
        md.contains("| accelerator on Verilator | the server's"),
        "{md}"
    );

    // The board: the bitstream's own report and the host link's self-test.
    let bit = read(&dir.join("board/report.json"));
    let b = &report["board"];
    assert_eq!(b["board"], "icebreaker");
    assert_eq!(b["fmax_mhz"], bit["fmax_mhz"]);
    assert_eq!(b["clock_mhz"], bit["clock_mhz"]);
    assert!(b["fmax_mhz"].as_f64().unwrap() >= b["clock_mhz"].as_f64().unwrap());
    let lc = bit["utilisation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "ICESTORM_LC")
        .unwrap();
    assert_eq!(b["logic_cells"], lc["used"]);
    assert_eq!(b["self_test_passed"], true);
    // The largest core that fits: the UP5K refuses both accelerator links.
    assert_eq!(b["core_kind"], "host_link");
    assert_eq!(b["refused"], bit["refused"]);
    assert_eq!(bit["refused"].as_array().unwrap().len(), 2, "{bit}");
    assert!(
        b["self_test"].as_str().unwrap().contains("Beaver products"),
        "{b}"
    );
    assert!(dir.join("board/polympc_board.bin").is_file());
    assert!(
        md.contains("| iCE40 bitstream | host link on the icebreaker"),
        "{md}"
    );

    // Nothing changed: every stage is skipped.
    let again = polympc(&flow_args(&spec, out, &board));
    assert!(again.status.success(), "{}", stderr(&again));
    let report = read(&dir.join("report.json"));
    assert!(ran(&report).is_empty(), "{:?}", statuses(&report));

    // Other images: only private inference runs again.
    let o = polympc(&flow_args(
        &spec,
        out,
        &["--images", "0..2", "--board", "icebreaker"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read(&dir.join("report.json"));
    assert_eq!(ran(&report), ["private"]);
    assert_eq!(report["private"]["images"], 2);

    // --from reruns that stage and every later one (the board left out this time).
    let o = polympc(&flow_args(&spec, out, &["--from", "hdl"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read(&dir.join("report.json"));
    assert_eq!(ran(&report), ["hdl", "verify", "private", "accel", "board"]);
    assert!(report["board"].is_null());
}

#[test]
fn an_interrupted_flow_resumes_without_redoing_finished_stages() {
    let spec = example("mlp");
    let dir = scratch("flow-interrupted");
    let out = dir.to_str().unwrap();

    // Killed during training: no train folder yet, the next run resumes the epochs.
    let long = ["--epochs", "40"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_polympc"))
        .args(flow_args(&spec, out, &long))
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let state = dir.join(".train.partial/checkpoint/state.json");
    let t0 = Instant::now();
    while !state.exists() && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The whole group: the flow and the training it started.
    let pg = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-9", "--", &pg]).status();
    let _ = child.wait();
    assert!(state.exists(), "no checkpoint was written");
    assert!(
        !dir.join("train").exists(),
        "a half-trained network looks finished"
    );

    let o = polympc(&flow_args(
        &spec,
        out,
        &["--epochs", "40", "--stop-after", "explore"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(resumed)"), "{}", stderr(&o));
    for s in ["train", "graph", "explore"] {
        assert!(dir.join(s).join("stamp.json").is_file(), "{s} not finished");
    }
    assert!(!dir.join("estimate").exists());
    assert!(!dir.join("report.json").exists());
    let train = read(&dir.join("train/report.json"));
    assert_eq!(train["history"].as_array().unwrap().len(), 41);

    // Going on: the finished stages are skipped.
    let o = polympc(&flow_args(&spec, out, &long));
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read(&dir.join("report.json"));
    assert_eq!(
        ran(&report),
        ["estimate", "schedule", "hdl", "verify", "private", "accel", "board"]
    );
}

#[test]
fn bad_specs_and_failing_stages_get_clear_errors_and_keep_what_was_written() {
    let dir = scratch("flow-errors");
    let out = dir.to_str().unwrap();
    let o = polympc(&flow_args("/nonexistent/net.yaml", out, &[]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/net.yaml"),
        "{}",
        stderr(&o)
    );

    // A spec the trainer rejects: the stage, its command and the spec's error.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\ninput: [1, 28, 28]\nlayers:\n  - dense: { out_features: 0 }\n",
    )
    .unwrap();
    let o = polympc(&flow_args(bad.to_str().unwrap(), out, &[]));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("stage train failed"), "{e}");
    assert!(e.contains("bad.yaml"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(!dir.join("train").exists());

    // A folder that finished a stage keeps it when a later run fails.
    let spec = example("mlp");
    let o = polympc(&flow_args(&spec, out, &["--stop-after", "graph"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = polympc(&flow_args(&spec, out, &["--fpga", "nonexistent-fpga"]));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("nonexistent-fpga"), "{e}");
    assert!(dir.join("train/report.json").is_file());
    // Lanes the top level is not generated for, refused before any stage runs.
    let o = polympc(&flow_args(
        &spec,
        out,
        &["--accel-lanes", "3", "--from", "train"],
    ));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("--accel-lanes 3"), "{e}");
    assert!(e.contains("[2, 4, 8, 16, 32]"), "{e}");
    assert!(!e.contains("[1/"), "no stage started: {e}");
    assert!(dir.join("train/report.json").is_file());
    assert!(dir.join("graph/graph.json").is_file());
}
