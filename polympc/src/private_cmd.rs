//! `polympc private-infer`: private inference of dataset images through the two-party
//! protocol simulator, in one process or as two (`--serve`, `--connect`), with the
//! prediction and the traffic table beside perf_model's figures.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use perf_model::dataset::{self, DatasetKind, RawDataset};
use perf_model::CheckedSpec;
use sim::twopc::channel::{Channel, Role};
use sim::twopc::model::reference;
use sim::twopc::party::{infer, serve, Options};
use sim::twopc::vectors::{self, VectorMeta};
use sim::twopc::{run_local, traffic, Network, Weights};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
pub struct PrivateArgs {
    /// The trained model spec (YAML).
    spec: PathBuf,
    /// The weights (`.safetensors`); by default the spec's `weights:`. Only the server
    /// reads them.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Test images to infer: `N` or `A..B` (indices into the test set).
    #[arg(long, default_value = "0")]
    input: String,
    /// The dataset folder (default: Debian's Fashion-MNIST for 1x28x28 inputs).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The dataset: `fashion-mnist`, `mnist` or `cifar10` (default from the input shape).
    #[arg(long)]
    dataset: Option<String>,
    /// Run only the server, listening on this address (e.g. `127.0.0.1:7000`).
    #[arg(long, conflicts_with = "connect")]
    serve: Option<String>,
    /// Run only the client, connecting to a server at this address.
    #[arg(long)]
    connect: Option<String>,
    /// Seconds a party waits for a message before giving up.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Seed of the dealer and of the server's randomness (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Also check every output against the plaintext fixed-point reference with the
    /// run's shares (in one process only).
    #[arg(long)]
    check: bool,
    /// Print JSON (predictions, traffic rows, timings) instead of the tables.
    #[arg(long)]
    json: bool,
    /// Write both parties' test vectors of every image (shares, triples, openings,
    /// masks, labels, garbled tables, outputs) into this folder, one subfolder per
    /// image, for the Verilator tests to replay (in one process only).
    #[arg(long)]
    vectors: Option<PathBuf>,
}

fn indices(sel: &str, n: usize) -> Result<Vec<usize>> {
    let parse = |s: &str| -> Result<usize> {
        s.trim()
            .parse()
            .with_context(|| format!("--input: `{s}` is not an image index"))
    };
    let (a, b) = match sel.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let a = parse(sel)?;
            (a, a + 1)
        }
    };
    if a >= b || b > n {
        bail!("--input {sel}: the test set has images 0..{n}");
    }
    Ok((a..b).collect())
}

/// Test images chosen by `--input`: their pixels, labels and indices.
struct Chosen {
    images: Vec<Vec<u8>>,
    labels: Vec<u8>,
    idx: Vec<usize>,
}

fn load_images(args: &PrivateArgs, net: &Network) -> Result<Chosen> {
    let kind = match &args.dataset {
        Some(name) => DatasetKind::parse(name).with_context(|| {
            format!(
                "--dataset {name}: unknown (known: {})",
                DatasetKind::NAMES.join(", ")
            )
        })?,
        None => DatasetKind::for_input(net.spec.spec().input.dims()).with_context(|| {
            format!(
                "no default dataset for input {:?}; give --dataset and --data",
                net.spec.spec().input.dims()
            )
        })?,
    };
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(dataset::FASHION_MNIST_DIR));
    let data = RawDataset::load(kind, &dir)?;
    let idx = indices(&args.input, data.test.len())?;
    Ok(Chosen {
        images: idx.iter().map(|&i| data.test.image(i).to_vec()).collect(),
        labels: idx.iter().map(|&i| data.test.labels[i]).collect(),
        idx,
    })
}

/// The weights of `net` (loaded from the spec file `spec`): from `weights`, or the
/// file the spec names.
pub fn load_weights(net: &Network, spec: &Path, weights: Option<&Path>) -> Result<Weights> {
    let path = match weights {
        Some(p) => p.to_path_buf(),
        None => net.spec.weights_path().with_context(|| {
            format!(
                "{}: names no weights file (`weights:`); give --weights",
                spec.display()
            )
        })?,
    };
    Ok(Weights::load(net, &path)?)
}

pub fn private_infer(args: &PrivateArgs) -> Result<()> {
    let spec = CheckedSpec::load(&args.spec)?;
    let net = Network::new(spec);
    let timeout = Duration::from_secs(args.timeout.max(1));
    let seed = u128::from(args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    }));
    let weights = || load_weights(&net, &args.spec, args.weights.as_deref());
    let opts = Options {
        dealer_seed: seed,
        seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed,
        trace: args.check,
        vectors: args.vectors.is_some(),
        first: 0,
    };
    if let Some(addr) = &args.serve {
        let w = weights()?;
        let listener = TcpListener::bind(addr).with_context(|| format!("--serve {addr}"))?;
        eprintln!(
            "serving {} on {}",
            net.spec.spec().name,
            listener.local_addr()?
        );
        let (stream, peer) = listener.accept()?;
        eprintln!("client {peer} connected");
        let mut ch = Channel::tcp(Role::Server, stream, timeout)?;
        let report = serve(&net, &w, &mut ch, opts)?;
        if let Some(first) = report.inferences.first() {
            print_traffic(&net, Role::Server, &first.log, args.json)?;
        }
        eprintln!("served {} inference(s)", report.inferences.len());
        return Ok(());
    }
    let Chosen {
        images,
        labels,
        idx,
    } = load_images(args, &net)?;
    let inputs: Vec<Vec<u64>> = images
        .iter()
        .map(|im| net.encode_image(im))
        .collect::<Result<_, _>>()?;
    let (client, w) = if let Some(addr) = &args.connect {
        if args.check || args.vectors.is_some() {
            bail!(
                "--check and --vectors need both parties, and only the server has the weights: \
                 run without --connect"
            );
        }
        let stream = TcpStream::connect(addr).with_context(|| format!("--connect {addr}"))?;
        let mut ch = Channel::tcp(Role::Client, stream, timeout)?;
        (infer(&net, &inputs, &mut ch, opts)?, None)
    } else {
        let w = weights()?;
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("private inference");
        let mut all = sim::twopc::ClientReport::default();
        // One process, one image at a time, so the bar moves.
        for (k, input) in inputs.iter().enumerate() {
            // Inference k of the session, as a two-process run would draw it.
            let opts = Options {
                first: k as u32,
                ..opts
            };
            let (s, c) = run_local(&net, &w, std::slice::from_ref(input), opts, timeout)?;
            if let (Some(dir), Some(served), Some(inf)) =
                (&args.vectors, s.inferences.first(), c.inferences.first())
            {
                let meta = VectorMeta {
                    image: Some(idx[k]),
                    label: Some(labels[k]),
                    ..VectorMeta::of(&net, opts.dealer_seed, &inf.output)
                };
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("--vectors {}", dir.display()))?;
                let sub = dir.join(format!("image-{}", idx[k]));
                vectors::write(&sub, &net, &meta, &served.vectors, &inf.vectors)?;
            }
            all.setup = c.setup;
            all.inferences.extend(c.inferences);
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Some(dir) = &args.vectors {
            eprintln!("test vectors: {}/image-*/manifest.json", dir.display());
        }
        (all, Some(w))
    };
    let mut correct = 0;
    let mut rows = Vec::new();
    for (k, inf) in client.inferences.iter().enumerate() {
        let pred = net.predict(&inf.output);
        correct += usize::from(pred == usize::from(labels[k]));
        if let (true, Some(w)) = (args.check, &w) {
            let mut split = |site, _: &[u64]| inf.trace.get(&site).cloned().unwrap_or_default();
            let vals = reference(&net, w, &inputs[k], &mut split);
            if vals.last() != Some(&inf.output) {
                bail!(
                    "image {}: the private output differs from the plaintext reference",
                    idx[k]
                );
            }
        }
        rows.push(serde_json::json!({
            "image": idx[k],
            "label": labels[k],
            "predicted": pred,
            "logits": inf.output.iter().map(|&v| net.ring.decode(v)).collect::<Vec<_>>(),
            "offline_ms": inf.timing.offline.as_secs_f64() * 1e3,
            "online_ms": inf.timing.online.as_secs_f64() * 1e3,
        }));
    }
    let n = client.inferences.len().max(1);
    let accuracy = 100.0 * correct as f64 / n as f64;
    let secs: f64 = client
        .inferences
        .iter()
        .map(|i| (i.timing.offline + i.timing.online).as_secs_f64())
        .sum();
    let first = client.inferences.first().map(|i| &i.log[..]).unwrap_or(&[]);
    if args.json {
        let table = traffic::table(&net, Role::Client, first);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "network": net.spec.spec().name,
                "predictions": rows,
                "accuracy": accuracy,
                "inferences_per_second": n as f64 / secs.max(1e-9),
                "traffic": table,
                "checked": args.check,
            }))?
        );
        return Ok(());
    }
    for r in rows.iter().take(20) {
        println!(
            "image {:>5}: predicted {} (label {})",
            r["image"], r["predicted"], r["label"]
        );
    }
    if rows.len() > 20 {
        println!("… {} more", rows.len() - 20);
    }
    println!(
        "{} private inference(s): accuracy {accuracy:.2}%, {:.2} inferences/s{}",
        n,
        n as f64 / secs.max(1e-9),
        if args.check {
            ", every output equal to the plaintext reference"
        } else {
            ""
        }
    );
    print_traffic(&net, Role::Client, first, false)
}

fn print_traffic(
    net: &Network,
    role: Role,
    log: &[sim::twopc::channel::Record],
    json: bool,
) -> Result<()> {
    let rows = traffic::table(net, role, log);
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("\ntraffic of one inference (payload bytes; rounds measured from the messages):");
        print!("{}", traffic::render(&rows));
        let bad = rows
            .iter()
            .filter(|r| r.predicted.is_some_and(|p| !p.agrees(&r.measured)))
            .count();
        if bad > 0 {
            bail!("{bad} node(s) differ from perf_model's prediction");
        }
    }
    Ok(())
}
