//! Epoch time of the LeNet-style Fashion-MNIST network in polympc and in PyTorch 2.13,
//! side by side in one run: same network (examples/lenet5.yaml, ReLU at every site),
//! same data, batch size, optimiser and threads. The peer is `bench/train_epoch.py`,
//! run with the Python of the virtual environment whose libtorch polympc links.
//! Prints both times and the ratio PyTorch / polympc (the target is at least 0.95).
//!
//! `cargo bench -p training --bench epoch [-- EPOCHS]` (default 2; the best epoch of
//! each counts, so a warm-up is included).

use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, NetworkProfile};
use std::path::{Path, PathBuf};
use std::process::Command;
use training::data::{Dataset, DatasetKind, FASHION_MNIST_DIR};
use training::train::{run, Job, Method, TrainConfig};

fn venv_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("POLYMPC_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let torch = std::env::var_os("LIBTORCH").ok_or("LIBTORCH is not set: run scripts/setup")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let torch = std::fs::canonicalize(root.join(&torch))
        .or_else(|_| std::fs::canonicalize(&torch))
        .map_err(|e| format!("LIBTORCH {}: {e}", Path::new(&torch).display()))?;
    // <venv>/lib/python3.X/site-packages/torch
    let venv = torch
        .ancestors()
        .nth(4)
        .ok_or("LIBTORCH is not inside a virtual environment")?;
    Ok(venv.join("bin").join("python"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = CheckedSpec::load(&root.join("examples/lenet5.yaml"))?;
    let data = Dataset::load(DatasetKind::FashionMnist, Path::new(FASHION_MNIST_DIR))?;
    let d = Device::find("zcu102")?;
    let c = AcceleratorConfig::for_device(&d, spec.spec().fixed_point);
    let cost = CostModel::new(d, c, NetworkProfile::find("lan")?)?;
    let threads = tch::get_num_threads();
    let out = std::env::temp_dir().join(format!("polympc-bench-epoch-{}", std::process::id()));
    let job = Job {
        spec: &spec,
        data: &data,
        cost,
        config: TrainConfig {
            method: Method::AllRelu,
            search_epochs: 0,
            finetune_epochs: epochs,
            ..TrainConfig::default()
        },
        out: out.clone(),
        resume: false,
        device: tch::Device::Cpu,
        progress: false,
        stop_after: None,
    };
    let report = run(&job)?;
    let _ = std::fs::remove_dir_all(&out);
    let ours: Vec<f64> = report.history.iter().map(|h| h.seconds).collect();

    let python = venv_python()?;
    let script = root.join("bench/train_epoch.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(FASHION_MNIST_DIR)
        .arg(threads.to_string())
        .arg(epochs.to_string())
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !o.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&o.stderr)
        )
        .into());
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let theirs: Vec<f64> = v["seconds"]
        .as_array()
        .ok_or("no seconds in the peer's output")?
        .iter()
        .filter_map(|s| s.as_f64())
        .collect();
    let params = v["params"].as_u64().unwrap_or(0);
    let ours_params: u64 = spec.layers().iter().map(|l| l.params).sum();
    if params != ours_params {
        return Err(
            format!("the peer's network has {params} parameters, the spec {ours_params}").into(),
        );
    }
    let best = |t: &[f64]| t.iter().copied().fold(f64::INFINITY, f64::min);
    let (a, b) = (best(&ours), best(&theirs));
    println!(
        "LeNet-style Fashion-MNIST epoch (60000 examples, batch 128, Adam, {threads} threads)"
    );
    println!("{:<26} {:>12}  per epoch", "", "best s");
    println!("{:<26} {:>12.2}  {:?}", "polympc (tch)", a, ours);
    println!(
        "{:<26} {:>12.2}  {:?}",
        format!("PyTorch {}", v["torch"].as_str().unwrap_or("?")),
        b,
        theirs
    );
    println!(
        "ratio PyTorch / polympc   {:>12.3}  (target >= 0.95)",
        b / a
    );
    Ok(())
}
