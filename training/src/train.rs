//! The training run: hardware-aware search of the activation at every site, then
//! fine-tuning with the choices fixed; or one of the baselines on the same data and
//! code.
//!
//! - [`Method::HardwareAware`] (polympc, after PolyMPCNet): every site has a gate over
//!   ReLU and the polynomial (and Circa ReLU when asked). The loss is cross-entropy (plus
//!   optional distillation from a ReLU teacher) plus `lambda` times the modelled online
//!   latency of the choices in milliseconds, or, with a budget, a penalty on the latency
//!   above it. After `search_epochs` the gates are fixed (the budget enforced: the sites
//!   whose polynomial saves most are switched until the network fits) and the network
//!   is fine-tuned.
//! - [`Method::AllRelu`], [`Method::AllPoly`]: every site fixed.
//! - [`Method::Delphi`]: Delphi's planner style: whole layers replaced by the
//!   polynomial, the `poly_sites` layers with the most ReLUs, fixed before training.
//! - [`Method::AutoRep`]: AutoReP style: gates as polympc's, but the penalty counts
//!   ReLUs (fraction of the all-ReLU network's), with no hardware model.
//!
//! Every epoch is logged (JSON lines) and checkpointed atomically; a run with `resume`
//! continues from the last checkpoint and ends with the same weights as a run that was
//! never interrupted (every epoch reseeds libtorch's generator from the seed and the
//! epoch, and the optimiser's state is in the checkpoint).

use crate::adam::Adam;
use crate::data::{augment, Dataset, Normalization, Split};
use crate::fixed;
use crate::latency::{network_ms, LatencyModel, Objective};
use crate::net::{Choice, SearchSpace, SitePlan, SpecNet};
use crate::plot;
use crate::TrainError;
use indicatif::{ProgressBar, ProgressStyle};
use perf_model::io::write_atomic;
use perf_model::spec::{InputNorm, LayerOp, Source};
use perf_model::{CheckedSpec, CostModel, ModelSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// How the activation at every site is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum Method {
    /// polympc: gates trained against the modelled latency.
    HardwareAware,
    /// Every site ReLU.
    AllRelu,
    /// Every site the polynomial.
    AllPoly,
    /// The `poly_sites` sites with the most ReLUs made polynomial, fixed.
    Delphi {
        /// How many sites become polynomials.
        poly_sites: usize,
    },
    /// Gates trained against the ReLU count.
    AutoRep,
}

impl Method {
    /// The name used in logs and reports.
    pub fn name(&self) -> String {
        match self {
            Method::HardwareAware => "polympc".into(),
            Method::AllRelu => "all-relu".into(),
            Method::AllPoly => "all-poly".into(),
            Method::Delphi { poly_sites } => format!("delphi-{poly_sites}"),
            Method::AutoRep => "autorep".into(),
        }
    }

    /// Whether gates are trained.
    pub fn searches(&self) -> bool {
        matches!(self, Method::HardwareAware | Method::AutoRep)
    }
}

/// How polynomial coefficients start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolyInit {
    /// The identity (straight-through initialisation).
    Identity,
    /// Least-squares fit of ReLU under the site's input distribution on a calibration
    /// batch.
    Calibration,
    /// Least-squares fit of ReLU under the Gaussian of the batch norm before the site
    /// (calibration where there is none).
    BatchNorm,
}

/// Distillation from a trained ReLU network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// The teacher's trained spec (with its weights file).
    pub teacher: PathBuf,
    /// Weight of the distillation loss.
    pub weight: f64,
    /// Softmax temperature.
    pub temperature: f64,
}

/// Everything that decides a run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// How sites are chosen.
    pub method: Method,
    /// Weight of the latency term (per millisecond), or of the ReLU fraction for
    /// AutoReP.
    pub lambda: f64,
    /// A budget instead of lambda: milliseconds of modelled online latency
    /// (hardware-aware), or ReLUs (AutoReP).
    pub budget: Option<f64>,
    /// Epochs with the gates trained (methods that search; the fixed methods train
    /// these too, with their choices fixed).
    pub search_epochs: usize,
    /// Epochs with the choices fixed.
    pub finetune_epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// Learning rate of the weights.
    pub lr: f64,
    /// Learning rate of the gates.
    pub gate_lr: f64,
    /// L2 weight decay of convolution and dense weights.
    pub weight_decay: f64,
    /// Offer Circa ReLU with this many truncated bits.
    pub circa_k: Option<u32>,
    /// A gate per channel (ReLU or polynomial) instead of one per site, for the
    /// methods that search; the fixed baselines have no gates.
    #[serde(default)]
    pub per_channel_gates: bool,
    /// How polynomial coefficients start.
    pub init: PolyInit,
    /// Distillation from a ReLU teacher.
    pub distill: Option<Distill>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Use only the first examples of the training set.
    pub train_limit: Option<usize>,
    /// Use only the first examples of the test set.
    pub test_limit: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::HardwareAware,
            lambda: 0.01,
            budget: None,
            search_epochs: 2,
            finetune_epochs: 3,
            batch_size: 128,
            lr: 2e-3,
            gate_lr: 0.05,
            weight_decay: 5e-4,
            circa_k: None,
            per_channel_gates: false,
            init: PolyInit::Identity,
            distill: None,
            seed: 1,
            train_limit: None,
            test_limit: None,
        }
    }
}

impl TrainConfig {
    /// Epochs in all: the fixed methods train as many as the searching ones, so every
    /// method sees the same data for as long.
    pub fn epochs(&self) -> usize {
        self.search_epochs + self.finetune_epochs
    }

    fn check(&self) -> Result<(), TrainError> {
        if self.epochs() == 0 {
            return Err(TrainError::config("epochs", "the run has no epochs"));
        }
        if self.batch_size == 0 {
            return Err(TrainError::config("batch-size", "must be at least 1"));
        }
        for (f, v) in [("lr", self.lr), ("gate-lr", self.gate_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(TrainError::config(f, format!("{v} is not a positive rate")));
            }
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(TrainError::config(
                "lambda",
                format!("{} is negative", self.lambda),
            ));
        }
        if let Some(b) = self.budget {
            if !(b.is_finite() && b > 0.0) {
                return Err(TrainError::config("budget", format!("{b} is not positive")));
            }
        }
        if self.per_channel_gates && self.circa_k.is_some() {
            return Err(TrainError::config(
                "gates",
                "a gate per channel chooses between ReLU and the polynomial; Circa is offered \
                 per site only (drop --circa or use --gates site)",
            ));
        }
        Ok(())
    }
}

/// One epoch's record in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch, from 1.
    pub epoch: usize,
    /// `search` or `finetune`.
    pub phase: String,
    /// Mean training loss.
    pub loss: f64,
    /// Mean cross-entropy.
    pub cross_entropy: f64,
    /// Mean penalty (lambda times the latency term, or the budget penalty).
    pub penalty: f64,
    /// Training accuracy (%).
    pub train_accuracy: f64,
    /// Test accuracy in float (%).
    pub test_accuracy: f64,
    /// Modelled online latency of the current choices (ms).
    pub latency_ms: f64,
    /// The choice at every site.
    pub choices: Vec<String>,
    /// Wall-clock seconds of the epoch's training.
    pub seconds: f64,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The network.
    pub network: String,
    /// The method's name.
    pub method: String,
    /// The configuration.
    pub config: TrainConfig,
    /// Device, accelerator clock and network of the latency model.
    pub target: String,
    /// Test accuracy in float (%).
    pub float_accuracy: f64,
    /// Test accuracy in the ring (%): what 2PC inference gives.
    pub fixed_accuracy: f64,
    /// Test examples.
    pub test_examples: usize,
    /// Modelled online latency (ms).
    pub latency_ms: f64,
    /// ReLUs left (garbled and Circa), per inference.
    pub relus: u64,
    /// The choice at every site.
    pub choices: Vec<String>,
    /// The trained spec.
    pub spec: PathBuf,
    /// The weights.
    pub weights: PathBuf,
    /// The per-epoch log.
    pub history: Vec<EpochLog>,
}

/// A training job: the spec, the data, the latency model and where results go.
pub struct Job<'a> {
    /// The spec to train.
    pub spec: &'a CheckedSpec,
    /// The data.
    pub data: &'a Dataset,
    /// Device, configuration and network whose latency the loss sees.
    pub cost: CostModel,
    /// The run's settings.
    pub config: TrainConfig,
    /// Folder for the trained spec, weights, log, plots and checkpoints.
    pub out: PathBuf,
    /// Continue from the folder's checkpoint.
    pub resume: bool,
    /// CPU or CUDA.
    pub device: Device,
    /// Show progress bars.
    pub progress: bool,
    /// Stop after this many epochs of this call (to test resuming).
    pub stop_after: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    fingerprint: String,
    epochs_done: usize,
    fixed: Option<Vec<String>>,
    steps: Vec<(String, i64)>,
    tensors: String,
    history: Vec<EpochLog>,
}

fn plan_names(net: &SpecNet) -> Vec<String> {
    net.plans().iter().map(SitePlan::name).collect()
}

/// The site of every activation layer with its ReLU count per example.
fn site_layers(spec: &CheckedSpec) -> Vec<(usize, u64)> {
    spec.spec()
        .layers
        .iter()
        .zip(spec.layers())
        .enumerate()
        .filter(|(_, (l, _))| l.op.is_activation())
        .map(|(i, (_, info))| (i, info.out_shape.numel() as u64))
        .collect()
}

/// The spec a fixed method trains: `Delphi` and the all-* baselines rewrite its sites.
fn fixed_plan(method: &Method, spec: &CheckedSpec) -> Option<Vec<Choice>> {
    let sites = site_layers(spec);
    let own = |i: usize| Choice::of(&spec.spec().layers[i].op).unwrap_or(Choice::Relu);
    match method {
        Method::AllRelu => Some(vec![Choice::Relu; sites.len()]),
        Method::AllPoly => Some(vec![Choice::Poly; sites.len()]),
        Method::Delphi { poly_sites } => {
            let mut order: Vec<usize> = (0..sites.len()).collect();
            // Most ReLUs first; ties to the earlier layer.
            order.sort_by_key(|&k| (std::cmp::Reverse(sites[k].1), k));
            let mut plan: Vec<Choice> = sites.iter().map(|&(i, _)| own(i)).collect();
            for &k in order.iter().take(*poly_sites) {
                plan[k] = Choice::Poly;
            }
            Some(plan)
        }
        Method::HardwareAware | Method::AutoRep => None,
    }
}

/// Fits `w2 x^2 + w1 x + b` to ReLU by least squares over the samples of each channel:
/// `x` is `[C, n]`. Returns `(w2, w1, b)` per channel.
pub fn fit_relu(x: &Tensor) -> Vec<[f64; 3]> {
    let x = x.to_kind(Kind::Double).to_device(Device::Cpu);
    let y = x.relu();
    let moment =
        |t: &Tensor| Vec::<f64>::try_from(t.mean_dim(1, false, Kind::Double)).unwrap_or_default();
    let p: Vec<Vec<f64>> = (0..5).map(|k| moment(&x.pow_tensor_scalar(k))).collect();
    let q: Vec<Vec<f64>> = (0..3)
        .map(|k| moment(&(&y * x.pow_tensor_scalar(k))))
        .collect();
    (0..p[0].len())
        .map(|c| {
            // Normal equations in the basis (1, x, x^2).
            let a = [
                [p[0][c], p[1][c], p[2][c]],
                [p[1][c], p[2][c], p[3][c]],
                [p[2][c], p[3][c], p[4][c]],
            ];
            let rhs = [q[0][c], q[1][c], q[2][c]];
            match solve3(a, rhs) {
                Some([b, w1, w2]) => [w2, w1, b],
                None => [0.0, 1.0, 0.0],
            }
        })
        .collect()
}

fn solve3(mut a: [[f64; 3]; 3], mut r: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let piv = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        r.swap(col, piv);
        for row in 0..3 {
            if row != col {
                let k = a[row][col] / a[col][col];
                let pivot = a[col];
                for (x, p) in a[row].iter_mut().zip(pivot) {
                    *x -= k * p;
                }
                r[row] -= k * r[col];
            }
        }
    }
    Some([r[0] / a[0][0], r[1] / a[1][1], r[2] / a[2][2]])
}

struct Run<'a> {
    job: &'a Job<'a>,
    vs: nn::VarStore,
    net: SpecNet,
    model: LatencyModel,
    adam: Adam,
    teacher: Option<(nn::VarStore, SpecNet)>,
    norm: Normalization,
    train: Split,
    test: Split,
    /// Network latency minus the sites' (ms): the same for every plan (latency
    /// objective only).
    other_ms: f64,
    relu_total: f64,
}

/// Runs a training job to the end (or to `stop_after`), writing every artifact.
pub fn run(job: &Job) -> Result<TrainReport, TrainError> {
    job.config.check()?;
    std::fs::create_dir_all(&job.out).map_err(|e| TrainError::file(&job.out, e))?;
    let mut r = Run::new(job)?;
    let ckpt = job.out.join("checkpoint");
    let mut history = Vec::new();
    let mut start = 0;
    if job.resume {
        if let Some(state) = r.load_checkpoint(&ckpt)? {
            start = state.epochs_done;
            history = state.history;
        }
    } else if job.config.init != PolyInit::Identity {
        r.init_polys()?;
    }
    let total = job.config.epochs();
    let search = if job.config.method.searches() {
        job.config.search_epochs
    } else {
        0
    };
    for (done_now, epoch) in (start..total).enumerate() {
        if job.stop_after.is_some_and(|n| done_now >= n) {
            break;
        }
        if epoch >= search && r.net.sites().iter().any(|s| s.searching()) {
            r.fix_gates()?;
        }
        let phase = if epoch < search { "search" } else { "finetune" };
        let log = r.epoch(epoch, total, phase)?;
        history.push(log);
        r.save_checkpoint(&ckpt, epoch + 1, &history)?;
        r.write_log(&history)?;
    }
    if history.len() < total {
        return Err(TrainError::config(
            "stop-after",
            format!(
                "stopped after epoch {} of {total}; run again with --resume to finish",
                history.len()
            ),
        ));
    }
    if r.net.sites().iter().any(|s| s.searching()) {
        r.fix_gates()?;
    }
    r.finish(history)
}

impl<'a> Run<'a> {
    fn new(job: &'a Job<'a>) -> Result<Run<'a>, TrainError> {
        let cfg = &job.config;
        tch::manual_seed(cfg.seed as i64);
        let vs = nn::VarStore::new(job.device);
        let net = match fixed_plan(&cfg.method, job.spec) {
            None => SpecNet::search(
                &vs.root(),
                job.spec,
                &SearchSpace {
                    circa_k: cfg.circa_k,
                    per_channel: cfg.per_channel_gates,
                    ..Default::default()
                },
            ),
            Some(plan) => {
                // The baselines' spec: its sites rewritten, polynomials from the identity.
                let sites: Vec<usize> = site_layers(job.spec).iter().map(|s| s.0).collect();
                let spec = crate::latency::with_plan(job.spec.spec(), &sites, &plan);
                SpecNet::new(&vs.root(), &CheckedSpec::new(spec, job.spec.file())?)
            }
        };
        Run::assemble(job, vs, net)
    }

    fn assemble(job: &'a Job<'a>, vs: nn::VarStore, net: SpecNet) -> Result<Run<'a>, TrainError> {
        let cfg = &job.config;
        let objective = match cfg.method {
            Method::AutoRep => Objective::ReluCount,
            _ => Objective::Latency,
        };
        let model = LatencyModel::new(&net, &job.cost, objective);
        let other_ms = match objective {
            Objective::Latency => {
                network_ms(&job.cost, &net.trained_spec(job.spec.spec()))?
                    - model.sites_cost(&net.plans())
            }
            // Only the latency budget reads it.
            Objective::ReluCount => 0.0,
        };
        let relu_total: f64 = net.sites().iter().map(|s| s.elements as f64).sum();
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let adam = Adam::new(
            vars.into_iter()
                .map(|(name, t)| {
                    let gate = name.ends_with(".logits");
                    let decays = name.ends_with(".weight") && t.dim() > 1;
                    let lr = if gate { cfg.gate_lr } else { cfg.lr };
                    let wd = if decays { cfg.weight_decay } else { 0.0 };
                    (name, t, lr, wd)
                })
                .collect(),
        );
        let teacher = match &cfg.distill {
            Some(d) => Some(load_trained(&d.teacher, job.device)?),
            None => None,
        };
        let norm = job.data.normalization();
        let train = prepare(&job.data.train, &norm, cfg.train_limit, job.device);
        let test = prepare(&job.data.test, &norm, cfg.test_limit, job.device);
        Ok(Run {
            job,
            vs,
            net,
            model,
            adam,
            teacher,
            norm,
            train,
            test,
            other_ms,
            relu_total,
        })
    }

    /// The spec with the run's current choices and coefficients.
    fn current_spec(&self) -> ModelSpec {
        let mut s = self.net.trained_spec(self.job.spec.spec());
        s.normalize = Some(InputNorm {
            mean: self.norm.mean.clone(),
            std: self.norm.std.clone(),
        });
        s
    }

    fn latency_ms(&self) -> Result<f64, TrainError> {
        network_ms(&self.job.cost, &self.current_spec())
    }

    /// Distribution-aware initial coefficients.
    fn init_polys(&mut self) -> Result<(), TrainError> {
        let _guard = tch::no_grad_guard();
        let n = 512.min(self.train.len() as i64);
        let inputs = self.net.site_inputs(&self.train.images.narrow(0, 0, n));
        let spec = self.job.spec;
        let vars = self.vs.variables();
        for (k, x) in inputs.iter().enumerate() {
            let layer = self.net.sites()[k].layer;
            let channels = x.size()[1];
            let samples = match (self.job.config.init, spec.layers()[layer].sources[0]) {
                (PolyInit::BatchNorm, Source::Layer(j))
                    if matches!(spec.spec().layers[j].op, LayerOp::BatchNorm(_)) =>
                {
                    let name = spec.spec().layer_name(j);
                    let (g, b) = (
                        &vars[&format!("{name}.weight")],
                        &vars[&format!("{name}.bias")],
                    );
                    Tensor::randn([channels, 4096], (Kind::Float, x.device())) * g.view([-1, 1])
                        + b.view([-1, 1])
                }
                _ => x.transpose(0, 1).flatten(1, -1),
            };
            let fits = fit_relu(&samples);
            let site = &self.net.sites()[k];
            for (t, idx) in [(&site.w2, 0), (&site.w1, 1), (&site.b, 2)] {
                let v: Vec<f32> = fits.iter().map(|f| f[idx] as f32).collect();
                let mut t = t.shallow_clone();
                if t.numel() == v.len() {
                    t.copy_(&Tensor::from_slice(&v).to_device(t.device()));
                }
            }
        }
        Ok(())
    }

    /// Fixes the gates' picks, then enforces the budget.
    fn fix_gates(&mut self) -> Result<(), TrainError> {
        self.net.fix_plans(None);
        let mut plan = self.net.plans();
        if self.model.no_slower_than_relu(&mut plan) {
            self.net.fix_plans(Some(&plan));
        }
        let Some(budget) = self.job.config.budget else {
            return Ok(());
        };
        let all_poly = SitePlan::from(Choice::Poly);
        let cost = |p: &[SitePlan]| match self.model.objective() {
            Objective::Latency => self.other_ms + self.model.sites_cost(p),
            Objective::ReluCount => self.model.sites_cost(p),
        };
        while cost(&plan) > budget {
            let best = (0..plan.len())
                .filter(|&i| plan[i] != all_poly)
                .max_by(|&a, &b| {
                    let save = |i: usize| {
                        self.model.plan_cost(i, &plan[i]) - self.model.site_cost(i, Choice::Poly)
                    };
                    save(a).total_cmp(&save(b))
                });
            match best {
                Some(i) => plan[i] = all_poly.clone(),
                None => {
                    return Err(TrainError::config(
                        "budget",
                        format!(
                            "{budget} is below what the all-polynomial network costs ({:.3})",
                            cost(&plan)
                        ),
                    ))
                }
            }
        }
        self.net.fix_plans(Some(&plan));
        Ok(())
    }

    fn penalty(&self) -> Option<Tensor> {
        let cfg = &self.job.config;
        if !self.net.sites().iter().any(|s| s.searching()) {
            return None;
        }
        let term = self.model.term(&self.net);
        Some(match (self.model.objective(), cfg.budget) {
            (Objective::Latency, None) => term * cfg.lambda,
            (Objective::ReluCount, None) => term * (cfg.lambda / self.relu_total.max(1.0)),
            (Objective::Latency, Some(b)) => {
                ((term + self.other_ms) - b).relu() * (BUDGET_WEIGHT / b)
            }
            (Objective::ReluCount, Some(b)) => (term - b).relu() * (BUDGET_WEIGHT / b.max(1.0)),
        })
    }

    fn epoch(&mut self, epoch: usize, total: usize, phase: &str) -> Result<EpochLog, TrainError> {
        let cfg = &self.job.config;
        tch::manual_seed(
            (cfg.seed as i64)
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as i64),
        );
        let n = self.train.len() as i64;
        let bs = cfg.batch_size as i64;
        let batches = (n + bs - 1) / bs;
        let perm = Tensor::randperm(n, (Kind::Int64, self.job.device));
        let bar = if self.job.progress {
            let b = ProgressBar::new(batches as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(format!("epoch {}/{total} {phase}", epoch + 1));
            b
        } else {
            ProgressBar::hidden()
        };
        let t0 = std::time::Instant::now();
        let (mut loss_sum, mut ce_sum, mut pen_sum, mut correct) = (0.0, 0.0, 0.0, 0i64);
        for b in 0..batches {
            let idx = perm.narrow(0, b * bs, bs.min(n - b * bs));
            let mut x = self.train.images.index_select(0, &idx);
            if self.job.data.kind.augments() {
                x = augment(&x);
            }
            let y = self.train.labels.index_select(0, &idx);
            let logits = self.net.forward_t(&x, true);
            let ce = logits.cross_entropy_for_logits(&y);
            let mut loss = ce.shallow_clone();
            if let (Some((_, teacher)), Some(d)) = (&self.teacher, &cfg.distill) {
                let t = tch::no_grad(|| teacher.forward_t(&x, false));
                let temp = d.temperature;
                let kl = (&logits / temp).log_softmax(-1, Kind::Float).kl_div(
                    &(t / temp).log_softmax(-1, Kind::Float),
                    tch::Reduction::Mean,
                    true,
                );
                // kl_div's Mean averages over elements; per example it is times classes.
                let classes = logits.size().last().copied().unwrap_or(1) as f64;
                loss = loss.g_add(&(kl * (d.weight * temp * temp * classes)));
            }
            if let Some(p) = self.penalty() {
                pen_sum += p.double_value(&[]);
                loss = loss.g_add(&p);
            }
            self.adam.zero_grad();
            loss.backward();
            self.adam.step();
            let l = loss.double_value(&[]);
            if !l.is_finite() {
                return Err(TrainError::config(
                    "lr",
                    format!(
                        "the loss diverged ({l}) in epoch {}; try a smaller rate",
                        epoch + 1
                    ),
                ));
            }
            loss_sum += l;
            ce_sum += ce.double_value(&[]);
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]);
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", loss_sum / (b + 1) as f64));
        }
        bar.finish_and_clear();
        let seconds = t0.elapsed().as_secs_f64();
        let train_accuracy = 100.0 * correct as f64 / n.max(1) as f64;
        let test_accuracy = accuracy(&self.net, &self.test)?;
        let latency_ms = self.latency_ms()?;
        let log = EpochLog {
            epoch: epoch + 1,
            phase: phase.into(),
            loss: loss_sum / batches as f64,
            cross_entropy: ce_sum / batches as f64,
            penalty: pen_sum / batches as f64,
            train_accuracy,
            test_accuracy,
            latency_ms,
            choices: plan_names(&self.net),
            seconds,
        };
        if self.job.progress {
            eprintln!(
                "epoch {}/{total} {phase}: loss {:.4}, train {:.2}%, test {:.2}%, {:.3} ms modelled, {} ({:.1} s)",
                log.epoch,
                log.loss,
                log.train_accuracy,
                log.test_accuracy,
                log.latency_ms,
                log.choices.join(" "),
                log.seconds
            );
        }
        Ok(log)
    }

    fn write_log(&self, history: &[EpochLog]) -> Result<(), TrainError> {
        let mut text = String::new();
        for h in history {
            text.push_str(&serde_json::to_string(h).map_err(|e| TrainError::file("log.jsonl", e))?);
            text.push('\n');
        }
        let path = self.job.out.join("log.jsonl");
        write_atomic(&path, text.as_bytes()).map_err(|e| TrainError::file(&path, e))?;
        let svg = plot::curves_svg(
            &self.job.spec.spec().name,
            &self.job.config.method.name(),
            history,
        );
        let path = self.job.out.join("curves.svg");
        write_atomic(&path, svg.as_bytes()).map_err(|e| TrainError::file(&path, e))
    }

    fn fingerprint(&self) -> String {
        let cfg = serde_json::to_string(&self.job.config).unwrap_or_default();
        let spec = self.job.spec.spec().to_yaml();
        format!(
            "{cfg}|{spec}|{}|{}|{}",
            self.job.cost.device().name,
            self.job.cost.network().name,
            self.job.data.kind.name()
        )
    }

    fn save_checkpoint(
        &self,
        dir: &Path,
        epochs_done: usize,
        history: &[EpochLog],
    ) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
        let mut named: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("var/{k}"), v.detach().to_device(Device::Cpu)))
            .collect();
        let mut steps = Vec::new();
        for s in self.adam.slots() {
            named.push((format!("m/{}", s.name), s.m.to_device(Device::Cpu)));
            named.push((format!("v/{}", s.name), s.v.to_device(Device::Cpu)));
            steps.push((s.name.clone(), s.steps));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors = format!("state-{epochs_done}.safetensors");
        let path = dir.join(&tensors);
        write_safetensors_atomic(&named, &path)?;
        let fixed =
            (!self.net.sites().iter().any(|s| s.searching())).then(|| plan_names(&self.net));
        let state = CheckpointState {
            fingerprint: self.fingerprint(),
            epochs_done,
            fixed,
            steps,
            tensors: tensors.clone(),
            history: history.to_vec(),
        };
        let json = serde_json::to_string_pretty(&state).map_err(|e| TrainError::file(dir, e))?;
        let state_path = dir.join("state.json");
        write_atomic(&state_path, json.as_bytes()).map_err(|e| TrainError::file(&state_path, e))?;
        // Older tensor files are no longer referenced.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with("state-") && name.ends_with(".safetensors") && name != tensors {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    fn load_checkpoint(&mut self, dir: &Path) -> Result<Option<CheckpointState>, TrainError> {
        let state_path = dir.join("state.json");
        if !state_path.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&state_path).map_err(|e| TrainError::file(&state_path, e))?;
        let state: CheckpointState = serde_json::from_str(&text)
            .map_err(|e| TrainError::file(&state_path, format!("not a polympc checkpoint: {e}")))?;
        if state.fingerprint != self.fingerprint() {
            return Err(TrainError::file(
                &state_path,
                "the checkpoint is of a different spec, dataset, target or configuration; \
                 start afresh without --resume or use another --out",
            ));
        }
        let tpath = dir.join(&state.tensors);
        let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&tpath)
            .map_err(|e| TrainError::file(&tpath, e))?
            .into_iter()
            .collect();
        let get = |k: &str| {
            tensors
                .get(k)
                .ok_or_else(|| TrainError::file(&tpath, format!("no tensor `{k}`")))
        };
        tch::no_grad(|| -> Result<(), TrainError> {
            for (k, mut v) in self.vs.variables() {
                v.copy_(get(&format!("var/{k}"))?);
            }
            let steps: HashMap<&String, i64> = state.steps.iter().map(|(k, v)| (k, *v)).collect();
            for s in self.adam.slots_mut() {
                s.m.copy_(get(&format!("m/{}", s.name))?);
                s.v.copy_(get(&format!("v/{}", s.name))?);
                s.steps = steps.get(&s.name).copied().unwrap_or(0);
            }
            Ok(())
        })?;
        if let Some(fixed) = &state.fixed {
            let plan: Option<Vec<SitePlan>> = fixed.iter().map(|c| SitePlan::parse(c)).collect();
            let plan = plan.ok_or_else(|| TrainError::file(&state_path, "unknown choice"))?;
            if plan.len() != self.net.sites().len() {
                return Err(TrainError::file(
                    &state_path,
                    "choices for another number of sites",
                ));
            }
            self.net.fix_plans(Some(&plan));
        }
        Ok(Some(state))
    }

    fn finish(self, history: Vec<EpochLog>) -> Result<TrainReport, TrainError> {
        let job = self.job;
        let name = job.spec.spec().name.clone();
        let mut spec = self.current_spec();
        let weights_name = format!("{name}.safetensors");
        spec.weights = Some(PathBuf::from(&weights_name));
        let exported = self.net.export(&self.vs, &spec);
        let spec_path = job.out.join(format!("{name}.yaml"));
        let weights_path = job.out.join(&weights_name);
        let exported_cpu: Vec<(String, Tensor)> = exported
            .iter()
            .map(|(k, v)| (k.clone(), v.to_device(Device::Cpu)))
            .collect();
        write_safetensors_atomic(&exported_cpu, &weights_path)?;
        let header = format!(
            "# Trained by polympc ({}), {} test accuracy in float; modelled on {} over {}.\n",
            job.config.method.name(),
            history.last().map_or(0.0, |h| h.test_accuracy),
            job.cost.device().name,
            job.cost.network().name
        );
        let checked = CheckedSpec::new(spec.clone(), &spec_path)?;
        let weights: fixed::Weights = exported.into_iter().collect();
        tch::manual_seed(job.config.seed as i64);
        let fixed_accuracy = fixed::accuracy(
            &checked,
            &weights,
            &self.test.images,
            &self.test.labels,
            1000,
        )?;
        let float_accuracy = accuracy(&self.net, &self.test)?;
        let latency_ms = self.latency_ms()?;
        write_atomic(&spec_path, format!("{header}{}", spec.to_yaml()).as_bytes())
            .map_err(|e| TrainError::file(&spec_path, e))?;
        let relus = self
            .net
            .sites()
            .iter()
            .map(|s| s.plan().relu_elements(s.elements, s.channels))
            .sum();
        let report = TrainReport {
            network: name,
            method: job.config.method.name(),
            config: job.config.clone(),
            target: format!(
                "{} over {}",
                job.cost.device().name,
                job.cost.network().name
            ),
            float_accuracy,
            fixed_accuracy,
            test_examples: self.test.len(),
            latency_ms,
            relus,
            choices: plan_names(&self.net),
            spec: spec_path,
            weights: weights_path,
            history,
        };
        let path = job.out.join("report.json");
        let json = serde_json::to_string_pretty(&report).map_err(|e| TrainError::file(&path, e))?;
        write_atomic(&path, json.as_bytes()).map_err(|e| TrainError::file(&path, e))?;
        Ok(report)
    }
}

/// Weight of the budget penalty: loss per budget's worth of excess.
const BUDGET_WEIGHT: f64 = 5.0;

fn prepare(split: &Split, norm: &Normalization, limit: Option<usize>, device: Device) -> Split {
    let s = split.take(limit.unwrap_or(usize::MAX));
    Split {
        images: norm.apply(&s.images).to_device(device),
        labels: s.labels.to_device(device),
    }
}

/// Float top-1 accuracy (%) in evaluation mode.
pub fn accuracy(net: &SpecNet, split: &Split) -> Result<f64, TrainError> {
    let _guard = tch::no_grad_guard();
    let n = split.len() as i64;
    let mut correct = 0;
    let mut start = 0;
    while start < n {
        let len = 1000.min(n - start);
        let y = net.forward_t(&split.images.narrow(0, start, len), false);
        correct += y
            .argmax(-1, false)
            .eq_tensor(&split.labels.narrow(0, start, len))
            .sum(Kind::Int64)
            .int64_value(&[]);
        start += len;
    }
    Ok(100.0 * correct as f64 / n.max(1) as f64)
}

fn write_safetensors_atomic(named: &[(String, Tensor)], path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension(format!("{}.tmp.safetensors", std::process::id()));
    Tensor::write_safetensors(named, &tmp).map_err(|e| TrainError::file(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::file(path, e)
    })
}

/// A trained network: its spec (with `weights:`) loaded with its weights.
pub fn load_trained(
    spec_path: &Path,
    device: Device,
) -> Result<(nn::VarStore, SpecNet), TrainError> {
    let spec = CheckedSpec::load(spec_path)?;
    let weights = spec.weights_path().ok_or_else(|| {
        TrainError::file(
            spec_path,
            "the spec names no weights file (`weights:`); train it first",
        )
    })?;
    let mut vs = nn::VarStore::new(device);
    let net = SpecNet::new(&vs.root(), &spec);
    vs.load(&weights)
        .map_err(|e| TrainError::file(&weights, e))?;
    Ok((vs, net))
}
