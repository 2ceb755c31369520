//! iCE40 bitstreams for a board of the host-link top level ([`hdl::host::HostLink`]) or
//! the accelerator's link ([`hdl::accel_link::AccelLink`]): the board wrapper (the oscillator straight in, or through the PLL when the design
//! clock differs), the pin constraints, then yosys (`synth_ice40`, `-dsp -spram` on
//! UltraPlus parts), nextpnr-ice40 at the design clock and icepack. The report's
//! utilisation and maximum frequency are the tools' own figures, read from their logs;
//! a design that does not fit or misses timing is an error with those figures.

use crate::board::Board;
use crate::tools::{icepack, nextpnr_ice40, yosys, ToolError};
use hdl::accel_link;
use hdl::host::{self, HostLink};
use hdl::uart;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One PLL setting of `SB_PLL40_CORE` (simple feedback).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pll {
    /// Reference divider (0..=15).
    pub divr: u32,
    /// Feedback divider (0..=127).
    pub divf: u32,
    /// Output divider, a power of two (1..=6).
    pub divq: u32,
    /// Loop filter range for the phase detector's frequency.
    pub filter_range: u32,
    /// The output clock, MHz.
    pub out_mhz: f64,
}

/// The PLL setting whose output is nearest `want_mhz` from a `ref_mhz` reference,
/// within the iCE40 PLL's limits (phase detector 10-133 MHz, VCO 533-1066 MHz,
/// output 16-275 MHz); `None` when no setting comes within 1%.
pub fn pll(ref_mhz: f64, want_mhz: f64) -> Option<Pll> {
    let mut best: Option<Pll> = None;
    for divr in 0..=15u32 {
        let pfd = ref_mhz / f64::from(divr + 1);
        if !(10.0..=133.0).contains(&pfd) {
            continue;
        }
        for divf in 0..=127u32 {
            let vco = pfd * f64::from(divf + 1);
            if !(533.0..=1066.0).contains(&vco) {
                continue;
            }
            for divq in 1..=6u32 {
                let out = vco / f64::from(1u32 << divq);
                if !(16.0..=275.0).contains(&out) {
                    continue;
                }
                if best.is_none_or(|b| (out - want_mhz).abs() < (b.out_mhz - want_mhz).abs()) {
                    let filter_range = match pfd {
                        p if p < 17.0 => 1,
                        p if p < 26.0 => 2,
                        p if p < 44.0 => 3,
                        p if p < 66.0 => 4,
                        p if p < 101.0 => 5,
                        _ => 6,
                    };
                    best = Some(Pll {
                        divr,
                        divf,
                        divq,
                        filter_range,
                        out_mhz: out,
                    });
                }
            }
        }
    }
    best.filter(|b| (b.out_mhz - want_mhz).abs() <= 0.01 * want_mhz)
}

/// The core a bitstream holds: both have the same ports (clock, the UART's lines, two
/// LEDs), so the board wrapper is the same. Reports name it as `"host_link"` or
/// `{"accelerator": {"beaver_lanes": 1}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Core {
    /// The host link: Beaver products and garbled AND gates ([`HostLink`]).
    HostLink,
    /// The accelerator's link: the small-memory top level on the 16-bit ring with 2 MAC
    /// lanes and this many Beaver lanes (1 or 2) behind the UART
    /// ([`hdl::accel_link::AccelLink`]).
    Accelerator {
        /// Beaver lanes.
        beaver_lanes: usize,
    },
}

impl Core {
    /// Every core, the largest first: the accelerator's link with 2 Beaver lanes, with
    /// 1, then the host link ([`build_largest`] tries them in this order).
    pub const LARGEST_FIRST: [Core; 3] = [
        Core::Accelerator { beaver_lanes: 2 },
        Core::Accelerator { beaver_lanes: 1 },
        Core::HostLink,
    ];

    /// A short name, for file names: `host-link`, `accel-b2`.
    pub fn tag(&self) -> String {
        match self {
            Core::HostLink => "host-link".into(),
            Core::Accelerator { beaver_lanes } => format!("accel-b{beaver_lanes}"),
        }
    }

    /// What it is, for reports.
    pub fn describe(&self) -> String {
        match self {
            Core::HostLink => "host link (Beaver multiplier, garbled-AND unit)".into(),
            Core::Accelerator { beaver_lanes } => format!(
                "accelerator link (small-memory top level: 2 MAC lanes, {beaver_lanes} Beaver \
                 lane{}, 256-row banks)",
                if *beaver_lanes == 1 { "" } else { "s" }
            ),
        }
    }

    /// The core's Verilog file name.
    fn file(&self) -> &'static str {
        match self {
            Core::HostLink => "host_link.v",
            Core::Accelerator { .. } => "accel_link.v",
        }
    }

    /// Its Verilog with the UART at `divisor` cycles a bit and truncation by
    /// `frac_bits`; `None` when it is not generated for them.
    pub fn verilog(&self, divisor: u16, frac_bits: u32) -> Option<String> {
        match self {
            Core::HostLink => Some(hdl::verilog(HostLink::new(divisor, frac_bits))),
            Core::Accelerator { beaver_lanes } => {
                accel_link::verilog(divisor, frac_bits, *beaver_lanes)
            }
        }
    }

    /// The modelled cycles of its requests over the UART at `divisor`.
    fn request_cycles(&self, divisor: u16) -> Vec<(String, u64)> {
        match self {
            Core::HostLink => [
                ("identify", host::OP_ID),
                ("Beaver multiply", host::OP_MUL),
                ("garble AND", host::OP_GARBLE),
                ("evaluate AND", host::OP_EVAL),
            ]
            .iter()
            .map(|&(name, op)| (name.to_string(), host::transaction_cycles(op, divisor)))
            .collect(),
            Core::Accelerator { .. } => {
                let n = accel_link::MAX_WORDS;
                let load = |mem: accel_link::Mem| accel_link::Request::Load {
                    mem: mem as u8,
                    lane: 0,
                    addr: 0,
                    words: vec![0; n],
                };
                [
                    ("identify".to_string(), accel_link::Request::Identify),
                    (
                        format!("load {n} ring elements"),
                        load(accel_link::Mem::Act),
                    ),
                    (
                        format!("load {n} instructions"),
                        load(accel_link::Mem::Prog),
                    ),
                    (
                        format!("read {n} rows"),
                        accel_link::Request::Read {
                            lane: 0,
                            row: 0,
                            count: n,
                        },
                    ),
                ]
                .into_iter()
                .map(|(name, r)| (name, accel_link::transaction_cycles(&r, divisor)))
                .collect()
            }
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The board.
    pub board: Board,
    /// The core.
    pub core: Core,
    /// The design clock, MHz; the board's `design_mhz` when `None`.
    pub freq_mhz: Option<f64>,
    /// The UART's baud rate.
    pub baud: u32,
    /// Fractional bits the core truncates by.
    pub frac_bits: u32,
    /// nextpnr's placement seed.
    pub seed: u64,
    /// The output folder.
    pub out: PathBuf,
}

impl BuildOptions {
    /// The design clock asked for, MHz.
    pub fn requested_mhz(&self) -> f64 {
        self.freq_mhz.unwrap_or(self.board.design_mhz())
    }
}

/// Used and available cells of one kind, as nextpnr reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// nextpnr's name of the cell kind (`ICESTORM_LC`).
    pub kind: String,
    /// Used.
    pub used: u64,
    /// On the device.
    pub available: u64,
}

/// What a build gave.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The board.
    pub board: String,
    /// The core, described.
    pub core: String,
    /// The core, as [`Core`] serialises it (what `polympc host --report` reads).
    pub core_kind: Core,
    /// Larger cores that were tried first and refused, with the tools' figures
    /// ([`build_largest`]; empty for [`build`]).
    pub refused: Vec<String>,
    /// nextpnr's part and package.
    pub part: String,
    /// The oscillator, MHz.
    pub oscillator_mhz: f64,
    /// The design clock asked for, MHz.
    pub requested_mhz: f64,
    /// The design clock the board gets (the PLL's output, or the oscillator), MHz.
    pub clock_mhz: f64,
    /// The PLL setting, when the clock comes through the PLL.
    pub pll: Option<Pll>,
    /// nextpnr's maximum frequency of the design clock, MHz.
    pub fmax_mhz: f64,
    /// The UART's baud rate and divisor (clock cycles a bit).
    pub baud: u32,
    /// Clock cycles a bit.
    pub uart_divisor: u16,
    /// Fractional bits the core truncates by.
    pub frac_bits: u32,
    /// Modelled time of each request at the design clock, microseconds: the request's
    /// frames, the unit, the reply's frames ([`hdl::host::transaction_cycles`]); the
    /// accelerator link's frames alone ([`hdl::accel_link::transaction_cycles`]).
    pub request_us: Vec<(String, f64)>,
    /// Cells used, from nextpnr.
    pub utilisation: Vec<Usage>,
    /// yosys's cell counts before packing.
    pub yosys_cells: Vec<(String, u64)>,
    /// The tools' versions.
    pub tools: Vec<String>,
    /// Seconds each step took: yosys, nextpnr, icepack.
    pub seconds: [f64; 3],
    /// The bitstream's file, relative to the report's folder (the build's output
    /// folder), so the report stays true when the folder moves.
    pub bitstream: PathBuf,
}

impl BuildReport {
    /// Cells of `kind` used and available.
    pub fn usage(&self, kind: &str) -> Option<&Usage> {
        self.utilisation.iter().find(|u| u.kind == kind)
    }

    /// A Markdown summary.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Bitstream for {} ({})\n\n| | |\n|---|---|\n",
            self.board, self.part
        );
        let clock = match &self.pll {
            Some(p) => format!(
                "{:.3} MHz from the {} MHz oscillator through the PLL (DIVR {}, DIVF {}, DIVQ {})",
                p.out_mhz, self.oscillator_mhz, p.divr, p.divf, p.divq
            ),
            None => format!("{} MHz, the oscillator", self.clock_mhz),
        };
        s.push_str(&format!("| core | {} |\n", self.core));
        for r in &self.refused {
            s.push_str(&format!("| larger core refused | {r} |\n"));
        }
        s.push_str(&format!("| design clock | {clock} |\n"));
        s.push_str(&format!(
            "| maximum frequency (nextpnr) | {:.2} MHz |\n",
            self.fmax_mhz
        ));
        s.push_str(&format!(
            "| UART | {} baud, {} cycles a bit |\n",
            self.baud, self.uart_divisor
        ));
        for (name, us) in &self.request_us {
            s.push_str(&format!(
                "| {name} over the UART (modelled) | {us:.0} µs |\n"
            ));
        }
        for u in &self.utilisation {
            if u.used > 0 {
                s.push_str(&format!(
                    "| {} | {} / {} ({:.0}%) |\n",
                    u.kind,
                    u.used,
                    u.available,
                    100.0 * u.used as f64 / u.available.max(1) as f64
                ));
            }
        }
        s.push_str(&format!(
            "| yosys, nextpnr, icepack | {:.1} s, {:.1} s, {:.1} s |\n",
            self.seconds[0], self.seconds[1], self.seconds[2]
        ));
        s.push_str(&format!("\nTools: {}\n", self.tools.join("; ")));
        s
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool is missing.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The clock or baud rate cannot be had.
    #[error("{board}: {message}")]
    Clock {
        /// The board.
        board: String,
        /// What is wrong.
        message: String,
    },
    /// Files could not be written or a tool not started.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The design needs more cells than the part has.
    #[error("the design does not fit the {part}: {} (nextpnr's utilisation; its log: {})",
        short.iter().map(|u| format!("{} {} used of {}, {} short", u.kind, u.used, u.available, u.used - u.available)).collect::<Vec<_>>().join(", "),
        log.display())]
    NoFit {
        /// The part.
        part: String,
        /// The cell kinds over capacity.
        short: Vec<Usage>,
        /// nextpnr's log.
        log: PathBuf,
    },
    /// Timing is not met.
    #[error("timing not met on the {part}: nextpnr's maximum frequency is {fmax_mhz:.2} MHz for the {requested_mhz:.2} MHz design clock (its log: {}); ask for a lower --freq", log.display())]
    Timing {
        /// The part.
        part: String,
        /// nextpnr's figure.
        fmax_mhz: f64,
        /// The clock asked for.
        requested_mhz: f64,
        /// nextpnr's log.
        log: PathBuf,
    },
    /// The core is not generated for these fractional bits.
    #[error("the {core} is not generated for {frac_bits} fractional bits")]
    Core {
        /// The core.
        core: String,
        /// The fractional bits asked for.
        frac_bits: u32,
    },
    /// No core of those asked for fits the board and meets the clock.
    #[error("no core fits the {board} at its clock:\n  {}", refused.join("\n  "))]
    NothingFits {
        /// The board.
        board: String,
        /// Each core and why it was refused, the largest first.
        refused: Vec<String>,
    },
    /// A tool failed otherwise.
    #[error("{tool} failed (its log: {}):\n{tail}", log.display())]
    Failed {
        /// The tool.
        tool: String,
        /// Its log.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
}

/// nextpnr's utilisation table (the last one in the log).
pub fn parse_utilisation(log: &str) -> Vec<Usage> {
    let from = log.rfind("Device utilisation:").unwrap_or(log.len());
    let mut v = Vec::new();
    for line in log[from..].lines().skip(1) {
        let rest = line.trim_start_matches("Info:").trim();
        let Some((kind, counts)) = rest.split_once(':') else {
            break;
        };
        let mut nums = counts.split('/').map(|x| {
            x.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        });
        let (Some(Some(used)), Some(Some(available))) = (nums.next(), nums.next()) else {
            break;
        };
        v.push(Usage {
            kind: kind.trim().to_string(),
            used,
            available,
        });
    }
    v
}

/// nextpnr's last maximum-frequency figure for a clock, MHz, and whether it passed.
pub fn parse_fmax(log: &str) -> Option<(f64, bool)> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.split_once("Max frequency for clock")?;
        let (_, figure) = rest.split_once("': ")?;
        let mhz = figure.split_whitespace().next()?.parse::<f64>().ok()?;
        Some((mhz, figure.contains("PASS")))
    })
}

/// The board wrapper: the pins `clk`, `uart_rx`, `uart_tx`, up to two LEDs `led[i]`
/// (toggling on each byte received and on each reply sent, as many as the board has)
/// and the core `top`.
pub fn wrapper(pll: Option<&Pll>, leds: usize) -> String {
    let leds = leds.min(2);
    // nextpnr names a one-bit vector's pin `led`, not `led[0]`: one LED is a scalar.
    let led_port = match leds {
        0 => String::new(),
        1 => ", output led".to_string(),
        n => format!(", output [{}:0] led", n - 1),
    };
    let mut v = format!(
        "// polympc: a link core on a board (generated)\nmodule polympc_board(input clk, input uart_rx, output uart_tx{led_port});\n"
    );
    let clock = match pll {
        Some(p) => {
            v.push_str(&format!(
                "  wire core_clk;\n  SB_PLL40_CORE #(\n    .FEEDBACK_PATH(\"SIMPLE\"),\n    .DIVR(4'd{}),\n    .DIVF(7'd{}),\n    .DIVQ(3'd{}),\n    .FILTER_RANGE(3'd{})\n  ) pll (\n    .REFERENCECLK(clk),\n    .PLLOUTGLOBAL(core_clk),\n    .BYPASS(1'b0),\n    .RESETB(1'b1)\n  );\n",
                p.divr, p.divf, p.divq, p.filter_range
            ));
            "core_clk"
        }
        None => "clk",
    };
    let led = |i: usize| match (i < leds, leds) {
        (false, _) => String::new(),
        (true, 1) => "led".to_string(),
        (true, _) => format!("led[{i}]"),
    };
    v.push_str(&format!(
        "  top core(.clock({clock}), .rx(uart_rx), .tx(uart_tx), .led_rx({}), .led_reply({}));\nendmodule\n",
        led(0),
        led(1)
    ));
    v
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a tool, its output into `log`; gives the output and whether it succeeded.
fn run(cmd: &mut Command, log: &Path) -> Result<(String, bool), BuildError> {
    let out = cmd.output().map_err(io(log))?;
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    std::fs::write(log, &text).map_err(io(log))?;
    Ok((text, out.status.success()))
}

/// The steps of a build, for progress reports.
pub const STEPS: [&str; 3] = ["yosys", "nextpnr-ice40", "icepack"];

/// Builds the bitstream into `opts.out` (created; the bitstream and its files replaced
/// only when the build succeeds, the tools' logs by every run), calling `step` as each
/// tool starts.
pub fn build(opts: &BuildOptions, step: impl FnMut(usize)) -> Result<BuildReport, BuildError> {
    build_with_refused(opts, Vec::new(), step)
}

/// Builds the largest of `cores` (tried in the order given, [`Core::LARGEST_FIRST`] for
/// every one) that fits the board and meets the clock, as [`build`] does with
/// `opts.core` replaced; the report's `refused` names the larger ones and why, with their
/// logs kept in `refused-TAG/` within the output folder (the paths the report gives).
/// `step` gets the core and the step as each tool starts. When none fits, the error
/// gives every refusal.
pub fn build_largest(
    opts: &BuildOptions,
    cores: &[Core],
    mut step: impl FnMut(&Core, usize),
) -> Result<BuildReport, BuildError> {
    // The report names the logs within its folder; the error, where they are.
    let (mut refused, mut errors) = (Vec::new(), Vec::new());
    for core in cores {
        let o = BuildOptions {
            core: *core,
            ..opts.clone()
        };
        match build_with_refused(&o, refused.clone(), |k| step(core, k)) {
            Ok(r) => return Ok(r),
            Err(
                mut e @ (BuildError::NoFit { .. }
                | BuildError::Timing { .. }
                | BuildError::Core { .. }),
            ) => {
                let logs = PathBuf::from(format!("refused-{}", core.tag()));
                keep_refused_logs(&opts.out, &logs);
                let log = logs.join("nextpnr.log");
                let what = core.describe();
                set_log(&mut e, opts.out.join(&log));
                errors.push(format!("{what}: {e}"));
                set_log(&mut e, log);
                refused.push(format!("{what}: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Err(BuildError::NothingFits {
        board: opts.board.name.clone(),
        refused: errors,
    })
}

/// Moves a refused build's logs into `logs`, a folder within `out`.
fn keep_refused_logs(out: &Path, logs: &Path) {
    let dir = out.join(logs);
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_ok() {
        for name in ["yosys.log", "nextpnr.log"] {
            let _ = std::fs::rename(out.join(name), dir.join(name));
        }
    }
}

/// Points a refusal that names nextpnr's log at `to`.
fn set_log(e: &mut BuildError, to: PathBuf) {
    if let BuildError::NoFit { log, .. } | BuildError::Timing { log, .. } = e {
        *log = to;
    }
}

fn build_with_refused(
    opts: &BuildOptions,
    refused: Vec<String>,
    mut step: impl FnMut(usize),
) -> Result<BuildReport, BuildError> {
    let b = &opts.board;
    let clock_err = |message: String| BuildError::Clock {
        board: b.name.clone(),
        message,
    };
    let requested = opts.requested_mhz();
    if !(requested.is_finite() && requested > 0.0) {
        return Err(clock_err(format!("--freq {requested}: not a clock")));
    }
    let pll = if (requested - b.clock.mhz).abs() < 1e-9 {
        None
    } else {
        Some(pll(b.clock.mhz, requested).ok_or_else(|| {
            clock_err(format!(
                "the iCE40 PLL cannot make {requested} MHz from the {} MHz oscillator within 1% (its output is 16 to 275 MHz)",
                b.clock.mhz
            ))
        })?)
    };
    let clock = pll.map_or(b.clock.mhz, |p| p.out_mhz);
    let divisor = uart::divisor(clock * 1e6, opts.baud).map_err(clock_err)?;
    let tools = [yosys()?, nextpnr_ice40()?, icepack()?];
    let part = format!("iCE40-{} ({})", b.family.to_uppercase(), b.package);

    // Build in a scratch folder beside the output and move the files in at the end;
    // the tools' logs go straight to the output, so a failed build leaves them there.
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let work = out.join(format!(".build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let result = build_in(
        opts, &work, pll, clock, divisor, &tools, &part, refused, &mut step,
    );
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            return Err(e);
        }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&work)
        .map_err(io(&work))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in &files {
        if let Some(name) = f.file_name() {
            std::fs::rename(f, out.join(name)).map_err(io(f))?;
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    opts: &BuildOptions,
    work: &Path,
    pll: Option<Pll>,
    clock: f64,
    divisor: u16,
    tools: &[crate::tools::ExternalTool; 3],
    part: &str,
    refused: Vec<String>,
    step: &mut impl FnMut(usize),
) -> Result<BuildReport, BuildError> {
    let b = &opts.board;
    let write = |name: &str, text: &str| -> Result<PathBuf, BuildError> {
        let p = work.join(name);
        std::fs::write(&p, text).map_err(io(&p))?;
        Ok(p)
    };
    let verilog = opts
        .core
        .verilog(divisor, opts.frac_bits)
        .ok_or_else(|| BuildError::Core {
            core: opts.core.describe(),
            frac_bits: opts.frac_bits,
        })?;
    let core = write(opts.core.file(), &verilog)?;
    let top = write("polympc_board.v", &wrapper(pll.as_ref(), b.leds.len()))?;
    // The wrapper's `led[1:0]` takes the board's first LEDs (the others are
    // constrained `-nowarn`, so nextpnr passes over them); a single LED is a scalar
    // port, which the board's constraints do not name.
    let mut constraints = b.pcf(&["clk", "uart_rx", "uart_tx", "led"]);
    if let [one] = b.leds.as_slice() {
        constraints.push_str(&format!("set_io -nowarn led {one}\n"));
    }
    let pcf = write("polympc_board.pcf", &constraints)?;
    let ultraplus = b.family.starts_with("up");

    step(0);
    let t0 = std::time::Instant::now();
    let json = work.join("polympc_board.json");
    let script = format!(
        "read_verilog {} {}; synth_ice40 -top polympc_board{} -json {}; stat",
        core.display(),
        top.display(),
        if ultraplus { " -dsp -spram" } else { "" },
        json.display()
    );
    let ylog = opts.out.join("yosys.log");
    let (ytext, ok) = run(Command::new(&tools[0].path).args(["-p", &script]), &ylog)?;
    if !ok {
        return Err(BuildError::Failed {
            tool: "yosys".into(),
            log: ylog,
            tail: tail(&ytext, 20),
        });
    }
    let yosys_s = t0.elapsed().as_secs_f64();
    let cells = crate::synth::parse_module_stat(&ytext, "polympc_board");
    let yosys_cells = vec![
        ("SB_LUT4".to_string(), cells.luts),
        ("SB_CARRY".to_string(), cells.carries),
        ("flip-flops".to_string(), cells.flip_flops),
        ("SB_MAC16".to_string(), cells.dsps),
        ("SB_RAM40_4K".to_string(), cells.brams),
        ("SB_SPRAM256KA".to_string(), cells.sprams),
    ];

    step(1);
    let t1 = std::time::Instant::now();
    let asc = work.join("polympc_board.asc");
    let nlog = opts.out.join("nextpnr.log");
    let (ntext, ok) = run(
        Command::new(&tools[1].path)
            .arg(format!("--{}", b.family))
            .args(["--package", &b.package, "--pcf"])
            .arg(&pcf)
            .arg("--json")
            .arg(&json)
            .arg("--asc")
            .arg(&asc)
            .args([
                "--freq",
                &format!("{clock}"),
                "--seed",
                &opts.seed.to_string(),
            ]),
        &nlog,
    )?;
    let utilisation = parse_utilisation(&ntext);
    let short: Vec<Usage> = utilisation
        .iter()
        .filter(|u| u.used > u.available)
        .cloned()
        .collect();
    if !short.is_empty() {
        return Err(BuildError::NoFit {
            part: part.to_string(),
            short,
            log: nlog,
        });
    }
    let fmax = parse_fmax(&ntext);
    if let Some((fmax_mhz, false)) = fmax {
        return Err(BuildError::Timing {
            part: part.to_string(),
            fmax_mhz,
            requested_mhz: clock,
            log: nlog,
        });
    }
    let Some((fmax_mhz, true)) = fmax.filter(|_| ok) else {
        return Err(BuildError::Failed {
            tool: "nextpnr-ice40".into(),
            log: nlog,
            tail: tail(&ntext, 20),
        });
    };
    let nextpnr_s = t1.elapsed().as_secs_f64();

    step(2);
    let t2 = std::time::Instant::now();
    let bin = work.join("polympc_board.bin");
    let plog = opts.out.join("icepack.log");
    let (ptext, ok) = run(Command::new(&tools[2].path).arg(&asc).arg(&bin), &plog)?;
    if !ok || !bin.is_file() {
        return Err(BuildError::Failed {
            tool: "icepack".into(),
            log: plog,
            tail: tail(&ptext, 20),
        });
    }
    let report = BuildReport {
        board: b.name.clone(),
        core: opts.core.describe(),
        core_kind: opts.core,
        refused,
        part: part.to_string(),
        oscillator_mhz: b.clock.mhz,
        requested_mhz: opts.requested_mhz(),
        clock_mhz: clock,
        pll,
        fmax_mhz,
        baud: opts.baud,
        uart_divisor: divisor,
        frac_bits: opts.frac_bits,
        request_us: opts
            .core
            .request_cycles(divisor)
            .into_iter()
            .map(|(name, cycles)| (name, cycles as f64 / clock))
            .collect(),
        utilisation,
        yosys_cells,
        tools: tools
            .iter()
            .map(|t| {
                // icepack has no version flag: its usage line stands in for it.
                if t.version.starts_with("Usage") {
                    format!("{} (fpga-icestorm)", t.name)
                } else {
                    format!("{}: {}", t.name, t.version)
                }
            })
            .collect(),
        seconds: [yosys_s, nextpnr_s, t2.elapsed().as_secs_f64()],
        bitstream: PathBuf::from("polympc_board.bin"),
    };
    let json_text = serde_json::to_string_pretty(&report).map_err(|e| BuildError::Io {
        path: work.join("report.json"),
        source: std::io::Error::other(e),
    })?;
    write("report.json", &json_text)?;
    write("report.md", &report.to_markdown())?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pll_makes_common_clocks() {
        let p = pll(100.0, 50.0).unwrap();
        assert!((p.out_mhz - 50.0).abs() < 1e-9);
        let f = 100.0 / f64::from(p.divr + 1) * f64::from(p.divf + 1);
        assert!((533.0..=1066.0).contains(&f));
        assert!((pll(12.0, 48.0).unwrap().out_mhz - 48.0).abs() < 0.48);
        assert!(pll(12.0, 12.0).is_none(), "below the PLL's 16 MHz");
        assert!(pll(100.0, 400.0).is_none());
    }

    #[test]
    fn reads_nextpnr_figures() {
        let log = "Info: Device utilisation:\nInfo: \t         ICESTORM_LC:  6532/ 5280   123%\nInfo: \t        ICESTORM_RAM:     0/   30     0%\nInfo: \n\
                   Info: Max frequency for clock 'clock$SB_IO_IN_$glb_clk': 61.33 MHz (FAIL at 100.00 MHz)\n";
        let u = parse_utilisation(log);
        assert_eq!(u.len(), 2);
        assert_eq!(
            (u[0].kind.as_str(), u[0].used, u[0].available),
            ("ICESTORM_LC", 6532, 5280)
        );
        assert_eq!(parse_fmax(log), Some((61.33, false)));
        assert_eq!(
            parse_fmax("Info: Max frequency for clock 'clk': 23.45 MHz (PASS at 12.00 MHz)"),
            Some((23.45, true))
        );
    }

    #[test]
    fn the_wrapper_instantiates_the_pll_only_when_asked() {
        let w = wrapper(None, 1);
        assert!(!w.contains("SB_PLL40_CORE"));
        assert!(
            w.contains("output led)") && w.contains(".led_rx(led)") && w.contains(".led_reply()"),
            "{w}"
        );
        let w = wrapper(pll(100.0, 50.0).as_ref(), 8);
        assert!(w.contains("SB_PLL40_CORE") && w.contains(".clock(core_clk)"));
        assert!(w.contains("output [1:0] led") && w.contains(".led_reply(led[1])"));
        assert!(!wrapper(None, 0).contains("] led"));
    }

    #[test]
    fn cores_serialise_as_reports_name_them_largest_first() {
        let names: Vec<String> = Core::LARGEST_FIRST
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                r#"{"accelerator":{"beaver_lanes":2}}"#,
                r#"{"accelerator":{"beaver_lanes":1}}"#,
                r#""host_link""#
            ]
        );
        for (c, n) in Core::LARGEST_FIRST.iter().zip(&names) {
            assert_eq!(serde_json::from_str::<Core>(n).unwrap(), *c);
        }
        let tags: Vec<String> = Core::LARGEST_FIRST.iter().map(Core::tag).collect();
        assert_eq!(tags, ["accel-b2", "accel-b1", "host-link"]);
        assert!(serde_json::from_str::<Core>(r#"{"accelerator":{}}"#).is_err());
    }
}
