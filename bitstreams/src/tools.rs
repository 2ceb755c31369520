//! The FPGA tool chain on this machine.

pub use sim::tools::{ExternalTool, ToolError};

/// yosys, the synthesis tool.
pub fn yosys() -> Result<ExternalTool, ToolError> {
    ExternalTool::find("yosys", "yosys", "-V")
}

/// nextpnr for iCE40, the place-and-route tool.
pub fn nextpnr_ice40() -> Result<ExternalTool, ToolError> {
    ExternalTool::find("nextpnr-ice40", "nextpnr-ice40", "--version")
}

/// icepack, which writes the iCE40 bitstream.
pub fn icepack() -> Result<ExternalTool, ToolError> {
    // icepack has no version flag; `-h` prints its usage.
    ExternalTool::find("icepack", "fpga-icestorm", "-h")
}

/// openFPGALoader, which programs boards.
pub fn openfpgaloader() -> Result<ExternalTool, ToolError> {
    ExternalTool::find("openFPGALoader", "openfpgaloader", "--Version")
}

/// iceprog, fpga-icestorm's flash programmer.
pub fn iceprog() -> Result<ExternalTool, ToolError> {
    // iceprog has no version flag; `--help` prints its usage.
    ExternalTool::find("iceprog", "fpga-icestorm", "--help")
}

/// Every tool of the iCE40 flow, in flow order.
pub fn ice40_flow() -> [Result<ExternalTool, ToolError>; 4] {
    [yosys(), nextpnr_ice40(), icepack(), openfpgaloader()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn ice40_flow_is_installed() {
        for t in super::ice40_flow() {
            let t = t.expect("scripts/setup installs the iCE40 flow");
            assert!(!t.version.is_empty());
        }
    }
}
