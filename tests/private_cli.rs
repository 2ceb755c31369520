//! `polympc private-infer` as a user meets it: two processes over TCP give the result
//! of one; test vectors land in their folders; bad weights, inputs, peers and specs get
//! clear errors; and (with training) a freshly trained network's private accuracy on a
//! test subset is the fixed-point accuracy the trainer reported.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;
#[path = "../sim/tests/common/mod.rs"]
mod sim_common;

use common::*;
use perf_model::CheckedSpec;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Random weights for the MLP example, written to `dir/mlp.safetensors`.
fn mlp_weights(dir: &Path, seed: u64) -> PathBuf {
    let spec = CheckedSpec::load(Path::new(&example("mlp"))).unwrap();
    let path = dir.join("mlp.safetensors");
    std::fs::write(&path, sim_common::random_weights(&spec, seed)).unwrap();
    path
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts a server on a free loopback port; gives the child and its address.
fn server(spec: &str, weights: &Path, seed: &str) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polympc"))
        .args(["private-infer", spec, "--weights"])
        .arg(weights)
        .args(["--serve", "127.0.0.1:0", "--timeout", "60", "--seed", seed])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(" on ") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the server said nothing"
        );
    }
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    // Keep draining its standard error so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (child, addr)
}

#[test]
fn two_processes_over_tcp_give_the_one_process_result() {
    let dir = scratch("private-tcp");
    let w = mlp_weights(&dir, 5);
    let spec = example("mlp");
    let (srv, addr) = server(&spec, &w, "9");
    let client = json(&polympc(&[
        "private-infer",
        &spec,
        "--connect",
        &addr,
        "--input",
        "0..2",
        "--seed",
        "9",
        "--json",
    ]));
    let srv = srv.wait_with_output().unwrap();
    assert!(srv.status.success(), "{}", stderr(&srv));
    let table = String::from_utf8_lossy(&srv.stdout);
    assert!(
        table.contains("equal") && !table.contains("predicts"),
        "{table}"
    );
    let local = json(&polympc(&[
        "private-infer",
        &spec,
        "--weights",
        w.to_str().unwrap(),
        "--input",
        "0..2",
        "--seed",
        "9",
        "--check",
        "--json",
    ]));
    assert_eq!(client["predictions"].as_array().unwrap().len(), 2);
    for (a, b) in client["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(local["predictions"].as_array().unwrap())
    {
        assert_eq!(a["logits"], b["logits"]);
        assert_eq!(a["predicted"], b["predicted"]);
    }
    assert_eq!(client["traffic"], local["traffic"]);
    assert_eq!(local["checked"], true);
}

#[test]
fn vectors_are_written_per_image_and_read_back() {
    let dir = scratch("private-vectors");
    let w = mlp_weights(&dir, 6);
    let out_dir = dir.join("vectors");
    let out = polympc(&[
        "private-infer",
        &example("mlp"),
        "--weights",
        w.to_str().unwrap(),
        "--input",
        "3..5",
        "--vectors",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    let report = json(&out);
    for (k, image) in [3usize, 4].into_iter().enumerate() {
        let set =
            sim::twopc::vectors::VectorSet::read(&out_dir.join(format!("image-{image}"))).unwrap();
        assert_eq!(set.manifest.meta.network, "mlp");
        assert_eq!(set.manifest.meta.image, Some(image));
        assert_eq!(
            Some(u64::from(set.manifest.meta.label.unwrap())),
            report["predictions"][k]["label"].as_u64()
        );
        // The ReLUs' garbled tables, the server's and the client's shares are there.
        let kinds: Vec<&str> = set
            .manifest
            .arrays
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        for name in ["tables", "labels", "delta", "mask", "x", "y", "bias"] {
            assert!(kinds.contains(&name), "{name} in {kinds:?}");
        }
    }
}

/// `polympc accel` replays a vector folder on the accelerator: the whole MLP, then
/// one layer; bad lanes, layers and vectors of another network get clear errors.
#[test]
fn the_accelerator_replays_the_written_vectors() {
    let dir = scratch("private-accel");
    let w = mlp_weights(&dir, 8);
    let (spec, w) = (example("mlp"), w.to_str().unwrap().to_string());
    let out_dir = dir.join("vectors");
    json(&polympc(&[
        "private-infer",
        &spec,
        "--weights",
        &w,
        "--input",
        "1",
        "--vectors",
        out_dir.to_str().unwrap(),
        "--json",
    ]));
    let image = out_dir.join("image-1");
    let image = image.to_str().unwrap();
    let base = ["accel", &spec, "--weights", &w, "--vectors", image];
    let r = json(&polympc(&[&base[..], &["--json", "--lanes", "4"]].concat()));
    assert_eq!(r["lanes"], 4);
    assert_eq!(r["tasks"], r["on_time"]);
    assert_eq!(r["schedule_ready"], r["measured_ready"]);
    assert_eq!(r["offset"], 0);
    let outs = r["outputs"].as_array().unwrap();
    let compared = outs.iter().filter(|o| o["golden_vs_protocol"] == 0).count();
    assert_eq!(compared, 3, "the three truncations: {outs:?}");
    assert!(outs.iter().all(|o| o["verilator_vs_golden"] == 0));
    // One layer, at its relative cycles, on a configuration's 8 lanes and 2 Beaver
    // lanes.
    let explored = dir.join("explored");
    let o = polympc(&["explore", &spec, "--out", explored.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = std::fs::read_to_string(explored.join("accelerator.yaml")).unwrap();
    let with = |key: &str, value: &str| {
        let text: Vec<String> = yaml
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key}:")) {
                    format!("{key}: {value}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert_ne!(text.join("\n"), yaml.trim_end(), "no `{key}` in {yaml}");
        let p = dir.join(format!("{key}-{value}.yaml"));
        std::fs::write(&p, text.join("\n") + "\n").unwrap();
        p.to_str().unwrap().to_string()
    };
    let eight = with("mac_lanes", "8");
    let out = polympc(
        &[
            &base[..],
            &[
                "--layers",
                "dense3,dense3.trunc",
                "--config",
                &eight,
                "--beaver-lanes",
                "2",
            ],
        ]
        .concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("dense3.trunc")
            && text.contains("(8 MAC lanes, 2 Beaver lanes")
            && text.contains("passed: bit-exact and cycle-exact"),
        "{text}"
    );
    fails_with(
        &[&base[..], &["--config", &with("ring_bits", "32")]].concat(),
        &[
            "ring_bits-32.yaml",
            "ring (l = 32, f = 12) is not",
            "(l = 64, f = 12)",
        ],
    );
    fails_with(
        &[&base[..], &["--lanes", "3"]].concat(),
        &["2, 4, 8, 16 or 32 MAC lanes, not 3"],
    );
    fails_with(
        &[&base[..], &["--lanes", "8", "--beaver-lanes", "4"]].concat(),
        &[
            "--beaver-lanes",
            "8 MAC lanes is generated for 8, 2, 1 Beaver lanes, not 4",
        ],
    );
    fails_with(
        &[&base[..], &["--small", "--lanes", "2"]].concat(),
        &[
            "small-memory accelerator",
            "the small-memory top level is generated for the 16-bit ring with 2 MAC lanes \
             only, not l = 64",
        ],
    );
    fails_with(
        &[&base[..], &["--layers", "conv9"]].concat(),
        &["--layers: no layer `conv9`", "dense3.trunc"],
    );
    let other = dir.join("other.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&other, text.replace("name: mlp", "name: other")).unwrap();
    fails_with(
        &[
            "accel",
            other.to_str().unwrap(),
            "--weights",
            &w,
            "--vectors",
            image,
        ],
        &["these vectors are of another network (`mlp`)"],
    );
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let out = polympc(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in {err}");
    }
}

#[test]
fn bad_weights_inputs_and_peers_get_clear_errors() {
    let dir = scratch("private-bad");
    let spec = example("mlp");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let g = garbage.to_str().unwrap();
    fails_with(
        &["private-infer", &spec, "--weights", g],
        &["garbage.safetensors"],
    );
    // Weights of another network: the missing tensor is named.
    let other = CheckedSpec::load(Path::new(&example("lenet5"))).unwrap();
    let lenet = dir.join("lenet5.safetensors");
    std::fs::write(&lenet, sim_common::random_weights(&other, 1)).unwrap();
    fails_with(
        &["private-infer", &spec, "--weights", lenet.to_str().unwrap()],
        &["lenet5.safetensors", "dense"],
    );
    let w = mlp_weights(&dir, 7);
    let ws = w.to_str().unwrap();
    fails_with(
        &["private-infer", &spec, "--weights", ws, "--input", "10000"],
        &["--input", "0..10000"],
    );
    fails_with(
        &["private-infer", &spec, "--weights", ws, "--input", "x"],
        &["--input", "`x`"],
    );
    // Nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    fails_with(
        &["private-infer", &spec, "--connect", &port.to_string()],
        &["--connect"],
    );
    fails_with(
        &[
            "private-infer",
            &spec,
            "--connect",
            "127.0.0.1:1",
            "--check",
        ],
        &["only the server has the weights"],
    );
}

#[test]
fn a_client_with_another_spec_is_refused_by_both_sides() {
    let dir = scratch("private-mismatch");
    let w = mlp_weights(&dir, 8);
    let (srv, addr) = server(&example("mlp"), &w, "1");
    let text = std::fs::read_to_string(example("mlp")).unwrap();
    let other = dir.join("mlp.yaml");
    std::fs::write(&other, text.replace("frac_bits: 12", "frac_bits: 13")).unwrap();
    fails_with(
        &[
            "private-infer",
            other.to_str().unwrap(),
            "--connect",
            &addr,
            "--timeout",
            "20",
        ],
        &["spec"],
    );
    let srv = srv.wait_with_output().unwrap();
    assert!(!srv.status.success());
}

#[cfg(feature = "train")]
#[test]
fn a_trained_networks_private_accuracy_is_the_trainers_fixed_point_accuracy() {
    let dir = scratch("private-trained");
    let d = dir.to_str().unwrap();
    let out = polympc(&[
        "train",
        &example("mlp"),
        "--search-epochs",
        "1",
        "--epochs",
        "1",
        "--train-limit",
        "3000",
        "--test-limit",
        "200",
        "--quiet",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let trainer = report["fixed_accuracy"].as_f64().unwrap();
    let private = json(&polympc(&[
        "private-infer",
        dir.join("mlp.yaml").to_str().unwrap(),
        "--input",
        "0..200",
        "--check",
        "--json",
    ]));
    let acc = private["accuracy"].as_f64().unwrap();
    // The same arithmetic with other truncation shares: an off-by-one in the last bit
    // may flip a close call, so one image of the 200 may differ.
    assert!(
        (acc - trainer).abs() <= 0.5 + 1e-9,
        "private {acc}%, trainer {trainer}%"
    );
    assert!(acc > 60.0, "{acc}%: the network learnt something");
}
