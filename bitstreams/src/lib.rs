//! bitstreams: FPGA builds and deployment. iCE40 bitstreams through yosys,
//! nextpnr-ice40 and icepack, programming with openFPGALoader, and generated Vivado
//! projects for Xilinx parts. For now: finding the tools ([`tools`]), counting the
//! cells yosys maps a design to ([`synth`]), the boards' pins ([`board`]), the host
//! link's bitstream for a board ([`ice40`]), the host drivers ([`host`], and [`accel_host`] for the accelerator's link) and programming
//! a board ([`deploy`]), and Vivado projects for Xilinx boards ([`vivado`]).

pub mod accel_host;
pub mod board;
pub mod deploy;
pub mod host;
pub mod ice40;
pub mod synth;
pub mod tools;
pub mod vivado;
