//! The polympc command line: parses arguments, calls the stage libraries, reports.

mod accel_cmd;
mod flow;
mod private_cmd;
mod report;
mod train_cmd;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hdl::blocks::BlockKind;
use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, FixedPoint, NetworkProfile};
use scheduler::TwoPcGraph;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// FPGA-accelerated private neural-network inference: train, compile, schedule,
/// generate, verify and deploy.
#[derive(Parser)]
#[command(name = "polympc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole flow on one network: train, graph, design-space exploration, estimate,
    /// schedule, Verilog, Verilator verification and private inference, into one folder
    /// with a report (HTML and Markdown). Stages whose inputs are unchanged are skipped.
    Flow(Box<flow::FlowArgs>),
    /// Train a network whose activation sites are chosen against the FPGA latency of
    /// each 2PC operator (or a baseline); writes the trained spec, `.safetensors`
    /// weights, a log, plots and checkpoints.
    Train(Box<train_cmd::TrainArgs>),
    /// Show the 2PC operator graph of a model spec: a per-node table and totals.
    Graph {
        /// The model spec (YAML).
        spec: PathBuf,
        /// Print JSON (nodes, operands, shapes, totals) instead of the table.
        #[arg(long, conflicts_with = "dot")]
        json: bool,
        /// Print Graphviz DOT instead of the table (`dot -Tsvg` draws it).
        #[arg(long)]
        dot: bool,
        /// Write to this file (atomically) instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Estimate per-layer latency, traffic and rounds of private inference on an FPGA
    /// accelerator over a network, online and offline, with the lower bound.
    Estimate(EstimateArgs),
    /// Design-space exploration: the accelerator configuration that fits the device and
    /// minimises the network's modelled online latency, with the Pareto set of latency
    /// against resource use (a table; with `--out`, JSON, the chosen configuration's
    /// YAML and a Pareto plot).
    Explore(ExploreArgs),
    /// Schedule the online phase onto the accelerator: every operator, tile by tile, on
    /// the units and the link with start and end cycles, beside the lower bound; the
    /// configuration from `--config`, or the design-space exploration's choice.
    Schedule(ScheduleArgs),
    /// Write the Verilog of the accelerator's blocks for a configuration.
    Hdl {
        #[command(flatten)]
        blocks: BlockArgs,
        /// The folder to write the Verilog to (one file per block, plus blocks.json).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the accelerator's blocks on Verilator: random vectors against the golden
    /// models, measured latency and initiation interval against the perf model; then
    /// ReLUs garbled and evaluated on the ReLU engine against the software garbler,
    /// evaluator and ReLU itself, cycles against the perf model.
    Sim {
        #[command(flatten)]
        blocks: BlockArgs,
        /// Random vectors per block (ReLUs through the ReLU engine: at most 64).
        #[arg(long, default_value_t = 1000)]
        vectors: usize,
        /// Seed of the vectors.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write a VCD trace of each block's run into this folder.
        #[arg(long)]
        vcd: Option<PathBuf>,
        /// Print JSON (every block's vectors, mismatches and cycles) instead of the
        /// tables.
        #[arg(long)]
        json: bool,
    },
    /// Run the server's half of a schedule on the accelerator's top level on Verilator,
    /// from a private inference's test vectors: each MAC-array and Beaver-lane task an
    /// instruction at its start cycle; outputs against the golden model and the
    /// protocol's shares, cycles against the schedule.
    Accel(accel_cmd::AccelArgs),
    /// Run a trained network privately on test images: server and client exchange real
    /// messages (in one process, or two with `--serve` / `--connect`); prints the
    /// predictions and the traffic per node beside perf_model's prediction.
    PrivateInfer(Box<private_cmd::PrivateArgs>),
    /// Build the iCE40 bitstream of the host-link top level (UART, Beaver multiplier,
    /// garbled-AND unit), or with `--config` the accelerator's link (the small-memory
    /// top level behind the UART), for a board: yosys, nextpnr-ice40 at the design
    /// clock, icepack; prints utilisation and the maximum frequency from the tools.
    Bitstream(BitstreamArgs),
    /// Talk to a board running the host link: identify it, then a self-test of Beaver
    /// multiplications and garbled AND gates against the golden models, over a serial
    /// port (`--port`) or the top level simulated on Verilator (`--simulate`). With
    /// `--config`, a board running the accelerator's link: a program loaded, run and
    /// read back, against the golden model.
    Host(HostArgs),
    /// Write a Vivado project for a Xilinx board (`pynq-z2`, `zcu102`, `u250`): the
    /// request engine with AXI-Stream ports, its clock constraint and a non-project Tcl
    /// flow (out of context: synthesis, place, route, reports, checkpoint), checked for
    /// consistency; `--run` runs it where Vivado is installed.
    Vivado(VivadoArgs),
    /// Program a board's configuration flash with a bitstream (openFPGALoader, or
    /// iceprog); `--check` only looks for the board, `--dry-run` prints the commands.
    Deploy(DeployArgs),
    /// List the FPGA devices polympc knows, with their resources.
    Devices,
    /// Check the external tools and libraries polympc uses, with their versions.
    Tools,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Flow(args) => flow::flow(&args),
        Command::Train(args) => train_cmd::train(&args),
        Command::Graph {
            spec,
            json,
            dot,
            out,
        } => graph(&spec, json, dot, out.as_deref()),
        Command::Estimate(args) => estimate(&args),
        Command::Explore(args) => explore(&args),
        Command::Schedule(args) => schedule_cmd(&args),
        Command::Hdl { blocks, out } => hdl_cmd(&blocks, &out),
        Command::Accel(args) => accel_cmd::accel(&args),
        Command::Sim {
            blocks,
            vectors,
            seed,
            vcd,
            json,
        } => sim_cmd(&blocks, vectors, seed, vcd.as_deref(), json),
        Command::PrivateInfer(args) => private_cmd::private_infer(&args),
        Command::Bitstream(args) => bitstream_cmd(&args),
        Command::Vivado(args) => vivado_cmd(&args),
        Command::Host(args) => host_cmd(&args),
        Command::Deploy(args) => deploy_cmd(&args),
        Command::Devices => devices(),
        Command::Tools => tools(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn graph(spec: &Path, json: bool, dot: bool, out: Option<&Path>) -> Result<()> {
    let spec = CheckedSpec::load(spec)?;
    let g = TwoPcGraph::build(&spec);
    let text = if json {
        g.to_json()
    } else if dot {
        g.to_dot()
    } else {
        g.to_table()
    };
    emit(&text, out)
}

/// What a network is costed, explored or scheduled for.
#[derive(Args)]
struct Target {
    /// The model spec (YAML).
    spec: PathBuf,
    /// The FPGA: a device name or alias (`polympc devices` lists them), or a YAML file.
    #[arg(long, default_value = "zcu102")]
    fpga: String,
    /// The network: `lan`, `wan`, `lan-cryptflow2`, `wan-cryptflow2`,
    /// `BANDWIDTH_MBPS:RTT_MS`, or a YAML file.
    #[arg(long, default_value = "lan")]
    net: String,
}

/// The spec, device and link of a [`Target`], loaded.
struct Loaded {
    spec: CheckedSpec,
    device: Device,
    link: NetworkProfile,
    graph: TwoPcGraph,
}

impl Target {
    fn load(&self) -> Result<Loaded> {
        let spec = CheckedSpec::load(&self.spec)?;
        let device = Device::find(&self.fpga)?;
        let link = NetworkProfile::find(&self.net)?;
        let graph = TwoPcGraph::build(&spec);
        Ok(Loaded {
            spec,
            device,
            link,
            graph,
        })
    }
}

#[derive(Args)]
struct EstimateArgs {
    #[command(flatten)]
    target: Target,
    /// The accelerator configuration (YAML); by default the largest standard one that
    /// fits the device.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also draw the per-layer online latency breakdown to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Also write the accelerator configuration used to this YAML file.
    #[arg(long)]
    save_config: Option<PathBuf>,
    /// A built bitstream's report (`polympc bitstream`'s `report.json`, or its folder):
    /// the configuration runs at the clock the bitstream met timing at. Its board's
    /// FPGA must be `--fpga`.
    #[arg(long)]
    bitstream: Option<PathBuf>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long)]
    out: Option<PathBuf>,
}

/// The design clock of a built bitstream, from its report, checked against the device.
fn achieved_clock(path: &std::path::Path, device: &perf_model::Device) -> Result<f64> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading the bitstream report {}", file.display()))?;
    let r: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a bitstream report", file.display()))?;
    let board = r["board"]
        .as_str()
        .with_context(|| format!("{}: no `board`", file.display()))?;
    let clock = r["clock_mhz"]
        .as_f64()
        .with_context(|| format!("{}: no `clock_mhz`", file.display()))?;
    let b = bitstreams::board::Board::find(board)
        .with_context(|| format!("{}: field `board`", file.display()))?;
    let on = perf_model::Device::find(&b.device)?;
    if on.name != device.name {
        anyhow::bail!(
            "{}: the bitstream is for the {} ({}), not the {}",
            file.display(),
            board,
            on.name,
            device.name
        );
    }
    Ok(clock)
}

fn estimate(a: &EstimateArgs) -> Result<()> {
    let Loaded {
        spec,
        device,
        link: network,
        graph: g,
    } = a.target.load()?;
    let fixed = spec.spec().fixed_point;
    let mut config = match &a.config {
        Some(path) => AcceleratorConfig::load(path)?,
        None => AcceleratorConfig::for_device(&device, fixed),
    };
    if let Some(path) = &a.bitstream {
        config.clock_mhz = achieved_clock(path, &device)?;
    }
    let origin = a.config.as_ref().map_or_else(
        || "the default configuration".to_string(),
        |p| p.display().to_string(),
    );
    let model = CostModel::new(device, config, network)
        .with_context(|| format!("{origin} on {}", a.target.fpga))?;
    let est = model
        .network_estimate(g.name(), fixed, &g.workloads())
        .with_context(|| format!("estimating {}", a.target.spec.display()))?;
    if let Some(path) = &a.save_config {
        write(path, &model.config().to_yaml())?;
    }
    if let Some(path) = &a.plot {
        write(
            path,
            &perf_model::estimate::plot::online_breakdown_svg(&est),
        )?;
    }
    let text = if a.json {
        est.to_json()
    } else {
        est.to_table()
    };
    emit(&text, a.out.as_deref())
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    target: Target,
    /// The highest utilisation of any resource the chosen configuration may have, in
    /// percent (room for routing).
    #[arg(long, default_value_t = 80.0)]
    max_utilisation: f64,
    /// Print JSON (every fitting point, the Pareto set, the choice) instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write `dse.json`, `accelerator.yaml` (the choice) and `pareto.svg` here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn explore(a: &ExploreArgs) -> Result<()> {
    anyhow::ensure!(
        a.max_utilisation > 0.0 && a.max_utilisation <= 100.0,
        "--max-utilisation {}: give a percentage above 0, at most 100",
        a.max_utilisation
    );
    let Loaded {
        device,
        link,
        graph: g,
        ..
    } = a.target.load()?;
    let opts = scheduler::dse::DseOptions {
        max_utilisation: a.max_utilisation / 100.0,
        ..Default::default()
    };
    let x = scheduler::dse::explore(&g, &device, &link, opts)
        .with_context(|| format!("exploring {} on {}", a.target.spec.display(), a.target.fpga))?;
    let json = serde_json::to_string_pretty(&x)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        write(&dir.join("dse.json"), &json)?;
        write(&dir.join("accelerator.yaml"), &x.best().config.to_yaml())?;
        write(&dir.join("pareto.svg"), &x.pareto_svg())?;
    }
    let text = if a.json { json } else { x.to_table() };
    emit(&text, None)
}

#[derive(Args)]
struct ScheduleArgs {
    #[command(flatten)]
    target: Target,
    /// The accelerator configuration (YAML); by default the exploration's choice.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The most tiles an operator is cut into (more when its buffer needs them).
    #[arg(long, default_value_t = 256)]
    max_tiles: u32,
    /// Print the schedule as JSON (every task) instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write `schedule.json`, `gantt.svg` and `accelerator.yaml` here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn schedule_cmd(a: &ScheduleArgs) -> Result<()> {
    anyhow::ensure!(a.max_tiles > 0, "--max-tiles: at least 1");
    let Loaded {
        device,
        link,
        graph: g,
        ..
    } = a.target.load()?;
    let config = match &a.config {
        Some(path) => {
            let c = AcceleratorConfig::load(path)?;
            c.fit(&device)
                .with_context(|| format!("{} on {}", path.display(), a.target.fpga))?;
            c
        }
        None => {
            let x = scheduler::dse::explore(&g, &device, &link, Default::default()).with_context(
                || format!("exploring {} on {}", a.target.spec.display(), a.target.fpga),
            )?;
            x.best().config
        }
    };
    let opts = scheduler::schedule::ScheduleOptions {
        max_tiles: a.max_tiles,
    };
    let s = scheduler::schedule::schedule(&g, &config, &device, &link, opts)
        .with_context(|| format!("scheduling {}", a.target.spec.display()))?;
    let bad = s.violations(&g);
    anyhow::ensure!(
        bad.is_empty(),
        "the schedule is invalid: {}",
        bad.join("; ")
    );
    let json = serde_json::to_string_pretty(&s)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        write(&dir.join("schedule.json"), &json)?;
        write(&dir.join("gantt.svg"), &s.gantt_svg())?;
        write(&dir.join("accelerator.yaml"), &config.to_yaml())?;
    }
    let text = if a.json { json } else { s.to_table() };
    emit(&text, None)
}

#[derive(Args)]
struct BitstreamArgs {
    /// The board: `alchitry-cu`, `icebreaker`, or a board file (YAML, as those in
    /// `bitstreams/boards/`).
    #[arg(long)]
    board: String,
    /// The design clock, MHz (the board's default when left out: 50 on the Alchitry
    /// Cu through the PLL, the 12 MHz oscillator on the iCEBreaker).
    #[arg(long)]
    freq: Option<f64>,
    /// The UART's baud rate.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Fractional bits the Beaver multiplier truncates by.
    #[arg(long, default_value_t = hdl::mac::DEFAULT_FRAC_BITS, conflicts_with = "config")]
    frac_bits: u32,
    /// Build the accelerator's link for this configuration (a 16-bit ring; its
    /// fractional bits, and its share of Beaver lanes for 2 MAC lanes) instead of the
    /// host link.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Build the largest core that fits the board and meets the clock, with
    /// `--frac-bits`: the accelerator's link with 2 Beaver lanes, then with 1, then the
    /// host link (`polympc host --report` self-tests whichever it is).
    #[arg(long, conflicts_with = "config")]
    largest: bool,
    /// nextpnr's placement seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The output folder (default `bitstream-BOARD`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

/// The accelerator's link a configuration file asks for: its Beaver lanes (the
/// configuration's share for 2 MAC lanes) and fractional bits; an error naming the file
/// when the link is not generated for it.
fn accel_link_for(path: &Path) -> Result<(usize, u32)> {
    let c = AcceleratorConfig::load(path)?;
    let small = hdl::accel::Size::Small;
    let b = hdl::accel::beaver_lanes_for(2, c.mac_lanes, c.beaver_lanes)
        .filter(|&b| small.generated_for(c.ring_bits, 2, b) && c.frac_bits < c.ring_bits);
    let Some(b) = b else {
        anyhow::bail!(
            "{}: the board's accelerator is the small-memory top level, on the 16-bit ring \
             with fewer fractional bits, 2 MAC lanes and 1 or 2 Beaver lanes; the \
             configuration has ring_bits {}, frac_bits {}, mac_lanes {}, beaver_lanes {}",
            path.display(),
            c.ring_bits,
            c.frac_bits,
            c.mac_lanes,
            c.beaver_lanes
        );
    };
    Ok((b as usize, c.frac_bits))
}

/// The core and its fractional bits: the host link with `--frac-bits`, or the
/// accelerator's link for `--config`.
fn bitstream_core(a: &BitstreamArgs) -> Result<(bitstreams::ice40::Core, u32)> {
    use bitstreams::ice40::Core;
    match &a.config {
        None => Ok((Core::HostLink, a.frac_bits)),
        Some(path) => {
            let (beaver_lanes, f) = accel_link_for(path)?;
            Ok((Core::Accelerator { beaver_lanes }, f))
        }
    }
}

fn bitstream_cmd(a: &BitstreamArgs) -> Result<()> {
    use bitstreams::ice40::{build, build_largest, BuildOptions, Core, STEPS};
    use indicatif::{ProgressBar, ProgressStyle};
    let (core, frac_bits) = bitstream_core(a)?;
    let board = bitstreams::board::Board::named_or_file(&a.board)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("bitstream-{}", board.name)));
    let opts = BuildOptions {
        board,
        core,
        freq_mhz: a.freq,
        baud: a.baud,
        frac_bits,
        seed: a.seed,
        out: out.clone(),
    };
    let bar = ProgressBar::new(STEPS.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = if a.largest {
        build_largest(&opts, &Core::LARGEST_FIRST, |core, k| {
            bar.set_position(k as u64);
            bar.set_message(format!("{}: {}", core.tag(), STEPS[k]));
        })
    } else {
        build(&opts, |k| {
            bar.set_position(k as u64);
            bar.set_message(STEPS[k]);
        })
    };
    bar.finish_and_clear();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_markdown());
        println!("\nBitstream: {}", out.join(&report.bitstream).display());
    }
    Ok(())
}

#[derive(Args)]
struct HostArgs {
    /// The board's serial port (its USB-serial bridge, e.g. /dev/ttyUSB1).
    #[arg(
        long,
        required_unless_present = "simulate",
        conflicts_with = "simulate"
    )]
    port: Option<PathBuf>,
    /// The port's baud rate (the bitstream's) [default: the report's with `--report`,
    /// else 115200].
    #[arg(long)]
    baud: Option<u32>,
    /// Run against the top level on Verilator instead of a board.
    #[arg(long)]
    simulate: bool,
    /// Fractional bits of the simulated board's multiplier.
    #[arg(long, default_value_t = hdl::mac::DEFAULT_FRAC_BITS, conflicts_with_all = ["config", "report"])]
    frac_bits: u32,
    /// The board runs the accelerator's link built for this configuration (`polympc
    /// bitstream --config`): self-test it with a program through the small-memory top
    /// level instead.
    #[arg(long, conflicts_with = "report")]
    config: Option<PathBuf>,
    /// The bitstream's report (`polympc bitstream`'s `report.json`): self-test the core
    /// it names, with its fractional bits and baud rate.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Beaver multiplications and garbled AND gates in the self-test.
    #[arg(long, default_value_t = 4)]
    requests: usize,
    /// Seed of the self-test's values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
}

/// The core `polympc host` self-tests, its fractional bits, its baud rate, and the
/// file they came from (`--config` or `--report`).
fn host_target(a: &HostArgs) -> Result<(bitstreams::ice40::Core, u32, u32, Option<&Path>)> {
    use bitstreams::ice40::Core;
    let baud = a.baud.unwrap_or(115_200);
    if let Some(config) = &a.config {
        let (beaver_lanes, f) = accel_link_for(config)?;
        return Ok((Core::Accelerator { beaver_lanes }, f, baud, Some(config)));
    }
    let Some(report) = &a.report else {
        return Ok((Core::HostLink, a.frac_bits, baud, None));
    };
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("--report {}", report.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", report.display()))?;
    let field = |name: &str| {
        v.get(name).with_context(|| {
            format!(
                "{}: no `{name}` (not a report of `polympc bitstream`)",
                report.display()
            )
        })
    };
    let core: Core = serde_json::from_value(field("core_kind")?.clone())
        .with_context(|| format!("{}: `core_kind`", report.display()))?;
    let number = |name: &str| -> Result<u32> {
        field(name)?
            .as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .with_context(|| format!("{}: `{name}` is not a count", report.display()))
    };
    let f = number("frac_bits")?;
    let baud = match a.baud {
        Some(b) => b,
        None => number("baud")?,
    };
    Ok((core, f, baud, Some(report)))
}

/// The identity's fractional bits against those of the file that named the core.
fn check_frac_bits(mismatches: &mut Vec<String>, got: u8, want: u32, source: Option<&Path>) {
    if let Some(p) = source {
        if u32::from(got) != want {
            mismatches.push(format!(
                "the board's link has f = {got}; {} asks for f = {want}",
                p.display()
            ));
        }
    }
}

fn host_cmd(a: &HostArgs) -> Result<()> {
    use bitstreams::host::{self_test, Driver, SelfTest, SerialPort, SimulatedBoard};
    use bitstreams::ice40::Core;
    let (core, frac_bits, baud, source) = host_target(a)?;
    if let (Core::Accelerator { beaver_lanes }, Some(source)) = (core, source) {
        return accel_host_cmd(a, beaver_lanes, frac_bits, baud, source);
    }
    let mut t: SelfTest = match &a.port {
        Some(port) => self_test(
            &mut Driver::new(SerialPort::open(port, baud)?),
            a.requests,
            a.seed,
        )?,
        // Four cycles a bit keeps the simulation short; the protocol is the same.
        None => self_test(
            &mut Driver::new(SimulatedBoard::new(4, frac_bits)?),
            a.requests,
            a.seed,
        )?,
    };
    if t.passed() {
        check_frac_bits(&mut t.mismatches, t.identity[5], frac_bits, source);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        let id = t.identity;
        println!(
            "board: polympc host link v{}, {}-bit ring, f = {}, UART divisor {}",
            id[3],
            id[4],
            id[5],
            u16::from_le_bytes([id[6], id[7]])
        );
        for (k, name) in ["identify", "Beaver multiply", "garble AND", "evaluate AND"]
            .iter()
            .enumerate()
        {
            let n = t.requests[k];
            if n > 0 {
                println!(
                    "{name:<16} {n:>4} requests  {:>9.3} ms each",
                    1e3 * t.seconds[k] / n as f64
                );
            }
        }
    }
    if t.passed() {
        if !a.json {
            println!("every reply equals the golden model");
        }
        Ok(())
    } else {
        anyhow::bail!(
            "{} replies differ from the golden model:\n  {}",
            t.mismatches.len(),
            t.mismatches.join("\n  ")
        )
    }
}

/// `polympc host --config` (or `--report` of an accelerator link's bitstream): the
/// accelerator link's self-test.
fn accel_host_cmd(
    a: &HostArgs,
    beaver_lanes: usize,
    frac_bits: u32,
    baud: u32,
    source: &Path,
) -> Result<()> {
    use bitstreams::accel_host::{accel_self_test, AccelDriver, SimulatedAccelBoard};
    use bitstreams::host::SerialPort;
    let mut t = match &a.port {
        Some(port) => {
            accel_self_test(&mut AccelDriver::new(SerialPort::open(port, baud)?), a.seed)?
        }
        // Four cycles a bit keeps the simulation short; the protocol is the same.
        None => accel_self_test(
            &mut AccelDriver::new(SimulatedAccelBoard::new(4, frac_bits, beaver_lanes)?),
            a.seed,
        )?,
    };
    let id = t.identity;
    if t.passed() {
        check_frac_bits(&mut t.mismatches, id[5], frac_bits, Some(source));
    }
    if t.passed() && usize::from(id[7]) != beaver_lanes {
        t.mismatches.push(format!(
            "the board's link has {} Beaver lanes; {} asks for {beaver_lanes}",
            id[7],
            source.display()
        ));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        println!(
            "board: polympc accelerator link v{}, {}-bit ring, f = {}, {} MAC lanes, {}",
            id[3],
            id[4],
            id[5],
            id[6],
            accel_cmd::beaver_count(u32::from(id[7]))
        );
        let [issues, writes, polys, bwrites] = t.counts;
        println!(
            "{} instructions, {} requests ({} bytes) in {:.2} s; halted and answered at \
             cycle {} (the model's last write: {}); {issues} issued, {writes} writes, \
             {polys} POLY, {bwrites} Beaver writes",
            t.instructions, t.requests, t.bytes_out, t.seconds, t.cycles, t.last_write
        );
    }
    if t.passed() {
        if !a.json {
            println!(
                "{} activation rows read back, every one equal to the golden model",
                t.rows
            );
        }
        Ok(())
    } else {
        anyhow::bail!(
            "the accelerator link differs from the golden model:\n  {}",
            t.mismatches.join("\n  ")
        )
    }
}

#[derive(Args)]
struct VivadoArgs {
    /// The board: `pynq-z2`, `zcu102` or `u250`.
    #[arg(long)]
    board: String,
    /// The design clock, MHz (the board file's when left out).
    #[arg(long)]
    freq: Option<f64>,
    /// Fractional bits the Beaver multiplier truncates by.
    #[arg(long, default_value_t = hdl::mac::DEFAULT_FRAC_BITS, conflicts_with = "config")]
    frac_bits: u32,
    /// Wrap the accelerator for this configuration (YAML) instead of the host link's
    /// engine: the full-size top level on its ring, with its fractional bits, the most
    /// MAC lanes it is generated for up to the configuration's, and their share of its
    /// Beaver lanes.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The output folder (default `vivado-BOARD`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the flow with `vivado -mode batch` (Vivado must be on PATH).
    #[arg(long)]
    run: bool,
}

/// The full-size top level generated for a configuration: the most MAC lanes it is
/// generated for up to the configuration's, and their share of its Beaver lanes; `None`
/// when its ring or lanes have none.
fn full_top_level(c: &AcceleratorConfig) -> Option<(u32, u32)> {
    if !hdl::accel::RING_COUNTS.contains(&c.ring_bits) {
        return None;
    }
    let n = hdl::accel::lane_counts_up_to(c.mac_lanes).next()?;
    Some((
        n,
        hdl::accel::beaver_lanes_for(n, c.mac_lanes, c.beaver_lanes)?,
    ))
}

fn vivado_cmd(a: &VivadoArgs) -> Result<()> {
    use bitstreams::vivado::{generate, VivadoCore, XilinxBoard, FILES};
    let board = XilinxBoard::find(&a.board)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("vivado-{}", board.name)));
    let core = match &a.config {
        None => VivadoCore::HostLink {
            frac_bits: a.frac_bits,
        },
        Some(path) => {
            let c = AcceleratorConfig::load(path)?;
            let (lanes, beaver_lanes) = full_top_level(&c).with_context(|| {
                format!(
                    "{}: the accelerator's top level is generated on the 16-, 32- and 64-bit \
                     rings with 2 to 32 MAC lanes; the configuration has ring_bits {}, \
                     mac_lanes {}",
                    path.display(),
                    c.ring_bits,
                    c.mac_lanes
                )
            })?;
            VivadoCore::Accelerator {
                ring_bits: c.ring_bits,
                frac_bits: c.frac_bits,
                lanes,
                beaver_lanes,
            }
        }
    };
    generate(&board, a.freq, &core, &out)?;
    println!(
        "{} for the {} at {} MHz: {} (checked)\n  core: {}",
        out.display(),
        board.description,
        a.freq.unwrap_or(board.clock_mhz),
        FILES.join(", "),
        core.describe()
    );
    if !a.run {
        println!(
            "run it where Vivado is installed: (cd {} && vivado -mode batch -source build.tcl)",
            out.display()
        );
        return Ok(());
    }
    let status = std::process::Command::new("vivado")
        .args(["-mode", "batch", "-source", "build.tcl"])
        .current_dir(&out)
        .status()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run vivado ({e}); install Vivado and put it on PATH, or leave out --run"
            )
        })?;
    if !status.success() {
        anyhow::bail!("vivado failed ({status}); see {}/vivado.log", out.display());
    }
    Ok(())
}

#[derive(Args)]
struct DeployArgs {
    /// The board: `alchitry-cu` or `icebreaker`.
    #[arg(long)]
    board: String,
    /// The bitstream (`.bin`) to write.
    #[arg(long, required_unless_present = "check")]
    bitstream: Option<PathBuf>,
    /// Print the programmer's commands and do nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only check that the board is attached.
    #[arg(long)]
    check: bool,
    /// `openfpgaloader` or `iceprog`.
    #[arg(long, default_value = "openfpgaloader")]
    programmer: String,
}

fn deploy_cmd(a: &DeployArgs) -> Result<()> {
    use bitstreams::deploy::{commands, deploy, Programmer};
    let board = bitstreams::board::Board::find(&a.board)?;
    let p = match a.programmer.as_str() {
        "openfpgaloader" => Programmer::OpenFpgaLoader,
        "iceprog" => Programmer::Iceprog,
        other => anyhow::bail!("--programmer {other}: give openfpgaloader or iceprog"),
    };
    let file = a.bitstream.clone().unwrap_or_default();
    if a.dry_run {
        let (detect, write) = commands(&board, p, &file);
        println!("{} {}", p.name(), detect.join(" "));
        if !a.check {
            println!("{} {}", p.name(), write.join(" "));
        }
        return Ok(());
    }
    deploy(&board, p, &file, !a.check)?;
    println!(
        "{}: {}",
        board.name,
        if a.check {
            "attached".to_string()
        } else {
            format!("programmed with {}", file.display())
        }
    );
    Ok(())
}

/// Which blocks: those of an accelerator configuration.
#[derive(Args)]
struct BlockArgs {
    /// The accelerator configuration (YAML); by default the standard one for `--fpga`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The FPGA whose standard configuration to use without `--config`.
    #[arg(long, default_value = "zcu102")]
    fpga: String,
    /// Ring width without `--config`.
    #[arg(long, default_value_t = 32)]
    ring_bits: u32,
    /// Fractional bits the blocks truncate by [default: the configuration's, or the
    /// ring's usual 12 (7 for 16 bits)].
    #[arg(long)]
    frac_bits: Option<u32>,
}

impl BlockArgs {
    /// The configuration, with `--frac-bits` applied.
    fn config(&self) -> Result<AcceleratorConfig> {
        let mut c = match &self.config {
            Some(path) => AcceleratorConfig::load(path)?,
            None => {
                anyhow::ensure!(
                    FixedPoint::RING_BITS.contains(&self.ring_bits),
                    "--ring-bits {} is not 16, 32 or 64",
                    self.ring_bits
                );
                let fixed = FixedPoint::for_ring(self.ring_bits);
                AcceleratorConfig::for_device(&Device::find(&self.fpga)?, fixed)
            }
        };
        if let Some(f) = self.frac_bits {
            anyhow::ensure!(
                f < c.ring_bits,
                "--frac-bits {f} must be below the ring width {}",
                c.ring_bits
            );
            c.frac_bits = f;
        }
        c.check("the configuration")?;
        Ok(c)
    }
}

fn hdl_cmd(a: &BlockArgs, out: &Path) -> Result<()> {
    let c = a.config()?;
    let (l, f) = (c.ring_bits, c.frac_bits);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut manifest = Vec::new();
    for kind in BlockKind::ALL {
        let name = kind.name(l);
        let v = kind
            .verilog(l, f)
            .with_context(|| format!("no {l}-bit {name}"))?;
        let file = format!("{name}.v");
        write(&out.join(&file), &v)?;
        let t = kind.timing(l);
        let count = match kind {
            BlockKind::RingMul => 0,
            BlockKind::MacLane => c.mac_lanes,
            BlockKind::BeaverLane | BlockKind::BeaverMul => c.beaver_lanes,
        };
        println!(
            "{:<18} {:<22} latency {:>2}, II {}, {} in the configuration",
            name, file, t.latency, t.ii, count
        );
        manifest.push(serde_json::json!({
            "block": name,
            "file": file,
            "ring_bits": l,
            "frac_bits": f,
            "latency": t.latency,
            "ii": t.ii,
            "instances": count,
        }));
    }
    // The ReLU engine: half-gates engines on the configuration's AES cores with the
    // l-bit ReLU circuit's program in ROM.
    let r = c.gc.aes_round_units;
    let program = perf_model::circuit::program::compile(&perf_model::circuit::library::relu(l))
        .with_context(|| format!("compiling the {l}-bit ReLU circuit"))?;
    let v = hdl::gc::relu_verilog(r, &program)
        .with_context(|| format!("the ReLU engine with {r} round units"))?;
    let name = format!("relu_engine{r}_{l}");
    let file = format!("{name}.v");
    write(&out.join(&file), &v)?;
    let t = perf_model::accel::units::gc_engine(r);
    println!(
        "{:<18} {:<22} latency {:>2}, II {} per AND gate, {} in the configuration",
        name, file, t.latency, t.and_ii, c.gc.engines
    );
    manifest.push(serde_json::json!({
        "block": name,
        "file": file,
        "ring_bits": l,
        "aes_round_units": r,
        "latency": t.latency,
        "ii": t.and_ii,
        "and_gates": program.and_gates(),
        "instances": c.gc.engines,
    }));
    // The top level: the most MAC lanes it is generated for, up to the configuration's.
    match full_top_level(&c) {
        Some((n, b)) => {
            let v = hdl::accel::verilog(l, c.frac_bits, n, b, hdl::accel::Size::Full)
                .with_context(|| format!("no {n}-lane top level with {b} Beaver lanes"))?;
            let name = format!("accelerator{l}_x{n}b{b}");
            let file = format!("{name}.v");
            write(&out.join(&file), &v)?;
            let t = perf_model::accel::units::mac_array(l);
            println!(
                "{:<18} {:<22} latency {:>2}, {n} of the configuration's {} MAC lanes, \
                 {b} of its {} Beaver lanes",
                name, file, t.latency, c.mac_lanes, c.beaver_lanes
            );
            manifest.push(serde_json::json!({
                "block": name,
                "file": file,
                "ring_bits": l,
                "frac_bits": c.frac_bits,
                "lanes": n,
                "beaver_lanes": b,
                "configuration_lanes": c.mac_lanes,
                "configuration_beaver_lanes": c.beaver_lanes,
                "latency": t.latency,
                "instances": 1,
            }));
        }
        _ => println!(
            "(no top level: it is generated for 2 to 32 MAC lanes, not {})",
            c.mac_lanes
        ),
    }
    // On the 16-bit ring, the small-memory top level too: the one an iCE40 holds.
    let small = hdl::accel::Size::Small;
    if let Some(b) = hdl::accel::beaver_lanes_for(2, c.mac_lanes, c.beaver_lanes)
        .filter(|&b| small.generated_for(l, 2, b) && c.frac_bits < l)
    {
        let v = hdl::accel::verilog(l, c.frac_bits, 2, b, small)
            .with_context(|| format!("no small-memory top level with {b} Beaver lanes"))?;
        let name = format!("accelerator{l}_x2b{b}_small");
        let file = format!("{name}.v");
        write(&out.join(&file), &v)?;
        let bits = small.bits();
        println!(
            "{:<18} {:<22} 2 MAC lanes, {}; {}-row banks, {}-word coefficient banks \
             in logic (for an iCE40)",
            name,
            file,
            accel_cmd::beaver_count(b),
            1 << bits.rows,
            1 << bits.coef
        );
        manifest.push(serde_json::json!({
            "block": name,
            "file": file,
            "ring_bits": l,
            "frac_bits": c.frac_bits,
            "lanes": 2,
            "beaver_lanes": b,
            "rows": 1 << bits.rows,
            "coefficient_words": 1 << bits.coef,
            "latency": perf_model::accel::units::mac_array(l).latency,
            "instances": 1,
        }));
    }
    let manifest = serde_json::to_string_pretty(&manifest)?;
    write(&out.join("blocks.json"), &format!("{manifest}\n"))?;
    write(&out.join("accelerator.yaml"), &c.to_yaml())?;
    Ok(())
}

/// ReLUs `polympc sim` runs through the ReLU engine at most (two batches of 16-bit
/// ones): each is a whole garbled circuit, hundreds of cycles.
const GC_SIM_MAX: usize = 64;

fn sim_cmd(a: &BlockArgs, vectors: usize, seed: u64, vcd: Option<&Path>, json: bool) -> Result<()> {
    let c = a.config()?;
    let (l, f) = (c.ring_bits, c.frac_bits);
    if let Some(dir) = vcd {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    say(format!(
        "{:<14} {:>8} {:>8} {:>10} {:>16} {:>10}  result",
        "block", "vectors", "outputs", "mismatches", "latency hw/model", "II hw/model"
    ));
    let mut failed = 0;
    let mut blocks = Vec::new();
    for kind in BlockKind::ALL {
        let trace = vcd.map(|d| d.join(format!("{}.vcd", kind.name(l))));
        let r = sim::blocks::check(kind, l, f, vectors, seed, trace.as_deref())?;
        say(format!(
            "{:<14} {:>8} {:>8} {:>10} {:>16} {:>10}  {}",
            r.name,
            r.vectors,
            r.outputs,
            r.mismatch_count,
            format!("{}/{}", r.latency.0, r.latency.1),
            format!("{}/{}", r.ii.0, r.ii.1),
            if r.passed() { "ok" } else { "FAILED" }
        ));
        for (i, hw, golden) in &r.mismatches {
            say(format!(
                "    output {i}: hardware {hw:#x}, golden model {golden:#x}"
            ));
        }
        blocks.push(serde_json::json!({
            "block": r.name,
            "vectors": r.vectors,
            "outputs": r.outputs,
            "mismatches": r.mismatch_count,
            "latency": { "verilator": r.latency.0, "model": r.latency.1 },
            "ii": { "verilator": r.ii.0, "model": r.ii.1 },
            "cycles": r.cycles,
            "passed": r.passed(),
        }));
        failed += usize::from(!r.passed());
    }
    // The ReLU engine of the configuration: garbled, then evaluated, against the
    // software garbler and evaluator and against ReLU itself.
    let r = c.gc.aes_round_units;
    let instances = vectors.clamp(1, GC_SIM_MAX) as u32;
    let trace = vcd.map(|d| d.join(format!("relu_engine{r}.vcd")));
    let g = sim::gc::check_relu(r, l, instances, seed, trace.as_deref())?;
    say(format!(
        "\n{:<20} {:>9} {:>9} {:>10} {:>6} {:>20} {:>20}  result",
        "gc block",
        "ReLUs",
        "compared",
        "mismatches",
        "wrong",
        "garble cyc hw/model",
        "eval cyc hw/model"
    ));
    say(format!(
        "{:<20} {:>9} {:>9} {:>10} {:>6} {:>20} {:>20}  {}",
        g.name,
        g.instances,
        g.compared,
        g.mismatches + g.timing_faults,
        g.wrong_results,
        format!("{}/{}", g.garble_cycles.0, g.garble_cycles.1),
        format!("{}/{}", g.eval_cycles.0, g.eval_cycles.1),
        if g.passed() { "ok" } else { "FAILED" }
    ));
    failed += usize::from(!g.passed());
    if json {
        let relu = serde_json::json!({
            "block": g.name,
            "relus": g.instances,
            "compared": g.compared,
            "mismatches": g.mismatches + g.timing_faults,
            "wrong_results": g.wrong_results,
            "garble_cycles": { "verilator": g.garble_cycles.0, "model": g.garble_cycles.1 },
            "eval_cycles": { "verilator": g.eval_cycles.0, "model": g.eval_cycles.1 },
            "passed": g.passed(),
        });
        let doc = serde_json::json!({
            "ring_bits": l,
            "frac_bits": f,
            "seed": seed,
            "blocks": blocks,
            "relu_engine": relu,
            "passed": failed == 0,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    anyhow::ensure!(failed == 0, "{failed} block(s) failed");
    Ok(())
}

fn devices() -> Result<()> {
    println!(
        "{:<11} {:<24} {:>9} {:>9} {:>6} {:>11} {:>6} {:>8}",
        "device", "also", "LUT", "FF", "DSP", "RAM kbit", "MHz", "mem GB/s"
    );
    for d in Device::known()? {
        println!(
            "{:<11} {:<24} {:>9} {:>9} {:>6} {:>11} {:>6} {:>8}",
            d.name,
            d.aliases.join(", "),
            d.luts,
            d.flip_flops,
            d.dsp.count,
            d.ram_bits() / 1024,
            d.clock.max_mhz,
            d.memory.gbps
        );
    }
    Ok(())
}

/// Writes `text` to `path` atomically.
fn write(path: &Path, text: &str) -> Result<()> {
    perf_model::io::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Prints `text`, or writes it atomically to `out`.
fn emit(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => write(path, text),
        None => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
    }
}

fn tools() -> Result<()> {
    let mut missing = 0;
    let found = std::iter::once(sim::tools::verilator()).chain(bitstreams::tools::ice40_flow());
    for t in found {
        match t {
            Ok(t) => println!("{:<15} {:<28} {}", t.name, t.path.display(), t.version),
            Err(e) => {
                missing += 1;
                println!("missing         {e}");
            }
        }
    }
    #[cfg(feature = "train")]
    println!("{:<15} {}", "libtorch", training::runtime());
    #[cfg(not(feature = "train"))]
    println!(
        "{:<15} not built in (build with the `train` feature)",
        "libtorch"
    );
    anyhow::ensure!(missing == 0, "{missing} tool(s) missing");
    Ok(())
}
