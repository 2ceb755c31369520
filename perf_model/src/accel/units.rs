//! The accelerator's units: their cycle formulas (latency and initiation interval) and
//! their resource formulas on a device.
//!
//! These are the formulas the hardware blocks are held to: a block's Verilator-measured
//! latency and initiation interval must equal [`Timing`] here, and its yosys resource
//! figures must come within 10% of [`Resources`] here.

use super::{AcceleratorConfig, Sbox};
use crate::device::Device;
use serde::Serialize;

/// When a unit's result appears and how often it takes new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Cycles from taking an input to giving its result.
    pub latency: u64,
    /// Cycles between successive inputs.
    pub ii: u64,
}

impl Timing {
    /// Cycles to push `n` independent items through `units` copies of the unit.
    pub fn cycles(&self, n: u64, units: u64) -> u64 {
        if n == 0 {
            0
        } else {
            n.div_ceil(units.max(1)) * self.ii + self.latency
        }
    }
}

/// 16 x 16 partial products of an l x l multiplication mod 2^l: limbs i, j with
/// i + j < l / 16 (the others fall above bit l).
pub fn partial_products(l: u32) -> u64 {
    let n = u64::from(l / 16);
    n * (n + 1) / 2
}

fn ceil_log2(n: u64) -> u64 {
    u64::from(n.next_power_of_two().trailing_zeros())
}

/// Ring multiplier mod 2^l: registered inputs, one stage of 16 x 16 products, then a
/// pipelined adder tree over the partial products.
pub fn ring_multiplier(l: u32) -> Timing {
    Timing {
        latency: 2 + ceil_log2(partial_products(l)),
        ii: 1,
    }
}

/// One MAC lane: a ring multiplier and an accumulator (one more stage).
pub fn mac_lane(l: u32) -> Timing {
    Timing {
        latency: ring_multiplier(l).latency + 1,
        ii: 1,
    }
}

/// One Beaver lane: the online formula of a square on shares
/// (`a^2 + 2 d a [+ d^2]`), then `w2 x^2 + w1 x + b` with its truncations: two
/// multiplier stages in sequence and two adder stages.
pub fn beaver_lane(l: u32) -> Timing {
    Timing {
        latency: 2 * ring_multiplier(l).latency + 2,
        ii: 1,
    }
}

/// AES rounds.
pub const AES_ROUNDS: u64 = 10;

/// An AES-128 core with `round_units` round circuits (1, 2, 5 or 10): ten rounds plus
/// the input whitening register; a new block every `10 / round_units` cycles.
pub fn aes_core(round_units: u32) -> Timing {
    Timing {
        latency: AES_ROUNDS + 1,
        ii: AES_ROUNDS / u64::from(round_units.max(1)),
    }
}

/// A half-gates garbler per AND gate: the four hashes spread over its AES cores, plus
/// a gate-fetch and an output stage. Free gates take one cycle.
pub fn garbler(aes_cores: u32, round_units: u32) -> Timing {
    let aes = aes_core(round_units);
    Timing {
        latency: aes.latency + 2,
        ii: crate::protocol::AES_PER_AND_GARBLE.div_ceil(u64::from(aes_cores.max(1))) * aes.ii,
    }
}

/// A half-gates evaluator per AND gate: the two hashes spread over the AES cores.
pub fn evaluator(aes_cores: u32, round_units: u32) -> Timing {
    let aes = aes_core(round_units);
    Timing {
        latency: aes.latency + 2,
        ii: crate::protocol::AES_PER_AND_EVAL.div_ceil(u64::from(aes_cores.max(1))) * aes.ii,
    }
}

/// Cycles for a garbling or evaluation engine to run `instances` circuits of `ands`
/// AND and `free` free gates on `units` units: one gate issued per cycle, an AND
/// holding the issue slot for the unit's initiation interval; instances interleave so
/// the pipeline never waits on a dependency.
pub fn gc_cycles(t: Timing, units: u64, instances: u64, ands: u64, free: u64) -> u64 {
    if instances == 0 {
        return 0;
    }
    instances.div_ceil(units.max(1)) * (ands * t.ii + free) + t.latency
}

/// FPGA resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Resources {
    /// Look-up tables.
    pub luts: u64,
    /// Flip-flops.
    pub flip_flops: u64,
    /// DSP blocks.
    pub dsps: u64,
    /// Block RAMs (EBR on iCE40, 36 Kb blocks on Xilinx).
    pub bram: u64,
    /// UltraRAM blocks.
    pub uram: u64,
    /// SPRAM blocks.
    pub spram: u64,
}

impl Resources {
    /// `n` copies.
    pub fn times(self, n: u64) -> Resources {
        Resources {
            luts: self.luts * n,
            flip_flops: self.flip_flops * n,
            dsps: self.dsps * n,
            bram: self.bram * n,
            uram: self.uram * n,
            spram: self.spram * n,
        }
    }

    /// Sum.
    pub fn plus(self, o: Resources) -> Resources {
        Resources {
            luts: self.luts + o.luts,
            flip_flops: self.flip_flops + o.flip_flops,
            dsps: self.dsps + o.dsps,
            bram: self.bram + o.bram,
            uram: self.uram + o.uram,
            spram: self.spram + o.spram,
        }
    }
}

/// The datapath of the l-bit ring multiplier as the hardware builds it: the limb
/// products `a_i b_j << 16 (i + j)` with `i + j < l / 16` (in the order i + j, then i),
/// then levels of an adder tree that adds neighbours pairwise and passes an odd one
/// on. A value is described by its known-zero low bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiplierDatapath {
    /// Ring width.
    pub l: u32,
    /// Known-zero low bits of each limb product.
    pub products: Vec<u32>,
    /// Per tree level, the known-zero low bits of each registered value.
    pub levels: Vec<Vec<u32>>,
    /// Width of each adder, bits above both operands' known zeros.
    pub adders: Vec<u32>,
}

impl MultiplierDatapath {
    /// The datapath of the l-bit multiplier.
    pub fn new(l: u32) -> MultiplierDatapath {
        let n = l / 16;
        // s + 1 limb products land at bit 16 s.
        let products: Vec<u32> = (0..n)
            .flat_map(|s| std::iter::repeat_n(16 * s, s as usize + 1))
            .collect();
        let (mut levels, mut adders) = (Vec::new(), Vec::new());
        let mut cur = products.clone();
        while cur.len() > 1 {
            let next: Vec<u32> = cur
                .chunks(2)
                .map(|c| match *c {
                    [a, b] => {
                        adders.push(l - a.max(b));
                        a.min(b)
                    }
                    [a] => a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(next.clone());
            cur = next;
        }
        MultiplierDatapath {
            l,
            products,
            levels,
            adders,
        }
    }

    /// Register bits: inputs, products, tree levels (known-zero bits need none) and
    /// the valid bit of every stage.
    pub fn register_bits(&self) -> u64 {
        let l = u64::from(self.l);
        let live = |z: &u32| l - u64::from(*z);
        2 * l
            + self.products.iter().map(live).sum::<u64>()
            + self.levels.iter().flatten().map(live).sum::<u64>()
            + ring_multiplier(self.l).latency
    }

    /// Partial-product bits of the limb products in logic: a full 16 x 16 array where
    /// the product's 32 bits are all kept, the lower triangle where only `t` are.
    pub fn array_bits(&self) -> u64 {
        self.products
            .iter()
            .map(|z| match u64::from(self.l - z) {
                t if t >= 32 => 256,
                t => t * (t + 1) / 2,
            })
            .sum()
    }

    /// Adder bits of the tree.
    pub fn adder_bits(&self) -> u64 {
        self.adders.iter().map(|&w| u64::from(w)).sum()
    }
}

/// Ring multiplier mod 2^l on the device, from its [`MultiplierDatapath`]. On DSPs
/// (one per limb product) the adder tree takes a LUT per adder bit and the DSP's input
/// registers absorb 32 flip-flops each; in logic a partial-product bit takes 2.4 LUTs
/// (4-input; half that with 6-input LUTs). Fitted to yosys `synth_ice40` of the
/// blocks (with and without `-dsp`); a test holds them within 10%.
pub fn ring_multiplier_resources(l: u32, d: &Device) -> Resources {
    let dp = MultiplierDatapath::new(l);
    let p = dp.products.len() as u64;
    let regs = dp.register_bits();
    match d.dsp.per_16x16() {
        0 => {
            let per_bit = if d.lut_inputs >= 6 { 1.2 } else { 2.4 };
            Resources {
                luts: (dp.array_bits() as f64 * per_bit).round() as u64 + dp.adder_bits() + 1,
                flip_flops: regs,
                ..Resources::default()
            }
        }
        per => Resources {
            luts: dp.adder_bits() + 1,
            flip_flops: regs - 32 * p,
            dsps: p * per,
            ..Resources::default()
        },
    }
}

/// One MAC lane: multiplier, accumulator and the truncating output shift.
pub fn mac_lane_resources(l: u32, d: &Device) -> Resources {
    let l64 = u64::from(l);
    ring_multiplier_resources(l, d).plus(Resources {
        luts: 2 * l64,
        flip_flops: 2 * l64,
        ..Resources::default()
    })
}

/// Limb products of a square `d * d mod 2^l`: `d_i d_j` and `d_j d_i` are one product
/// (synthesis merges them), so the pairs `i <= j` with `i + j < l / 16`.
pub fn square_products(l: u32) -> u64 {
    let n = l / 16;
    (0..n)
        .map(|i| u64::from((i..n).filter(|j| i + j < n).count() as u32))
        .sum()
}

/// One Beaver lane: four multipliers (`d a`, `d d`, `w2 x^2`, `w1 x`; the square's
/// symmetric limb products shared) and five adders.
pub fn beaver_lane_resources(l: u32, d: &Device) -> Resources {
    let l64 = u64::from(l);
    let mut r = ring_multiplier_resources(l, d).times(4).plus(Resources {
        luts: 5 * l64,
        flip_flops: 4 * l64,
        ..Resources::default()
    });
    let per = d.dsp.per_16x16();
    r.dsps -= (partial_products(l) - square_products(l)) * per;
    r
}

/// LUTs of one AES S-box in logic (a composite-field S-box: 32 six-input or 120
/// four-input LUTs).
fn sbox_luts(d: &Device) -> u64 {
    if d.lut_inputs >= 6 {
        32
    } else {
        120
    }
}

/// RAM blocks holding `bits` with reads `width` bits wide on the device's block RAM.
fn ram_blocks(bits: u64, width: u64, d: &Device) -> u64 {
    if bits == 0 {
        return 0;
    }
    let block = d.bram.bits.max(1);
    // A block reads at most 16 bits (iCE40) or 72 bits (Xilinx 36 Kb) per port.
    let port = if block <= 4096 { 16 } else { 72 };
    bits.div_ceil(block).max(width.div_ceil(port))
}

/// One AES-128 core: `round_units` round circuits (16 S-boxes, MixColumns with the
/// fixed round key folded in), a 128-bit state register per round unit and the
/// feedback multiplexer of a rolled core.
pub fn aes_core_resources(round_units: u32, sbox: Sbox, d: &Device) -> Resources {
    let ru = u64::from(round_units);
    let mix = if d.lut_inputs >= 6 { 128 } else { 256 };
    let (sbox_luts, sbox_bram) = match sbox {
        Sbox::Lut => (16 * sbox_luts(d), 0),
        // A dual-ported block serves two S-box lookups per cycle.
        Sbox::Ram => (0, 8 * ram_blocks(2 * 256 * 8, 16, d)),
    };
    let feedback = if round_units < 10 { 128 } else { 0 };
    Resources {
        luts: ru * (sbox_luts + mix) + feedback + 16,
        flip_flops: ru * 128 + 128 + 8,
        bram: ru * sbox_bram,
        ..Resources::default()
    }
}

/// A garbled-circuit engine: its AES cores, the label XOR and doubling logic of the
/// four half-gates hashes with the garble/evaluate mode multiplexers, the wire-label
/// RAM, the gate-fetch control.
pub fn gc_engine_resources(cfg: &AcceleratorConfig, d: &Device) -> Resources {
    let aes =
        aes_core_resources(cfg.gc.aes_round_units, cfg.gc.sbox, d).times(cfg.gc.aes_cores.into());
    let label_bits = u64::from(cfg.gc.label_ram_wires) * crate::protocol::KAPPA;
    let hashes = crate::protocol::AES_PER_AND_GARBLE;
    aes.plus(Resources {
        luts: (hashes + 1) * 128 + 64,
        flip_flops: (hashes + 1) * 128 + 64,
        bram: ram_blocks(label_bits, crate::protocol::KAPPA, d),
        ..Resources::default()
    })
}

/// The controller and stream plumbing.
pub fn control_resources() -> Resources {
    Resources {
        luts: 400,
        flip_flops: 400,
        ..Resources::default()
    }
}

/// On-chip buffers of `kib` KiB: on UltraRAM or SPRAM where the device has them and the
/// buffer is at least one such block, else on block RAM.
pub fn buffer_resources(kib: u32, d: &Device) -> Resources {
    let bits = u64::from(kib) * 8 * 1024;
    if bits == 0 {
        return Resources::default();
    }
    if let Some(u) = d.uram.filter(|u| bits >= u.bits) {
        return Resources {
            uram: bits.div_ceil(u.bits),
            ..Resources::default()
        };
    }
    if let Some(s) = d.spram.filter(|s| bits >= s.bits / 2) {
        return Resources {
            spram: bits.div_ceil(s.bits),
            ..Resources::default()
        };
    }
    Resources {
        bram: ram_blocks(bits, 64, d),
        ..Resources::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_products_and_stages() {
        assert_eq!(
            [16, 32, 64].map(partial_products),
            [1, 3, 10],
            "limbs i + j < l / 16"
        );
        assert_eq!([16, 32, 64].map(|l| ring_multiplier(l).latency), [2, 4, 6]);
        assert_eq!(aes_core(10), Timing { latency: 11, ii: 1 });
        assert_eq!(aes_core(1).ii, 10);
        assert_eq!(
            garbler(4, 10).ii,
            1,
            "one AND per cycle with four pipelined cores"
        );
        assert_eq!(garbler(1, 10).ii, 4);
        assert_eq!(evaluator(2, 10).ii, 1);
        assert_eq!(evaluator(1, 1).ii, 20);
        assert_eq!(Timing { latency: 5, ii: 2 }.cycles(10, 3), 4 * 2 + 5);
        assert_eq!(gc_cycles(garbler(4, 10), 2, 3, 93, 200), 2 * 293 + 13);
    }

    #[test]
    fn multipliers_go_to_dsps_where_there_are_some() {
        let up5k = Device::find("up5k").unwrap();
        let hx8k = Device::find("hx8k").unwrap();
        assert_eq!(ring_multiplier_resources(32, &up5k).dsps, 3);
        assert_eq!(ring_multiplier_resources(32, &hx8k).dsps, 0);
        assert!(ring_multiplier_resources(32, &hx8k).luts > 500);
        assert_eq!([16, 32, 64].map(square_products), [1, 2, 6]);
        let dp = MultiplierDatapath::new(64);
        assert_eq!(dp.products, vec![0, 16, 16, 32, 32, 32, 48, 48, 48, 48]);
        assert_eq!(dp.levels.len() as u64, ring_multiplier(64).latency - 2);
        assert_eq!(MultiplierDatapath::new(32).register_bits(), 212);
    }
}
