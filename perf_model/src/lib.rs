//! perf_model: polympc's model of a network and of what its two-party (2PC) operators
//! cost on an FPGA. It sits at the bottom of the workspace: the model spec every stage
//! reads ([`spec`]); datasets as validated bytes ([`dataset`]); the circuits of the garbled operators ([`circuit`]); what every 2PC
//! operator computes, sends and waits for ([`protocol`]); FPGA devices ([`device`]),
//! accelerator configurations with the cycle and resource formulas of their units
//! ([`accel`]), network profiles ([`network`]); and per-layer latency estimates with
//! their lower bounds ([`estimate`]), which the trainer, the scheduler and the reports
//! read.

pub mod accel;
pub mod circuit;
pub mod dataset;
pub mod device;
pub mod estimate;
pub mod io;
pub mod network;
pub mod protocol;
pub mod spec;

pub use accel::AcceleratorConfig;
pub use device::Device;
pub use estimate::{CostModel, NetworkEstimate, Workload};
pub use network::NetworkProfile;
pub use protocol::Operation;

pub use spec::{CheckedSpec, FixedPoint, LayerOp, ModelSpec, Shape, SpecError};
