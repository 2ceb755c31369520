//! The Verilator harness: builds a generated design (rust-hdl's `top` module) into a
//! cycle-accurate simulator and drives it cycle by cycle from Rust.
//!
//! The harness reads the ports from the Verilog's `top` module, writes a small C++
//! driver for them, and builds both with `verilator --build`. Builds are cached by a
//! hash of the Verilog, the driver and the Verilator version, so repeated test runs do
//! not rebuild unchanged designs; a build goes to a scratch folder first and is renamed
//! into place, so concurrent tests never see half a build.
//!
//! A run is a list of cycles. In each cycle the driver sets the inputs (the clock low),
//! settles the logic, records the outputs, then raises the clock. So `outputs[t]` is
//! what the design shows during cycle `t`, before the edge that takes `inputs[t]`.
//! Values are up to 128 bits wide. A run can write a VCD trace.

use crate::tools::{verilator, ExternalTool, ToolError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Environment variable naming the build cache folder.
pub const CACHE_VAR: &str = "POLYMPC_SIM_CACHE";

/// A port of the top module (the clock excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Width in bits.
    pub width: u32,
    /// Whether it is an input.
    pub input: bool,
}

/// What went wrong building or running a design.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Verilator is missing or broken.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The Verilog has no `top` module header the harness understands.
    #[error("design `{design}`: {message}")]
    Ports {
        /// The design.
        design: String,
        /// What is wrong.
        message: String,
    },
    /// Verilator failed to build the design.
    #[error("Verilator could not build `{design}` (in {}):\n{log}", dir.display())]
    Build {
        /// The design.
        design: String,
        /// The build folder.
        dir: PathBuf,
        /// Verilator's and the compiler's output.
        log: String,
    },
    /// Files could not be written or the simulator not started.
    #[error("design `{design}`: {source}")]
    Io {
        /// The design.
        design: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The stimulus does not match the ports.
    #[error("design `{design}`: {message}")]
    Stimulus {
        /// The design.
        design: String,
        /// What is wrong.
        message: String,
    },
    /// The simulator failed or printed something unexpected.
    #[error("simulation of `{design}` failed: {message}")]
    Run {
        /// The design.
        design: String,
        /// What went wrong.
        message: String,
    },
}

/// The ports of the `top` module of rust-hdl's Verilog, in declaration order.
pub fn top_ports(verilog: &str) -> Vec<(String, u32, bool)> {
    let mut ports = Vec::new();
    let mut in_top = false;
    for line in verilog.lines() {
        let t = line.trim();
        if t.starts_with("module top(") {
            in_top = true;
            continue;
        }
        if !in_top {
            continue;
        }
        if t.starts_with("// Stub signals") || t.starts_with("endmodule") {
            break;
        }
        let (input, rest) = if let Some(r) = t.strip_prefix("input ") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("output ") {
            (false, r)
        } else {
            continue;
        };
        let rest = rest
            .trim_start_matches("wire")
            .trim_start_matches("reg")
            .trim();
        let (width, name) = match rest.strip_prefix('[') {
            Some(r) => {
                let (range, name) = r.split_once(']').unwrap_or((r, ""));
                let msb: u32 = range
                    .split(':')
                    .next()
                    .and_then(|m| m.trim().parse().ok())
                    .unwrap_or(0);
                (msb + 1, name)
            }
            None => (1, rest),
        };
        let name = name.trim().trim_end_matches(';').trim().to_string();
        ports.push((name, width, input));
    }
    ports
}

/// Verilator, looked up (and its version asked) once per process: every build and
/// lint needs it, and the cached builds need only its version.
fn tool() -> Result<&'static ExternalTool, ToolError> {
    static FOUND: OnceLock<ExternalTool> = OnceLock::new();
    if let Some(t) = FOUND.get() {
        return Ok(t);
    }
    let t = verilator()?;
    Ok(FOUND.get_or_init(|| t))
}

/// FNV-1a: a stable hash for cache keys.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The cache folder: `POLYMPC_SIM_CACHE`, else `polympc-sim` in the Cargo target
/// folder the running program lives in, else in the temporary folder.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_VAR) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(|t| t.join("polympc-sim"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("polympc-sim"))
}

fn cpp_driver(ports: &[Port]) -> String {
    let mut set = String::new();
    let mut get = String::new();
    for p in ports {
        let n = &p.name;
        if p.input {
            if p.width > 64 {
                set.push_str(&format!(
                    "        for (int w = 0; w < {}; w++) top->{n}[w] = word(tok, w);\n",
                    p.width.div_ceil(32)
                ));
            } else {
                set.push_str(&format!("        top->{n} = lo64(tok);\n"));
            }
            set.push_str("        tok = next_token(line, pos);\n");
        } else if p.width > 64 {
            get.push_str(&format!(
                "        put_wide(out, top->{n}.data(), {});\n",
                p.width.div_ceil(32)
            ));
        } else {
            get.push_str(&format!(
                "        out += hex((uint64_t)top->{n}); out += ' ';\n"
            ));
        }
    }
    format!(
        r#"// Generated by polympc's Verilator harness.
#include "Vtop.h"
#include "verilated.h"
#include "verilated_vcd_c.h"
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>

static std::string next_token(const std::string& s, size_t& pos) {{
    while (pos < s.size() && s[pos] == ' ') pos++;
    size_t start = pos;
    while (pos < s.size() && s[pos] != ' ') pos++;
    return s.substr(start, pos - start);
}}
static uint32_t word(const std::string& hex, int w) {{
    // 32-bit word w of a hex number, least significant first.
    long end = (long)hex.size() - 8 * w;
    if (end <= 0) return 0;
    long start = end - 8 < 0 ? 0 : end - 8;
    return (uint32_t)std::stoul(hex.substr(start, end - start), nullptr, 16);
}}
static uint64_t lo64(const std::string& hex) {{
    return ((uint64_t)word(hex, 1) << 32) | word(hex, 0);
}}
static std::string hex(uint64_t v) {{
    char b[20];
    std::snprintf(b, sizeof b, "%llx", (unsigned long long)v);
    return b;
}}
static void put_wide(std::string& out, const uint32_t* w, int words) {{
    bool lead = true;
    for (int i = words - 1; i >= 0; i--) {{
        char b[12];
        if (lead) {{
            if (w[i] == 0 && i > 0) continue;
            std::snprintf(b, sizeof b, "%x", w[i]);
            lead = false;
        }} else {{
            std::snprintf(b, sizeof b, "%08x", w[i]);
        }}
        out += b;
    }}
    out += ' ';
}}

int main(int argc, char** argv) {{
    VerilatedContext* ctx = new VerilatedContext;
    Vtop* top = new Vtop{{ctx}};
    VerilatedVcdC* vcd = nullptr;
    if (argc > 1) {{
        ctx->traceEverOn(true);
        vcd = new VerilatedVcdC;
        top->trace(vcd, 99);
        vcd->open(argv[1]);
    }}
    uint64_t t = 0;
    std::string line, out;
    std::ios::sync_with_stdio(false);
    top->clock = 0;
    top->eval();
    while (std::getline(std::cin, line)) {{
        size_t pos = 0;
        std::string tok = next_token(line, pos);
{set}        top->clock = 0;
        top->eval();
        if (vcd) vcd->dump(t++);
        out.clear();
{get}        out += '\n';
        std::fputs(out.c_str(), stdout);
        top->clock = 1;
        top->eval();
        if (vcd) vcd->dump(t++);
    }}
    if (vcd) vcd->close();
    top->final();
    delete top;
    delete ctx;
    return 0;
}}
"#
    )
}

/// Lints `verilog` with `verilator --lint-only -Wall`. DECLFILENAME is waived, and only
/// it: rust-hdl writes every submodule into the one file, so its name cannot match
/// them all.
pub fn lint(name: &str, verilog: &str) -> Result<(), HarnessError> {
    let tool = tool()?;
    let io = |source| HarnessError::Io {
        design: name.to_string(),
        source,
    };
    static LINTS: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "polympc-lint-{}-{}-{name}",
        std::process::id(),
        LINTS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::write(dir.join("top.v"), verilog).map_err(io)?;
    let out = Command::new(&tool.path)
        .current_dir(&dir)
        .args(["--lint-only", "-Wall", "-Wno-DECLFILENAME", "top.v"])
        .output()
        .map_err(io)?;
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    } else {
        Err(HarnessError::Build {
            design: name.to_string(),
            dir,
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A design built into a Verilator simulator.
#[derive(Debug, Clone)]
pub struct VerilatedDesign {
    name: String,
    exe: PathBuf,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

impl VerilatedDesign {
    /// Builds `verilog` (rust-hdl output with a `top` module and a `clock` input), or
    /// finds it already built in the cache.
    pub fn build(name: &str, verilog: &str) -> Result<VerilatedDesign, HarnessError> {
        let tool = tool()?;
        let ports: Vec<Port> = top_ports(verilog)
            .into_iter()
            .filter(|(n, _, _)| n != "clock")
            .map(|(name, width, input)| Port { name, width, input })
            .collect();
        if ports.is_empty() {
            return Err(HarnessError::Ports {
                design: name.to_string(),
                message: "no `module top(...)` with ports in the Verilog".into(),
            });
        }
        if let Some(p) = ports.iter().find(|p| p.width > 128) {
            return Err(HarnessError::Ports {
                design: name.to_string(),
                message: format!(
                    "port `{}` is {} bits wide; at most 128 are supported",
                    p.name, p.width
                ),
            });
        }
        let driver = cpp_driver(&ports);
        let key = fnv1a(&[verilog, &driver, &tool.version]);
        let dir = cache_root().join(format!("{name}-{key:016x}"));
        let exe = dir.join("obj").join("Vtop");
        let io = |source| HarnessError::Io {
            design: name.to_string(),
            source,
        };
        if !exe.is_file() {
            static BUILDS: AtomicU64 = AtomicU64::new(0);
            let scratch = cache_root().join(format!(
                ".{name}-{key:016x}-{}-{}",
                std::process::id(),
                BUILDS.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir_all(&scratch).map_err(io)?;
            std::fs::write(scratch.join("top.v"), verilog).map_err(io)?;
            std::fs::write(scratch.join("driver.cpp"), &driver).map_err(io)?;
            // rust-hdl writes every submodule into the one file, so its name cannot
            // match them all: DECLFILENAME is waived for that reason only.
            let out = Command::new(&tool.path)
                .current_dir(&scratch)
                .args([
                    "--cc",
                    "--exe",
                    "--build",
                    "--trace",
                    "-O2",
                    "-Wall",
                    "-Wno-DECLFILENAME",
                    "--top-module",
                    "top",
                    "-Mdir",
                    "obj",
                    "-j",
                    "2",
                    "top.v",
                    "driver.cpp",
                ])
                .output()
                .map_err(io)?;
            if !out.status.success() {
                let log = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
                return Err(HarnessError::Build {
                    design: name.to_string(),
                    dir: scratch,
                    log,
                });
            }
            // Another process may have finished the same build first; either is fine.
            if std::fs::rename(&scratch, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            if !exe.is_file() {
                return Err(io(std::io::Error::other(format!(
                    "the build left no simulator at {}",
                    exe.display()
                ))));
            }
        }
        let (inputs, outputs) = ports.into_iter().partition(|p| p.input);
        Ok(VerilatedDesign {
            name: name.to_string(),
            exe,
            inputs,
            outputs,
        })
    }

    /// The design's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input ports (without the clock), in the order [`run`](Self::run) takes them.
    pub fn inputs(&self) -> &[Port] {
        &self.inputs
    }

    /// Output ports, in the order [`run`](Self::run) gives them.
    pub fn outputs(&self) -> &[Port] {
        &self.outputs
    }

    /// Index of a port by name among the inputs or the outputs.
    pub fn port(&self, name: &str) -> Option<usize> {
        self.inputs
            .iter()
            .position(|p| p.name == name)
            .or_else(|| self.outputs.iter().position(|p| p.name == name))
    }

    /// Runs one cycle per row of `cycles` (a value per input port) and returns the
    /// outputs of every cycle; writes a VCD trace to `vcd` when given.
    pub fn run(
        &self,
        cycles: &[Vec<u128>],
        vcd: Option<&Path>,
    ) -> Result<Vec<Vec<u128>>, HarnessError> {
        let mut stimulus = String::with_capacity(cycles.len() * 8 * self.inputs.len().max(1));
        for (t, row) in cycles.iter().enumerate() {
            if row.len() != self.inputs.len() {
                return Err(HarnessError::Stimulus {
                    design: self.name.clone(),
                    message: format!(
                        "cycle {t} has {} values for {} inputs",
                        row.len(),
                        self.inputs.len()
                    ),
                });
            }
            for (v, p) in row.iter().zip(&self.inputs) {
                if p.width < 128 && *v >> p.width != 0 {
                    return Err(HarnessError::Stimulus {
                        design: self.name.clone(),
                        message: format!(
                            "cycle {t}: {v:#x} does not fit the {}-bit input `{}`",
                            p.width, p.name
                        ),
                    });
                }
                stimulus.push_str(&format!("{v:x} "));
            }
            stimulus.push('\n');
        }
        let io = |source| HarnessError::Io {
            design: self.name.clone(),
            source,
        };
        let mut cmd = Command::new(&self.exe);
        if let Some(v) = vcd {
            cmd.arg(v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io(std::io::Error::other("no stdin")))?;
        let writer = std::thread::spawn(move || stdin.write_all(stimulus.as_bytes()));
        let out = child.wait_with_output().map_err(io)?;
        writer
            .join()
            .map_err(|_| io(std::io::Error::other("stimulus writer panicked")))?
            .map_err(io)?;
        let run_err = |message: String| HarnessError::Run {
            design: self.name.clone(),
            message,
        };
        if !out.status.success() {
            return Err(run_err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Result<Vec<Vec<u128>>, HarnessError> = text
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .map(|h| {
                        u128::from_str_radix(h, 16)
                            .map_err(|e| run_err(format!("bad output `{h}`: {e}")))
                    })
                    .collect()
            })
            .collect();
        let rows = rows?;
        if rows.len() != cycles.len() || rows.iter().any(|r| r.len() != self.outputs.len()) {
            return Err(run_err(format!(
                "{} output rows for {} cycles",
                rows.len(),
                cycles.len()
            )));
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ports_of_top() {
        let v = "\n\nmodule top(clock,a,y,ok);\n    input wire  clock;\n    input wire  [15:0] a;\n    output reg  [127:0] y;\n    output reg  ok;\n    // Stub signals\n    reg x;\nendmodule\n";
        assert_eq!(
            top_ports(v),
            vec![
                ("clock".to_string(), 1, true),
                ("a".to_string(), 16, true),
                ("y".to_string(), 128, false),
                ("ok".to_string(), 1, false)
            ]
        );
    }

    #[test]
    fn a_failed_build_shows_the_log() {
        let v = "module top(clock,a,y);\n    input wire clock;\n    input wire [3:0] a;\n    output reg [3:0] y;\n    always @(*) y = a + nonexistent;\nendmodule\n";
        let e = VerilatedDesign::build("broken", v).unwrap_err().to_string();
        assert!(
            e.contains("could not build `broken`") && e.contains("nonexistent"),
            "{e}"
        );
    }

    #[test]
    fn runs_a_register_cycle_by_cycle() {
        let v = "module top(clock,a,y,w);\n    input wire clock;\n    input wire [7:0] a;\n    output reg [7:0] y;\n    output wire [99:0] w;\n    initial y = 0;\n    always @(posedge clock) y <= a;\n    assign w = {y, 92'h0};\nendmodule\n";
        let d = VerilatedDesign::build("reg8", v).unwrap();
        let out = d.run(&[vec![5], vec![7], vec![0]], None).unwrap();
        assert_eq!(out, vec![vec![0, 0], vec![5, 5 << 92], vec![7, 7 << 92]]);
        assert!(d.run(&[vec![256]], None).is_err(), "too wide for 8 bits");
    }
}
