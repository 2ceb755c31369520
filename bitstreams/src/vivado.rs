//! Vivado projects for Xilinx boards: a core with AXI-Stream ports ([`VivadoCore`]: the
//! accelerator behind its request engine, [`hdl::accel_link::axis_verilog`], or the host
//! link's request engine, [`hdl::host::AxisLink`]) behind a wrapper with AXI naming
//! (`aclk`, `s_axis_*`, `m_axis_*`), a clock constraint and a non-project Tcl flow that
//! synthesises, places
//! and routes it out of context for the board's part, writes utilisation and timing
//! reports and a checkpoint for a block design, and stops with an error when timing is
//! not met. Vivado is not needed to generate them; [`check`] verifies what can be
//! verified without it: every file the Tcl reads exists, the top module is declared,
//! the part is the board's, the constrained ports are the top's, the clock period is
//! the design clock's and the wrapper connects every port of the core.

use hdl::host::AxisLink;
use serde::Deserialize;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A Xilinx board.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XilinxBoard {
    /// Its name (`zcu102`).
    pub name: String,
    /// For people.
    pub description: String,
    /// perf_model's device.
    pub device: String,
    /// Vivado's part.
    pub part: String,
    /// The design clock the core is constrained to, MHz.
    pub clock_mhz: f64,
}

const BUILT_IN: [(&str, &str); 3] = [
    (
        "pynq-z2.yaml",
        include_str!("../boards/xilinx/pynq-z2.yaml"),
    ),
    ("zcu102.yaml", include_str!("../boards/xilinx/zcu102.yaml")),
    ("u250.yaml", include_str!("../boards/xilinx/u250.yaml")),
];

/// Why a project cannot be written or does not check.
#[derive(Debug, thiserror::Error)]
pub enum VivadoError {
    /// Not a known board.
    #[error("unknown Xilinx board `{name}` (known: {known})")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The known ones.
        known: String,
    },
    /// A board file is malformed.
    #[error("board file {file}: {message}")]
    Board {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The core is not generated.
    #[error("no core is generated for {0}")]
    Core(String),
    /// The clock asked for is not a clock.
    #[error("--freq {0}: not a clock in MHz")]
    Clock(f64),
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The project is inconsistent.
    #[error("the Vivado project in {} is inconsistent:\n  {}", dir.display(), problems.join("\n  "))]
    Inconsistent {
        /// The folder.
        dir: PathBuf,
        /// What is wrong.
        problems: Vec<String>,
    },
}

impl XilinxBoard {
    /// Every built-in Xilinx board.
    pub fn built_in() -> Result<Vec<XilinxBoard>, VivadoError> {
        BUILT_IN
            .iter()
            .map(|(file, text)| {
                serde_yaml_ng::from_str(text).map_err(|e| VivadoError::Board {
                    file: format!("bitstreams/boards/xilinx/{file}"),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// The board called `name`.
    pub fn find(name: &str) -> Result<XilinxBoard, VivadoError> {
        let all = XilinxBoard::built_in()?;
        let known = all
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        all.into_iter()
            .find(|b| b.name == name)
            .ok_or(VivadoError::Unknown {
                name: name.to_string(),
                known,
            })
    }
}

/// The core a project wraps: both take requests and give replies as byte streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VivadoCore {
    /// The host link's request engine (Beaver multiplier and garbled-AND unit) on the
    /// 16-bit ring.
    HostLink {
        /// Fractional bits the multiplier truncates by.
        frac_bits: u32,
    },
    /// The full-size accelerator behind its request engine
    /// ([`hdl::accel_link`]'s requests in two-byte-address format).
    Accelerator {
        /// The ring's bits.
        ring_bits: u32,
        /// Fractional bits its lanes truncate by.
        frac_bits: u32,
        /// MAC lanes.
        lanes: u32,
        /// Beaver lanes.
        beaver_lanes: u32,
    },
}

impl VivadoCore {
    /// The core's Verilog (module `top`); `None` where it is not generated.
    pub fn verilog(&self) -> Option<String> {
        match *self {
            VivadoCore::HostLink { frac_bits } => {
                (frac_bits < hdl::host::RING_BITS).then(|| hdl::verilog(AxisLink::new(frac_bits)))
            }
            VivadoCore::Accelerator {
                ring_bits,
                frac_bits,
                lanes,
                beaver_lanes,
            } => hdl::accel_link::axis_verilog(
                ring_bits,
                frac_bits,
                lanes,
                beaver_lanes,
                hdl::accel::Size::Full,
            ),
        }
    }

    /// What the core is, for people.
    pub fn describe(&self) -> String {
        match *self {
            VivadoCore::HostLink { frac_bits } => format!(
                "the host link's request engine (Beaver multiplier and garbled-AND unit, \
                 16-bit ring, f = {frac_bits})"
            ),
            VivadoCore::Accelerator {
                ring_bits,
                frac_bits,
                lanes,
                beaver_lanes,
            } => {
                let count =
                    |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                format!(
                    "the accelerator ({ring_bits}-bit ring, f = {frac_bits}, {}, {}, full-size \
                     memories) behind its request engine",
                    count(lanes, "MAC lane"),
                    count(beaver_lanes, "Beaver lane")
                )
            }
        }
    }

    /// The requests it serves, for people.
    fn protocol(&self) -> &'static str {
        match self {
            VivadoCore::HostLink { .. } => "those of the UART host link (`hdl::host`)",
            VivadoCore::Accelerator { .. } => {
                "the accelerator link's (`hdl::accel_link`: identify, load, run, read), with \
                 two-byte addresses and counts"
            }
        }
    }
}

/// The top module of the project.
pub const TOP: &str = "polympc_axis";

/// The project's files, by name.
pub const FILES: [&str; 5] = [
    "axis_core.v",
    "polympc_axis.v",
    "polympc_axis.xdc",
    "build.tcl",
    "README.md",
];

/// The wrapper: AXI names around the core (rust-hdl's module `top`).
fn wrapper() -> String {
    "// polympc: the core with AXI-Stream ports (generated)\n\
     module polympc_axis (\n\
     \x20 input  wire       aclk,\n\
     \x20 input  wire [7:0] s_axis_tdata,\n\
     \x20 input  wire       s_axis_tvalid,\n\
     \x20 output wire       s_axis_tready,\n\
     \x20 output wire [7:0] m_axis_tdata,\n\
     \x20 output wire       m_axis_tvalid,\n\
     \x20 input  wire       m_axis_tready,\n\
     \x20 output wire       m_axis_tlast\n\
     );\n\
     \x20 top core (\n\
     \x20   .clock(aclk),\n\
     \x20   .s_axis_tdata(s_axis_tdata),\n\
     \x20   .s_axis_tvalid(s_axis_tvalid),\n\
     \x20   .s_axis_tready(s_axis_tready),\n\
     \x20   .m_axis_tdata(m_axis_tdata),\n\
     \x20   .m_axis_tvalid(m_axis_tvalid),\n\
     \x20   .m_axis_tready(m_axis_tready),\n\
     \x20   .m_axis_tlast(m_axis_tlast)\n\
     \x20 );\n\
     endmodule\n"
        .to_string()
}

fn tcl(b: &XilinxBoard, mhz: f64, core: &VivadoCore) -> String {
    format!(
        "# polympc: out-of-context implementation of {what} with AXI-Stream ports\n\
         # for the {desc}, at {mhz} MHz. Run: vivado -mode batch -source build.tcl\n\
         set here [file dirname [file normalize [info script]]]\n\
         read_verilog [file join $here axis_core.v]\n\
         read_verilog [file join $here polympc_axis.v]\n\
         read_xdc -mode out_of_context [file join $here polympc_axis.xdc]\n\
         synth_design -top {TOP} -part {part} -mode out_of_context\n\
         opt_design\n\
         place_design\n\
         route_design\n\
         report_utilization -file [file join $here utilization.rpt]\n\
         report_timing_summary -file [file join $here timing.rpt]\n\
         write_checkpoint -force [file join $here {TOP}.dcp]\n\
         set slack [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]\n\
         if {{$slack < 0}} {{\n\
         \x20 error \"polympc: timing not met at {mhz} MHz on {part}: worst setup slack $slack ns (timing.rpt)\"\n\
         }}\n\
         puts \"polympc: timing met at {mhz} MHz on {part}, worst setup slack $slack ns\"\n",
        desc = b.description,
        part = b.part,
        what = core.describe(),
    )
}

fn xdc(mhz: f64) -> String {
    format!(
        "# polympc: the design clock of the AXI-Stream core\n\
         create_clock -name aclk -period {:.3} [get_ports aclk]\n",
        1000.0 / mhz
    )
}

fn readme(b: &XilinxBoard, mhz: f64, core: &VivadoCore) -> String {
    format!(
        "# polympc's AXI-Stream core for the {}\n\n\
         - `axis_core.v`: {} (rust-hdl's `top`).\n\
         - `polympc_axis.v`: the top module `{TOP}` with AXI-Stream names (`aclk`, `s_axis_*` requests, `m_axis_*` replies with `tlast`).\n\
         - `polympc_axis.xdc`: the {mhz} MHz clock on `aclk`.\n\
         - `build.tcl`: out-of-context synthesis, placement and routing for `{}`; writes `utilization.rpt`, `timing.rpt` and `{TOP}.dcp`, and fails when timing is not met.\n\n\
         Run `vivado -mode batch -source build.tcl` here, then add `{TOP}.dcp` (or the two Verilog files) to a block design between an AXI DMA's MM2S and S2MM streams.\n\
         Requests and replies are {}.\n",
        b.description,
        core.describe(),
        b.part,
        core.protocol()
    )
}

/// Writes the project of `core` for `board` at `mhz` (the board's clock when `None`)
/// into `out`, then checks it.
pub fn generate(
    board: &XilinxBoard,
    mhz: Option<f64>,
    core: &VivadoCore,
    out: &Path,
) -> Result<(), VivadoError> {
    let mhz = mhz.unwrap_or(board.clock_mhz);
    if !(mhz.is_finite() && mhz > 0.0) {
        return Err(VivadoError::Clock(mhz));
    }
    let verilog = core
        .verilog()
        .ok_or_else(|| VivadoError::Core(core.describe()))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VivadoError::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let texts = [
        verilog,
        wrapper(),
        xdc(mhz),
        tcl(board, mhz, core),
        readme(board, mhz, core),
    ];
    for (name, text) in FILES.iter().zip(&texts) {
        // Written atomically: none is left half-written.
        let path = out.join(name);
        perf_model::io::write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
    }
    check(out, board, mhz)
}

/// The ports of `module name (...)` in Verilog text, by name.
fn module_ports(verilog: &str, name: &str) -> Option<BTreeSet<String>> {
    let at = [format!("module {name}("), format!("module {name} (")]
        .iter()
        .find_map(|h| verilog.find(h.as_str()))?;
    let rest = &verilog[at..];
    let open = rest.find('(')?;
    let close = rest.find(");")?;
    let list = &rest[open + 1..close];
    Some(
        list.split(',')
            .filter_map(|p| {
                p.split_whitespace()
                    .last()
                    .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'))
                    .map(str::to_string)
            })
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

/// The connected ports (`.name(`) of the instance of `module` in Verilog text.
fn instance_ports(verilog: &str, module: &str) -> BTreeSet<String> {
    let Some(at) = verilog.find(&format!("  {module} ")) else {
        return BTreeSet::new();
    };
    let body = &verilog[at..];
    let end = body.find(");").unwrap_or(body.len());
    body[..end]
        .split(".")
        .skip(1)
        .filter_map(|p| p.split('(').next())
        .map(|p| p.trim().to_string())
        .collect()
}

/// Checks the project in `dir` against `board` and the clock `mhz`; every problem found
/// is listed.
pub fn check(dir: &Path, board: &XilinxBoard, mhz: f64) -> Result<(), VivadoError> {
    let mut problems = Vec::new();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let Some(tcl) = read("build.tcl") else {
        return Err(VivadoError::Inconsistent {
            dir: dir.to_path_buf(),
            problems: vec!["build.tcl is missing".into()],
        });
    };
    // Files the flow reads.
    let mut verilog = String::new();
    let mut xdcs = String::new();
    for line in tcl.lines() {
        let line = line.trim();
        let cmd = line.split_whitespace().next().unwrap_or("");
        if cmd != "read_verilog" && cmd != "read_xdc" {
            continue;
        }
        let Some(file) = line
            .split("$here ")
            .nth(1)
            .map(|f| f.trim_end_matches(']').trim())
        else {
            problems.push(format!("`{line}` reads no file relative to the script"));
            continue;
        };
        match read(file) {
            Some(text) if cmd == "read_verilog" => verilog.push_str(&text),
            Some(text) => xdcs.push_str(&text),
            None => problems.push(format!("`{cmd}` reads {file}, which does not exist")),
        }
    }
    // Top and part.
    let synth = tcl
        .lines()
        .find(|l| l.trim_start().starts_with("synth_design"));
    let arg = |flag: &str| {
        synth.and_then(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter()
                .position(|x| *x == flag)
                .and_then(|i| w.get(i + 1))
                .map(|s| s.to_string())
        })
    };
    match arg("-part") {
        Some(p) if p == board.part => {}
        Some(p) => problems.push(format!(
            "synth_design's part {p} is not the {}'s {}",
            board.name, board.part
        )),
        None => problems.push("no `synth_design -part`".into()),
    }
    let top = arg("-top").unwrap_or_default();
    let top_ports = module_ports(&verilog, &top);
    if top.is_empty() {
        problems.push("no `synth_design -top`".into());
    } else if top_ports.is_none() {
        problems.push(format!(
            "the top module {top} is declared in none of the Verilog files"
        ));
    }
    // Constrained ports and the clock.
    let top_ports = top_ports.unwrap_or_default();
    for part in xdcs.split("[get_ports ").skip(1) {
        let port = part.split(']').next().unwrap_or("").trim();
        if !top_ports.contains(port) {
            problems.push(format!(
                "the constraints name port `{port}`, which {top} lacks"
            ));
        }
    }
    let period = xdcs
        .split("-period ")
        .nth(1)
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse::<f64>().ok());
    match period {
        Some(p) if (p - 1000.0 / mhz).abs() < 1e-3 => {}
        Some(p) => problems.push(format!(
            "the clock period {p} ns is not {mhz} MHz's {:.3} ns",
            1000.0 / mhz
        )),
        None => problems.push("no `create_clock -period` in the constraints".into()),
    }
    // The wrapper connects every port of the core, and only those.
    let core = module_ports(&verilog, "top").unwrap_or_default();
    let connected = instance_ports(&verilog, "top");
    if core.is_empty() {
        problems.push("the core module `top` is declared in none of the Verilog files".into());
    } else if core != connected {
        problems.push(format!(
            "the wrapper connects {:?} but the core has {:?}",
            connected, core
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(VivadoError::Inconsistent {
            dir: dir.to_path_buf(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_parse_and_name_their_devices() {
        for b in XilinxBoard::built_in().unwrap() {
            perf_model::Device::find(&b.device).unwrap();
            assert!(b.part.starts_with(&b.device), "{}", b.name);
        }
        let e = XilinxBoard::find("arty").unwrap_err().to_string();
        assert!(e.contains("pynq-z2") && e.contains("u250"), "{e}");
    }

    #[test]
    fn ports_of_modules_and_instances() {
        let w = wrapper();
        let ports = module_ports(&w, TOP).unwrap();
        assert_eq!(ports.len(), 8);
        assert!(ports.contains("aclk") && ports.contains("m_axis_tlast"));
        let inst = instance_ports(&w, "top");
        assert!(inst.contains("clock") && inst.contains("s_axis_tready"));
        assert_eq!(inst.len(), 8);
    }
}
