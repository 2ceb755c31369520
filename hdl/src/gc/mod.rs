//! The garbled-circuit engine: the AES-128 core and the half-gates engine that
//! garbles or evaluates a compiled circuit streamed from memory, and the ReLU engine
//! that runs a circuit's program from a ROM over many instances.

pub mod aes;
pub mod engine;
pub mod relu;
pub mod serial;

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

/// The Verilog of a ReLU engine with `p` in its ROM whose AES cores have `round_units`
/// round circuits.
pub fn relu_verilog(
    round_units: u32,
    p: &perf_model::circuit::program::Program,
) -> Result<String, relu::ProgramError> {
    use crate::verilog as gen;
    use relu::{ReluEngine1, ReluEngine10, ReluEngine2, ReluEngine5};
    Ok(match round_units {
        1 => gen(ReluEngine1::new(p)?),
        2 => gen(ReluEngine2::new(p)?),
        5 => gen(ReluEngine5::new(p)?),
        10 => gen(ReluEngine10::new(p)?),
        r => return Err(relu::ProgramError::RoundUnits(r)),
    })
}
