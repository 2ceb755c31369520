//! `polympc flow`: the main job end to end. Each stage runs the very command a user
//! would (this program, as a child process) with its artifacts going into one folder,
//! and the report gathers their figures and plots.
//!
//! Every stage writes into `OUT/.STAGE.partial` and is renamed to `OUT/STAGE` only when
//! it succeeded, with a stamp: the hash of its command lines and of the files it reads.
//! A stage whose stamp matches is skipped; `--from STAGE` reruns from a stage on. An
//! interrupted training resumes from its last epoch's checkpoint.

use crate::report;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The LeNet-style example, the flow's network when no `--spec` is given.
const LENET5: &str = include_str!("../../examples/lenet5.yaml");

/// Arguments of `polympc flow`.
#[derive(Args)]
pub struct FlowArgs {
    /// The model spec (YAML) [default: the LeNet-style example for Fashion-MNIST].
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// The dataset folder [default: Debian's Fashion-MNIST for 1x28x28 inputs].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The FPGA (`polympc devices` lists them).
    #[arg(long, default_value = "zcu102")]
    pub fpga: String,
    /// The network between the parties: lan, wan, BANDWIDTH_MBPS:RTT_MS or a YAML file.
    #[arg(long, default_value = "lan")]
    pub net: String,
    /// Weight of the modelled latency (per ms) in the training loss.
    #[arg(long, default_value_t = 0.01)]
    pub lambda: f64,
    /// Training epochs with the gates trained.
    #[arg(long, default_value_t = 1)]
    pub search_epochs: usize,
    /// Training epochs with the choices fixed.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Train on the first N training examples only.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Test on the first N test examples only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Test images run through the private-inference protocol: `N` or `A..B`.
    #[arg(long, default_value = "0..20")]
    pub images: String,
    /// Random vectors per block on Verilator.
    #[arg(long, default_value_t = 1000)]
    pub vectors: usize,
    /// Seed of training, vectors and the protocol's randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The output folder: every stage's artifacts and the report.
    #[arg(long, default_value = "polympc-flow")]
    pub out: PathBuf,
    /// Rerun from this stage on, even where its inputs are unchanged.
    #[arg(long, value_enum)]
    pub from: Option<Stage>,
    /// Stop after this stage (a later run goes on from there).
    #[arg(long, value_enum)]
    pub stop_after: Option<Stage>,
    /// Open the HTML report in a browser (`xdg-open`) at the end.
    #[arg(long)]
    pub open: bool,
    /// MAC lanes of the accelerator stage's top level (2, 4, 8, 16 or 32), with the
    /// configuration's share of Beaver lanes [default: `polympc accel`'s, the most up
    /// to the configuration's that divide every convolution's output channels].
    #[arg(long)]
    pub accel_lanes: Option<u32>,
    /// The iCE40 board of the board stage (`polympc bitstream --largest`: the largest
    /// core that fits, then its self-test on Verilator); `none` leaves the stage out.
    #[arg(long, default_value = "alchitry-cu")]
    pub board: String,
}

/// A stage of the flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Stage {
    /// Hardware-aware training.
    Train,
    /// The 2PC operator graph.
    Graph,
    /// Design-space exploration: the accelerator configuration.
    Explore,
    /// Per-layer latency estimate on the chosen configuration.
    Estimate,
    /// The online phase scheduled onto the accelerator.
    Schedule,
    /// The blocks' Verilog.
    Hdl,
    /// The blocks on Verilator against their golden models and the perf model.
    Verify,
    /// Private inference of test images through the protocol.
    Private,
    /// The server's schedule on the accelerator's top level, on Verilator, from one
    /// image's test vectors.
    Accel,
    /// The iCE40 bitstream of the largest core that fits a board (the accelerator's
    /// link, or the host link), and its self-test on Verilator.
    Board,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 10] = [
        Stage::Train,
        Stage::Graph,
        Stage::Explore,
        Stage::Estimate,
        Stage::Schedule,
        Stage::Hdl,
        Stage::Verify,
        Stage::Private,
        Stage::Accel,
        Stage::Board,
    ];

    /// The stage's folder name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Train => "train",
            Stage::Graph => "graph",
            Stage::Explore => "explore",
            Stage::Estimate => "estimate",
            Stage::Schedule => "schedule",
            Stage::Hdl => "hdl",
            Stage::Verify => "verify",
            Stage::Private => "private",
            Stage::Accel => "accel",
            Stage::Board => "board",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Stage::Train => "hardware-aware training",
            Stage::Graph => "2PC operator graph",
            Stage::Explore => "design-space exploration",
            Stage::Estimate => "latency estimate",
            Stage::Schedule => "schedule",
            Stage::Hdl => "Verilog",
            Stage::Verify => "Verilator verification",
            Stage::Private => "private inference",
            Stage::Accel => "the accelerator on Verilator",
            Stage::Board => "iCE40 bitstream and self-test",
        }
    }

    /// Stages with their own progress bars show the child's standard error.
    fn live(self) -> bool {
        matches!(self, Stage::Train | Stage::Private)
    }
}

/// One command of a stage: arguments of this program, with `{dir}` for the stage's
/// folder, and the file in that folder its standard output goes to (else none).
struct Step {
    args: Vec<String>,
    stdout: Option<&'static str>,
}

/// What a stage runs and reads.
struct Plan {
    steps: Vec<Step>,
    /// Files (or folders, by name, size and time) whose contents the stage depends on.
    inputs: Vec<PathBuf>,
}

/// The stamp a finished stage leaves in its folder.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// Hash of the stage's command lines and inputs.
    pub hash: String,
    /// Seconds the stage took.
    pub seconds: f64,
}

/// What happened to a stage in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageRun {
    /// The stage.
    pub stage: String,
    /// `ran` or `skipped` (inputs unchanged).
    pub status: &'static str,
    /// Seconds it took when it last ran.
    pub seconds: f64,
}

/// Where the flow's files are.
pub struct Layout {
    /// The output folder.
    pub out: PathBuf,
    /// The model spec trained.
    pub spec: PathBuf,
}

impl Layout {
    /// A stage's folder.
    pub fn dir(&self, s: Stage) -> PathBuf {
        self.out.join(s.name())
    }

    /// The trained spec and its weights, as the training report names them, in the
    /// train folder.
    pub fn trained(&self) -> Result<Trained> {
        let report = self.dir(Stage::Train).join("report.json");
        let r = read_json(&report)?;
        let file = |field: &str| {
            r[field]
                .as_str()
                .and_then(|s| Path::new(s).file_name())
                .map(|name| self.dir(Stage::Train).join(name))
                .with_context(|| format!("{}: no `{field}` file named", report.display()))
        };
        Ok(Trained {
            spec: file("spec")?,
            weights: file("weights")?,
        })
    }

    /// The accelerator configuration the exploration chose.
    pub fn accelerator(&self) -> PathBuf {
        self.dir(Stage::Explore).join("accelerator.yaml")
    }
}

/// What the train stage wrote that later stages read.
pub struct Trained {
    /// The trained spec.
    pub spec: PathBuf,
    /// Its weights.
    pub weights: PathBuf,
}

/// Reads a JSON file, naming it in any error.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// The folder of the hdl stage that holds the Vivado project.
pub(crate) const VIVADO_DIR: &str = "vivado";

/// The built-in Xilinx board whose part is the device `fpga` names, if any.
pub(crate) fn xilinx_board_for(fpga: &str) -> Option<String> {
    let device = perf_model::Device::find(fpga).ok()?;
    bitstreams::vivado::XilinxBoard::built_in()
        .ok()?
        .into_iter()
        .find(|b| perf_model::Device::find(&b.device).is_ok_and(|d| d.name == device.name))
        .map(|b| b.name)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl FlowArgs {
    /// The first of the test images (`--images N` or `A..B`), whose test vectors the
    /// accelerator replays.
    pub(crate) fn first_image(&self) -> String {
        self.images
            .split("..")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn plan(&self, stage: Stage, at: &Layout) -> Result<Plan> {
        let own = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let target = |spec: &Path| own(&[&s(spec), "--fpga", &self.fpga, "--net", &self.net]);
        let seed = self.seed.to_string();
        Ok(match stage {
            Stage::Train => {
                let mut args = own(&["train"]);
                args.extend(target(&at.spec));
                args.extend(own(&[
                    "--lambda",
                    &self.lambda.to_string(),
                    "--search-epochs",
                    &self.search_epochs.to_string(),
                    "--epochs",
                    &self.epochs.to_string(),
                    "--seed",
                    &seed,
                    "--out",
                    "{dir}",
                ]));
                let mut inputs = vec![at.spec.clone()];
                if let Some(d) = &self.data {
                    args.extend(own(&["--data", &s(d)]));
                    inputs.push(d.clone());
                } else {
                    inputs.push(PathBuf::from(perf_model::dataset::FASHION_MNIST_DIR));
                }
                for (flag, v) in [
                    ("--train-limit", self.train_limit),
                    ("--test-limit", self.test_limit),
                ] {
                    if let Some(n) = v {
                        args.extend(own(&[flag, &n.to_string()]));
                    }
                }
                Plan {
                    steps: vec![Step {
                        args,
                        stdout: Some("train.txt"),
                    }],
                    inputs,
                }
            }
            Stage::Graph => {
                let t = at.trained()?.spec;
                let graph = |extra: &[&str], file: &str| {
                    let mut a = own(&["graph", &s(&t)]);
                    a.extend(own(extra));
                    a.extend(own(&["-o", &format!("{{dir}}/{file}")]));
                    Step {
                        args: a,
                        stdout: None,
                    }
                };
                Plan {
                    steps: vec![
                        graph(&[], "graph.txt"),
                        graph(&["--json"], "graph.json"),
                        graph(&["--dot"], "graph.dot"),
                    ],
                    inputs: vec![t],
                }
            }
            Stage::Explore => {
                let t = at.trained()?.spec;
                let mut args = own(&["explore"]);
                args.extend(target(&t));
                args.extend(own(&["--out", "{dir}"]));
                Plan {
                    steps: vec![Step {
                        args,
                        stdout: Some("explore.txt"),
                    }],
                    inputs: vec![t],
                }
            }
            Stage::Estimate => {
                let t = at.trained()?.spec;
                let estimate = |extra: &[&str]| {
                    let mut a = own(&["estimate"]);
                    a.extend(target(&t));
                    a.extend(own(&["--config", &s(&at.accelerator())]));
                    a.extend(own(extra));
                    Step {
                        args: a,
                        stdout: None,
                    }
                };
                Plan {
                    steps: vec![
                        estimate(&["-o", "{dir}/estimate.txt", "--plot", "{dir}/breakdown.svg"]),
                        estimate(&["--json", "-o", "{dir}/estimate.json"]),
                    ],
                    inputs: vec![t, at.accelerator()],
                }
            }
            Stage::Schedule => {
                let t = at.trained()?.spec;
                let mut args = own(&["schedule"]);
                args.extend(target(&t));
                args.extend(own(&["--config", &s(&at.accelerator()), "--out", "{dir}"]));
                Plan {
                    steps: vec![Step {
                        args,
                        stdout: Some("schedule.txt"),
                    }],
                    inputs: vec![t, at.accelerator()],
                }
            }
            Stage::Hdl => {
                let config = s(&at.accelerator());
                let mut steps = vec![Step {
                    args: own(&["hdl", "--config", &config, "--out", "{dir}"]),
                    stdout: Some("hdl.txt"),
                }];
                // On a Xilinx device with a board file, the accelerator's Vivado
                // project (its AXI-Stream link) too.
                if let Some(board) = xilinx_board_for(&self.fpga) {
                    steps.push(Step {
                        args: own(&[
                            "vivado",
                            "--board",
                            &board,
                            "--config",
                            &config,
                            "--out",
                            &format!("{{dir}}/{VIVADO_DIR}"),
                        ]),
                        stdout: Some("vivado.txt"),
                    });
                }
                Plan {
                    steps,
                    inputs: vec![at.accelerator()],
                }
            }
            Stage::Verify => Plan {
                steps: vec![Step {
                    args: own(&[
                        "sim",
                        "--config",
                        &s(&at.accelerator()),
                        "--vectors",
                        &self.vectors.to_string(),
                        "--seed",
                        &seed,
                        "--json",
                    ]),
                    stdout: Some("verify.json"),
                }],
                inputs: vec![at.accelerator()],
            },
            Stage::Private => {
                let t = at.trained()?;
                let mut args = own(&[
                    "private-infer",
                    &s(&t.spec),
                    "--input",
                    &self.images,
                    "--check",
                    "--json",
                    "--seed",
                    &seed,
                ]);
                if let Some(d) = &self.data {
                    args.extend(own(&["--data", &s(d)]));
                }
                Plan {
                    steps: vec![Step {
                        args,
                        stdout: Some("private.json"),
                    }],
                    inputs: vec![t.spec, t.weights],
                }
            }
            Stage::Accel => {
                let t = at.trained()?;
                let image = self.first_image();
                let vectors = format!("{{dir}}/vectors/image-{image}");
                let mut infer = own(&[
                    "private-infer",
                    &s(&t.spec),
                    "--input",
                    &image,
                    "--seed",
                    &seed,
                    "--vectors",
                    "{dir}/vectors",
                    "--json",
                ]);
                if let Some(d) = &self.data {
                    infer.extend(own(&["--data", &s(d)]));
                }
                let mut accel = own(&["accel", &s(&t.spec), "--vectors", &vectors]);
                accel.extend(own(&["--fpga", &self.fpga, "--net", &self.net]));
                accel.extend(own(&["--config", &s(&at.accelerator()), "--json"]));
                if let Some(n) = self.accel_lanes {
                    accel.extend(own(&["--lanes", &n.to_string()]));
                }
                Plan {
                    steps: vec![
                        Step {
                            args: infer,
                            stdout: Some("vectors.json"),
                        },
                        Step {
                            args: accel,
                            stdout: Some("accel.json"),
                        },
                    ],
                    inputs: vec![t.spec, t.weights, at.accelerator()],
                }
            }
            // The host link's design does not depend on the network: the board and
            // the frac bits are in the command lines the stamp hashes.
            Stage::Board if self.board == "none" => Plan {
                steps: vec![],
                inputs: vec![],
            },
            Stage::Board => Plan {
                steps: vec![
                    Step {
                        args: own(&[
                            "bitstream",
                            "--board",
                            &self.board,
                            "--largest",
                            "--out",
                            "{dir}",
                            "--json",
                        ]),
                        stdout: Some("bitstream.json"),
                    },
                    Step {
                        args: own(&[
                            "host",
                            "--simulate",
                            "--report",
                            "{dir}/report.json",
                            "--requests",
                            "2",
                            "--seed",
                            &seed,
                            "--json",
                        ]),
                        stdout: Some("host.json"),
                    },
                ],
                inputs: vec![],
            },
        })
    }
}

/// The hash of a stage's command lines and inputs.
fn stamp_hash(stage: Stage, plan: &Plan) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!(
        "polympc-flow {} {}\n",
        env!("CARGO_PKG_VERSION"),
        stage.name()
    ));
    for step in &plan.steps {
        h.update(format!("{:?}\n", step.args));
    }
    for input in &plan.inputs {
        h.update(format!("{}\n", input.display()));
        if input.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(input)
                .with_context(|| format!("cannot read {}", input.display()))?
                .filter_map(|e| e.ok())
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let m = e.metadata()?;
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                h.update(format!("{:?} {} {mtime}\n", e.file_name(), m.len()));
            }
        } else if input.exists() {
            let bytes =
                std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
            h.update(&bytes);
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

const STAMP: &str = "stamp.json";
const STARTED: &str = "started";

fn read_stamp(dir: &Path) -> Option<Stamp> {
    let text = std::fs::read_to_string(dir.join(STAMP)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs `polympc flow`.
pub fn flow(a: &FlowArgs) -> Result<()> {
    anyhow::ensure!(
        !(a.from.is_some() && a.stop_after.is_some() && a.stop_after < a.from),
        "--stop-after comes before --from"
    );
    if let Some(n) = a.accel_lanes {
        let counts = hdl::accel::LANE_COUNTS;
        anyhow::ensure!(
            counts.contains(&n),
            "--accel-lanes {n}: the accelerator's top level is generated for {counts:?} lanes"
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("--out {}", a.out.display()))?;
    let spec = match &a.spec {
        Some(p) => {
            anyhow::ensure!(p.is_file(), "--spec {}: no such file", p.display());
            p.clone()
        }
        None => {
            let p = a.out.join("lenet5.yaml");
            if std::fs::read_to_string(&p).ok().as_deref() != Some(LENET5) {
                perf_model::io::write_atomic(&p, LENET5.as_bytes())
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            p
        }
    };
    let at = Layout {
        out: a.out.clone(),
        spec,
    };
    let exe = std::env::current_exe().context("cannot find the polympc executable")?;
    let mut runs = Vec::new();
    let mut rerun = false;
    let total = Stage::ALL.len();
    for (k, stage) in Stage::ALL.into_iter().enumerate() {
        rerun |= a.from == Some(stage);
        let plan = a.plan(stage, &at)?;
        let hash = stamp_hash(stage, &plan)?;
        let dir = at.dir(stage);
        let head = format!("[{}/{total}] {:<9}", k + 1, stage.name());
        let done = read_stamp(&dir).filter(|st| st.hash == hash);
        match done {
            Some(st) if !rerun => {
                eprintln!(
                    "{head} {} unchanged, skipped ({:.1} s when it ran)",
                    stage.what(),
                    st.seconds
                );
                runs.push(StageRun {
                    stage: stage.name().into(),
                    status: "skipped",
                    seconds: st.seconds,
                });
            }
            _ => {
                // A stage that reads another's output hashes that output, so it runs
                // again exactly when what it reads changed.
                let seconds = run_stage(stage, &plan, &hash, &at, &exe, &head)?;
                runs.push(StageRun {
                    stage: stage.name().into(),
                    status: "ran",
                    seconds,
                });
            }
        }
        if a.stop_after == Some(stage) {
            eprintln!("stopped after {} (--stop-after)", stage.name());
            return Ok(());
        }
    }
    let r = report::write(&at, a, &runs)?;
    eprintln!("report: {}", r.display());
    if a.open {
        // The report is written; a machine without a browser only loses the window.
        match Command::new("xdg-open").arg(&r).status() {
            Ok(st) if st.success() => {}
            Ok(st) => eprintln!("xdg-open {}: {st}", r.display()),
            Err(e) => eprintln!(
                "cannot open a browser (xdg-open: {e}); open {} by hand",
                r.display()
            ),
        }
    }
    Ok(())
}

/// Runs one stage into its partial folder and renames it into place.
fn run_stage(
    stage: Stage,
    plan: &Plan,
    hash: &str,
    at: &Layout,
    exe: &Path,
    head: &str,
) -> Result<f64> {
    let dir = at.dir(stage);
    let partial = at.out.join(format!(".{}.partial", stage.name()));
    // A training interrupted with the same inputs goes on from its checkpoint.
    let resume = stage == Stage::Train
        && std::fs::read_to_string(partial.join(STARTED))
            .ok()
            .as_deref()
            == Some(hash)
        && partial.join("checkpoint").exists();
    if !resume && partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot clear {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    perf_model::io::write_atomic(&partial.join(STARTED), hash.as_bytes())
        .with_context(|| format!("cannot write in {}", partial.display()))?;
    eprintln!(
        "{head} {}{}",
        stage.what(),
        if resume { " (resumed)" } else { "" }
    );
    let started = Instant::now();
    for step in &plan.steps {
        let mut args: Vec<String> = step
            .args
            .iter()
            .map(|x| x.replace("{dir}", &s(&partial)))
            .collect();
        if resume {
            args.push("--resume".into());
        }
        run_step(stage, &args, &partial, step.stdout, exe)?;
        // What a step printed names the folder it wrote into: name the stage's own.
        if let Some(name) = step.stdout {
            let file = partial.join(name);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let text = text.replace(&s(&partial), &s(&dir));
            perf_model::io::write_atomic(&file, text.as_bytes())
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stamp = serde_json::to_string_pretty(&Stamp {
        hash: hash.to_string(),
        seconds,
    })?;
    perf_model::io::write_atomic(&partial.join(STAMP), stamp.as_bytes())
        .with_context(|| format!("cannot write in {}", partial.display()))?;
    let _ = std::fs::remove_file(partial.join(STARTED));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), dir.display()))?;
    eprintln!("{head} done in {seconds:.1} s: {}", dir.display());
    Ok(seconds)
}

/// Runs this program with `args`, its standard output into `dir/stdout` (when named)
/// and, for stages without their own progress bars, its standard error into
/// `dir/stderr.log` while a spinner turns. `dir` is the stage's partial folder, renamed
/// into place only when every step succeeded.
fn run_step(
    stage: Stage,
    args: &[String],
    dir: &Path,
    stdout: Option<&str>,
    exe: &Path,
) -> Result<()> {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null());
    let open = |p: &Path| {
        std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))
    };
    cmd.stdout(match stdout {
        Some(name) => Stdio::from(open(&dir.join(name))?),
        None => Stdio::null(),
    });
    let err_path = dir.join("stderr.log");
    if !stage.live() {
        cmd.stderr(Stdio::from(open(&err_path)?));
    }
    let line = format!("polympc {}", args.join(" "));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let bar = (!stage.live()).then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("  {spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.set_message(truncate(&line, 100));
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let status = child.wait().context("waiting for a stage")?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !status.success() {
        let log = if stage.live() {
            String::new()
        } else {
            let text = std::fs::read_to_string(&err_path).unwrap_or_default();
            let lines: Vec<_> = text.lines().collect();
            format!(":\n{}", lines[lines.len().saturating_sub(20)..].join("\n"))
        };
        bail!("stage {} failed ({status}): {line}{log}", stage.name());
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
