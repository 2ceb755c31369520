//! sim: the functional two-party protocol simulator (real shares, real messages) and
//! the Verilator harness that checks generated hardware against golden models
//! ([`verilator`]), and finding Verilator ([`tools`]).

pub mod accel;
pub mod blocks;
pub mod gc;
pub mod tools;
pub mod twopc;
pub mod verilator;

pub use tools::{ExternalTool, ToolError};
