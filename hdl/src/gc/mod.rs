//! The garbled-circuit engine: the AES-128 core and the half-gates engine that
//! garbles or evaluates a compiled circuit streamed from memory.

pub mod aes;
pub mod engine;

use aes::{AesCore1, AesCore10, AesCore2, AesCore5};
use engine::{GcEngine1, GcEngine10, GcEngine2, GcEngine5};

/// The Verilog of an AES core with `round_units` round circuits; `None` unless 1, 2, 5
/// or 10.
pub fn aes_verilog(round_units: u32) -> Option<String> {
    use crate::verilog as gen;
    Some(match round_units {
        1 => gen(AesCore1::default()),
        2 => gen(AesCore2::default()),
        5 => gen(AesCore5::default()),
        10 => gen(AesCore10::default()),
        _ => return None,
    })
}

/// The Verilog of a half-gates engine whose AES cores have `round_units` round
/// circuits; `None` unless 1, 2, 5 or 10.
pub fn engine_verilog(round_units: u32) -> Option<String> {
    use crate::verilog as gen;
    Some(match round_units {
        1 => gen(GcEngine1::default()),
        2 => gen(GcEngine2::default()),
        5 => gen(GcEngine5::default()),
        10 => gen(GcEngine10::default()),
        _ => return None,
    })
}
