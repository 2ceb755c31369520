//! Private inference speed on this machine: software garbled ReLUs per second (garble
//! and evaluate the protocol's ReLU circuit), and, with `PRIVATE_SPEC=trained.yaml`,
//! whole private inferences per second of that trained network on the Fashion-MNIST
//! test set (both parties in this process, real messages; `PRIVATE_IMAGES` images,
//! default all), with its accuracy beside the fixed-point accuracy the trainer reported
//! (`report.json` next to the spec).
//!
//! `cargo bench -p sim --bench private_infer`

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::circuit::garble::{self, Delta, Hasher, LabelRng};
use perf_model::circuit::library;
use perf_model::dataset::{DatasetKind, RawDataset, FASHION_MNIST_DIR};
use perf_model::CheckedSpec;
use sim::twopc::party::Options;
use sim::twopc::{run_local, Network, Weights};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(600);

fn gc_relus(l: u32, n: usize) {
    let c = library::relu(l);
    let h = Hasher::default();
    let mut rng = LabelRng::new(1);
    let inputs = (c.garbler_inputs + c.evaluator_inputs) as usize;
    let t0 = Instant::now();
    let garbled: Vec<_> = (0..n)
        .map(|_| {
            let labels = rng.labels(inputs);
            let (gc, _) = garble::garble(&c, Delta::new(rng.next_label()), &labels, &h).unwrap();
            (gc, labels)
        })
        .collect();
    let tg = t0.elapsed();
    let t1 = Instant::now();
    for (gc, labels) in &garbled {
        garble::evaluate(&c, gc, labels, &h).unwrap();
    }
    let te = t1.elapsed();
    println!(
        "GC ReLU, l = {l}: {} AND each; garble {:.0}/s, evaluate {:.0}/s, both {:.0}/s",
        c.counts().and,
        n as f64 / tg.as_secs_f64(),
        n as f64 / te.as_secs_f64(),
        n as f64 / (tg + te).as_secs_f64()
    );
}

fn main() {
    for l in [32, 64] {
        gc_relus(l, 4000);
    }
    let Some(spec_path) = std::env::var("PRIVATE_SPEC").ok().map(PathBuf::from) else {
        println!("(set PRIVATE_SPEC to a trained spec to run its test set privately)");
        return;
    };
    let data = RawDataset::load(DatasetKind::FashionMnist, Path::new(FASHION_MNIST_DIR)).unwrap();
    let net = Network::new(CheckedSpec::load(&spec_path).unwrap());
    let w = Weights::load(&net, &net.spec.weights_path().unwrap()).unwrap();
    let n: usize = std::env::var("PRIVATE_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(data.test.len())
        .min(data.test.len());
    let mut correct = 0;
    let t0 = Instant::now();
    for i in 0..n {
        let input = net.encode_image(data.test.image(i)).unwrap();
        let opts = Options {
            dealer_seed: 1000 + i as u128,
            seed: 7 + i as u128,
            trace: false,
        };
        let (_, c) = run_local(&net, &w, &[input], opts, TIMEOUT).unwrap();
        let out = &c.inferences[0].output;
        let pred = net.predict(out);
        correct += usize::from(pred == usize::from(data.test.labels[i]));
        if (i + 1) % 500 == 0 {
            eprintln!(
                "{} / {n}: {:.2}%",
                i + 1,
                100.0 * correct as f64 / (i + 1) as f64
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let reported = std::fs::read_to_string(spec_path.with_file_name("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["fixed_accuracy"].as_f64());
    println!(
        "{}: {n} private inferences, {:.2} inferences/s, accuracy {:.2}% (the trainer's fixed-point accuracy: {})",
        net.spec.spec().name,
        n as f64 / secs,
        100.0 * correct as f64 / n.max(1) as f64,
        reported.map_or("not found".into(), |a| format!("{a:.2}%"))
    );
}
