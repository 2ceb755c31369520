//! perf_model: polympc's model of a network and of what its two-party (2PC) operators
//! cost on an FPGA. It sits at the bottom of the workspace: the model spec every stage
//! reads ([`spec`]), and (as the cost model grows) devices, accelerator configurations,
//! network profiles and the per-operator latency, traffic and resource formulas.

pub mod circuit;
pub mod io;
pub mod spec;

pub use spec::{CheckedSpec, FixedPoint, LayerOp, ModelSpec, Shape, SpecError};
