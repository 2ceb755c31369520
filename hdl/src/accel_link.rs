//! The accelerator's link: a request engine before the accelerator's top level, so the
//! host loads a board's memories, runs the program and reads the activations back. The
//! host sends a request (an opcode and its payload), the board answers with a status
//! byte and the result. Two top levels wrap the same engine (`accel_engine.rs`, in
//! each of [`crate::accel`]'s ring modules):
//! - [`AccelLink`]: a UART before the small-memory top level ([`small16`], 2 MAC
//!   lanes), for the iCE40 boards; bytes arriving while the board runs or answers are
//!   dropped;
//! - `AccelAxisLink` (as [`small16::AccelAxisLink`], [`crate::accel::ring64::AccelAxisLink`]):
//!   AXI-Stream byte streams before a top level of either size, for Xilinx parts
//!   ([`axis_verilog`]).
//!
//! | opcode | request payload | response after the status `0x80 \| op` |
//! |---|---|---|
//! | `0x00` identify | none | 8 bytes: `PMA`, protocol version (the address bytes), ring width, f, MAC lanes, Beaver lanes |
//! | `0x10` load | memory, lane, address, words - 1; then the words (16 bytes an instruction, `l / 8` a ring element) | none |
//! | `0x20` run | the most cycles to wait (4 bytes), zeros to the header's length | the cycle count (4 bytes), flags (bit 0 halted, 1 late, 2 fault), instructions and `POLY`s issued, writes and Beaver writes (2 bytes each) |
//! | `0x30` read | lane, row, rows - 1, 0 | the activations (`l / 8` bytes each) |
//!
//! Every field is little-endian. Addresses and counts take one byte on the small top
//! level and two on the full-size ones ([`Format`]), so a header is 4 or 6 bytes. A
//! load's words go to consecutive addresses of one bank, each written as its last
//! byte arrives; a memory code past [`Mem::Cb`] or a lane past the last is answered
//! [`STATUS_BAD`] once the words are in, and nothing is written. A read past the last
//! lane is answered [`STATUS_BAD`] alone; an unknown opcode gets the single byte
//! [`STATUS_UNKNOWN`]. A run starts the program from its first instruction and
//! answers [`DRAIN`] cycles after it has halted, or after the cycle count reaches the
//! limit (flag bit 0 clear then, unless it halted meanwhile): the writes still in the
//! lanes' pipelines are done and counted.
//!
//! Inside, header byte `k` shifts in at the top of the header register and a word's
//! bytes at the top of a 128-bit one, so a ring element is its top `l` bits; results
//! are loaded into a 104-bit register and leave from its bottom byte.

use crate::accel::small16;
use crate::accel::{Instr, Memories, Size};
pub use crate::host::{ReplyError, STATUS_UNKNOWN};

/// Identify the board.
pub const OP_ID: u8 = 0x00;
/// Load words into a memory.
pub const OP_LOAD: u8 = 0x10;
/// Run the program.
pub const OP_RUN: u8 = 0x20;
/// Read activations.
pub const OP_READ: u8 = 0x30;
/// The status byte of a load or read with a bad memory or lane.
pub const STATUS_BAD: u8 = 0xed;
/// The small link protocol's version, in the identify response (its address bytes).
pub const PROTOCOL_VERSION: u8 = 1;
/// The ring width of the small top level.
pub const RING_BITS: u32 = small16::L as u32;
/// Its MAC lanes.
pub const LANES: usize = 2;
/// Words one load or read request carries at most on the small link.
pub const MAX_WORDS: usize = 256;

/// The memories a load writes, by their code on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mem {
    /// An activation bank.
    Act = 0,
    /// An aux bank.
    Aux = 1,
    /// A weight bank.
    Wgt = 2,
    /// The program (instructions; no lane).
    Prog = 3,
    /// The Beaver program (instructions; no lane).
    Bprog = 4,
    /// A Beaver bank of the pairs' `a` shares.
    Pa = 5,
    /// A Beaver bank of the pairs' `a^2` shares.
    Pc = 6,
    /// A Beaver bank of the opened `d`.
    Pd = 7,
    /// A coefficient bank of `w2`.
    Cw2 = 8,
    /// A coefficient bank of `w1`.
    Cw1 = 9,
    /// A coefficient bank of `b`.
    Cb = 10,
}

impl Mem {
    /// Every memory, in code order.
    pub const ALL: [Mem; 11] = [
        Mem::Act,
        Mem::Aux,
        Mem::Wgt,
        Mem::Prog,
        Mem::Bprog,
        Mem::Pa,
        Mem::Pc,
        Mem::Pd,
        Mem::Cw2,
        Mem::Cw1,
        Mem::Cb,
    ];
}

/// A link's wire format: the sizes of its fields, fixed by the top level it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// The ring's bits (an element takes `ring_bits / 8` bytes on the line).
    pub ring_bits: u32,
    /// MAC lanes (banks).
    pub lanes: usize,
    /// Bytes of an address, and of a word count less one.
    pub addr_bytes: usize,
}

impl Format {
    /// The small top level's ([`small16`], the iCE40 link): 16-bit ring, 2 lanes,
    /// one-byte addresses.
    pub const SMALL: Format = Format {
        ring_bits: RING_BITS,
        lanes: LANES,
        addr_bytes: 1,
    };

    /// The format of the top level of memories `size` on the `ring_bits`-bit ring with
    /// `lanes` MAC lanes: addresses as wide as its host load address.
    pub fn of(size: Size, ring_bits: u32, lanes: usize) -> Format {
        Format {
            ring_bits,
            lanes,
            addr_bytes: size.bits().load().div_ceil(8),
        }
    }

    /// Header bytes after a load's, run's or read's opcode: memory, lane, address,
    /// words - 1 (a load); lane, row, rows - 1, 0 (a read); the cycle limit (4 bytes)
    /// and zeros (a run).
    pub fn header_bytes(&self) -> usize {
        2 + 2 * self.addr_bytes
    }

    /// Bytes of a ring element.
    pub fn element_bytes(&self) -> usize {
        self.ring_bits as usize / 8
    }

    /// Bytes of a word loaded into memory `code` (an unknown code's words are ring
    /// elements).
    pub fn word_bytes(&self, code: u8) -> usize {
        if code == Mem::Prog as u8 || code == Mem::Bprog as u8 {
            16
        } else {
            self.element_bytes()
        }
    }

    /// Words one load or read request carries at most.
    pub fn max_words(&self) -> usize {
        1 << (8 * self.addr_bytes)
    }

    /// The format an identify response names: its version byte is the address bytes,
    /// then the ring width and the MAC lanes. `None` when it is not an accelerator
    /// link's.
    pub fn from_identity(id: &[u8; 8]) -> Option<Format> {
        let f = Format {
            ring_bits: u32::from(id[4]),
            lanes: usize::from(id[6]),
            addr_bytes: usize::from(id[3]),
        };
        let size = f.size()?;
        let ok = id[..3] == *b"PMA"
            && size.generated_for(f.ring_bits, f.lanes as u32, u32::from(id[7]))
            && u32::from(id[5]) < f.ring_bits;
        ok.then_some(f)
    }

    /// The memory size of the top levels that speak this format ([`Format::of`] that
    /// size gives it back); `None` for addresses of neither size.
    pub fn size(&self) -> Option<Size> {
        Size::ALL
            .into_iter()
            .find(|&s| Format::of(s, self.ring_bits, self.lanes) == *self)
    }
}

/// Bytes of a word loaded into memory `code` on the small link.
pub fn word_bytes(code: u8) -> usize {
    Format::SMALL.word_bytes(code)
}

/// The small link's identify response's result bytes.
pub fn identity(frac_bits: u32, beaver_lanes: usize) -> [u8; 8] {
    identity_of(&Format::SMALL, frac_bits, beaver_lanes)
}

/// The identify response's result bytes of a link in format `fmt`: `PMA`, the
/// protocol's version (its address bytes: 1 on the small link, 2 on the full-size
/// ones), ring width, f, MAC lanes, Beaver lanes.
pub fn identity_of(fmt: &Format, frac_bits: u32, beaver_lanes: usize) -> [u8; 8] {
    [
        b'P',
        b'M',
        b'A',
        fmt.addr_bytes as u8,
        fmt.ring_bits as u8,
        frac_bits as u8,
        fmt.lanes as u8,
        beaver_lanes as u8,
    ]
}

/// A request to the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Identify.
    Identify,
    /// Load `words` (1 to [`Format::max_words`]) into memory `mem` (a [`Mem`] code),
    /// bank `lane`, from `addr` on.
    Load {
        /// The memory's code.
        mem: u8,
        /// The bank (ignored by the program memories).
        lane: u8,
        /// The first address.
        addr: u16,
        /// The words: instructions, or ring elements in the low bits.
        words: Vec<u128>,
    },
    /// Run the program, waiting at most `max_cycles` cycles.
    Run {
        /// The most cycles to wait.
        max_cycles: u32,
    },
    /// Read `count` (1 to [`Format::max_words`]) activation rows of bank `lane` from
    /// `row` on.
    Read {
        /// The bank.
        lane: u8,
        /// The first row.
        row: u16,
        /// Rows.
        count: usize,
    },
}

/// What a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunReport {
    /// The cycle count when the board answered: the halt's, or the limit.
    pub now: u32,
    /// The program halted.
    pub halted: bool,
    /// An instruction issued after its start cycle.
    pub late: bool,
    /// A lane faulted, or an address ran past its memory.
    pub fault: bool,
    /// Instructions the MAC array issued.
    pub issues: u16,
    /// Its writes.
    pub writes: u16,
    /// `POLY` rows the Beaver lanes issued.
    pub beaver_issues: u16,
    /// Their writes.
    pub beaver_writes: u16,
}

/// What the board answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The identify response.
    Identity([u8; 8]),
    /// The words are loaded.
    Loaded,
    /// The run's report.
    Ran(RunReport),
    /// The activations read.
    Read(Vec<u64>),
}

impl Request {
    /// The opcode.
    pub fn op(&self) -> u8 {
        match self {
            Request::Identify => OP_ID,
            Request::Load { .. } => OP_LOAD,
            Request::Run { .. } => OP_RUN,
            Request::Read { .. } => OP_READ,
        }
    }

    /// The request's bytes on the small link's line ([`Format::SMALL`]).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_in(&Format::SMALL)
    }

    /// The request's bytes on the line in format `fmt`: the opcode and the payload,
    /// every field little-endian. Word counts are clamped to 1..=[`Format::max_words`].
    pub fn encode_in(&self, fmt: &Format) -> Vec<u8> {
        let mut v = vec![self.op()];
        let a = fmt.addr_bytes;
        let max = fmt.max_words();
        match self {
            Request::Identify => {}
            Request::Load {
                mem,
                lane,
                addr,
                words,
            } => {
                let n = words.len().clamp(1, max);
                v.extend_from_slice(&[*mem, *lane]);
                v.extend_from_slice(&addr.to_le_bytes()[..a]);
                v.extend_from_slice(&(n - 1).to_le_bytes()[..a]);
                let w = fmt.word_bytes(*mem);
                for k in 0..n {
                    let x = words.get(k).copied().unwrap_or(0);
                    v.extend_from_slice(&x.to_le_bytes()[..w]);
                }
            }
            Request::Run { max_cycles } => v.extend_from_slice(&max_cycles.to_le_bytes()),
            Request::Read { lane, row, count } => {
                let n = (*count).clamp(1, max);
                v.push(*lane);
                v.extend_from_slice(&row.to_le_bytes()[..a]);
                v.extend_from_slice(&(n - 1).to_le_bytes()[..a]);
            }
        }
        if self.op() != OP_ID {
            v.resize(1 + fmt.header_bytes().max(v.len() - 1), 0);
        }
        v
    }

    /// Result bytes of the reply after its status byte on the small link.
    pub fn result_len(&self) -> usize {
        self.result_len_in(&Format::SMALL)
    }

    /// Result bytes of the reply after its status byte when the request is served, in
    /// format `fmt`.
    pub fn result_len_in(&self, fmt: &Format) -> usize {
        match self {
            Request::Identify => 8,
            Request::Load { .. } => 0,
            Request::Run { .. } => 13,
            Request::Read { count, .. } => fmt.element_bytes() * (*count).clamp(1, fmt.max_words()),
        }
    }
}

/// The cycle the reply's first start bit goes out on `tx`, for request `r` whose frames
/// go out back to back from cycle `sent` on `rx` (the link's cycle model): the
/// receiver shows the last byte, then the engine's states until the reply's first
/// byte (identify and an unknown opcode: header, send; a load: send; a read: decode,
/// send) and the transmitter's register. `None` for a run, whose answer waits on the
/// program.
pub fn response_start(r: &Request, divisor: u16, sent: u64) -> Option<u64> {
    let last = r.encode().len() as u64 - 1;
    let shown = sent + last * crate::uart::tx_cycles(divisor) + crate::uart::rx_latency(divisor);
    let engine = match r {
        Request::Run { .. } => return None,
        Request::Load { .. } => 1,
        Request::Identify | Request::Read { .. } => 2,
    };
    Some(shown + engine + 1)
}

/// Cycles of request `r` over the UART at `divisor` cycles a bit, from its first start
/// bit to the end of the reply's last stop bit, frames back to back both ways: the
/// cycle model's ([`response_start`]) with the reply's frames; a run's program aside.
pub fn transaction_cycles(r: &Request, divisor: u16) -> u64 {
    let start = response_start(r, divisor, 0).unwrap_or_else(|| {
        r.encode().len() as u64 * crate::uart::tx_cycles(divisor) + crate::uart::rx_latency(divisor)
    });
    start + (1 + r.result_len()) as u64 * crate::uart::tx_cycles(divisor)
}

/// The status byte of a served request.
pub fn status_ok(op: u8) -> u8 {
    0x80 | op
}

/// Parses the small link's reply to `request` (status byte first).
pub fn decode_reply(request: &Request, bytes: &[u8]) -> Result<Reply, ReplyError> {
    decode_reply_in(request, &Format::SMALL, bytes)
}

/// Parses the reply to `request` in format `fmt` (status byte first).
pub fn decode_reply_in(request: &Request, fmt: &Format, bytes: &[u8]) -> Result<Reply, ReplyError> {
    let op = request.op();
    match bytes.first() {
        Some(&STATUS_UNKNOWN) => return Err(ReplyError::Unknown(op)),
        Some(&STATUS_BAD) => return Err(ReplyError::Bad(op)),
        _ => {}
    }
    let n = request.result_len_in(fmt);
    if bytes.len() != n + 1 {
        return Err(ReplyError::Length {
            op,
            got: bytes.len(),
            expected: n + 1,
        });
    }
    if bytes[0] != status_ok(op) {
        return Err(ReplyError::Status { op, got: bytes[0] });
    }
    let r = &bytes[1..];
    let u16_at = |k: usize| u16::from_le_bytes([r[k], r[k + 1]]);
    Ok(match request {
        Request::Identify => {
            let mut id = [0u8; 8];
            id.copy_from_slice(r);
            Reply::Identity(id)
        }
        Request::Load { .. } => Reply::Loaded,
        Request::Run { .. } => Reply::Ran(RunReport {
            now: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
            halted: r[4] & 1 != 0,
            late: r[4] & 2 != 0,
            fault: r[4] & 4 != 0,
            issues: u16_at(5),
            writes: u16_at(7),
            beaver_issues: u16_at(9),
            beaver_writes: u16_at(11),
        }),
        Request::Read { .. } => Reply::Read(
            r.chunks(fmt.element_bytes())
                .map(|c| c.iter().rev().fold(0, |x, &b| x << 8 | u64::from(b)))
                .collect(),
        ),
    })
}

/// The requests that load a compiled program's memories into the board whose top
/// level they are sized for (their size, ring, MAC and Beaver lanes; in that top
/// level's [`Format::of`]): every bank's first `used` entries (as
/// [`accel`](crate::accel)'s memory image holds them), then both programs, each closed
/// by its `END`.
pub fn load_requests(
    mem: &Memories,
    program: &[Instr],
    used: [u64; 5],
) -> Result<Vec<Request>, String> {
    if !mem
        .size
        .generated_for(mem.ring_bits, mem.lanes as u32, mem.beaver_lanes as u32)
    {
        return Err(format!(
            "no {:?}-size top level has {} MAC lanes and {} Beaver lanes on the {}-bit ring",
            mem.size, mem.lanes, mem.beaver_lanes, mem.ring_bits
        ));
    }
    let fmt = Format::of(mem.size, mem.ring_bits, mem.lanes);
    let [act, aux, weights, beaver, coef] = used;
    let bits = mem.size.bits();
    let [pa, pc, pd] = &mem.pairs;
    let [cw2, cw1, cb] = &mem.coef;
    let mut out = Vec::new();
    let banks: [(Mem, &Vec<Vec<u64>>, u64, usize); 9] = [
        (Mem::Act, &mem.act, act, bits.rows),
        (Mem::Aux, &mem.aux, aux, bits.rows),
        (Mem::Wgt, &mem.weights, weights, bits.weights),
        (Mem::Pa, pa, beaver, bits.beaver),
        (Mem::Pc, pc, beaver, bits.beaver),
        (Mem::Pd, pd, beaver, bits.beaver),
        (Mem::Cw2, cw2, coef, bits.coef),
        (Mem::Cw1, cw1, coef, bits.coef),
        (Mem::Cb, cb, coef, bits.coef),
    ];
    for (m, bank, n, aw) in banks {
        if n > 1 << aw {
            return Err(format!(
                "{m:?}: {n} entries for a {}-entry bank",
                1u64 << aw
            ));
        }
        for (lane, b) in bank.iter().enumerate() {
            let words: Vec<u128> = (0..n as usize)
                .map(|a| u128::from(b.get(a).copied().unwrap_or(0)))
                .collect();
            out.extend(chunks(&fmt, m, lane as u8, &words));
        }
    }
    let end = Instr::end(u32::MAX);
    for (m, beaver) in [(Mem::Prog, false), (Mem::Bprog, true)] {
        let words: Vec<u128> = program
            .iter()
            .filter(|i| i.beaver() == beaver)
            .chain([&end])
            .map(Instr::encode)
            .collect();
        if words.len() > 1 << bits.program {
            return Err(format!(
                "{m:?}: {} instructions for a {}-instruction memory",
                words.len(),
                1u64 << bits.program
            ));
        }
        out.extend(chunks(&fmt, m, 0, &words));
    }
    Ok(out)
}

fn chunks(fmt: &Format, m: Mem, lane: u8, words: &[u128]) -> Vec<Request> {
    let max = fmt.max_words();
    words
        .chunks(max)
        .enumerate()
        .map(|(k, c)| Request::Load {
            mem: m as u8,
            lane,
            addr: (k * max) as u16,
            words: c.to_vec(),
        })
        .collect()
}

/// A request header's fields as the link decodes them (the golden model of the
/// engine's `LinkFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Header {
    /// A load's memory or lane is out of range.
    pub load_bad: bool,
    /// A load's words are instructions.
    pub load_wide: bool,
    /// A load's bank, one-hot.
    pub load_lane: u64,
    /// A read's lane is out of range.
    pub read_bad: bool,
    /// A read's bank, one-hot.
    pub read_lane: u64,
    /// A load's memory code.
    pub mem: u8,
    /// A load's first address.
    pub load_addr: u64,
    /// A load's words less one.
    pub load_left: u64,
    /// A read's first row.
    pub read_row: u64,
    /// A read's rows less one.
    pub read_left: u64,
    /// A run's cycle limit.
    pub limit: u32,
}

/// The header register `hdr` (its bytes in order from the bottom) decoded: of a load
/// (memory, lane, address, words - 1), of a read (lane, row, rows - 1) and of a run
/// (its limit).
pub(crate) fn decode_header(fmt: &Format, hdr: u64) -> Header {
    let [h0, h1, ..] = hdr.to_le_bytes();
    let a = 8 * fmt.addr_bytes as u32;
    let field = |at: u32| (hdr >> at) & ((1 << a) - 1);
    let one_hot = |lane: u8| 1u64 << (usize::from(lane) & (fmt.lanes - 1));
    Header {
        load_bad: h0 > Mem::Cb as u8 || usize::from(h1) >= fmt.lanes,
        load_wide: fmt.word_bytes(h0) == 16,
        load_lane: one_hot(h1),
        read_bad: usize::from(h0) >= fmt.lanes,
        read_lane: one_hot(h0),
        mem: h0,
        load_addr: field(16),
        load_left: field(16 + a),
        read_row: field(8),
        read_left: field(8 + a),
        limit: hdr as u32,
    }
}

/// The inputs of the engine's `LinkFields` that are not its registers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FieldInputs {
    pub byte: u8,
    pub mode: u64,
    pub id: u64,
    pub now: u32,
    pub flags: u8,
    pub counts: [u16; 4],
    pub pk: u64,
}

/// The registers `(hdr, fd, r)` after a cycle (the golden model of the engine's
/// `LinkFields`): a header byte shifts in at the top of the header's
/// [`Format::header_bytes`], a word's byte at the top of 128 bits (so a ring element is
/// the top `l` bits), and results leave from the bottom byte of 104 bits.
pub(crate) fn fields_next(
    fmt: &Format,
    hdr: u64,
    fd: u128,
    r: u128,
    i: &FieldInputs,
) -> (u64, u128, u128) {
    let r_mask = (1u128 << 104) - 1;
    let top = 8 * (fmt.header_bytes() as u32 - 1);
    match i.mode {
        1 => (hdr >> 8 | u64::from(i.byte) << top, fd, r),
        2 => (hdr, fd >> 8 | u128::from(i.byte) << 120, r),
        3 => (hdr, fd, r >> 8),
        4 => (hdr, fd, u128::from(i.id)),
        5 => {
            let [ci, cw, cbi, cbw] = i.counts.map(u128::from);
            let report = u128::from(i.now)
                | u128::from(i.flags & 7) << 32
                | ci << 40
                | cw << 56
                | cbi << 72
                | cbw << 88;
            (hdr, fd, report & r_mask)
        }
        6 => (hdr, fd, u128::from(i.pk)),
        _ => (hdr, fd, r),
    }
}

/// The Verilog of the engine's `LinkFields` in wire format `fmt`.
pub(crate) fn fields_verilog(fmt: &Format) -> String {
    let hb = 8 * fmt.header_bytes();
    let a = 8 * fmt.addr_bytes;
    let l = fmt.ring_bits as usize;
    let lanes = fmt.lanes;
    let lb = lanes.trailing_zeros().max(1) as usize;
    format!(
        "\
wire [2:0] flags = {{fault, late, halted}};
wire [7:0] h0 = hdr[7:0];
wire [7:0] h1 = hdr[15:8];
always @(*) begin
  hdr_n = hdr; fd_n = fd; r_n = r;
  case (mode)
    3'd1: hdr_n = {{byte_in, hdr[{hb1}:8]}};
    3'd2: fd_n = {{byte_in, fd[127:8]}};
    3'd3: r_n = {{8'b0, r[103:8]}};
    3'd4: r_n = {{40'b0, id}};
    3'd5: r_n = {{cbw, cbi, cw, ci, 5'b0, flags, now}};
    3'd6: r_n = {{{rpad}'b0, pk}};
    default: ;
  endcase
  byte_out = r[7:0];
  ld_data = wide ? fd : {{{dpad}'b0, fd[127:{dpad}]}};
  strobes = (wr && mem < 8'd11) ? (11'd1 << mem[3:0]) : 11'd0;
  load_bad = (h0 > 8'd10) || (h1 >= 8'd{lanes});
  load_wide = (h0 == 8'd3) || (h0 == 8'd4);
  load_lane = {lanes}'d1 << h1[{lb1}:0];
  read_bad = h0 >= 8'd{lanes};
  read_lane = {lanes}'d1 << h0[{lb1}:0];
  load_mem = h0;
  load_addr = hdr[{la1}:16];
  load_left = hdr[{ll1}:{ll0}];
  read_row = hdr[{ra1}:8];
  read_left = hdr[{rl1}:{rl0}];
  limit = hdr[31:0];
end
",
        hb1 = hb - 1,
        rpad = 104 - l,
        dpad = 128 - l,
        lb1 = lb - 1,
        la1 = 16 + a - 1,
        ll0 = 16 + a,
        ll1 = 16 + 2 * a - 1,
        ra1 = 8 + a - 1,
        rl0 = 8 + a,
        rl1 = 8 + 2 * a - 1,
    )
}

/// Cycles a run goes on after the halt (or the limit) before it answers, so the writes
/// still in the lanes' pipelines are done and counted (the small top level's).
pub const DRAIN: u64 = small16::LINK_DRAIN;

/// Cycles a run goes on after the halt (or the limit) before it answers on the
/// `ring_bits`-bit ring: one more than the longer of its MAC and Beaver lanes' latencies.
pub fn drain(ring_bits: u32) -> u64 {
    crate::accel::delay(ring_bits).max(crate::accel::beaver_delay(ring_bits)) + 1
}

/// The accelerator's link over a UART: the small-memory top level with 2 MAC lanes
/// and `BL` Beaver lanes ([`small16::AccelLink`]).
pub type AccelLink<const BL: usize> = small16::AccelLink<LANES, BL>;

/// The link's Verilog for `BL` Beaver lanes (1 or 2): a top level too large for the
/// default stack, so it is generated on a thread of its own.
pub fn verilog(divisor: u16, frac_bits: u32, beaver_lanes: usize) -> Option<String> {
    if frac_bits >= RING_BITS || !matches!(beaver_lanes, 1 | 2) {
        return None;
    }
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || match beaver_lanes {
            2 => crate::verilog(AccelLink::<2>::new(divisor, frac_bits)),
            _ => crate::verilog(AccelLink::<1>::new(divisor, frac_bits)),
        })
        .ok()?
        .join()
        .ok()
}

/// The AXI-Stream link's Verilog (`AccelAxisLink`) around the accelerator of
/// [`crate::accel::verilog`]'s arguments, in wire format [`Format::of`] its size, ring
/// and lanes. `None` where that accelerator is not generated.
pub fn axis_verilog(
    ring_bits: u32,
    frac_bits: u32,
    lanes: u32,
    beaver_lanes: u32,
    size: Size,
) -> Option<String> {
    crate::accel::top_verilog(
        crate::accel::Top::AxisLink,
        ring_bits,
        frac_bits,
        lanes,
        beaver_lanes,
        size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_their_headers_and_words() {
        let r = Request::Load {
            mem: Mem::Wgt as u8,
            lane: 1,
            addr: 7,
            words: vec![0x1234, 0xffff_abcd],
        };
        assert_eq!(r.encode(), [OP_LOAD, 2, 1, 7, 1, 0x34, 0x12, 0xcd, 0xab]);
        let p = Request::Load {
            mem: Mem::Prog as u8,
            lane: 0,
            addr: 0,
            words: vec![u128::MAX],
        };
        assert_eq!(p.encode().len(), 5 + 16);
        let q = Request::Read {
            lane: 0,
            row: 3,
            count: 256,
        };
        assert_eq!(q.encode(), [OP_READ, 0, 3, 255, 0]);
        assert_eq!(q.result_len(), 512);
        let run = Request::Run { max_cycles: 1000 };
        let reply = [status_ok(OP_RUN), 10, 0, 0, 0, 1, 3, 0, 3, 0, 1, 0, 2, 0];
        assert_eq!(
            decode_reply(&run, &reply),
            Ok(Reply::Ran(RunReport {
                now: 10,
                halted: true,
                issues: 3,
                writes: 3,
                beaver_issues: 1,
                beaver_writes: 2,
                ..Default::default()
            }))
        );
        assert_eq!(
            decode_reply(&r, &[STATUS_BAD]),
            Err(ReplyError::Bad(OP_LOAD))
        );
        assert!(matches!(
            decode_reply(&run, &reply[..5]),
            Err(ReplyError::Length { .. })
        ));
    }

    #[test]
    fn fields_shift_bytes_in_and_results_out() {
        let i = |byte, mode| FieldInputs {
            byte,
            mode,
            ..Default::default()
        };
        let small = Format::SMALL;
        let (mut hdr, mut fd) = (0u64, 0u128);
        for b in [1u8, 2, 3, 4] {
            (hdr, fd, _) = fields_next(&small, hdr, fd, 0, &i(b, 1));
        }
        assert_eq!(hdr.to_le_bytes(), [1, 2, 3, 4, 0, 0, 0, 0]);
        for b in [0x34u8, 0x12] {
            (hdr, fd, _) = fields_next(&small, hdr, fd, 0, &i(b, 2));
        }
        assert_eq!(fd >> 112, 0x1234);
        let report = FieldInputs {
            mode: 5,
            now: 0xdead_beef,
            flags: 5,
            counts: [1, 2, 3, 4],
            ..Default::default()
        };
        let (_, _, r) = fields_next(&small, hdr, fd, 0, &report);
        let bytes = r.to_le_bytes();
        assert_eq!(
            bytes[..13],
            [0xef, 0xbe, 0xad, 0xde, 5, 1, 0, 2, 0, 3, 0, 4, 0]
        );
        assert_eq!(fields_next(&small, hdr, fd, r, &i(0, 3)).2, r >> 8);
    }

    #[test]
    fn full_size_headers_carry_two_byte_addresses_and_decode_in_place() {
        let fmt = Format::of(Size::Full, 64, 8);
        assert_eq!((fmt.header_bytes(), fmt.max_words()), (6, 65536));
        let load = Request::Load {
            mem: Mem::Aux as u8,
            lane: 5,
            addr: 0x1234,
            words: vec![0x0102_0304_0506_0708; 300],
        };
        let bytes = load.encode_in(&fmt);
        assert_eq!(bytes[..7], [OP_LOAD, 1, 5, 0x34, 0x12, 43, 1]);
        assert_eq!(bytes.len(), 7 + 300 * 8);
        assert_eq!(bytes[7..15], [8, 7, 6, 5, 4, 3, 2, 1]);
        // The header as the engine shifts it in, and its decode.
        let i = |byte| FieldInputs {
            byte,
            mode: 1,
            ..Default::default()
        };
        let shift = |bytes: &[u8]| {
            bytes
                .iter()
                .fold(0, |h, &b| fields_next(&fmt, h, 0, 0, &i(b)).0)
        };
        let h = decode_header(&fmt, shift(&bytes[1..7]));
        assert_eq!((h.mem, h.load_addr, h.load_left), (1, 0x1234, 299));
        assert_eq!(
            (h.load_lane, h.load_bad, h.load_wide),
            (1 << 5, false, false)
        );
        let read = Request::Read {
            lane: 9,
            row: 0x0201,
            count: 3,
        };
        let rb = read.encode_in(&fmt);
        assert_eq!(rb, [OP_READ, 9, 1, 2, 2, 0, 0]);
        let h = decode_header(&fmt, shift(&rb[1..]));
        assert!(h.read_bad && h.read_row == 0x0201 && h.read_left == 2);
        let run = Request::Run { max_cycles: 0xabcd };
        let h = decode_header(&fmt, shift(&run.encode_in(&fmt)[1..]));
        assert_eq!(h.limit, 0xabcd);
        assert_eq!(read.result_len_in(&fmt), 24);
        let mut reply = vec![status_ok(OP_READ)];
        for x in [1u64, u64::MAX, 0x8000_0000_0000_0001] {
            reply.extend_from_slice(&x.to_le_bytes());
        }
        let read3 = Request::Read {
            lane: 0,
            row: 0,
            count: 3,
        };
        assert_eq!(
            decode_reply_in(&read3, &fmt, &reply),
            Ok(Reply::Read(vec![1, u64::MAX, 0x8000_0000_0000_0001]))
        );
        // The identity names the format; the small one's is version 1.
        let id = identity_of(&fmt, 16, 2);
        assert_eq!(Format::from_identity(&id), Some(fmt));
        assert_eq!(Format::from_identity(&identity(12, 1)), Some(Format::SMALL));
        assert_eq!(Format::from_identity(&identity_of(&fmt, 64, 2)), None);
        assert_eq!(
            (fmt.size(), Format::SMALL.size()),
            (Some(Size::Full), Some(Size::Small))
        );
        let odd = Format {
            addr_bytes: 3,
            ..fmt
        };
        assert_eq!(odd.size(), None);
    }

    #[test]
    fn each_top_level_drains_its_own_lanes() {
        assert_eq!(drain(16), DRAIN);
        assert_eq!(drain(32), crate::accel::ring32::LINK_DRAIN);
        assert_eq!(drain(64), crate::accel::ring64::LINK_DRAIN);
    }

    #[test]
    fn the_axis_link_generates_verilog_for_the_full_size_top_levels() {
        let v = axis_verilog(64, 16, 2, 1, Size::Full).unwrap();
        assert!(v.contains("module top(") && v.contains("m_axis_tlast"));
        assert!(v.contains("hdr[47:8]") && v.contains("{40'b0, pk}"));
        assert!(axis_verilog(64, 16, 2, 2, Size::Small).is_none());
    }

    #[test]
    fn the_link_generates_verilog() {
        let v = verilog(4, 8, 1).unwrap();
        assert!(v.contains("module top(") && v.contains("led_reply"));
        assert!(v.contains("(* ram_style = \"logic\" *)"));
        assert!(verilog(4, 16, 1).is_none() && verilog(4, 8, 4).is_none());
    }
}
