//! hdl: the accelerator's blocks in rust-hdl (ring multiplier from 16x16 partial
//! products, MAC array, Beaver and polynomial units, AES-128 core, half-gates garbler
//! and evaluator, ReLU engine, stream plumbing, controller), each parameterised by
//! ring width and lanes and each beside its bit-exact golden model and its cycle
//! formula.

pub mod accel;
pub mod accel_link;
pub mod beaver;
pub mod beaver_mul;
pub mod blocks;
pub mod gc;
pub mod host;
pub mod mac;
pub mod ring;
pub mod stream;
pub mod uart;

use rust_hdl::prelude::{generate_verilog, Block};

/// The Verilog of a block, with its ports as rust-hdl's `top` module.
pub fn verilog<B: Block>(mut block: B) -> String {
    block.connect_all();
    generate_verilog(&block)
}
