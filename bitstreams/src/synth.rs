//! yosys synthesis for iCE40: the cell counts of a design, which calibrate perf_model's
//! resource formulas and report what a block costs.

use crate::tools::{yosys, ToolError};
use std::process::Command;
use std::sync::Mutex;

/// Cells of an iCE40 netlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ice40Cells {
    /// SB_LUT4.
    pub luts: u64,
    /// SB_CARRY (carry-chain cells, beside the LUTs).
    pub carries: u64,
    /// Flip-flops (every SB_DFF* kind).
    pub flip_flops: u64,
    /// SB_MAC16 DSP blocks.
    pub dsps: u64,
    /// SB_RAM40_4K block RAMs.
    pub brams: u64,
    /// SB_SPRAM256KA single-port RAMs.
    pub sprams: u64,
}

/// Synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// yosys is missing.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Files could not be written or yosys not started.
    #[error("yosys on `{design}`: {source}")]
    Io {
        /// The design.
        design: String,
        /// The cause.
        source: std::io::Error,
    },
    /// yosys failed.
    #[error("yosys could not synthesise `{design}`:\n{log}")]
    Failed {
        /// The design.
        design: String,
        /// The tail of yosys's log.
        log: String,
    },
}

/// Parses the last `stat` table of a yosys log for the module `top`.
pub fn parse_stat(log: &str) -> Ice40Cells {
    parse_module_stat(log, "top")
}

/// Parses the last `stat` table of a yosys log for `module`.
pub fn parse_module_stat(log: &str, module: &str) -> Ice40Cells {
    let from = log.rfind(&format!("=== {module} ===")).unwrap_or(0);
    let mut c = Ice40Cells::default();
    for line in log[from..].lines() {
        let mut words = line.split_whitespace();
        let (Some(cell), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match cell {
            "SB_LUT4" => c.luts += n,
            "SB_CARRY" => c.carries += n,
            "SB_MAC16" => c.dsps += n,
            "SB_RAM40_4K" => c.brams += n,
            "SB_SPRAM256KA" => c.sprams += n,
            _ if cell.starts_with("SB_DFF") => c.flip_flops += n,
            _ => {}
        }
    }
    c
}

/// Synthesises `verilog` (top module `top`) with `synth_ice40`, mapping multipliers to
/// SB_MAC16 when `dsp` is set (the UltraPlus parts), and counts its cells.
pub fn ice40_cells(design: &str, verilog: &str, dsp: bool) -> Result<Ice40Cells, SynthError> {
    let tool = yosys()?;
    let io = |source| SynthError::Io {
        design: design.to_string(),
        source,
    };
    let dir = std::env::temp_dir().join(format!(
        "polympc-yosys-{}-{design}-{dsp}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = dir.join("top.v");
    std::fs::write(&file, verilog).map_err(io)?;
    let script = format!(
        "read_verilog {}; synth_ice40 {} -top top; stat",
        file.display(),
        if dsp { "-dsp" } else { "" }
    );
    // Debian's berkeley-abc now and then aborts on a design it maps fine the next
    // time: a crash of the tool, not a property of the design, so it gets two more
    // tries. Runs go one at a time, which also spares the two cores contention.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut attempt = 0;
    let (ok, log) = loop {
        attempt += 1;
        let out = Command::new(&tool.path)
            .args(["-p", &script])
            .output()
            .map_err(io)?;
        let log = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
        let ok = out.status.success();
        if ok || attempt == 3 || !log.contains("ERROR: ABC: execution of command") {
            break (ok, log);
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    if !ok {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        return Err(SynthError::Failed {
            design: design.to_string(),
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(parse_stat(&log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_stat_table() {
        let log = "=== top ===\n SB_LUT4 1\n=== top ===\n   Number of cells: 9\n     SB_CARRY 8\n     SB_DFFE 50\n     SB_DFFESR 2\n     SB_LUT4 315\n     SB_MAC16 1\n";
        let c = parse_stat(log);
        assert_eq!((c.luts, c.carries, c.flip_flops, c.dsps), (315, 8, 52, 1));
    }
}
