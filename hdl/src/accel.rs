//! The accelerator's top level: a controller that runs a schedule as an instruction
//! stream on the MAC array, its banked memories, and the host's load and read ports.
//!
//! A schedule is static: every task has its start cycle. The program holds one
//! instruction per task of the MAC array, in start order, each with that cycle; the
//! controller counts cycles from `start`, decodes an instruction the cycle before its
//! start, and the array issues its first operands at the start cycle (later if the
//! array is still busy, which raises the sticky `late`).
//!
//! Memories (`LANES` banks each; element `e` of a vector lies in bank `e % LANES`, row
//! `base + e / LANES`):
//! - activations: the shares the array reads and writes;
//! - aux: the offline data (the server's masks, biases);
//! - weights: lane `j`'s bank holds the rows `r` with `r % LANES == j` of every layer,
//!   each row its `depth` words in order, so a group of `LANES` rows is read side by
//!   side;
//! - program: 128-bit instructions ([`Instr`]) of the MAC array;
//! - the Beaver lanes' memories (`LANES` banks each, element `e` in bank `e % LANES`):
//!   a mirror of the activations (written with them, read by the lanes), the
//!   server's shares of the square pairs (`a`, `c`), the opened `d = x - a`, the
//!   lanes' results `z`, and the polynomial coefficients `w2`, `w1`, `b`;
//! - the Beaver program: the `POLY` instructions, issued by their own controller on
//!   the same cycle count, so a polynomial's tiles run beside the array's tasks.
//!
//! Instructions:
//! - `DOT`: `count` dot products of the vector at activation row `a` (its `depth`
//!   elements) with weight rows starting at word `w`, each plus its mask from aux row
//!   `b` (the mask pair has weight 1), truncated as party 0
//!   ([`truncate_share`]), into activation row `o`. Lane `j`
//!   takes row `j` of each group of `LANES` rows: [`units::mac_array_dots`] issue
//!   cycles.
//! - `ADD`: `count` elements of activation row `a` plus aux row `b`, into activation
//!   row `o`: one row of `LANES` elements a cycle.
//! - `ADD` with `depth` 1: the operand is the Beaver results' row `a` instead (a
//!   polynomial's `z` plus the client's re-share in aux).
//! - `WALK` (Beaver program): how the next `POLY` walks the coefficients
//!   ([`CoefWalk`]), from which of its row groups; it loads at once.
//! - `POLY` (Beaver program): `count` elements through the Beaver lanes, `BL` of a
//!   row of `LANES` a cycle (a row in `LANES / BL` cycles, the last one in as many as
//!   its elements need): x from activation row `a`, the pair's shares and `d` from
//!   Beaver row `b`, the coefficients as the last `WALK` says; `z` into Beaver row
//!   `b` ([`poly_share`] as party 0), written
//!   [`units::beaver_array`] latency cycles after the operands' issue.
//! - `END`: no more instructions.
//!
//! Every result is written [`units::mac_array`] latency cycles after its operands'
//! addresses were issued (the lanes' pipeline, or a delay line for `ADD`), so the
//! results of successive instructions never meet at the write ports, and a task's
//! results are in memory when the schedule says they are ready.
//!
//! The top level is generated for the 16-, 32- and 64-bit rings ([`ring16`],
//! [`ring32`], [`ring64`]): the same design (`accel_top.rs`) on each ring's lanes and
//! words, with its ring's latencies; [`run`] is the golden model of all three.

use crate::beaver::{poly_share, PolyInput};
use crate::mac::truncate_share;
use crate::ring::{mask, mul};
use perf_model::accel::units;
use rust_hdl::prelude::*;

/// The ring widths the top level is generated for.
pub const RING_COUNTS: [u32; 3] = [16, 32, 64];
/// Bits of an instruction's activation and aux row fields.
pub const ROW_BITS: usize = 16;
/// Bits of an instruction's weight word field.
pub const WEIGHT_BITS: usize = 16;
/// Address bits of the full-size program memory.
pub const PROG_BITS: usize = 10;
/// Bits of an instruction's Beaver row field.
pub const BEAVER_BITS: usize = 14;
/// Bits of a `WALK`'s coefficient word fields.
pub const COEF_BITS: usize = 10;

/// How large a top level's memories are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// Every memory as deep as its instruction field reaches (64 K rows and weight
    /// words, 16 K Beaver rows, 1024 instructions and coefficient words): for the
    /// Xilinx parts.
    Full,
    /// 256 rows, weight words, Beaver rows and instructions, one iCE40 RAM block
    /// (`SB_RAM40_4K`, 256 x 16) a bank, and 8 coefficient words a bank in logic: for
    /// an iCE40 (16-bit ring only).
    Small,
}

/// A top level's memories: address bits of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBits {
    /// Activation, aux and mirror banks (rows).
    pub rows: usize,
    /// Weight banks (words).
    pub weights: usize,
    /// Beaver banks (rows).
    pub beaver: usize,
    /// The two program memories (instructions).
    pub program: usize,
    /// Coefficient banks (words).
    pub coef: usize,
}

impl AddressBits {
    /// The host's load address bits: the widest memory's.
    pub const fn load(&self) -> usize {
        let mut b = self.rows;
        let others = [self.weights, self.beaver, self.program, self.coef];
        let mut i = 0;
        while i < others.len() {
            if others[i] > b {
                b = others[i];
            }
            i += 1;
        }
        b
    }
}

impl Size {
    /// Both sizes.
    pub const ALL: [Size; 2] = [Size::Full, Size::Small];

    /// Its memories' address bits.
    pub const fn bits(self) -> AddressBits {
        match self {
            Size::Full => AddressBits {
                rows: ROW_BITS,
                weights: WEIGHT_BITS,
                beaver: BEAVER_BITS,
                program: PROG_BITS,
                coef: COEF_BITS,
            },
            Size::Small => AddressBits {
                rows: 8,
                weights: 8,
                beaver: 8,
                program: 8,
                coef: 3,
            },
        }
    }

    /// Its name in file and model names: `""` for the full size, `"_small"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Size::Full => "",
            Size::Small => "_small",
        }
    }

    /// Whether the top level of this size is generated for the `ring_bits`-bit ring,
    /// `lanes` MAC lanes and `beaver_lanes` Beaver lanes (the small size: 16 bits, 2
    /// MAC lanes).
    pub fn generated_for(self, ring_bits: u32, lanes: u32, beaver_lanes: u32) -> bool {
        let counts = beaver_lane_counts(lanes);
        counts.contains(&beaver_lanes)
            && match self {
                Size::Full => RING_COUNTS.contains(&ring_bits),
                Size::Small => ring_bits == 16 && lanes == 2,
            }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Size::Full => "full-size",
            Size::Small => "small-memory",
        })
    }
}

/// A RAM kept in logic cells rather than block RAM (`ram_style = "logic"`, which yosys
/// and Vivado honour): the small top level's coefficient banks, too shallow to spend a
/// RAM block each. Ports and timing as rust-hdl's `RAM`.
#[derive(LogicBlock, Default)]
pub struct LogicRam<D: Synth, const N: usize> {
    /// The read address.
    pub read_address: Signal<In, Bits<N>>,
    /// The read clock.
    pub read_clock: Signal<In, Clock>,
    /// The word at the read address of the last read clock edge.
    pub read_data: Signal<Out, D>,
    /// The write address.
    pub write_address: Signal<In, Bits<N>>,
    /// The write clock.
    pub write_clock: Signal<In, Clock>,
    /// The word to write.
    pub write_data: Signal<In, D>,
    /// Write at the next write clock edge.
    pub write_enable: Signal<In, bool>,
    _words: std::collections::BTreeMap<Bits<N>, D>,
}

impl<D: Synth, const N: usize> Logic for LogicRam<D, N> {
    fn update(&mut self) {
        if self.read_clock.pos_edge() {
            self.read_data.next = *self
                ._words
                .get(&self.read_address.val())
                .unwrap_or(&D::default());
        }
        if self.write_clock.pos_edge() && self.write_enable.val() {
            self._words
                .insert(self.write_address.val(), self.write_data.val());
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
(* ram_style = \"logic\" *) reg[{msb}:0] mem[{last}:0];

always @(posedge read_clock) begin
   read_data <= mem[read_address];
end

always @(posedge write_clock) begin
   if (write_enable) begin
      mem[write_address] <= write_data;
   end
end
",
            msb = D::BITS - 1,
            last = (1usize << N) - 1,
        ))
    }
}

/// Cycles from an operation's issue to its results' write on an `l`-bit top level:
/// [`units::mac_array`].
pub fn delay(l: u32) -> u64 {
    units::mac_array(l).latency
}

/// Cycles from a `POLY` row's issue to its results' write on an `l`-bit top level:
/// [`units::beaver_array`].
pub fn beaver_delay(l: u32) -> u64 {
    units::beaver_array(l).latency
}

macro_rules! ring_top_level {
    ($module:ident, $l:literal, $mac:ident, $beaver:ident, $delay:literal, $bdelay:literal,
     $size:expr, $coef_ram:ident) => {
        #[doc = concat!("The ", stringify!($l), "-bit top level, ", stringify!($size), ".")]
        pub mod $module {
            use super::*;
            use crate::beaver::$beaver as BeaverLane;
            use crate::mac::$mac as MacLane;
            /// The ring's bits.
            pub const L: usize = $l;
            /// A ring element.
            pub type Word = Bits<$l>;
            /// Cycles from an operation's issue to its results' write
            /// ([`delay`](super::delay)).
            pub const DELAY: usize = $delay;
            /// Cycles from a `POLY` row's issue to its results' write
            /// ([`beaver_delay`](super::beaver_delay)).
            pub const BEAVER_DELAY: usize = $bdelay;
            /// The memories' size.
            pub const SIZE: Size = $size;
            /// Address bits of an activation, aux or mirror bank.
            pub const ACT_AW: usize = SIZE.bits().rows;
            /// Address bits of a weight bank.
            pub const WGT_AW: usize = SIZE.bits().weights;
            /// Address bits of a Beaver bank.
            pub const BEAVER_AW: usize = SIZE.bits().beaver;
            /// Address bits of a program memory.
            pub const PROG_AW: usize = SIZE.bits().program;
            /// Address bits of a coefficient bank.
            pub const COEF_AW: usize = SIZE.bits().coef;
            /// Bits of the host's load address.
            pub const LD_BITS: usize = SIZE.bits().load();
            /// A coefficient bank.
            pub type CoefRam = $coef_ram<Word, COEF_AW>;
            include!("accel_top.rs");
            include!("accel_engine.rs");
        }
    };
}

ring_top_level!(ring16, 16, MacLane16, BeaverLane16, 4, 7, Size::Full, RAM);
ring_top_level!(ring32, 32, MacLane32, BeaverLane32, 6, 11, Size::Full, RAM);
ring_top_level!(ring64, 64, MacLane64, BeaverLane64, 8, 15, Size::Full, RAM);
ring_top_level!(
    small16,
    16,
    MacLane16,
    BeaverLane16,
    4,
    7,
    Size::Small,
    LogicRam
);

/// An instruction's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// No more instructions.
    End = 0,
    /// Dot products with the weights, plus masks, truncated.
    Dot = 1,
    /// Element-wise addition of an aux vector.
    Add = 2,
    /// A convolution's geometry for the `CONV` instructions that follow.
    Geom = 3,
    /// Where the next `CONV` starts in its output.
    Tile = 4,
    /// Dot products of a convolution's windows with the weights, plus masks,
    /// truncated.
    Conv = 5,
    /// Polynomials of shares through the Beaver lanes (the Beaver program).
    Poly = 6,
    /// The coefficients' walk for the `POLY` that follows (the Beaver program).
    Walk = 7,
}

/// How a `POLY` walks its coefficients: row group `g` (elements `g * LANES ..`) takes
/// coefficient word `base + (g / rep) % period` of each lane's bank. Channels last
/// (`C` a multiple of the lanes): `rep` 1, `period` `C / LANES`; channels first with
/// `H W` a multiple of the lanes: `rep` `H W / LANES`, `period` `C`, each bank holding
/// every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoefWalk {
    /// The first word.
    pub base: u16,
    /// Row groups per word (at least 1).
    pub rep: u16,
    /// Words before the walk returns to `base` (at least 1).
    pub period: u16,
}

impl CoefWalk {
    /// The word of row group `g`.
    pub fn word(&self, g: u64) -> u64 {
        u64::from(self.base) + (g / u64::from(self.rep.max(1))) % u64::from(self.period.max(1))
    }

    /// The `WALK` word for a `POLY` whose first row is row group `first`: the base
    /// `[9:0]`, rep - 1 `[21:10]`, period - 1 `[31:22]`, and where the walk starts:
    /// words from the base `[47:38]`, groups into the word `[75:64]` (fields that
    /// fill what a `POLY` word leaves, so the decoder reads every bit).
    pub fn setup(&self, first: u64) -> u128 {
        let (rep, period) = (u64::from(self.rep.max(1)), u64::from(self.period.max(1)));
        ((Op::Walk as u128) << 92)
            | (u128::from(first % rep) << 64)
            | (u128::from((first / rep) % period) << 38)
            | (u128::from(period - 1) << 22)
            | (u128::from(rep - 1) << 10)
            | u128::from(self.base)
    }

    /// The walk and its first group from a `WALK` word.
    pub fn from_setup(raw: u128) -> (CoefWalk, u64) {
        let c = COEF_BITS as u32;
        let (rep, period) = (field(raw, 10, 12) + 1, field(raw, 22, c) + 1);
        let walk = CoefWalk {
            base: field(raw, 0, c) as u16,
            rep: rep as u16,
            period: period as u16,
        };
        (walk, field(raw, 38, c) * rep + field(raw, 64, 12))
    }
}

/// A convolution's geometry: what `GEOM` loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Input channels, height and width.
    pub input: [u16; 3],
    /// Output channels (a multiple of the lanes), height and width.
    pub output: [u16; 3],
    /// Kernel size.
    pub kernel: u16,
    /// Stride.
    pub stride: u16,
    /// Zero padding on each side.
    pub padding: u16,
}

impl Geometry {
    /// Pairs of a window.
    pub fn depth(&self) -> u16 {
        self.input[0] * self.kernel * self.kernel
    }

    /// The `GEOM` instruction: k - 1, the stride, the output row's width times the
    /// stride, channel groups - 1, the padded input's height and width and the padding
    /// (8 bits each); the address steps to the next kernel row and the next input
    /// channel, the stride times the input width, the stride (16 bits each).
    pub fn geom(&self, lanes: u16) -> u128 {
        let [_, h, w] = self.input;
        let pad = self.padding;
        let (k, s) = (self.kernel, self.stride);
        let d_ky = w - (k - 1);
        let d_ic = h * w - (k - 1) * w - (k - 1);
        (u128::from(d_ky) << 112)
            | (u128::from(d_ic) << 96)
            | ((Op::Geom as u128) << 92)
            | (u128::from(s * w) << 76)
            | (u128::from(s) << 60)
            | (u128::from(k - 1) << 52)
            | (u128::from(s) << 44)
            | (u128::from(self.output[2] * s) << 36)
            | (u128::from(self.output[0] / lanes - 1) << 28)
            | (u128::from(h + pad) << 20)
            | (u128::from(w + pad) << 12)
            | (u128::from(pad) << 4)
    }

    /// The `TILE` instruction of a tile whose first output element (channel-last
    /// order) is `first`, with the layer's weights from word `wbase`: the window's
    /// column and row in the padded input, the channel group, and the addresses of the
    /// window's first element and of its row's (both less the padding, mod 2^16).
    pub fn tile(&self, lanes: u16, first: u32, wbase: u16) -> u128 {
        let cg = self.group_of(lanes, first);
        let p = first / u32::from(self.output[0]);
        let (oy, ox) = (p / u32::from(self.output[2]), p % u32::from(self.output[2]));
        let (s, pad, w) = (
            i64::from(self.stride),
            i64::from(self.padding),
            i64::from(self.input[2]),
        );
        let (oy, ox) = (i64::from(oy), i64::from(ox));
        let prow = ((oy * s - pad) * w - pad) & 0xffff;
        let pbase = (prow + ox * s) & 0xffff;
        ((Op::Tile as u128) << 92)
            | ((ox * s) as u128) << 84
            | (u128::from(cg) << 76)
            | (pbase as u128) << 60
            | (prow as u128) << 44
            | (u128::from(wbase) << 28)
            | ((oy * s) as u128) << 20
    }

    /// The channel group of output element `first` (channel-last order).
    pub fn group_of(&self, lanes: u16, first: u32) -> u32 {
        (first / u32::from(lanes)) % u32::from(self.output[0] / lanes)
    }
}

/// One instruction of the program (`GEOM` and `TILE` carry their own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instr {
    /// The cycle (counted from `start`) it issues at.
    pub start: u32,
    /// What it does.
    pub op: Op,
    /// Dot products, or elements.
    pub count: u16,
    /// Pairs per dot product (without the mask); for `ADD`, 1 to add to the Beaver
    /// results.
    pub depth: u16,
    /// First activation row of the operand (for `ADD` from the Beaver results, their
    /// row).
    pub a: u16,
    /// First aux row (masks, or the addend); for `POLY`, the first Beaver row.
    pub b: u16,
    /// First activation row of the results.
    pub o: u16,
    /// First weight word of each lane (`DOT`, `CONV`).
    pub w: u16,
    /// The word of a `GEOM` or `TILE`.
    pub raw: u128,
}

impl Instr {
    /// The end of a program.
    pub fn end(start: u32) -> Instr {
        Instr {
            start,
            op: Op::End,
            count: 0,
            depth: 0,
            a: 0,
            b: 0,
            o: 0,
            w: 0,
            raw: 0,
        }
    }

    /// A `POLY` at `start` of `count` elements, x from activation row `x_row`, Beaver
    /// rows from `row`.
    pub fn poly(start: u32, count: u16, x_row: u16, row: u16) -> Instr {
        Instr {
            start,
            op: Op::Poly,
            count,
            a: x_row,
            b: row,
            ..Instr::end(0)
        }
    }

    /// Whether the Beaver lanes' controller runs it (else the MAC array's).
    pub fn beaver(&self) -> bool {
        matches!(self.op, Op::Poly | Op::Walk)
    }

    /// A `GEOM`, `TILE` or `WALK` word as an instruction.
    pub fn setup(raw: u128) -> Instr {
        let op = match (raw >> 92) & 0xf {
            x if x == Op::Geom as u128 => Op::Geom,
            x if x == Op::Walk as u128 => Op::Walk,
            _ => Op::Tile,
        };
        Instr {
            raw,
            op,
            ..Instr::end(0)
        }
    }

    /// The 128-bit word: start `[127:96]`, op `[95:92]`, count `[91:76]`, depth
    /// `[75:64]`, a `[63:48]`, b `[47:32]`, o `[31:16]`, w `[15:0]`.
    pub fn encode(&self) -> u128 {
        if matches!(self.op, Op::Geom | Op::Tile | Op::Walk) {
            return self.raw;
        }
        (u128::from(self.start) << 96)
            | ((self.op as u128) << 92)
            | (u128::from(self.count) << 76)
            | (u128::from(self.depth & 0xfff) << 64)
            | (u128::from(self.a) << 48)
            | (u128::from(self.b) << 32)
            | (u128::from(self.o) << 16)
            | u128::from(self.w)
    }

    /// Cycles its unit is held issuing it: the array on `lanes` lanes, or
    /// `beaver_lanes` Beaver lanes.
    pub fn busy(&self, lanes: u64, beaver_lanes: u64) -> u64 {
        match self.op {
            Op::End | Op::Geom | Op::Tile | Op::Walk => 0,
            Op::Dot | Op::Conv => {
                units::mac_array_dots(self.count.into(), self.depth.into(), lanes)
            }
            Op::Add => u64::from(self.count).div_ceil(lanes),
            Op::Poly => u64::from(self.count).div_ceil(beaver_lanes),
        }
    }
}

/// Why a program cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccelError {
    /// An address is past its memory.
    #[error("instruction {index}: {what} {at} is past the {size}-entry {memory}")]
    Range {
        /// The instruction.
        index: usize,
        /// The field.
        what: &'static str,
        /// The last address it touches.
        at: u64,
        /// The memory's entries.
        size: u64,
        /// The memory.
        memory: &'static str,
    },
    /// An instruction's field does not fit its bits.
    #[error("instruction {index}: {what} = {value} does not fit {bits} bits")]
    Field {
        /// The instruction.
        index: usize,
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
        /// Its bits.
        bits: u32,
    },
    /// Instructions out of start order, or issued while the array is busy.
    #[error("instruction {index} starts at cycle {start}, before the array is free at {free}")]
    Overlap {
        /// The instruction.
        index: usize,
        /// Its start.
        start: u64,
        /// When the array is free.
        free: u64,
    },
    /// The program does not fit the program memory.
    #[error("{len} instructions do not fit the {size}-word program memory")]
    TooLong {
        /// Instructions (with the end).
        len: usize,
        /// Words.
        size: usize,
    },
}

/// The accelerator's memories as the golden model holds them: `lanes` banks each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memories {
    /// Lanes (banks).
    pub lanes: usize,
    /// Beaver lanes (they share the banks).
    pub beaver_lanes: usize,
    /// The ring's bits.
    pub ring_bits: u32,
    /// Fractional bits the lanes truncate by.
    pub frac_bits: u32,
    /// The memories' size.
    pub size: Size,
    /// Activation banks.
    pub act: Vec<Vec<u64>>,
    /// Aux banks.
    pub aux: Vec<Vec<u64>>,
    /// Weight banks.
    pub weights: Vec<Vec<u64>>,
    /// Beaver banks: the server's shares of each pair's `a` and `a^2`, and the opened
    /// `d`.
    pub pairs: [Vec<Vec<u64>>; 3],
    /// Beaver banks: the lanes' results.
    pub z: Vec<Vec<u64>>,
    /// Coefficient banks: `w2`, `w1`, `b`.
    pub coef: [Vec<Vec<u64>>; 3],
}

impl Memories {
    /// Empty (zero) memories of `lanes` banks, for `beaver_lanes` Beaver lanes, of the
    /// 64-bit top level truncating by [`DEFAULT_FRAC_BITS`](crate::mac::DEFAULT_FRAC_BITS)
    /// ([`Memories::ring`] for another).
    pub fn new(lanes: usize, beaver_lanes: usize) -> Memories {
        Memories {
            lanes,
            beaver_lanes,
            ring_bits: 64,
            frac_bits: crate::mac::DEFAULT_FRAC_BITS,
            size: Size::Full,
            act: vec![vec![0; 1 << ROW_BITS]; lanes],
            aux: vec![vec![0; 1 << ROW_BITS]; lanes],
            weights: vec![vec![0; 1 << WEIGHT_BITS]; lanes],
            pairs: std::array::from_fn(|_| vec![vec![0; 1 << BEAVER_BITS]; lanes]),
            z: vec![vec![0; 1 << BEAVER_BITS]; lanes],
            coef: std::array::from_fn(|_| vec![vec![0; 1 << COEF_BITS]; lanes]),
        }
    }

    /// The same memories for the top level on the `ring_bits`-bit ring, truncating by
    /// `frac_bits`.
    pub fn ring(self, ring_bits: u32, frac_bits: u32) -> Memories {
        Memories {
            ring_bits,
            frac_bits,
            ..self
        }
    }

    /// The same memories at `size` (cut to its depths, or zero-extended to them).
    pub fn sized(self, size: Size) -> Memories {
        let b = size.bits();
        let fit = |banks: Vec<Vec<u64>>, bits: usize| -> Vec<Vec<u64>> {
            banks
                .into_iter()
                .map(|mut v| {
                    v.resize(1 << bits, 0);
                    v
                })
                .collect()
        };
        Memories {
            size,
            act: fit(self.act, b.rows),
            aux: fit(self.aux, b.rows),
            weights: fit(self.weights, b.weights),
            pairs: self.pairs.map(|p| fit(p, b.beaver)),
            z: fit(self.z, b.beaver),
            coef: self.coef.map(|c| fit(c, b.coef)),
            ..self
        }
    }

    /// Element `e` of the vector at row `row` of banked memory `m`.
    pub fn get(m: &[Vec<u64>], row: u64, e: u64) -> u64 {
        let lanes = m.len() as u64;
        m[(e % lanes) as usize][(row + e / lanes) as usize]
    }

    /// Stores `v` as the vector at row `row` of banked memory `m`, its banks made
    /// deeper when it reaches past them (a layout larger than a top level's memories
    /// is then refused by [`check`], or cut by [`Memories::sized`]).
    pub fn put(m: &mut [Vec<u64>], row: u64, v: &[u64]) {
        let lanes = m.len() as u64;
        let end = (row + (v.len() as u64).div_ceil(lanes)) as usize;
        for bank in m.iter_mut().filter(|b| b.len() < end) {
            bank.resize(end, 0);
        }
        for (e, &x) in (0u64..).zip(v) {
            m[(e % lanes) as usize][(row + e / lanes) as usize] = x;
        }
    }

    /// Stores the `rows` x `depth` weight matrix `w` (row-major) from word `at` of
    /// every lane's bank.
    pub fn put_weights(&mut self, at: u64, w: &[u64], depth: usize) {
        let lanes = self.lanes;
        let end = at as usize + (w.len() / depth.max(1)).div_ceil(lanes) * depth;
        for bank in self.weights.iter_mut().filter(|b| b.len() < end) {
            bank.resize(end, 0);
        }
        for (r, row) in w.chunks(depth).enumerate() {
            let base = at as usize + (r / lanes) * depth;
            self.weights[r % lanes][base..base + depth].copy_from_slice(row);
        }
    }

    /// The vector of `n` elements at activation row `row`.
    pub fn act_vector(&self, row: u64, n: usize) -> Vec<u64> {
        (0..n as u64)
            .map(|e| Self::get(&self.act, row, e))
            .collect()
    }
}

fn check_field(index: usize, what: &'static str, value: u64, bits: u32) -> Result<(), AccelError> {
    if value >> bits != 0 {
        Err(AccelError::Field {
            index,
            what,
            value,
            bits,
        })
    } else {
        Ok(())
    }
}

/// Checks a program for `lanes` lanes and `beaver_lanes` Beaver lanes on the
/// `ring_bits`-bit top level with memories of `size`: fields within their bits and
/// addresses within the memories, starts in order with each unit free. Returns each
/// instruction's (issue, end of issue, results written) cycles.
pub fn check(
    program: &[Instr],
    lanes: usize,
    beaver_lanes: usize,
    ring_bits: u32,
    size: Size,
) -> Result<Vec<(u64, u64, u64)>, AccelError> {
    let bits = size.bits();
    let beaver = program.iter().filter(|i| i.beaver()).count();
    let longest = beaver.max(program.len() - beaver) + 1;
    if longest > 1 << bits.program {
        return Err(AccelError::TooLong {
            len: longest,
            size: 1 << bits.program,
        });
    }
    let lanes64 = lanes as u64;
    let rows = 1u64 << bits.rows;
    let words = 1u64 << bits.weights;
    // When the array, and the Beaver lanes, are free.
    let (mut free, mut bfree) = (0u64, 0u64);
    let mut out = Vec::with_capacity(program.len());
    for (index, i) in program.iter().enumerate() {
        check_field(index, "depth", i.depth.into(), 12)?;
        let groups = u64::from(i.count).div_ceil(lanes64);
        // The last address each field touches, and its memory.
        let last = |base: u16, n: u64| u64::from(base) + n.max(1) - 1;
        let (act, aux, wgt) = (
            (rows, "activation memory"),
            (rows, "aux memory"),
            (words, "weight memory"),
        );
        let bvr = (1u64 << bits.beaver, "Beaver memory");
        let spans = match i.op {
            Op::End => vec![],
            Op::Geom | Op::Tile => {
                out.push((free, free, free));
                continue;
            }
            Op::Walk => {
                let (walk, _) = CoefWalk::from_setup(i.raw);
                let end = u64::from(walk.base) + u64::from(walk.period) - 1;
                if end >= 1 << bits.coef {
                    return Err(AccelError::Range {
                        index,
                        what: "w",
                        at: end,
                        size: 1 << bits.coef,
                        memory: "coefficient memory",
                    });
                }
                out.push((bfree, bfree, bfree));
                continue;
            }
            Op::Conv => vec![("b", last(i.b, groups), aux), ("o", last(i.o, groups), act)],
            Op::Dot => vec![
                ("a", last(i.a, u64::from(i.depth).div_ceil(lanes64)), act),
                ("b", last(i.b, groups), aux),
                ("o", last(i.o, groups), act),
                ("w", last(i.w, groups * u64::from(i.depth)), wgt),
            ],
            Op::Add => vec![
                ("a", last(i.a, groups), if i.depth == 1 { bvr } else { act }),
                ("b", last(i.b, groups), aux),
                ("o", last(i.o, groups), act),
            ],
            Op::Poly => vec![("a", last(i.a, groups), act), ("b", last(i.b, groups), bvr)],
        };
        for (what, at, (size, memory)) in spans {
            if at >= size {
                return Err(AccelError::Range {
                    index,
                    what,
                    at,
                    size,
                    memory,
                });
            }
        }
        let start = u64::from(i.start);
        let (unit_free, delay) = if i.beaver() {
            (&mut bfree, beaver_delay(ring_bits))
        } else {
            (&mut free, delay(ring_bits))
        };
        if start < *unit_free {
            return Err(AccelError::Overlap {
                index,
                start,
                free: *unit_free,
            });
        }
        *unit_free = start + i.busy(lanes64, beaver_lanes as u64);
        out.push((start, *unit_free, *unit_free + delay - 1));
    }
    Ok(out)
}

/// The golden model: runs `program` on `mem` (results as the hardware writes them).
pub fn run(program: &[Instr], mem: &mut Memories) -> Result<(), AccelError> {
    check(
        program,
        mem.lanes,
        mem.beaver_lanes,
        mem.ring_bits,
        mem.size,
    )?;
    let (l, f) = (mem.ring_bits, mem.frac_bits);
    let (mut geom, mut tile, mut walk) = (0u128, 0u128, 0u128);
    for i in program {
        let (a, b, o) = (u64::from(i.a), u64::from(i.b), u64::from(i.o));
        match i.op {
            Op::End => break,
            Op::Geom => geom = i.raw,
            Op::Tile => tile = i.raw,
            Op::Walk => walk = i.raw,
            Op::Conv => conv(i, geom, tile, mem),
            Op::Dot => {
                let depth = u64::from(i.depth);
                let x: Vec<u64> = (0..depth).map(|k| Memories::get(&mem.act, a, k)).collect();
                let lanes = mem.lanes as u64;
                for r in 0..u64::from(i.count) {
                    let (g, j) = (r / lanes, (r % lanes) as usize);
                    let base = (u64::from(i.w) + g * depth) as usize;
                    let w = &mem.weights[j][base..base + depth as usize];
                    let acc = x
                        .iter()
                        .zip(w)
                        .fold(Memories::get(&mem.aux, b, r), |acc, (&x, &w)| {
                            acc.wrapping_add(mul(x, w, l))
                        });
                    let y = truncate_share(acc & mask(l), f, 0, l);
                    mem.act[j][(o + g) as usize] = y;
                }
            }
            Op::Add => {
                for e in 0..u64::from(i.count) {
                    let x = if i.depth == 1 {
                        Memories::get(&mem.z, a, e)
                    } else {
                        Memories::get(&mem.act, a, e)
                    };
                    let y = x.wrapping_add(Memories::get(&mem.aux, b, e));
                    let lanes = mem.lanes as u64;
                    mem.act[(e % lanes) as usize][(o + e / lanes) as usize] = y & mask(l);
                }
            }
            Op::Poly => {
                let lanes = mem.lanes as u64;
                let (walk, first) = CoefWalk::from_setup(walk);
                for e in 0..u64::from(i.count) {
                    let (g, j) = (e / lanes, (e % lanes) as usize);
                    let q = walk.word(first + g) as usize;
                    let r = (b + g) as usize;
                    let input = PolyInput {
                        x: mem.act[j][(a + g) as usize],
                        a: mem.pairs[0][j][r],
                        c: mem.pairs[1][j][r],
                        d: mem.pairs[2][j][r],
                        w2: mem.coef[0][j][q],
                        w1: mem.coef[1][j][q],
                        b: mem.coef[2][j][q],
                    };
                    mem.z[j][r] = poly_share(&input, f, 0, l);
                }
            }
        }
    }
    Ok(())
}

/// The lane counts the top level is generated for.
pub const LANE_COUNTS: [u32; 5] = [2, 4, 8, 16, 32];

/// The lane counts the top level is generated for, at most `most`, largest first.
pub fn lane_counts_up_to(most: u32) -> impl Iterator<Item = u32> {
    LANE_COUNTS.into_iter().rev().filter(move |&l| l <= most)
}

/// The Beaver lane counts the top level with `lanes` MAC lanes is generated for,
/// largest first: one per MAC lane, one per four, or one (none when `lanes` is not one
/// of [`LANE_COUNTS`]).
pub fn beaver_lane_counts(lanes: u32) -> Vec<u32> {
    if !LANE_COUNTS.contains(&lanes) {
        return Vec::new();
    }
    let mut v: Vec<u32> = [lanes, lanes / 4, 1]
        .into_iter()
        .filter(|&b| b >= 1)
        .collect();
    v.dedup();
    v
}

/// The Beaver lanes of a top level with `lanes` MAC lanes for a configuration of
/// `config_mac` MAC and `config_beaver` Beaver lanes: the configuration's share of the
/// MAC lanes, down to a count the top level is generated for (its least when the share
/// is below all of them); `None` when `lanes` is not one of [`LANE_COUNTS`].
pub fn beaver_lanes_for(lanes: u32, config_mac: u32, config_beaver: u32) -> Option<u32> {
    let share = u64::from(lanes) * u64::from(config_beaver) / u64::from(config_mac.max(1));
    let counts = beaver_lane_counts(lanes);
    let least = *counts.last()?;
    Some(
        counts
            .into_iter()
            .find(|&b| u64::from(b) <= share)
            .unwrap_or(least),
    )
}

/// A top level generated around an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    /// The accelerator alone (`Accelerator`).
    Accelerator,
    /// The accelerator behind the request engine with AXI-Stream ports
    /// (`AccelAxisLink`, [`crate::accel_link`]).
    AxisLink,
}

/// The Verilog of the accelerator on the `ring_bits`-bit ring (one of [`RING_COUNTS`]),
/// its lanes truncating by `frac_bits`, with `lanes` MAC lanes (one of [`LANE_COUNTS`])
/// and `beaver_lanes` Beaver lanes (one of [`beaver_lane_counts`]), its memories of
/// `size` ([`Size::generated_for`]).
///
/// The block is built and generated on a thread of its own with a large stack: its
/// memories and lanes are big values before they are boxed into the netlist.
pub fn verilog(
    ring_bits: u32,
    frac_bits: u32,
    lanes: u32,
    beaver_lanes: u32,
    size: Size,
) -> Option<String> {
    top_verilog(
        Top::Accelerator,
        ring_bits,
        frac_bits,
        lanes,
        beaver_lanes,
        size,
    )
}

/// The Verilog of `top` around the accelerator of [`verilog`]'s arguments.
pub fn top_verilog(
    top: Top,
    ring_bits: u32,
    frac_bits: u32,
    lanes: u32,
    beaver_lanes: u32,
    size: Size,
) -> Option<String> {
    macro_rules! gen {
        ($m:ident, $lanes:literal, $bl:literal) => {
            match top {
                Top::Accelerator => crate::verilog($m::Accelerator::<$lanes, $bl>::new(frac_bits)),
                Top::AxisLink => crate::verilog($m::AccelAxisLink::<$lanes, $bl>::new(frac_bits)),
            }
        };
    }
    macro_rules! pick {
        ($m:ident) => {
            match (lanes, beaver_lanes) {
                (2, 2) => gen!($m, 2, 2),
                (2, 1) => gen!($m, 2, 1),
                (4, 4) => gen!($m, 4, 4),
                (4, 1) => gen!($m, 4, 1),
                (8, 8) => gen!($m, 8, 8),
                (8, 2) => gen!($m, 8, 2),
                (8, 1) => gen!($m, 8, 1),
                (16, 16) => gen!($m, 16, 16),
                (16, 4) => gen!($m, 16, 4),
                (16, 1) => gen!($m, 16, 1),
                (32, 32) => gen!($m, 32, 32),
                (32, 8) => gen!($m, 32, 8),
                (32, 1) => gen!($m, 32, 1),
                _ => return None,
            }
        };
    }
    if frac_bits >= ring_bits || !size.generated_for(ring_bits, lanes, beaver_lanes) {
        return None;
    }
    let generate = move || {
        Some(match (size, ring_bits) {
            (Size::Small, _) => match beaver_lanes {
                2 => gen!(small16, 2, 2),
                _ => gen!(small16, 2, 1),
            },
            (Size::Full, 16) => pick!(ring16),
            (Size::Full, 32) => pick!(ring32),
            (Size::Full, _) => pick!(ring64),
        })
    };
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(generate)
        .ok()?
        .join()
        .ok()?
}

/// Bits `[at + width - 1 : at]` of `w`.
fn field(w: u128, at: u32, width: u32) -> u64 {
    ((w >> at) & ((1u128 << width) - 1)) as u64
}

/// The golden model of `CONV`: the address generator's walk over each window, channel
/// group by channel group, position by position.
fn conv(i: &Instr, geom: u128, tile: u128, mem: &mut Memories) {
    let (l, f) = (mem.ring_bits, mem.frac_bits);
    let lanes = mem.lanes as u64;
    let m16 = |v: u64| v & 0xffff;
    let (d_ky, d_ic, s_w, s16) = (
        field(geom, 112, 16),
        field(geom, 96, 16),
        field(geom, 76, 16),
        field(geom, 60, 16),
    );
    let (km1, s8, out_ws, cgm1) = (
        field(geom, 52, 8),
        field(geom, 44, 8),
        field(geom, 36, 8),
        field(geom, 28, 8),
    );
    let (hp, wp, pad) = (field(geom, 20, 8), field(geom, 12, 8), field(geom, 4, 8));
    let (mut oxs, mut cg, mut pbase, mut prow, wbase, mut oys) = (
        field(tile, 84, 8),
        field(tile, 76, 8),
        field(tile, 60, 16),
        field(tile, 44, 16),
        field(tile, 28, 16),
        field(tile, 20, 8),
    );
    let depth = u64::from(i.depth);
    let mut wptr = u64::from(i.w);
    for g in 0..u64::from(i.count).div_ceil(lanes) {
        // One window: its elements in (channel, row, column) order.
        let (mut e, mut kx, mut ky) = (pbase, 0, 0);
        let mut x = Vec::with_capacity(depth as usize);
        for _ in 0..depth {
            let (iy, ix) = ((oys + ky) & 0xff, (oxs + kx) & 0xff);
            let inside = iy >= pad && iy < hp && ix >= pad && ix < wp;
            x.push(if inside {
                Memories::get(&mem.act, u64::from(i.a), e)
            } else {
                0
            });
            if kx == km1 {
                kx = 0;
                if ky == km1 {
                    ky = 0;
                    e = m16(e + d_ic);
                } else {
                    ky += 1;
                    e = m16(e + d_ky);
                }
            } else {
                kx += 1;
                e = m16(e + 1);
            }
        }
        for j in 0..lanes {
            let r = g * lanes + j;
            if r >= u64::from(i.count) {
                break;
            }
            let w = &mem.weights[j as usize][wptr as usize..(wptr + depth) as usize];
            let acc = x.iter().zip(w).fold(
                Memories::get(&mem.aux, u64::from(i.b), r),
                |acc, (&x, &w)| acc.wrapping_add(mul(x, w, l)),
            );
            mem.act[j as usize][(u64::from(i.o) + g) as usize] =
                truncate_share(acc & mask(l), f, 0, l);
        }
        // The next group: the next channels, or the next window.
        if cg == cgm1 {
            cg = 0;
            wptr = wbase;
            if (oxs + s8) & 0xff == out_ws {
                oxs = 0;
                oys = (oys + s8) & 0xff;
                prow = m16(prow + s_w);
                pbase = prow;
            } else {
                oxs = (oxs + s8) & 0xff;
                pbase = m16(pbase + s16);
            }
        } else {
            cg += 1;
            wptr += depth;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rings_write_delays_are_perf_models() {
        assert_eq!(
            [ring16::DELAY, ring32::DELAY, ring64::DELAY].map(|d| d as u64),
            RING_COUNTS.map(delay)
        );
        assert_eq!(
            [
                ring16::BEAVER_DELAY,
                ring32::BEAVER_DELAY,
                ring64::BEAVER_DELAY
            ]
            .map(|d| d as u64),
            RING_COUNTS.map(beaver_delay)
        );
        assert_eq!(
            [ring16::L, ring32::L, ring64::L].map(|l| l as u32),
            RING_COUNTS
        );
        assert_eq!(
            (small16::L, small16::DELAY, small16::BEAVER_DELAY),
            (ring16::L, ring16::DELAY, ring16::BEAVER_DELAY)
        );
    }

    #[test]
    fn each_top_level_is_sized_as_its_memories() {
        assert_eq!(
            [ring16::SIZE, ring32::SIZE, ring64::SIZE, small16::SIZE],
            [Size::Full, Size::Full, Size::Full, Size::Small]
        );
        assert_eq!((ring64::ACT_AW, ring64::LD_BITS), (ROW_BITS, 16));
        assert_eq!(
            (small16::ACT_AW, small16::COEF_AW, small16::LD_BITS),
            (8, 3, 8)
        );
        let mem = Memories::new(2, 1).ring(16, 7).sized(Size::Small);
        assert_eq!((mem.act[1].len(), mem.coef[2][0].len()), (256, 8));
        assert!(Size::Small.generated_for(16, 2, 1));
        assert!(!Size::Small.generated_for(32, 2, 1));
        assert!(!Size::Small.generated_for(16, 4, 1));
        assert!(Size::Full.generated_for(64, 32, 8));
        assert!(!Size::Full.generated_for(64, 32, 4));
    }
}
