//! The accelerator's units: their cycle formulas (latency and initiation interval) and
//! their resource formulas on a device.
//!
//! These are the formulas the hardware blocks are held to: a block's Verilator-measured
//! latency and initiation interval must equal [`Timing`] here, and its yosys resource
//! figures must come within 10% of [`Resources`] here.

use super::{AcceleratorConfig, Sbox};
use crate::circuit::program::GcTiming;
use crate::device::Device;
use crate::protocol::GcWork;
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

/// The MAC array (`hdl::accel`): `lanes` MAC lanes behind banked activation memory.
/// Every operation reads its operands one cycle after issuing their addresses and
/// writes its results through the same write stage, `latency` cycles after the issue:
/// the lanes' pipeline for dot products, a delay line for element-wise additions, so
/// results of successive operations never meet at the write port.
pub fn mac_array(l: u32) -> Timing {
    Timing {
        latency: 1 + mac_lane(l).latency,
        ii: 1,
    }
}

/// Issue cycles of `dots` dot products of `depth` pairs each on a MAC array of
/// `lanes` lanes: each lane takes one output row of a group of `lanes` rows, and a
/// row takes its `depth` pairs plus one more for the server's mask (weight 1).
pub fn mac_array_dots(dots: u64, depth: u64, lanes: u64) -> u64 {
    dots.div_ceil(lanes.max(1)) * (depth + 1)
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

/// The accelerator's Beaver lanes on their memories: an element's operands are read
/// the cycle after their addresses issue, then the lane's pipeline.
pub fn beaver_array(l: u32) -> Timing {
    Timing {
        latency: 1 + beaver_lane(l).latency,
        ii: 1,
    }
}

/// One Beaver multiply unit: three multipliers side by side (`d b`, `e a`, `d e`),
/// then the adder and truncation stage.
pub fn beaver_mul(l: u32) -> Timing {
    Timing {
        latency: ring_multiplier(l).latency + 1,
        ii: 1,
    }
}

/// AES rounds.
pub const AES_ROUNDS: u64 = 10;

/// An AES-128 core with `round_units` round circuits (1, 2, 5 or 10) in a ring, each
/// followed by a register: a block takes ten cycles, one per round, and a new block may
/// enter every `10 / round_units` cycles.
pub fn aes_core(round_units: u32) -> Timing {
    Timing {
        latency: AES_ROUNDS,
        ii: AES_ROUNDS / u64::from(round_units.max(1)),
    }
}

/// The column-serial AES-128 core (`hdl::gc::serial`) of the host link's small
/// garbled-AND unit: four S-boxes shared between the key step and the four columns, so
/// a round takes five cycles; a block loads in one cycle and its ciphertext shows the
/// cycle after the last round. A new block may enter the cycle the ciphertext shows.
pub fn aes_serial() -> Timing {
    let t = 1 + 5 * AES_ROUNDS;
    Timing { latency: t, ii: t }
}

/// The host link's garbled-AND unit (`hdl::host`): the gate's hashes one after the
/// other on one column-serial AES core, each launched the cycle after the unit (or the
/// previous hash) finished, and one cycle to register the result: four hashes to
/// garble, two to evaluate. The unit takes the next gate the cycle the result shows.
pub fn garbled_and_serial(garble: bool) -> Timing {
    let hashes = if garble {
        crate::protocol::AES_PER_AND_GARBLE
    } else {
        crate::protocol::AES_PER_AND_EVAL
    };
    let t = 1 + hashes * (1 + aes_serial().latency);
    Timing { latency: t, ii: t }
}

/// A half-gates garbler per AND gate: the four hashes spread over its AES cores, plus
/// the label-RAM read and an output stage. Free gates take one cycle.
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

/// The hardware garbled-circuit engine (`hdl::gc`, four AES cores) as
/// [`crate::circuit::program::schedule`] needs it: a result is in the label RAM one
/// cycle after the engine outputs it.
pub fn gc_engine(round_units: u32) -> GcTiming {
    let t = garbler(4, round_units);
    GcTiming {
        latency: t.latency,
        distance: t.latency + 1,
        and_ii: t.ii,
    }
}

/// Cycles for `units` garbling or evaluation engines to run `w.instances` circuits,
/// from a start in cycle 0 to the cycle after the last output: each engine takes its
/// share (rounded up) and runs it as the ReLU engine's sequencer does
/// ([`sequence`](crate::circuit::program::sequence)), in batches of as many instances
/// as a label RAM of `ram_slots` holds (at least one), row by row. A row is one
/// instruction for every instance of the batch: a load, free gate or output per cycle,
/// an AND gate per initiation interval; rows start on a multiple of the interval and
/// last at least `latency + 1` cycles. The circuit must have outputs (its last row is
/// an output row). Exact for the hardware engine.
pub fn gc_cycles(t: Timing, units: u64, w: &GcWork, ram_slots: u64) -> u64 {
    let instances = w.instances.div_ceil(units.max(1));
    if instances == 0 {
        return 0;
    }
    let per = (ram_slots / w.slots.max(1)).max(1);
    let ii = t.ii.max(1);
    let distance = t.latency + 1;
    let and_rows = w.and_gates;
    let free_rows = w.free_gates + w.garbler_inputs + w.evaluator_inputs + w.outputs;
    let pad = |n: u64| distance.saturating_sub(n);
    // Cycles from a row's start to the next row's.
    let row = |busy: u64, n: u64| (busy + pad(n)).div_ceil(ii) * ii;
    let batch = |n: u64| free_rows * row(n, n) + and_rows * row((n - 1) * ii + 1, n);
    let (full, rem) = (instances / per, instances % per);
    let last = if rem == 0 { per } else { rem };
    let rows = full * batch(per) + if rem > 0 { batch(rem) } else { 0 };
    // The first row starts on the first multiple of the interval after the start; the
    // last output row ends with its last issue.
    ii + rows - row(last, last) + (last - 1) + t.latency + 1
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

/// The bits of a value that can be non-zero: `low..high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Known-zero low bits.
    pub low: u32,
    /// Bits from here up are known zero.
    pub high: u32,
}

impl Span {
    /// Bits a register of the value keeps.
    pub fn width(&self) -> u64 {
        u64::from(self.high - self.low)
    }
}

/// The datapath of the l-bit ring multiplier as the hardware builds it: the limb
/// products `a_i b_j << 16 (i + j)` with `i + j < l / 16` (in the order i + j, then i),
/// each 32 bits wide below bit l, then levels of an adder tree that adds neighbours
/// pairwise (a sum one bit wider than its wider operand, below bit l) and passes an odd
/// one on. Synthesis keeps only the bits that can be non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiplierDatapath {
    /// Ring width.
    pub l: u32,
    /// The limb products.
    pub products: Vec<Span>,
    /// Per tree level, each registered value.
    pub levels: Vec<Vec<Span>>,
    /// Width of each adder: the sum's bits above both operands' known zeros.
    pub adders: Vec<u32>,
}

impl MultiplierDatapath {
    /// The datapath of the l-bit multiplier.
    pub fn new(l: u32) -> MultiplierDatapath {
        let n = l / 16;
        // s + 1 limb products land at bit 16 s.
        let products: Vec<Span> = (0..n)
            .flat_map(|s| {
                let low = 16 * s;
                let span = Span {
                    low,
                    high: (low + 32).min(l),
                };
                std::iter::repeat_n(span, s as usize + 1)
            })
            .collect();
        let (mut levels, mut adders) = (Vec::new(), Vec::new());
        let mut cur = products.clone();
        while cur.len() > 1 {
            let next: Vec<Span> = cur
                .chunks(2)
                .map(|c| match *c {
                    [a, b] => {
                        let sum = Span {
                            low: a.low.min(b.low),
                            high: (a.high.max(b.high) + 1).min(l),
                        };
                        adders.push(sum.high - a.low.max(b.low));
                        sum
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

    /// Register bits: inputs, products, tree levels (bits known zero need none) and
    /// the valid bit of every stage.
    pub fn register_bits(&self) -> u64 {
        2 * u64::from(self.l)
            + self.products.iter().map(Span::width).sum::<u64>()
            + self.levels.iter().flatten().map(Span::width).sum::<u64>()
            + ring_multiplier(self.l).latency
    }

    /// Partial-product bits in logic of a multiplication whose operands are `ops`: the
    /// lower triangle `a_i b_j`, `i + j < l`, of a full multiplication, `l (l + 1) / 2`
    /// bits (the limb products' arrays together); a square merges `d_i d_j` with
    /// `d_j d_i`; an operand whose top `f` bits copy one bit has `l - f` rows of its own
    /// and one row for the copied bit.
    pub fn array_bits(&self, ops: Operands) -> u64 {
        let l = u64::from(self.l);
        match ops {
            Operands::Distinct => l * (l + 1) / 2,
            Operands::Square => l * l / 4 + l / 2,
            Operands::Truncated { frac_bits } => {
                let k = l - u64::from(frac_bits).min(l);
                k * l - k * k.saturating_sub(1) / 2 + (l - k)
            }
        }
    }

    /// Adder bits of the tree.
    pub fn adder_bits(&self) -> u64 {
        self.adders.iter().map(|&w| u64::from(w)).sum()
    }

    /// Register bits of limb products that equal another's in a square (`d_i d_j` and
    /// `d_j d_i`, `i < j`): synthesis keeps one of each pair.
    pub fn square_duplicate_bits(&self) -> u64 {
        let n = self.l / 16;
        (0..n)
            .flat_map(|i| (i + 1..n).filter(move |j| i + j < n).map(move |j| i + j))
            .map(|s| u64::from((self.l - 16 * s).min(32)))
            .sum()
    }
}

/// What a multiplier's operands are, which decides what synthesis can share: two
/// independent values, one value twice (a square), or a truncated share (top `f` bits
/// all copies of one bit) times an independent value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    /// Independent operands.
    Distinct,
    /// `d * d`.
    Square,
    /// A value times a share truncated by `frac_bits`.
    Truncated {
        /// Fractional bits of the truncation.
        frac_bits: u32,
    },
}

/// Ring multiplier mod 2^l on the device, from its [`MultiplierDatapath`]. On DSPs
/// (one per limb product) the adder tree takes a LUT per adder bit and the DSPs'
/// registers take the input registers; in logic a partial-product bit takes 2.4 LUTs
/// (4-input; half that with 6-input LUTs). Fitted to yosys `synth_ice40` of the
/// blocks (with and without `-dsp`); a test holds them within 10%.
pub fn ring_multiplier_resources(l: u32, d: &Device) -> Resources {
    multiplier_resources(l, Operands::Distinct, d)
}

/// A ring multiplier whose operands are `ops` (see [`ring_multiplier_resources`]): a
/// square needs only the limb products `i <= j` and one register for its two equal
/// inputs; a truncated operand shrinks the array in logic and its input register to
/// `l - f + 1` distinct bits.
pub fn multiplier_resources(l: u32, ops: Operands, d: &Device) -> Resources {
    let dp = MultiplierDatapath::new(l);
    let l64 = u64::from(l);
    let regs = dp.register_bits();
    let (products, shared_regs) = match ops {
        Operands::Square => (square_products(l), dp.square_duplicate_bits()),
        _ => (partial_products(l), 0),
    };
    match d.dsp.per_16x16() {
        0 => {
            let per_bit = if d.lut_inputs >= 6 { 1.2 } else { 2.4 };
            let input_copies = match ops {
                Operands::Distinct => 0,
                Operands::Square => l64,
                Operands::Truncated { frac_bits } => u64::from(frac_bits.min(l)).saturating_sub(1),
            };
            Resources {
                luts: (dp.array_bits(ops) as f64 * per_bit).round() as u64 + dp.adder_bits() + 1,
                flip_flops: regs - shared_regs - input_copies,
                ..Resources::default()
            }
        }
        // The DSPs register their inputs (one register for a square's two), and the
        // 32-bit multiplier's low product, registered whole, goes into a DSP's output
        // register.
        per => Resources {
            luts: dp.adder_bits() + 1,
            flip_flops: regs - shared_regs - 2 * l64 - if l == 32 { 32 } else { 0 },
            dsps: products * per,
            ..Resources::default()
        },
    }
}

/// One MAC lane truncating by `frac_bits`: the multiplier; the accumulator, its clear
/// and the party-1 negation (`l` bits each, less the control); the `l - f` bits
/// negated back and chosen by party, three LUTs each; the `last` delay line, the
/// accumulator and the output register (whose top `f` bits are one bit).
pub fn mac_lane_resources(l: u32, frac_bits: u32, d: &Device) -> Resources {
    let (l64, k) = (u64::from(l), u64::from(l - frac_bits.min(l)));
    multiplier_resources(l, Operands::Distinct, d).plus(Resources {
        luts: 2 * l64 + 3 * k + 4,
        flip_flops: ring_multiplier(l).latency + l64 + (k + 1) + 1,
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

/// One Beaver lane truncating by `frac_bits`: four multipliers (`d a`; the square
/// `d d`, whose input is `d a`'s; `w1 x`; `w2` times the truncated square), five adders
/// (`l` bits each) and the two truncations (`l - f` bits negated back and chosen by
/// party, seven LUTs a bit for both); the delay lines that keep `c`, `x`, `w1`, `w2`
/// and `b` in step with the multipliers, and the square and output registers. The
/// multipliers of each stage share their valid pipeline.
pub fn beaver_lane_resources(l: u32, frac_bits: u32, d: &Device) -> Resources {
    let (l64, k) = (u64::from(l), u64::from(l - frac_bits.min(l)));
    let m = ring_multiplier(l).latency;
    let in_logic = d.dsp.per_16x16() == 0;
    let muls = [
        Operands::Distinct,
        Operands::Square,
        Operands::Distinct,
        Operands::Truncated { frac_bits },
    ]
    .into_iter()
    .fold(Resources::default(), |r, ops| {
        r.plus(multiplier_resources(l, ops, d))
    });
    let delays = (m + 3 * (m + 1) + (2 * m + 1)) * l64;
    let shared = 2 * m + if in_logic { l64 } else { 0 };
    let mut r = muls.plus(Resources {
        luts: 5 * l64 + 7 * k,
        flip_flops: delays + (k + 1) + 1 + l64 + 1,
        ..Resources::default()
    });
    r.flip_flops -= shared;
    r
}

/// One Beaver multiply unit truncating by `frac_bits` when asked: three multipliers
/// (`d` and `e` each feed two, so in logic they share input registers), three adders
/// and the party-0 choice (`l` bits each), the optional truncation (the party-1
/// negation, `l` bits, and the `l - f` bits negated back and chosen, four LUTs a bit); the delay line
/// of `c` and the truncation flag, the output register. The multipliers share their
/// valid pipeline.
pub fn beaver_mul_resources(l: u32, frac_bits: u32, d: &Device) -> Resources {
    let (l64, k) = (u64::from(l), u64::from(l - frac_bits.min(l)));
    let m = ring_multiplier(l).latency;
    let in_logic = d.dsp.per_16x16() == 0;
    let mut r = multiplier_resources(l, Operands::Distinct, d)
        .times(3)
        .plus(Resources {
            luts: 5 * l64 + 4 * k,
            flip_flops: m * (l64 + 1) + l64 + 1,
            ..Resources::default()
        });
    r.flip_flops -= 2 * m + if in_logic { 2 * l64 } else { 0 };
    r
}

/// LUTs of one AES S-box in logic: the 256-entry table as yosys maps it to four-input
/// LUTs (calibrated: `bitstreams/tests/calibration.rs`), or 32 six-input LUTs.
fn sbox_luts(d: &Device) -> u64 {
    if d.lut_inputs >= 6 {
        32
    } else {
        285
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

/// Flip-flops of one round circuit's register: state, round key, round number, valid.
const AES_STAGE_FFS: u64 = 128 + 128 + 4 + 1;

/// One AES-128 core (`hdl::gc::aes`): `round_units` round circuits, each with 16 state
/// and 4 key-schedule S-boxes, MixColumns (a five-input XOR a bit), the key step and
/// AddRoundKey, and its stage register; the whitening XOR, and in a rolled core the
/// first circuit's choice between a new block and a looping one.
pub fn aes_core_resources(round_units: u32, sbox: Sbox, d: &Device) -> Resources {
    let ru = u64::from(round_units);
    let lut6 = d.lut_inputs >= 6;
    let (mix, key) = if lut6 { (128, 128) } else { (256, 192) };
    let (sbox_luts, sbox_bram) = match sbox {
        Sbox::Lut => (20 * sbox_luts(d), 0),
        // A dual-ported block serves two S-box lookups per cycle.
        Sbox::Ram => (0, 10 * ram_blocks(2 * 256 * 8, 16, d)),
    };
    let entry = if round_units < 10 { 2 * 128 + 8 } else { 128 };
    Resources {
        luts: ru * (sbox_luts + mix + key) + entry,
        flip_flops: ru * AES_STAGE_FFS,
        bram: ru * sbox_bram,
        ..Resources::default()
    }
}

/// A garbled-circuit engine (`hdl::gc::engine`): its AES cores; the hash inputs, the
/// hashes recomputed at the cores' outputs, the half-gates tables and the result
/// choice (16 LUTs a label bit in four-input LUTs); the operand stage, the ten-stage
/// delay line beside the cores (operands, ciphertexts, slot, operation, AND number)
/// and the result stage; the label RAM, twice (one read port per operand).
pub fn gc_engine_resources(cfg: &AcceleratorConfig, d: &Device) -> Resources {
    let aes =
        aes_core_resources(cfg.gc.aes_round_units, cfg.gc.sbox, d).times(cfg.gc.aes_cores.into());
    let k = crate::protocol::KAPPA;
    let slots = u64::from(cfg.gc.label_ram_wires);
    let s = ceil_log2(slots);
    let g = 32;
    let flip_flops =
        AES_ROUNDS * (4 + s + 4 * k + g) + (4 + s + 2 * k + g) + (5 + s + 3 * k) + g + 5;
    aes.plus(Resources {
        luts: if d.lut_inputs >= 6 { 10 * k } else { 16 * k },
        flip_flops,
        bram: 2 * ram_blocks(slots * k, k, d),
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
        assert_eq!(aes_core(10), Timing { latency: 10, ii: 1 });
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
        let w = GcWork {
            instances: 3,
            and_gates: 93,
            free_gates: 200,
            garbler_inputs: 32,
            evaluator_inputs: 64,
            outputs: 32,
            slots: 128,
        };
        // Two instances per engine: every row is padded to 13 cycles.
        assert_eq!(
            gc_cycles(garbler(4, 10), 2, &w, 1024),
            1 + 13 * (293 + 128 - 1) + 2 + 12
        );
        // Thirteen and more: one instruction per cycle.
        let w = GcWork { instances: 26, ..w };
        assert_eq!(
            gc_cycles(garbler(4, 10), 2, &w, 2048),
            1 + 13 * (293 + 128) + 12
        );
        // A label RAM of 1024 holds 8: batches of 8 and 5.
        assert_eq!(
            gc_cycles(garbler(4, 10), 2, &w, 1024),
            1 + 13 * (293 + 128) * 2 - 13 + 5 + 12
        );
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
        let lows: Vec<u32> = dp.products.iter().map(|p| p.low).collect();
        assert_eq!(lows, [0, 16, 16, 32, 32, 32, 48, 48, 48, 48]);
        assert!(dp.products.iter().all(|p| p.width() <= 32));
        assert_eq!(dp.levels.len() as u64, ring_multiplier(64).latency - 2);
        assert_eq!(dp.levels[0][0], Span { low: 0, high: 49 });
        assert_eq!(MultiplierDatapath::new(32).register_bits(), 212);
        assert_eq!(dp.register_bits(), 807, "yosys keeps 807 of ring_mul64");
    }

    #[test]
    fn synthesis_shares_what_a_square_or_a_truncated_operand_repeats() {
        let (up5k, hx8k) = (Device::find("up5k").unwrap(), Device::find("hx8k").unwrap());
        for l in [16, 32, 64] {
            let dp = MultiplierDatapath::new(l);
            let full = dp.array_bits(Operands::Distinct);
            assert!(dp.array_bits(Operands::Square) < full * 6 / 10, "{l}");
            assert_eq!(
                dp.array_bits(Operands::Truncated { frac_bits: 0 }),
                full,
                "nothing truncated: the full array"
            );
            let sq = multiplier_resources(l, Operands::Square, &up5k);
            assert_eq!(sq.dsps, square_products(l));
            for d in [&up5k, &hx8k] {
                let r = |f| beaver_lane_resources(l, f, d).luts;
                assert!(r(4) > r(12), "fewer truncated bits, more logic");
            }
        }
        assert_eq!(MultiplierDatapath::new(32).square_duplicate_bits(), 16);
    }
}
