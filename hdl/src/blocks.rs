//! The blocks by kind and ring width, for tools that handle them all (`polympc hdl`,
//! `polympc sim`).

use crate::beaver::{BeaverLane16, BeaverLane32, BeaverLane64};
use crate::beaver_mul::{BeaverMul16, BeaverMul32, BeaverMul64};
use crate::mac::{MacLane16, MacLane32, MacLane64};
use crate::ring::{RingMul16, RingMul32, RingMul64};
use perf_model::accel::units::{self, Resources, Timing};
use perf_model::Device;

/// A kind of block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Ring multiplier mod 2^l.
    RingMul,
    /// MAC lane with truncation.
    MacLane,
    /// Beaver lane (square and polynomial).
    BeaverLane,
    /// Beaver multiply unit (product of two shared values).
    BeaverMul,
}

impl BlockKind {
    /// Every kind.
    pub const ALL: [BlockKind; 4] = [
        BlockKind::RingMul,
        BlockKind::MacLane,
        BlockKind::BeaverLane,
        BlockKind::BeaverMul,
    ];

    /// File-friendly name with the ring width, e.g. `mac_lane32`.
    pub fn name(self, l: u32) -> String {
        let base = match self {
            BlockKind::RingMul => "ring_mul",
            BlockKind::MacLane => "mac_lane",
            BlockKind::BeaverLane => "beaver_lane",
            BlockKind::BeaverMul => "beaver_mul",
        };
        format!("{base}{l}")
    }

    /// perf_model's latency and initiation interval of the block.
    pub fn timing(self, l: u32) -> Timing {
        match self {
            BlockKind::RingMul => units::ring_multiplier(l),
            BlockKind::MacLane => units::mac_lane(l),
            BlockKind::BeaverLane => units::beaver_lane(l),
            BlockKind::BeaverMul => units::beaver_mul(l),
        }
    }

    /// perf_model's resources of the block on a device, truncating by `frac_bits`.
    pub fn resources(self, l: u32, frac_bits: u32, d: &Device) -> Resources {
        match self {
            BlockKind::RingMul => units::ring_multiplier_resources(l, d),
            BlockKind::MacLane => units::mac_lane_resources(l, frac_bits, d),
            BlockKind::BeaverLane => units::beaver_lane_resources(l, frac_bits, d),
            BlockKind::BeaverMul => units::beaver_mul_resources(l, frac_bits, d),
        }
    }

    /// The block's Verilog (rust-hdl's `top` module) for ring width `l` and `frac_bits`
    /// fractional bits; `None` for a width other than 16, 32 or 64.
    pub fn verilog(self, l: u32, frac_bits: u32) -> Option<String> {
        use crate::verilog as gen;
        Some(match (self, l) {
            (BlockKind::RingMul, 16) => gen(RingMul16::default()),
            (BlockKind::RingMul, 32) => gen(RingMul32::default()),
            (BlockKind::RingMul, 64) => gen(RingMul64::default()),
            (BlockKind::MacLane, 16) => gen(MacLane16::new(frac_bits)),
            (BlockKind::MacLane, 32) => gen(MacLane32::new(frac_bits)),
            (BlockKind::MacLane, 64) => gen(MacLane64::new(frac_bits)),
            (BlockKind::BeaverLane, 16) => gen(BeaverLane16::new(frac_bits)),
            (BlockKind::BeaverLane, 32) => gen(BeaverLane32::new(frac_bits)),
            (BlockKind::BeaverLane, 64) => gen(BeaverLane64::new(frac_bits)),
            (BlockKind::BeaverMul, 16) => gen(BeaverMul16::new(frac_bits)),
            (BlockKind::BeaverMul, 32) => gen(BeaverMul32::new(frac_bits)),
            (BlockKind::BeaverMul, 64) => gen(BeaverMul64::new(frac_bits)),
            _ => return None,
        })
    }
}
