//! `polympc estimate` and the cost model behind it, on the example networks: the
//! protocol's claims (polynomials are far cheaper online than garbled ReLUs, a WAN is
//! never faster than a LAN), the JSON a user scripts against, the SVG plot, and clear
//! errors with a non-zero exit on unknown devices and networks, malformed device files
//! and configurations that do not fit.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;

use perf_model::spec::{LayerOp, Poly};
use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, FixedPoint, NetworkProfile};
use scheduler::TwoPcGraph;
use std::path::Path;

fn online_s(spec: &CheckedSpec, device: &str, net: &str) -> f64 {
    let d = Device::find(device).unwrap();
    let fixed = spec.spec().fixed_point;
    let c = AcceleratorConfig::for_device(&d, fixed);
    let m = CostModel::new(d, c, NetworkProfile::find(net).unwrap()).unwrap();
    let g = TwoPcGraph::build(spec);
    m.network_estimate(g.name(), fixed, &g.workloads())
        .unwrap()
        .online
        .total_s
}

#[test]
fn all_polynomial_resnet20_is_ten_times_faster_online_than_all_relu() {
    let relu = CheckedSpec::load(Path::new(&example("resnet20"))).unwrap();
    let mut spec = relu.spec().clone();
    let mut replaced = 0;
    for l in &mut spec.layers {
        if matches!(l.op, LayerOp::Relu) {
            l.op = LayerOp::Poly(Poly::default());
            replaced += 1;
        }
    }
    assert_eq!(replaced, 19);
    let poly = CheckedSpec::new(spec, Path::new("resnet20-poly.yaml")).unwrap();
    let (r, p) = (
        online_s(&relu, "zcu102", "lan"),
        online_s(&poly, "zcu102", "lan"),
    );
    assert!(r >= 10.0 * p, "all-ReLU {r:.4} s vs all-poly {p:.4} s");
}

#[test]
fn wan_is_never_faster_than_lan_on_any_example_or_device() {
    for name in ["mlp", "lenet5", "vgg11", "resnet20", "resnet20-projection"] {
        let spec = CheckedSpec::load(Path::new(&example(name))).unwrap();
        for device in ["pynq-z2", "zcu102", "u250"] {
            let (lan, wan) = (
                online_s(&spec, device, "lan"),
                online_s(&spec, device, "wan"),
            );
            assert!(wan >= lan, "{name} on {device}: WAN {wan} < LAN {lan}");
        }
    }
}

#[test]
fn json_totals_add_up_and_relu_gates_come_from_the_circuit() {
    let out = polympc(&[
        "estimate",
        &example("lenet5"),
        "--fpga",
        "zcu102",
        "--net",
        "lan",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    let sum: f64 = layers
        .iter()
        .map(|l| l["online"]["total_s"].as_f64().unwrap())
        .sum();
    let total = v["online"]["total_s"].as_f64().unwrap();
    assert!((sum - total).abs() <= 1e-9 * total.max(1.0));
    // The Fashion-MNIST examples compute in a 64-bit ring.
    let l = 64;
    let relu_ands = perf_model::circuit::library::relu(l).counts().and;
    let relu2 = layers.iter().find(|l| l["label"] == "relu2").unwrap();
    assert_eq!(relu2["kind"], "gc-relu");
    assert_eq!(
        relu2["counts"]["and_gates"].as_u64().unwrap(),
        4704 * relu_ands
    );
    assert_eq!(
        relu2["online"]["bytes_s2c"].as_u64().unwrap(),
        4704 * l as u64 * 16
    );
    for l in layers {
        let (on, bound) = (
            l["online"]["total_s"].as_f64().unwrap(),
            l["online"]["bound_s"].as_f64().unwrap(),
        );
        assert!(bound <= on + 1e-12, "{}", l["label"]);
    }
}

#[test]
fn table_plot_and_saved_configuration() {
    let dir = scratch("plot");
    let (svg, acc) = (dir.join("lenet5.svg"), dir.join("acc.yaml"));
    let out = polympc(&[
        "estimate",
        &example("lenet5"),
        "--fpga",
        "pynq-z2",
        "--net",
        "wan",
        "--plot",
        svg.to_str().unwrap(),
        "--save-config",
        acc.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("relu2") && table.contains("utilisation"),
        "{table}"
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("relu2") && svg.trim_end().ends_with("</svg>"));
    // The saved configuration reads back and gives the same estimate.
    let again = polympc(&[
        "estimate",
        &example("lenet5"),
        "--fpga",
        "pynq-z2",
        "--net",
        "wan",
        "--config",
        acc.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), table);
}

#[test]
fn bad_inputs_fail_clearly() {
    let out = polympc(&["estimate", &example("mlp"), "--fpga", "xc9999"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("unknown device `xc9999`") && e.contains("xczu9eg") && e.contains("ice40up5k"),
        "{e}"
    );

    let out = polympc(&["estimate", &example("mlp"), "--net", "carrier-pigeon"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("lan, wan"), "{}", stderr(&out));

    let dir = scratch("bad");
    let dev = dir.join("broken.yaml");
    std::fs::write(&dev, "name: broken\nluts: [\n").unwrap();
    let out = polympc(&["estimate", &example("mlp"), "--fpga", dev.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken.yaml"), "{}", stderr(&out));

    // The ZCU102's default configuration on the small iCE40.
    let big = dir.join("big.yaml");
    let zcu = Device::find("zcu102").unwrap();
    let mut c = AcceleratorConfig::for_device(&zcu, FixedPoint::default());
    c.clock_mhz = 50.0;
    std::fs::write(&big, c.to_yaml()).unwrap();
    let out = polympc(&[
        "estimate",
        &example("mlp"),
        "--fpga",
        "hx8k",
        "--config",
        big.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("does not fit ice40hx8k") && e.contains("LUT") && e.contains("mac lane"),
        "{e}"
    );

    // A configuration in another ring than the model's.
    c.ring_bits = 16;
    std::fs::write(&big, c.to_yaml()).unwrap();
    let out = polympc(&[
        "estimate",
        &example("mlp"),
        "--config",
        big.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("16-bit ring"), "{}", stderr(&out));
}

#[test]
fn explore_chooses_a_configuration_that_estimate_confirms() {
    let dir = scratch("explore");
    let d = dir.to_str().unwrap();
    let spec = example("lenet5");
    let out = polympc(&["explore", &spec, "--fpga", "zcu102", "--out", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let x: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chosen = &x["points"][x["chosen"].as_u64().unwrap() as usize];
    assert!(chosen["utilisation"].as_f64().unwrap() <= 0.8);
    for f in ["dse.json", "accelerator.yaml", "pareto.svg"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // The chosen configuration, estimated on its own, gives the latency the
    // exploration reported, and beats the standard configuration.
    let cfg = dir.join("accelerator.yaml");
    let out = polympc(&[
        "estimate",
        &spec,
        "--config",
        cfg.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (a, b) = (
        e["online"]["total_s"].as_f64().unwrap(),
        chosen["online_s"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * a.max(1.0), "{a} vs {b}");
    let standard = online_s(
        &CheckedSpec::load(Path::new(&spec)).unwrap(),
        "zcu102",
        "lan",
    );
    assert!(b <= standard, "{b} > {standard}");
    // Nothing fits an iCE40 HX8K: the short resource is named, with the shortfall.
    let out = polympc(&["explore", &spec, "--fpga", "hx8k"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("short by") && err.contains("ice40hx8k"),
        "{err}"
    );
    let out = polympc(&["explore", &spec, "--max-utilisation", "0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--max-utilisation"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schedule_writes_a_valid_schedule_its_gantt_chart_and_configuration() {
    let dir = scratch("schedule");
    let d = dir.to_str().unwrap();
    let spec = example("mlp");
    let out = polympc(&["schedule", &spec, "--fpga", "zcu102", "--out", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("lower bound") && table.contains("relu2"),
        "{table}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("schedule.json")).unwrap()).unwrap();
    let (m, lb) = (
        s["makespan"].as_u64().unwrap(),
        s["lower_bound"].as_u64().unwrap(),
    );
    assert!(m >= lb && (m as f64) <= 1.1 * lb as f64, "{m} vs {lb}");
    assert!(std::fs::read_to_string(dir.join("gantt.svg"))
        .unwrap()
        .contains("<rect"));
    // The configuration it scheduled on, given back, gives the same schedule.
    let cfg = dir.join("accelerator.yaml");
    let again = polympc(&[
        "schedule",
        &spec,
        "--config",
        cfg.to_str().unwrap(),
        "--json",
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let t: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(t["makespan"], s["makespan"]);
    let out = polympc(&["schedule", &spec, "--max-tiles", "0"]);
    assert!(!out.status.success() && stderr(&out).contains("--max-tiles"));
}
