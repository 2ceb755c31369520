//! `polympc graph` as a user meets it: the table, `--dot` that Graphviz draws,
//! `--out`, and clear errors with a non-zero exit on bad specs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;

use std::path::Path;
use std::process::Command;

#[test]
fn table_lists_nodes_and_totals() {
    let out = polympc(&["graph", &example("lenet5")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "conv2d+bn",
        "gc-maxpool",
        "gc-relu",
        "truncate",
        "GC ReLU elements",
        "6,508",
        "416,520",
    ] {
        assert!(text.contains(needle), "`{needle}` missing:\n{text}");
    }
}

#[test]
fn dot_output_is_drawn_by_graphviz() {
    let dir = scratch("dot");
    let dot = dir.join("resnet20.dot");
    let out = polympc(&[
        "graph",
        &example("resnet20"),
        "--dot",
        "--out",
        dot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot)
        .output()
        .expect("graphviz (scripts/setup installs it)");
    assert!(
        svg.status.success(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let svg = String::from_utf8(svg.stdout).unwrap();
    assert!(svg.contains("<svg") && svg.contains("s3b3_out"));
}

fn fails_with(spec_text: &str, needles: &[&str]) {
    let dir = scratch("bad");
    let spec = dir.join("broken.yaml");
    std::fs::write(&spec, spec_text).unwrap();
    let out = polympc(&["graph", spec.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.starts_with("error: ") && err.contains("broken.yaml"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_specs_exit_non_zero_with_the_reason() {
    fails_with("name: x\ninput: [1, 4, 4]\nlayers:\n  - conv2d: {out_channels: 2, kernel: 3}\n  - dense: {out_features: 2}\n", &["layer 1", "flatten"]);
    fails_with(
        "name: x\ninput: [4]\nfixed_point: {ring_bits: 12, frac_bits: 4}\nlayers: [relu]\n",
        &["ring_bits"],
    );
    fails_with("name: x\ninput: [4]\nlayers: [relu\n", &["line"]);
    fails_with("name: x\ninput: [4]\nlayers: [gelu]\n", &["gelu"]);
}

#[test]
fn missing_spec_file() {
    let out = polympc(&["graph", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist.yaml"));
}

#[test]
fn failed_write_keeps_the_old_output() {
    let dir = scratch("keep");
    let target = dir.join("graph.json");
    std::fs::write(&target, "old").unwrap();
    // The spec is bad, so nothing is written and the old file stays.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "name: x\ninput: [0]\nlayers: [relu]\n").unwrap();
    let out = polympc(&[
        "graph",
        bad.to_str().unwrap(),
        "--json",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    // A good spec replaces it whole.
    let out = polympc(&[
        "graph",
        &example("mlp"),
        "--json",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(v["name"], "mlp");
    assert!(Path::new(&target).exists());
}
