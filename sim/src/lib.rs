//! sim: the functional two-party protocol simulator (real shares, real messages) and
//! the Verilator harness that checks generated hardware against golden models. For
//! now: finding Verilator ([`tools`]).

pub mod tools;

pub use tools::{ExternalTool, ToolError};
