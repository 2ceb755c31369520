//! A sweep: the same network and data trained by polympc's method over a range of
//! lambdas and by the baselines (all-ReLU, all-polynomial, Delphi-style layer
//! replacement for every number of layers, AutoReP-style ReLU-count gates over the
//! same lambdas), each run in its own folder; then the accuracy-latency Pareto fronts
//! (`pareto.csv`, `pareto.svg`). A run whose report is already there is not redone, so
//! an interrupted sweep resumes.

use crate::plot::{pareto_svg, SweepPoint};
use crate::train::{run, Job, Method, TrainConfig, TrainReport};
use crate::TrainError;
use perf_model::io::write_atomic;
use std::path::{Path, PathBuf};

/// The activation sites of a spec: the runs of Delphi-style replacement go up to one
/// fewer than these.
pub fn activation_sites(spec: &perf_model::CheckedSpec) -> usize {
    spec.spec()
        .layers
        .iter()
        .filter(|l| l.op.is_activation())
        .count()
}

/// The runs of a sweep: (folder name, family, configuration).
pub fn plan(
    base: &TrainConfig,
    lambdas: &[f64],
    sites: usize,
) -> Vec<(String, String, TrainConfig)> {
    let mut runs = Vec::new();
    let with = |method: Method, lambda: f64| {
        let mut c = base.clone();
        c.method = method;
        c.lambda = lambda;
        c.budget = None;
        // The fixed baselines have no gates: the same run whatever the gates' kind.
        c.per_channel_gates &= matches!(c.method, Method::HardwareAware | Method::AutoRep);
        c
    };
    runs.push((
        "all-relu".into(),
        "all-relu".into(),
        with(Method::AllRelu, 0.0),
    ));
    runs.push((
        "all-poly".into(),
        "all-poly".into(),
        with(Method::AllPoly, 0.0),
    ));
    for &l in lambdas {
        runs.push((
            format!("polympc-{l}"),
            "polympc".into(),
            with(Method::HardwareAware, l),
        ));
    }
    for m in 1..sites {
        runs.push((
            format!("delphi-{m}"),
            "delphi".into(),
            with(Method::Delphi { poly_sites: m }, 0.0),
        ));
    }
    for &l in lambdas {
        // The ReLU fraction is about as large as the latency in milliseconds of a small
        // network; scale so the same lambdas span the same range of trade-offs.
        runs.push((
            format!("autorep-{l}"),
            "autorep".into(),
            with(Method::AutoRep, l * 10.0),
        ));
    }
    runs
}

/// Runs every run of `plan` under `out`, then writes the fronts. `job` gives the spec,
/// data, target and device; its config and folder are replaced per run.
pub fn sweep(
    job: &Job,
    runs: &[(String, String, TrainConfig)],
    out: &Path,
) -> Result<Vec<(SweepPoint, TrainReport)>, TrainError> {
    let mut results = Vec::new();
    for (i, (name, family, config)) in runs.iter().enumerate() {
        let dir: PathBuf = out.join("runs").join(name);
        let report_path = dir.join("report.json");
        let previous = std::fs::read_to_string(&report_path)
            .ok()
            .and_then(|t| serde_json::from_str::<TrainReport>(&t).ok())
            .filter(|r| &r.config == config);
        let report = match previous {
            Some(r) => r,
            None => {
                if job.progress {
                    eprintln!("sweep run {}/{}: {name}", i + 1, runs.len());
                }
                let j = Job {
                    spec: job.spec,
                    data: job.data,
                    cost: job.cost.clone(),
                    config: config.clone(),
                    out: dir,
                    resume: true,
                    device: job.device,
                    progress: job.progress,
                    stop_after: None,
                };
                run(&j)?
            }
        };
        let point = SweepPoint {
            family: family.clone(),
            run: name.clone(),
            latency_ms: report.latency_ms,
            float_accuracy: report.float_accuracy,
            fixed_accuracy: report.fixed_accuracy,
        };
        results.push((point, report));
    }
    let points: Vec<SweepPoint> = results.iter().map(|(p, _)| p.clone()).collect();
    let mut csv = String::from("family,run,latency_ms,float_accuracy,fixed_accuracy,choices\n");
    for (p, r) in &results {
        csv.push_str(&format!(
            "{},{},{:.4},{:.2},{:.2},{}\n",
            p.family,
            p.run,
            p.latency_ms,
            p.float_accuracy,
            p.fixed_accuracy,
            r.choices.join(" ")
        ));
    }
    let path = out.join("pareto.csv");
    write_atomic(&path, csv.as_bytes()).map_err(|e| TrainError::file(&path, e))?;
    let target = format!(
        "{} over {}",
        job.cost.device().name,
        job.cost.network().name
    );
    let svg = pareto_svg(&job.spec.spec().name, &target, &points);
    let path = out.join("pareto.svg");
    write_atomic(&path, svg.as_bytes()).map_err(|e| TrainError::file(&path, e))?;
    Ok(results)
}
