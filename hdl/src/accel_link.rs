//! The accelerator's link: the small-memory top level ([`small16`], 2 MAC lanes) behind
//! a UART, so the host loads a board's memories, runs the program and reads the
//! activations back. The host sends a request (an opcode and its payload), the board
//! answers with a status byte and the result; bytes arriving while the board runs or
//! answers are dropped.
//!
//! | opcode | request payload | response after the status `0x80 \| op` |
//! |---|---|---|
//! | `0x00` identify | none | 8 bytes: `PMA`, protocol version, ring width, f, MAC lanes, Beaver lanes |
//! | `0x10` load | memory, lane, address, words - 1; then the words (16 bytes an instruction, 2 a ring element) | none |
//! | `0x20` run | the most cycles to wait (4 bytes) | the cycle count (4 bytes), flags (bit 0 halted, 1 late, 2 fault), instructions and `POLY`s issued, writes and Beaver writes (2 bytes each) |
//! | `0x30` read | lane, row, rows - 1, 0 | the activations (2 bytes each) |
//!
//! Every field is little-endian. A load's words go to consecutive addresses of one
//! bank, each written as its last byte arrives; a memory code past [`Mem::Cb`] or a
//! lane past 1 is answered [`STATUS_BAD`] once the words are in, and nothing is
//! written. A read past lane 1 is answered [`STATUS_BAD`] alone; an unknown opcode gets
//! the single byte [`STATUS_UNKNOWN`]. A run starts the program from its first
//! instruction and answers [`DRAIN`] cycles after it has halted, or after the cycle
//! count reaches the limit (flag bit 0 clear then, unless it halted meanwhile): the
//! writes still in the lanes' pipelines are done and counted.
//!
//! Inside, header byte `k` shifts in at the top of a 32-bit register and a word's bytes
//! at the top of a 128-bit one, so a ring element is its top 16 bits; results are
//! loaded into a 104-bit register and leave from its bottom byte.

use crate::accel::small16::{self, Accelerator};
use crate::accel::{Instr, Memories, Size};
pub use crate::host::{ReplyError, STATUS_UNKNOWN};
use crate::uart::{UartRx, UartTx};
use rust_hdl::prelude::*;

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
/// The link protocol's version, in the identify response.
pub const PROTOCOL_VERSION: u8 = 1;
/// The ring width of the small top level.
pub const RING_BITS: u32 = small16::L as u32;
/// Its MAC lanes.
pub const LANES: usize = 2;
/// Words one load or read request carries at most.
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

/// Bytes of a word loaded into memory `code` (an unknown code's words are ring
/// elements).
pub fn word_bytes(code: u8) -> usize {
    if code == Mem::Prog as u8 || code == Mem::Bprog as u8 {
        16
    } else {
        2
    }
}

/// The identify response's result bytes.
pub fn identity(frac_bits: u32, beaver_lanes: usize) -> [u8; 8] {
    [
        b'P',
        b'M',
        b'A',
        PROTOCOL_VERSION,
        RING_BITS as u8,
        frac_bits as u8,
        LANES as u8,
        beaver_lanes as u8,
    ]
}

/// A request to the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Identify.
    Identify,
    /// Load `words` (1 to [`MAX_WORDS`]) into memory `mem` (a [`Mem`] code), bank
    /// `lane`, from `addr` on.
    Load {
        /// The memory's code.
        mem: u8,
        /// The bank (ignored by the program memories).
        lane: u8,
        /// The first address.
        addr: u8,
        /// The words: instructions, or ring elements in the low 16 bits.
        words: Vec<u128>,
    },
    /// Run the program, waiting at most `max_cycles` cycles.
    Run {
        /// The most cycles to wait.
        max_cycles: u32,
    },
    /// Read `count` (1 to [`MAX_WORDS`]) activation rows of bank `lane` from `row` on.
    Read {
        /// The bank.
        lane: u8,
        /// The first row.
        row: u8,
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
    Read(Vec<u16>),
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

    /// The request's bytes on the line: the opcode and the payload. Word counts are
    /// clamped to 1..=[`MAX_WORDS`].
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.op()];
        match self {
            Request::Identify => {}
            Request::Load {
                mem,
                lane,
                addr,
                words,
            } => {
                let n = words.len().clamp(1, MAX_WORDS);
                v.extend_from_slice(&[*mem, *lane, *addr, (n - 1) as u8]);
                let w = word_bytes(*mem);
                for k in 0..n {
                    let x = words.get(k).copied().unwrap_or(0);
                    v.extend_from_slice(&x.to_le_bytes()[..w]);
                }
            }
            Request::Run { max_cycles } => v.extend_from_slice(&max_cycles.to_le_bytes()),
            Request::Read { lane, row, count } => {
                let n = (*count).clamp(1, MAX_WORDS);
                v.extend_from_slice(&[*lane, *row, (n - 1) as u8, 0]);
            }
        }
        v
    }

    /// Result bytes of the reply after its status byte when the request is served.
    pub fn result_len(&self) -> usize {
        match self {
            Request::Identify => 8,
            Request::Load { .. } => 0,
            Request::Run { .. } => 13,
            Request::Read { count, .. } => 2 * (*count).clamp(1, MAX_WORDS),
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

/// Parses the reply to `request` (status byte first).
pub fn decode_reply(request: &Request, bytes: &[u8]) -> Result<Reply, ReplyError> {
    let op = request.op();
    match bytes.first() {
        Some(&STATUS_UNKNOWN) => return Err(ReplyError::Unknown(op)),
        Some(&STATUS_BAD) => return Err(ReplyError::Bad(op)),
        _ => {}
    }
    let n = request.result_len();
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
        Request::Read { .. } => Reply::Read((0..n / 2).map(|k| u16_at(2 * k)).collect()),
    })
}

/// The requests that load a compiled program's memories into the board: every bank's
/// first `used` entries (as [`accel`](crate::accel)'s memory image holds them), then
/// both programs, each closed by its `END`.
pub fn load_requests(
    mem: &Memories,
    program: &[Instr],
    used: [u64; 5],
) -> Result<Vec<Request>, String> {
    if mem.lanes != LANES || mem.ring_bits != RING_BITS {
        return Err(format!(
            "the link's top level has {LANES} MAC lanes on the {RING_BITS}-bit ring, not {} \
             on the {}-bit ring",
            mem.lanes, mem.ring_bits
        ));
    }
    let [act, aux, weights, beaver, coef] = used;
    let bits = Size::Small.bits();
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
            out.extend(chunks(m, lane as u8, &words));
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
        out.extend(chunks(m, 0, &words));
    }
    Ok(out)
}

fn chunks(m: Mem, lane: u8, words: &[u128]) -> Vec<Request> {
    words
        .chunks(MAX_WORDS)
        .enumerate()
        .map(|(k, c)| Request::Load {
            mem: m as u8,
            lane,
            addr: (k * MAX_WORDS) as u8,
            words: c.to_vec(),
        })
        .collect()
}

/// The link's registers' next values, combinational: hold (mode 0), shift the received
/// byte in at the top of the header (1) or of the word (2), shift the result down a
/// byte as it is sent (3), or load the result with the identity (4), the run's report
/// (5) or the activation read (6). Also the byte to send and the load's data.
#[derive(LogicBlock, Default)]
struct LinkFields {
    hdr: Signal<In, Bits<32>>,
    fd: Signal<In, Bits<128>>,
    r: Signal<In, Bits<104>>,
    byte_in: Signal<In, Bits<8>>,
    mode: Signal<In, Bits<3>>,
    wide: Signal<In, Bit>,
    id: Signal<In, Bits<64>>,
    now: Signal<In, Bits<32>>,
    halted: Signal<In, Bit>,
    late: Signal<In, Bit>,
    fault: Signal<In, Bit>,
    mem: Signal<In, Bits<8>>,
    wr: Signal<In, Bit>,
    ci: Signal<In, Bits<16>>,
    cw: Signal<In, Bits<16>>,
    cbi: Signal<In, Bits<16>>,
    cbw: Signal<In, Bits<16>>,
    pk: Signal<In, Bits<16>>,
    hdr_n: Signal<Out, Bits<32>>,
    fd_n: Signal<Out, Bits<128>>,
    r_n: Signal<Out, Bits<104>>,
    byte_out: Signal<Out, Bits<8>>,
    ld_data: Signal<Out, Bits<128>>,
    strobes: Signal<Out, Bits<11>>,
    load_bad: Signal<Out, Bit>,
    load_wide: Signal<Out, Bit>,
    load_lane: Signal<Out, Bits<2>>,
    read_bad: Signal<Out, Bit>,
    read_lane: Signal<Out, Bits<2>>,
}

/// The header's decode (the golden model of [`LinkFields`]'s): of a load (memory,
/// lane, ...), whether it is refused, whether its words are instructions and its bank
/// one-hot; of a read (lane, ...), whether it is refused and its bank one-hot.
fn decode_header(hdr: u32) -> (bool, bool, u64, bool, u64) {
    let [h0, h1, ..] = hdr.to_le_bytes();
    let one_hot = |lane: u8| if lane == 1 { 2 } else { 1 };
    (
        h0 > Mem::Cb as u8 || h1 as usize >= LANES,
        word_bytes(h0) == 16,
        one_hot(h1),
        h0 as usize >= LANES,
        one_hot(h0),
    )
}

/// The inputs of [`LinkFields`] that are not its registers.
#[derive(Debug, Clone, Copy, Default)]
struct FieldInputs {
    byte: u8,
    mode: u64,
    id: u64,
    now: u32,
    flags: u8,
    counts: [u16; 4],
    pk: u16,
}

/// The registers `(hdr, fd, r)` after a cycle (the golden model of [`LinkFields`]).
fn fields_next(hdr: u32, fd: u128, r: u128, i: &FieldInputs) -> (u32, u128, u128) {
    let r_mask = (1u128 << 104) - 1;
    match i.mode {
        1 => (hdr >> 8 | u32::from(i.byte) << 24, fd, r),
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

impl Logic for LinkFields {
    fn update(&mut self) {
        let i = FieldInputs {
            byte: self.byte_in.val().to_u64() as u8,
            mode: self.mode.val().to_u64(),
            id: self.id.val().to_u64(),
            now: self.now.val().to_u64() as u32,
            flags: u8::from(self.halted.val())
                | u8::from(self.late.val()) << 1
                | u8::from(self.fault.val()) << 2,
            counts: [
                self.ci.val().to_u64() as u16,
                self.cw.val().to_u64() as u16,
                self.cbi.val().to_u64() as u16,
                self.cbw.val().to_u64() as u16,
            ],
            pk: self.pk.val().to_u64() as u16,
        };
        let fd = self.fd.val().to_u128();
        let r = self.r.val().to_u128();
        let (h, f, rn) = fields_next(self.hdr.val().to_u64() as u32, fd, r, &i);
        self.hdr_n.next = u64::from(h).into();
        self.fd_n.next = f.to_bits();
        self.r_n.next = rn.to_bits();
        self.byte_out.next = u64::from(r as u8).into();
        let data = if self.wide.val() { fd } else { fd >> 112 };
        self.ld_data.next = data.to_bits();
        let mem = self.mem.val().to_u64();
        let strobe = if self.wr.val() && mem < 11 {
            1 << mem
        } else {
            0
        };
        self.strobes.next = strobe.into();
        let (lb, lw, ll, rb, rl) = decode_header(self.hdr.val().to_u64() as u32);
        self.load_bad.next = lb;
        self.load_wide.next = lw;
        self.load_lane.next = ll.into();
        self.read_bad.next = rb;
        self.read_lane.next = rl.into();
    }

    fn connect(&mut self) {
        self.hdr_n.connect();
        self.fd_n.connect();
        self.r_n.connect();
        self.byte_out.connect();
        self.ld_data.connect();
        self.strobes.connect();
        self.load_bad.connect();
        self.load_wide.connect();
        self.load_lane.connect();
        self.read_bad.connect();
        self.read_lane.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
wire [2:0] flags = {fault, late, halted};
wire [7:0] h0 = hdr[7:0];
wire [7:0] h1 = hdr[15:8];
always @(*) begin
  hdr_n = hdr; fd_n = fd; r_n = r;
  case (mode)
    3'd1: hdr_n = {byte_in, hdr[31:8]};
    3'd2: fd_n = {byte_in, fd[127:8]};
    3'd3: r_n = {8'b0, r[103:8]};
    3'd4: r_n = {40'b0, id};
    3'd5: r_n = {cbw, cbi, cw, ci, 5'b0, flags, now};
    3'd6: r_n = {88'b0, pk};
    default: ;
  endcase
  byte_out = r[7:0];
  ld_data = wide ? fd : {112'b0, fd[127:112]};
  strobes = (wr && mem < 8'd11) ? (11'd1 << mem[3:0]) : 11'd0;
  load_bad = (h0 > 8'd10) || (h1 > 8'd1);
  load_wide = (h0 == 8'd3) || (h0 == 8'd4);
  load_lane = (h1 == 8'd1) ? 2'b10 : 2'b01;
  read_bad = h0 > 8'd1;
  read_lane = (h0 == 8'd1) ? 2'b10 : 2'b01;
end
"
            .into(),
        )
    }
}

const S_IDLE: u64 = 0;
const S_HEAD: u64 = 1;
const S_HDR: u64 = 2;
const S_DECODE: u64 = 3;
const S_DATA: u64 = 4;
const S_RUN: u64 = 5;
const S_PEEK: u64 = 6;
const S_PEEK2: u64 = 7;
const S_SEND: u64 = 8;

/// Cycles a run waits after `start` before it reads `halted` and the cycle count (the
/// count is -1 the cycle after `start`).
const SETTLE: u64 = 3;

/// Cycles a run goes on after the halt (or the limit) before it answers, so the writes
/// still in the lanes' pipelines are done and counted.
pub const DRAIN: u64 = if small16::BEAVER_DELAY > small16::DELAY {
    small16::BEAVER_DELAY as u64 + 1
} else {
    small16::DELAY as u64 + 1
};

/// The accelerator's link top level: UART, request engine and the small-memory
/// accelerator with 2 MAC lanes and `BL` Beaver lanes. Ports as the host link's:
/// `clock`, `rx` (from the host), `tx` (to the host) and two LEDs that toggle on every
/// byte received (`led_rx`) and every reply sent (`led_reply`).
#[derive(LogicBlock)]
pub struct AccelLink<const BL: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The serial line from the host.
    pub rx: Signal<In, Bit>,
    /// The serial line to the host.
    pub tx: Signal<Out, Bit>,
    /// Toggles on every byte received.
    pub led_rx: Signal<Out, Bit>,
    /// Toggles on every reply sent.
    pub led_reply: Signal<Out, Bit>,
    urx: UartRx,
    utx: UartTx,
    acc: Accelerator<LANES, BL>,
    fields: LinkFields,
    hdr: DFF<Bits<32>>,
    fd: DFF<Bits<128>>,
    r: DFF<Bits<104>>,
    state: DFF<Bits<4>>,
    op: DFF<Bits<8>>,
    cnt: DFF<Bits<4>>,
    mem: DFF<Bits<8>>,
    wide: DFF<Bit>,
    bad: DFF<Bit>,
    addr: DFF<Bits<8>>,
    left: DFF<Bits<8>>,
    lane_oh: DFF<Bits<LANES>>,
    nres: DFF<Bits<4>>,
    head: DFF<Bit>,
    status: DFF<Bits<8>>,
    wr: DFF<Bit>,
    go: DFF<Bit>,
    settle: DFF<Bits<4>>,
    draining: DFF<Bit>,
    ci: DFF<Bits<16>>,
    cw: DFF<Bits<16>>,
    cbi: DFF<Bits<16>>,
    cbw: DFF<Bits<16>>,
    rx_toggle: DFF<Bit>,
    reply_toggle: DFF<Bit>,
    word_end: Signal<Local, Bit>,
    s_idle: Constant<Bits<4>>,
    s_head: Constant<Bits<4>>,
    s_hdr: Constant<Bits<4>>,
    s_decode: Constant<Bits<4>>,
    s_data: Constant<Bits<4>>,
    s_run: Constant<Bits<4>>,
    s_peek: Constant<Bits<4>>,
    s_peek2: Constant<Bits<4>>,
    s_send: Constant<Bits<4>>,
    m_hold: Constant<Bits<3>>,
    m_hdr: Constant<Bits<3>>,
    m_word: Constant<Bits<3>>,
    m_shift: Constant<Bits<3>>,
    m_id: Constant<Bits<3>>,
    m_report: Constant<Bits<3>>,
    m_pk: Constant<Bits<3>>,
    op_id: Constant<Bits<8>>,
    op_load: Constant<Bits<8>>,
    op_run: Constant<Bits<8>>,
    op_read: Constant<Bits<8>>,
    st_unknown: Constant<Bits<8>>,
    st_bad: Constant<Bits<8>>,
    st_ok: Constant<Bits<8>>,
    cnt_one: Constant<Bits<4>>,
    cnt_last_hdr: Constant<Bits<4>>,
    cnt_last_wide: Constant<Bits<4>>,
    cnt_zero: Constant<Bits<4>>,
    res_id: Constant<Bits<4>>,
    res_run: Constant<Bits<4>>,
    res_pk: Constant<Bits<4>>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    one16: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    settle_c: Constant<Bits<4>>,
    drain_c: Constant<Bits<4>>,
    id: Constant<Bits<64>>,
}

impl<const BL: usize> AccelLink<BL> {
    /// A top level whose UART takes `divisor` clock cycles a bit and whose accelerator
    /// truncates by `frac_bits`.
    pub fn new(divisor: u16, frac_bits: u32) -> Self {
        let c3 = |x: u64| Constant::new(x.into());
        let c4 = |x: u64| Constant::new(x.into());
        let c8 = |x: u8| Constant::new(u64::from(x).into());
        Self {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            led_rx: Default::default(),
            led_reply: Default::default(),
            urx: UartRx::new(divisor),
            utx: UartTx::new(divisor),
            acc: Accelerator::new(frac_bits),
            fields: Default::default(),
            hdr: Default::default(),
            fd: Default::default(),
            r: Default::default(),
            state: Default::default(),
            op: Default::default(),
            cnt: Default::default(),
            mem: Default::default(),
            wide: Default::default(),
            bad: Default::default(),
            addr: Default::default(),
            left: Default::default(),
            lane_oh: Default::default(),
            nres: Default::default(),
            head: Default::default(),
            status: Default::default(),
            wr: Default::default(),
            go: Default::default(),
            settle: Default::default(),
            draining: Default::default(),
            ci: Default::default(),
            cw: Default::default(),
            cbi: Default::default(),
            cbw: Default::default(),
            rx_toggle: Default::default(),
            reply_toggle: Default::default(),
            word_end: Default::default(),
            s_idle: c4(S_IDLE),
            s_head: c4(S_HEAD),
            s_hdr: c4(S_HDR),
            s_decode: c4(S_DECODE),
            s_data: c4(S_DATA),
            s_run: c4(S_RUN),
            s_peek: c4(S_PEEK),
            s_peek2: c4(S_PEEK2),
            s_send: c4(S_SEND),
            m_hold: c3(0),
            m_hdr: c3(1),
            m_word: c3(2),
            m_shift: c3(3),
            m_id: c3(4),
            m_report: c3(5),
            m_pk: c3(6),
            op_id: c8(OP_ID),
            op_load: c8(OP_LOAD),
            op_run: c8(OP_RUN),
            op_read: c8(OP_READ),
            st_unknown: c8(STATUS_UNKNOWN),
            st_bad: c8(STATUS_BAD),
            st_ok: c8(0x80),
            cnt_one: c4(1),
            cnt_last_hdr: c4(3),
            cnt_last_wide: c4(15),
            cnt_zero: c4(0),
            res_id: c4(8),
            res_run: c4(13),
            res_pk: c4(2),
            zero8: c8(0),
            one8: c8(1),
            one16: Constant::new(1u64.into()),
            zero16: Constant::new(0u64.into()),
            settle_c: c4(SETTLE - 1),
            drain_c: c4(DRAIN - 1),
            id: Constant::new(u64::from_le_bytes(identity(frac_bits, BL)).into()),
        }
    }
}

impl<const BL: usize> Logic for AccelLink<BL> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            hdr,
            fd,
            r,
            state,
            op,
            cnt,
            mem,
            wide,
            bad,
            addr,
            left,
            lane_oh,
            nres,
            head,
            status,
            wr,
            go,
            settle,
            draining,
            ci,
            cw,
            cbi,
            cbw,
            rx_toggle,
            reply_toggle
        );
        self.urx.clock.next = self.clock.val();
        self.utx.clock.next = self.clock.val();
        self.acc.clock.next = self.clock.val();
        self.urx.rx.next = self.rx.val();
        self.tx.next = self.utx.tx.val();
        // The registers follow the datapath; the mode is hold unless set below.
        self.fields.hdr.next = self.hdr.q.val();
        self.fields.fd.next = self.fd.q.val();
        self.fields.r.next = self.r.q.val();
        self.fields.byte_in.next = self.urx.data.val();
        self.fields.mode.next = self.m_hold.val();
        self.fields.wide.next = self.wide.q.val();
        self.fields.id.next = self.id.val();
        self.fields.now.next = self.acc.now.val();
        self.fields.halted.next = self.acc.halted.val();
        self.fields.late.next = self.acc.late.val();
        self.fields.fault.next = self.acc.fault.val();
        self.fields.mem.next = self.mem.q.val();
        self.fields.wr.next = self.wr.q.val();
        self.fields.ci.next = self.ci.q.val();
        self.fields.cw.next = self.cw.q.val();
        self.fields.cbi.next = self.cbi.q.val();
        self.fields.cbw.next = self.cbw.q.val();
        self.fields.pk.next = self.acc.pk_data.val();
        self.hdr.d.next = self.fields.hdr_n.val();
        self.fd.d.next = self.fields.fd_n.val();
        self.r.d.next = self.fields.r_n.val();
        // The accelerator's host ports: the bank, address and data of the load or read
        // under way; a write strobe the cycle after a word's last byte.
        self.acc.start.next = self.go.q.val();
        self.go.d.next = false;
        self.acc.ld_lane.next = self.lane_oh.q.val();
        self.acc.ld_addr.next = self.addr.q.val();
        self.acc.ld_data.next = self.fields.ld_data.val();
        self.acc.pk_lane.next = self.lane_oh.q.val();
        self.acc.pk_addr.next = self.addr.q.val();
        self.acc.ld_act.next = self.fields.strobes.val().get_bit(0);
        self.acc.ld_aux.next = self.fields.strobes.val().get_bit(1);
        self.acc.ld_wgt.next = self.fields.strobes.val().get_bit(2);
        self.acc.ld_prog.next = self.fields.strobes.val().get_bit(3);
        self.acc.ld_bprog.next = self.fields.strobes.val().get_bit(4);
        self.acc.ld_pa.next = self.fields.strobes.val().get_bit(5);
        self.acc.ld_pc.next = self.fields.strobes.val().get_bit(6);
        self.acc.ld_pd.next = self.fields.strobes.val().get_bit(7);
        self.acc.ld_cw2.next = self.fields.strobes.val().get_bit(8);
        self.acc.ld_cw1.next = self.fields.strobes.val().get_bit(9);
        self.acc.ld_cb.next = self.fields.strobes.val().get_bit(10);
        self.wr.d.next = false;
        if self.wr.q.val() {
            self.addr.d.next = self.addr.q.val() + self.one8.val();
        }
        self.utx.valid.next = false;
        self.utx.data.next = self.fields.byte_out.val();
        self.word_end.next = (self.wide.q.val() & (self.cnt.q.val() == self.cnt_last_wide.val()))
            | (!self.wide.q.val() & (self.cnt.q.val() == self.cnt_one.val()));
        if self.state.q.val() == self.s_idle.val() {
            if self.urx.valid.val() {
                self.op.d.next = self.urx.data.val();
                self.cnt.d.next = self.cnt_zero.val();
                self.state.d.next = self.s_head.val();
            }
        } else if self.state.q.val() == self.s_head.val() {
            self.head.d.next = true;
            if self.op.q.val() == self.op_id.val() {
                self.fields.mode.next = self.m_id.val();
                self.nres.d.next = self.res_id.val();
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                self.state.d.next = self.s_send.val();
            } else if (self.op.q.val() == self.op_load.val())
                | (self.op.q.val() == self.op_run.val())
                | (self.op.q.val() == self.op_read.val())
            {
                self.state.d.next = self.s_hdr.val();
            } else {
                self.nres.d.next = self.cnt_zero.val();
                self.status.d.next = self.st_unknown.val();
                self.state.d.next = self.s_send.val();
            }
        } else if self.state.q.val() == self.s_hdr.val() {
            if self.urx.valid.val() {
                self.fields.mode.next = self.m_hdr.val();
                self.cnt.d.next = self.cnt.q.val() + self.cnt_one.val();
                if self.cnt.q.val() == self.cnt_last_hdr.val() {
                    self.cnt.d.next = self.cnt_zero.val();
                    self.state.d.next = self.s_decode.val();
                }
            }
        } else if self.state.q.val() == self.s_decode.val() {
            self.nres.d.next = self.cnt_zero.val();
            if self.op.q.val() == self.op_load.val() {
                // Header: memory, lane, address, words - 1.
                self.mem.d.next = self.hdr.q.val().get_bits::<8>(0);
                self.bad.d.next = self.fields.load_bad.val();
                self.lane_oh.d.next = self.fields.load_lane.val();
                self.addr.d.next = self.hdr.q.val().get_bits::<8>(16);
                self.left.d.next = self.hdr.q.val().get_bits::<8>(24);
                self.wide.d.next = self.fields.load_wide.val();
                self.state.d.next = self.s_data.val();
            } else if self.op.q.val() == self.op_run.val() {
                self.go.d.next = true;
                self.settle.d.next = self.settle_c.val();
                self.draining.d.next = false;
                self.ci.d.next = self.zero16.val();
                self.cw.d.next = self.zero16.val();
                self.cbi.d.next = self.zero16.val();
                self.cbw.d.next = self.zero16.val();
                self.state.d.next = self.s_run.val();
            } else {
                // A read's header: lane, row, rows - 1, 0.
                self.lane_oh.d.next = self.fields.read_lane.val();
                self.addr.d.next = self.hdr.q.val().get_bits::<8>(8);
                self.left.d.next = self.hdr.q.val().get_bits::<8>(16);
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                if self.fields.read_bad.val() {
                    self.status.d.next = self.st_bad.val();
                }
                self.state.d.next = self.s_send.val();
            }
        } else if self.state.q.val() == self.s_data.val() {
            if self.urx.valid.val() {
                self.fields.mode.next = self.m_word.val();
                self.cnt.d.next = self.cnt.q.val() + self.cnt_one.val();
                if self.word_end.val() {
                    self.cnt.d.next = self.cnt_zero.val();
                    self.wr.d.next = !self.bad.q.val();
                    self.left.d.next = self.left.q.val() - self.one8.val();
                    if self.left.q.val() == self.zero8.val() {
                        self.status.d.next = self.st_ok.val() | self.op.q.val();
                        if self.bad.q.val() {
                            self.status.d.next = self.st_bad.val();
                        }
                        self.state.d.next = self.s_send.val();
                    }
                }
            }
        } else if self.state.q.val() == self.s_run.val() {
            if self.acc.issue.val() {
                self.ci.d.next = self.ci.q.val() + self.one16.val();
            }
            if self.acc.writing.val() {
                self.cw.d.next = self.cw.q.val() + self.one16.val();
            }
            if self.acc.bissue.val() {
                self.cbi.d.next = self.cbi.q.val() + self.one16.val();
            }
            if self.acc.bwriting.val() {
                self.cbw.d.next = self.cbw.q.val() + self.one16.val();
            }
            if self.settle.q.val() != self.cnt_zero.val() {
                self.settle.d.next = self.settle.q.val() - self.cnt_one.val();
            } else if self.draining.q.val() {
                self.fields.mode.next = self.m_report.val();
                self.nres.d.next = self.res_run.val();
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                self.state.d.next = self.s_send.val();
            } else if self.acc.halted.val() | (self.acc.now.val() >= self.hdr.q.val()) {
                self.draining.d.next = true;
                self.settle.d.next = self.drain_c.val();
            }
        } else if self.state.q.val() == self.s_peek.val() {
            self.state.d.next = self.s_peek2.val();
        } else if self.state.q.val() == self.s_peek2.val() {
            self.fields.mode.next = self.m_pk.val();
            self.nres.d.next = self.res_pk.val();
            self.head.d.next = false;
            self.state.d.next = self.s_send.val();
        } else if self.state.q.val() == self.s_send.val() {
            self.utx.valid.next = true;
            if self.head.q.val() {
                self.utx.data.next = self.status.q.val();
            }
            if self.utx.ready.val() {
                if self.head.q.val() {
                    self.head.d.next = false;
                } else {
                    self.fields.mode.next = self.m_shift.val();
                    self.nres.d.next = self.nres.q.val() - self.cnt_one.val();
                }
                // The reply's last byte, or a read's status or word.
                if (self.head.q.val() & (self.nres.q.val() == self.cnt_zero.val()))
                    | (!self.head.q.val() & (self.nres.q.val() == self.cnt_one.val()))
                {
                    self.state.d.next = self.s_idle.val();
                    self.reply_toggle.d.next = !self.reply_toggle.q.val();
                    if (self.op.q.val() == self.op_read.val())
                        & (self.status.q.val() != self.st_bad.val())
                    {
                        if self.head.q.val() {
                            self.state.d.next = self.s_peek.val();
                            self.reply_toggle.d.next = self.reply_toggle.q.val();
                        } else if self.left.q.val() != self.zero8.val() {
                            self.left.d.next = self.left.q.val() - self.one8.val();
                            self.addr.d.next = self.addr.q.val() + self.one8.val();
                            self.state.d.next = self.s_peek.val();
                            self.reply_toggle.d.next = self.reply_toggle.q.val();
                        }
                    }
                }
            }
        } else {
            self.state.d.next = self.s_idle.val();
        }
        // A request with a broken frame is dropped.
        if self.urx.error.val()
            & ((self.state.q.val() == self.s_hdr.val()) | (self.state.q.val() == self.s_data.val()))
        {
            self.state.d.next = self.s_idle.val();
        }
        if self.urx.valid.val() {
            self.rx_toggle.d.next = !self.rx_toggle.q.val();
        }
        self.led_rx.next = self.rx_toggle.q.val();
        self.led_reply.next = self.reply_toggle.q.val();
    }
}

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
        let (mut hdr, mut fd) = (0u32, 0u128);
        for b in [1u8, 2, 3, 4] {
            (hdr, fd, _) = fields_next(hdr, fd, 0, &i(b, 1));
        }
        assert_eq!(hdr.to_le_bytes(), [1, 2, 3, 4]);
        for b in [0x34u8, 0x12] {
            (hdr, fd, _) = fields_next(hdr, fd, 0, &i(b, 2));
        }
        assert_eq!(fd >> 112, 0x1234);
        let report = FieldInputs {
            mode: 5,
            now: 0xdead_beef,
            flags: 5,
            counts: [1, 2, 3, 4],
            ..Default::default()
        };
        let (_, _, r) = fields_next(hdr, fd, 0, &report);
        let bytes = r.to_le_bytes();
        assert_eq!(
            bytes[..13],
            [0xef, 0xbe, 0xad, 0xde, 5, 1, 0, 2, 0, 3, 0, 4, 0]
        );
        assert_eq!(fields_next(hdr, fd, r, &i(0, 3)).2, r >> 8);
    }

    #[test]
    fn the_link_generates_verilog() {
        let v = verilog(4, 8, 1).unwrap();
        assert!(v.contains("module top(") && v.contains("led_reply"));
        assert!(v.contains("(* ram_style = \"logic\" *)"));
        assert!(verilog(4, 16, 1).is_none() && verilog(4, 8, 4).is_none());
    }
}
