//! `polympc train`: the hardware-aware trainer and its baselines, one run or a sweep.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `polympc train`.
#[derive(Args)]
pub struct TrainArgs {
    /// The model spec (YAML).
    pub spec: PathBuf,
    /// The dataset folder [default: Debian's Fashion-MNIST for 1x28x28 inputs].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The dataset: fashion-mnist, mnist or cifar10 [default: from the input shape].
    #[arg(long)]
    pub dataset: Option<String>,
    /// The FPGA whose latency the loss sees (`polympc devices` lists them).
    #[arg(long, default_value = "zcu102")]
    pub fpga: String,
    /// The network: lan, wan, lan-cryptflow2, wan-cryptflow2, BANDWIDTH_MBPS:RTT_MS or
    /// a YAML file.
    #[arg(long, default_value = "lan")]
    pub net: String,
    /// The accelerator configuration (YAML) [default: the standard one for --fpga].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// polympc (hardware-aware gates), all-relu, all-poly, delphi (--poly-sites
    /// layers replaced) or autorep (gates against the ReLU count).
    #[arg(long, default_value = "polympc")]
    pub method: String,
    /// Weight of the modelled latency (per ms) in the loss.
    #[arg(long, default_value_t = 0.01, conflicts_with_all = ["budget_ms", "relu_budget"])]
    pub lambda: f64,
    /// A latency budget (ms of modelled online latency) instead of --lambda.
    #[arg(long)]
    pub budget_ms: Option<f64>,
    /// A ReLU budget (count per inference) for --method autorep.
    #[arg(long)]
    pub relu_budget: Option<u64>,
    /// Layers made polynomial by --method delphi (those with the most ReLUs).
    #[arg(long, default_value_t = 1)]
    pub poly_sites: usize,
    /// Epochs with the gates trained (the fixed methods train as many more).
    #[arg(long, default_value_t = 2)]
    pub search_epochs: usize,
    /// Epochs with the choices fixed, after the search.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Learning rate of the gates.
    #[arg(long, default_value_t = 0.05)]
    pub gate_lr: f64,
    /// Offer Circa ReLU with K truncated bits at every site.
    #[arg(long, value_name = "K")]
    pub circa: Option<u32>,
    /// Gates of the searching methods: one per site, or one per channel (ReLU or
    /// the polynomial channel by channel).
    #[arg(long, default_value = "site", value_parser = ["site", "channel"])]
    pub gates: String,
    /// Polynomial start: identity (straight-through), calibration or batchnorm
    /// (least-squares fits of ReLU).
    #[arg(long, default_value = "identity")]
    pub init: String,
    /// Distil from this trained ReLU network (its spec, with weights).
    #[arg(long)]
    pub distill: Option<PathBuf>,
    /// Weight of the distillation loss.
    #[arg(long, default_value_t = 0.5)]
    pub distill_weight: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU threads of libtorch [default: libtorch's choice].
    #[arg(long)]
    pub threads: Option<i32>,
    /// Train on the first N training examples only.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Test on the first N test examples only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Output folder (trained spec, weights, log, plots, checkpoints).
    #[arg(long, default_value = "polympc-train")]
    pub out: PathBuf,
    /// Continue from the output folder's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many epochs (a later --resume finishes the run).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// Train polympc over --lambdas and every baseline; write the Pareto fronts.
    #[arg(long)]
    pub sweep: bool,
    /// The lambdas of a sweep.
    #[arg(long, value_delimiter = ',', default_value = "0.003,0.01,0.03,0.1")]
    pub lambdas: Vec<f64>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(not(feature = "train"))]
pub fn train(_: &TrainArgs) -> Result<()> {
    anyhow::bail!("this polympc was built without the `train` feature (libtorch); rebuild with it")
}

#[cfg(feature = "train")]
pub fn train(a: &TrainArgs) -> Result<()> {
    use anyhow::Context;
    use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, NetworkProfile};
    use training::data::{Dataset, DatasetKind, FASHION_MNIST_DIR};
    use training::tch;
    use training::train::{run, Distill, Job, Method, PolyInit, TrainConfig};

    let spec = CheckedSpec::load(&a.spec)?;
    let fixed = spec.spec().fixed_point;
    let kind = match &a.dataset {
        Some(n) => DatasetKind::parse(n).with_context(|| {
            format!(
                "--dataset {n}: not one of {}",
                DatasetKind::NAMES.join(", ")
            )
        })?,
        None => DatasetKind::for_input(spec.spec().input.dims()).with_context(|| {
            format!(
                "{}: no dataset has input shape {}; pass --dataset",
                a.spec.display(),
                spec.spec().input
            )
        })?,
    };
    anyhow::ensure!(
        spec.spec().input.numel() == kind.image_shape().iter().product::<usize>(),
        "{}: input {} does not match {} images ({:?})",
        a.spec.display(),
        spec.spec().input,
        kind.name(),
        kind.image_shape()
    );
    let dir = match (&a.data, kind) {
        (Some(d), _) => d.clone(),
        (None, DatasetKind::FashionMnist) => PathBuf::from(FASHION_MNIST_DIR),
        (None, _) => anyhow::bail!("--data: give the {} folder", kind.name()),
    };
    let device = Device::find(&a.fpga)?;
    let network = NetworkProfile::find(&a.net)?;
    let acc = match &a.config {
        Some(p) => AcceleratorConfig::load(p)?,
        None => AcceleratorConfig::for_device(&device, fixed),
    };
    let cost = CostModel::new(device, acc, network)
        .with_context(|| format!("the accelerator configuration on {}", a.fpga))?;
    let method = match a.method.as_str() {
        "polympc" | "hardware-aware" => Method::HardwareAware,
        "all-relu" => Method::AllRelu,
        "all-poly" => Method::AllPoly,
        "delphi" => Method::Delphi {
            poly_sites: a.poly_sites,
        },
        "autorep" => Method::AutoRep,
        m => anyhow::bail!("--method {m}: not polympc, all-relu, all-poly, delphi or autorep"),
    };
    let init = match a.init.as_str() {
        "identity" => PolyInit::Identity,
        "calibration" => PolyInit::Calibration,
        "batchnorm" => PolyInit::BatchNorm,
        i => anyhow::bail!("--init {i}: not identity, calibration or batchnorm"),
    };
    let torch_device = match a.device.as_str() {
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            anyhow::ensure!(
                tch::Cuda::is_available(),
                "--device cuda: libtorch sees no CUDA device ({})",
                training::runtime()
            );
            tch::Device::Cuda(0)
        }
        d => anyhow::bail!("--device {d}: not cpu or cuda"),
    };
    if let Some(t) = a.threads {
        anyhow::ensure!(t > 0, "--threads {t}: must be positive");
        tch::set_num_threads(t);
    }
    let budget = match (method, a.budget_ms, a.relu_budget) {
        (_, Some(_), Some(_)) => anyhow::bail!("--budget-ms and --relu-budget exclude each other"),
        (Method::AutoRep, Some(_), _) => anyhow::bail!("--method autorep takes --relu-budget"),
        (Method::HardwareAware, _, Some(_)) => anyhow::bail!("--method polympc takes --budget-ms"),
        (_, b, r) => b.or(r.map(|r| r as f64)),
    };
    let config = TrainConfig {
        method,
        lambda: a.lambda,
        budget,
        search_epochs: a.search_epochs,
        finetune_epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        gate_lr: a.gate_lr,
        circa_k: a.circa,
        per_channel_gates: a.gates == "channel",
        init,
        distill: a.distill.as_ref().map(|t| Distill {
            teacher: t.clone(),
            weight: a.distill_weight,
            temperature: 4.0,
        }),
        seed: a.seed,
        train_limit: a.train_limit,
        test_limit: a.test_limit,
        ..TrainConfig::default()
    };
    if !a.quiet {
        eprintln!(
            "activation sites on {} over {}:\n{}",
            cost.device().name,
            cost.network().name,
            training::latency::site_table(&spec, &cost, a.circa)
        );
    }
    let data = Dataset::load(kind, &dir)?;
    let job = Job {
        spec: &spec,
        data: &data,
        cost,
        config: config.clone(),
        out: a.out.clone(),
        resume: a.resume,
        device: torch_device,
        progress: !a.quiet,
        stop_after: a.stop_after,
    };
    eprintln!(
        "training {} on {} ({} train / {} test examples) with libtorch on {}",
        spec.spec().name,
        kind.name(),
        config
            .train_limit
            .unwrap_or(data.train.len())
            .min(data.train.len()),
        config
            .test_limit
            .unwrap_or(data.test.len())
            .min(data.test.len()),
        training::runtime()
    );
    if a.sweep {
        let sites = training::sweep::activation_sites(&spec);
        let runs = training::sweep::plan(&config, &a.lambdas, sites);
        let results = training::sweep::sweep(&job, &runs, &a.out)?;
        println!(
            "{:<16} {:<10} {:>12} {:>10} {:>10}  choices",
            "run", "family", "latency ms", "float %", "ring %"
        );
        for (p, r) in &results {
            println!(
                "{:<16} {:<10} {:>12.3} {:>10.2} {:>10.2}  {}",
                p.run,
                p.family,
                p.latency_ms,
                p.float_accuracy,
                p.fixed_accuracy,
                r.choices.join(" ")
            );
        }
        println!(
            "\nwrote {} and {}",
            a.out.join("pareto.csv").display(),
            a.out.join("pareto.svg").display()
        );
        return Ok(());
    }
    let r = run(&job)?;
    println!("network          {}", r.network);
    println!("method           {}", r.method);
    println!("target           {}", r.target);
    println!("choices          {}", r.choices.join(" "));
    println!("ReLUs left       {}", r.relus);
    println!("modelled latency {:.3} ms online", r.latency_ms);
    println!(
        "test accuracy    {:.2}% float, {:.2}% in the ring ({} examples)",
        r.float_accuracy, r.fixed_accuracy, r.test_examples
    );
    println!("trained spec     {}", r.spec.display());
    println!("weights          {}", r.weights.display());
    println!(
        "log and plots    {}, {}",
        a.out.join("log.jsonl").display(),
        a.out.join("curves.svg").display()
    );
    Ok(())
}
