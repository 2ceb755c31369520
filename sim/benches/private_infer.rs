//! Private inference speed on this machine: software garbled ReLUs per second (garble
//! and evaluate the protocol's ReLU circuit), and, with `PRIVATE_SPEC=trained.yaml`,
//! whole private inferences per second of that trained network on the Fashion-MNIST
//! test set (both parties in this process, real messages; `PRIVATE_IMAGES` images,
//! default all), with its accuracy beside the fixed-point accuracy the trainer reported
//! (`report.json` next to the spec), the plaintext ring accuracy with fresh random shares (the trainer's evaluation),
//! and how many private outputs equal the plaintext reference given the run's own
//! truncation shares (all of them, unless a share wrapped). Images are spread over one
//! worker per core, each running both parties. With `PRIVATE_EXAMPLES=1`, every example
//! network once with random weights, checked against the reference.
//!
//! `cargo bench -p sim --bench private_infer`

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::circuit::garble::{self, Delta, Hasher, LabelRng};
use perf_model::circuit::library;
use perf_model::dataset::{DatasetKind, RawDataset, FASHION_MNIST_DIR};
use perf_model::CheckedSpec;
use sim::twopc::model::reference;
use sim::twopc::party::Options;
use sim::twopc::{run_local, Network, Weights};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(600);

/// SplitMix64: the fresh truncation shares of the plaintext ring evaluation.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

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

#[path = "../tests/common/mod.rs"]
mod common;

/// Every example network once, with random weights and a random image: the private
/// output against the plaintext reference given the run's truncation shares, and the
/// time of the run.
fn examples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    specs.sort();
    for path in specs {
        let net = Network::new(CheckedSpec::load(&path).unwrap());
        let bytes = common::random_weights(&net.spec, 5);
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let w = Weights::from_safetensors(&net, &st, Path::new("random.safetensors")).unwrap();
        let mut rng = common::Lcg(9);
        let px: Vec<u8> = (0..net.input_elements())
            .map(|_| (rng.next() * 256.0) as u8)
            .collect();
        let input = net.encode_image(&px).unwrap();
        let opts = Options {
            dealer_seed: 3,
            seed: 4,
            trace: true,
            vectors: false,
            first: 0,
        };
        let t0 = Instant::now();
        let (_, c) = run_local(&net, &w, std::slice::from_ref(&input), opts, TIMEOUT).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let inf = &c.inferences[0];
        let mut same = |site, _: &[u64]| inf.trace[&site].clone();
        let vals = reference(&net, &w, &input, &mut same);
        println!(
            "{:<22} private inference {:>8.2} s, output {} the plaintext reference",
            net.spec.spec().name,
            secs,
            if vals.last() == Some(&inf.output) {
                "equal to"
            } else {
                "DIFFERENT FROM"
            }
        );
    }
}

fn main() {
    for l in [32, 64] {
        gc_relus(l, 4000);
    }
    if std::env::var_os("PRIVATE_EXAMPLES").is_some() {
        examples();
    }
    let Some(spec_path) = std::env::var("PRIVATE_SPEC").ok().map(PathBuf::from) else {
        println!(
            "(set PRIVATE_SPEC to a trained spec to run its test set privately, \
             PRIVATE_EXAMPLES=1 to run every example network once)"
        );
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
    // Images are spread over workers, one two-party run each at a time; every run
    // also checks its output against the plaintext reference given its truncation
    // shares, and the exact-truncation plaintext prediction is counted beside it.
    let workers = std::thread::available_parallelism().map_or(1, |p| p.get());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let tallies: Vec<[usize; 3]> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|wk| {
                let (net, w, data, done) = (&net, &w, &data, &done);
                s.spawn(move || {
                    let mut t = [0usize; 3];
                    for i in (wk..n).step_by(workers) {
                        let input = net.encode_image(data.test.image(i)).unwrap();
                        let opts = Options {
                            dealer_seed: 1000 + i as u128,
                            seed: 7 + i as u128,
                            trace: true,
                            vectors: false,
                            first: 0,
                        };
                        let (_, c) =
                            run_local(net, w, std::slice::from_ref(&input), opts, TIMEOUT).unwrap();
                        let inf = &c.inferences[0];
                        let label = usize::from(data.test.labels[i]);
                        t[0] += usize::from(net.predict(&inf.output) == label);
                        let mut same = |site, _: &[u64]| inf.trace[&site].clone();
                        let vals = reference(net, w, &input, &mut same);
                        t[1] += usize::from(vals.last() == Some(&inf.output));
                        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ i as u64;
                        let mut fresh = |_, x: &[u64]| {
                            x.iter()
                                .map(|_| net.ring.wrap(splitmix(&mut state)))
                                .collect()
                        };
                        let vals = reference(net, w, &input, &mut fresh);
                        t[2] += usize::from(net.predict(vals.last().unwrap()) == label);
                        let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if k % 500 == 0 {
                            eprintln!("{k} / {n}");
                        }
                    }
                    t
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let [correct, equal, fresh] = tallies
        .iter()
        .fold([0; 3], |a, t| [a[0] + t[0], a[1] + t[1], a[2] + t[2]]);
    let secs = t0.elapsed().as_secs_f64();
    let reported = std::fs::read_to_string(spec_path.with_file_name("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["fixed_accuracy"].as_f64());
    let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
    println!(
        "{}: {n} private inferences on {workers} workers, {:.2} inferences/s, accuracy {:.2}% \
         (the trainer's fixed-point accuracy: {}; plaintext ring with fresh shares: {:.2}%); \
         {equal} of {n} outputs equal the reference bit for bit",
        net.spec.spec().name,
        n as f64 / secs,
        pct(correct),
        reported.map_or("not found".into(), |a| format!("{a:.2}%")),
        pct(fresh),
    );
}
