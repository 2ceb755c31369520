//! bitstreams: FPGA builds and deployment. iCE40 bitstreams through yosys,
//! nextpnr-ice40 and icepack, programming with openFPGALoader, and generated Vivado
//! projects for Xilinx parts. For now: finding the tools ([`tools`]) and counting the
//! cells yosys maps a design to ([`synth`]).

pub mod synth;
pub mod tools;
