//! scheduler: the 2PC operator graph of a network, and (as the crate grows) the choice
//! of accelerator configuration for a device and the schedule of the graph onto it.

pub mod dse;
pub mod graph;
pub mod schedule;

pub use graph::{Edge, LinearOp, Node, Operator, Totals, TwoPcGraph};
