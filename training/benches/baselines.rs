//! Hardware-aware training against the baselines, side by side in one run: a sweep of
//! the LeNet-style Fashion-MNIST network (polympc over lambdas; all-ReLU, all-polynomial,
//! Delphi-style layer replacement and AutoReP-style ReLU budgets) on the same data,
//! epochs and seed; then, for every baseline point, polympc's best ring accuracy at no
//! more modelled latency (ZCU102 over LAN) and the ratio of the two. A ratio of at
//! least 1 means polympc's front is at or above that baseline at equal latency.
//!
//! `cargo bench -p training --bench baselines` (`BASELINES_TRAIN` training examples,
//! 12000 by default, and `BASELINES_EPOCHS` = search + fine-tune, 1 + 2; the full
//! test set). The full sweep of the README's results table is `polympc train --sweep`.

use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, NetworkProfile};
use std::path::Path;
use training::data::{Dataset, DatasetKind, FASHION_MNIST_DIR};
use training::sweep::{activation_sites, plan, sweep};
use training::train::{Job, TrainConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = CheckedSpec::load(&root.join("examples/lenet5.yaml"))?;
    let data = Dataset::load(DatasetKind::FashionMnist, Path::new(FASHION_MNIST_DIR))?;
    let d = Device::find("zcu102")?;
    let c = AcceleratorConfig::for_device(&d, spec.spec().fixed_point);
    let cost = CostModel::new(d, c, NetworkProfile::find("lan")?)?;
    let base = TrainConfig {
        search_epochs: 1,
        finetune_epochs: env("BASELINES_EPOCHS", 3).saturating_sub(1).max(1),
        train_limit: Some(env("BASELINES_TRAIN", 12_000)),
        ..TrainConfig::default()
    };
    let out = std::env::temp_dir().join(format!("polympc-bench-baselines-{}", std::process::id()));
    let job = Job {
        spec: &spec,
        data: &data,
        cost,
        config: base.clone(),
        out: out.clone(),
        resume: false,
        device: tch::Device::Cpu,
        progress: false,
        stop_after: None,
    };
    let runs = plan(&base, &[0.003, 0.01, 0.1], activation_sites(&spec));
    let t0 = std::time::Instant::now();
    let results = sweep(&job, &runs, &out)?;
    let _ = std::fs::remove_dir_all(&out);
    let ours: Vec<(f64, f64)> = results
        .iter()
        .filter(|(p, _)| p.family == "polympc")
        .map(|(p, _)| (p.latency_ms, p.fixed_accuracy))
        .collect();
    println!(
        "{:<14} {:>10} {:>9} {:>18} {:>7}",
        "run", "latency ms", "ring %", "polympc at <= ms %", "ratio"
    );
    for (p, _) in &results {
        let best = ours
            .iter()
            .filter(|(l, _)| *l <= p.latency_ms * (1.0 + 1e-9))
            .map(|(_, a)| *a)
            .fold(f64::NAN, f64::max);
        let ratio = best / p.fixed_accuracy;
        println!(
            "{:<14} {:>10.2} {:>9.2} {:>18.2} {:>7.4}",
            p.run, p.latency_ms, p.fixed_accuracy, best, ratio
        );
    }
    println!(
        "{} runs on {} training examples, {} + {} epochs each, in {:.0} s",
        results.len(),
        base.train_limit.unwrap_or(0),
        base.search_epochs,
        base.finetune_epochs,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
