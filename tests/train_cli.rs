//! `polympc train` as a user meets it: a run killed mid-way and resumed ends with the
//! weights of an uninterrupted run; bad specs, data and options get clear errors.

#![cfg(feature = "train")]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--search-epochs",
        "1",
        "--epochs",
        "3",
        "--train-limit",
        "4000",
        "--test-limit",
        "500",
        "--quiet",
        "--out",
        out,
    ];
    a.extend_from_slice(extra);
    a
}

fn epochs_done(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("checkpoint/state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["epochs_done"].as_u64())
        .unwrap_or(0)
}

#[test]
fn killed_run_resumes_to_the_uninterrupted_weights() {
    let spec = example("mlp");
    let (a, b) = (scratch("train-whole"), scratch("train-killed"));
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let whole = polympc(&train_args(a_s, &[&spec]));
    assert!(whole.status.success(), "{}", stderr(&whole));

    let mut child = Command::new(env!("CARGO_BIN_EXE_polympc"))
        .args(train_args(b_s, &[&spec]))
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while epochs_done(&b) < 1 && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let done = epochs_done(&b);
    assert!((1..4).contains(&done), "killed after {done} epochs");

    let resumed = polympc(&train_args(b_s, &[&spec, "--resume"]));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let w = |d: &Path| std::fs::read(d.join("mlp.safetensors")).unwrap();
    assert!(w(&a) == w(&b), "weights differ after a kill and --resume");
    let log = std::fs::read_to_string(b.join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "one log line per epoch: {log}");
    // The trained spec reads back and names its weights.
    let text = std::fs::read_to_string(b.join("mlp.yaml")).unwrap();
    assert!(text.contains("weights: mlp.safetensors"), "{text}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = scratch("train-bad");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let bad_spec = dir.join("bad.yaml");
    std::fs::write(
        &bad_spec,
        "name: x\ninput: [1, 28, 28]\nlayers:\n  - conv2d: { kernel: 3 }\n",
    )
    .unwrap();
    let bad_data = dir.join("data");
    std::fs::create_dir_all(&bad_data).unwrap();
    std::fs::write(
        bad_data.join("train-images-idx3-ubyte"),
        [0u8, 0, 8, 3, 0, 0],
    )
    .unwrap();
    std::fs::write(
        bad_data.join("train-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 1, 3],
    )
    .unwrap();
    let mlp = example("mlp");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![bad_spec.to_str().unwrap()],
            vec!["bad.yaml", "out_channels"],
        ),
        (
            vec![&mlp, "--data", bad_data.to_str().unwrap()],
            vec!["train-images-idx3-ubyte", "truncated IDX header"],
        ),
        (
            vec![&mlp, "--dataset", "imagenet"],
            vec!["--dataset imagenet"],
        ),
        (
            vec![&mlp, "--dataset", "cifar10"],
            vec!["does not match cifar10"],
        ),
        (vec![&mlp, "--fpga", "nosuchboard"], vec!["nosuchboard"]),
        (vec![&mlp, "--method", "magic"], vec!["--method magic"]),
        (vec![&mlp, "--lr=-1"], vec!["lr: -1 is not a positive rate"]),
        (
            vec![&mlp, "--method", "autorep", "--budget-ms", "3"],
            vec!["--relu-budget"],
        ),
        (
            vec![&mlp, "--gates", "channel", "--circa", "8"],
            vec!["gates", "Circa is offered per site only"],
        ),
        (vec![&mlp, "--gates", "pixel"], vec!["--gates", "pixel"]),
    ];
    for (extra, expect) in cases {
        let o = polympc(&train_args(out, &extra));
        let e = stderr(&o);
        assert!(!o.status.success(), "{extra:?} succeeded");
        for x in &expect {
            assert!(e.contains(x), "{extra:?}: `{x}` not in: {e}");
        }
        assert!(!e.contains("panicked"), "{extra:?}: {e}");
    }
    if !training::tch::Cuda::is_available() {
        let o = polympc(&train_args(out, &[&mlp, "--device", "cuda"]));
        assert!(
            !o.status.success() && stderr(&o).contains("no CUDA device"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_sweep_trains_every_family_and_resumes_without_retraining() {
    let spec = example("mlp");
    let dir = scratch("train-sweep");
    let out = dir.to_str().unwrap();
    let args = [
        "train",
        &spec,
        "--sweep",
        "--lambdas",
        "0.01",
        "--search-epochs",
        "1",
        "--epochs",
        "1",
        "--train-limit",
        "1000",
        "--test-limit",
        "200",
        "--quiet",
        "--out",
        out,
    ];
    let o = polympc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.join("pareto.csv")).unwrap();
    let families: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    // The MLP has two activation sites: Delphi replaces one layer.
    assert_eq!(
        families,
        ["all-relu", "all-poly", "polympc", "delphi", "autorep"],
        "{csv}"
    );
    assert!(dir.join("pareto.svg").is_file());
    // A second run finds every report and trains nothing: no run's report is
    // rewritten, and the fronts are the same.
    let reports = || -> Vec<std::time::SystemTime> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("runs"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path().join("report.json");
                std::fs::metadata(p).unwrap().modified().unwrap()
            })
            .collect();
        v.sort();
        v
    };
    let before = reports();
    assert_eq!(before.len(), 5);
    let o = polympc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reports(), before);
    assert_eq!(
        std::fs::read_to_string(dir.join("pareto.csv")).unwrap(),
        csv
    );
}
