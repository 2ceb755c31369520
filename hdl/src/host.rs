//! The host link's top level: a board's accelerator reached over a UART. The host sends
//! a request (an opcode and its payload), the board answers with a status byte and the
//! result. Requests are served one at a time; bytes arriving while the board works or
//! answers are dropped.
//!
//! | opcode | request payload | response after the status `0x80 \| op` |
//! |---|---|---|
//! | `0x00` identify | none | 8 bytes: `PMC`, protocol version, ring width, f, UART divisor (2 bytes) |
//! | `0x01` Beaver multiply | flags (bit 0 party, bit 1 truncate), `a b c d e` (2 bytes each) | the party's share of `x y` (2 bytes) |
//! | `0x02` garble an AND gate | `A0`, `B0`, `delta` (16 bytes each), gate number `g` (4 bytes) | `T_G`, `T_E`, `C0` (16 bytes each) |
//! | `0x03` evaluate an AND gate | `A`, `B`, `T_G`, `T_E` (16 bytes each), `g` (4 bytes) | `C` (16 bytes) |
//!
//! Every field is little-endian; an unknown opcode gets the single byte
//! [`STATUS_UNKNOWN`]. The Beaver multiplier is [`BeaverMul16`]; the garbled AND gate is
//! half-gates on one column-serial AES core ([`AesSerial`]), gate `g` using tweaks `2g`
//! and `2g + 1` as [`garble`](perf_model::circuit::garble) does for its `g`-th AND gate.
//!
//! Inside, payload byte `k` shifts in at the top of field register `k / 16` (five
//! 128-bit registers), so every field lies at a fixed place; results are written back
//! into the same registers and leave from their bottom byte.
//! [`response_start`] gives the cycle the answer's first start bit goes out.

use crate::beaver_mul::{product_share, BeaverMul16, MulInput};
use crate::gc::serial::AesSerial;
use crate::uart;
use perf_model::accel::units;
use perf_model::circuit::garble::{Hasher, Label, FIXED_KEY};
use rust_hdl::prelude::*;

/// Identify the board.
pub const OP_ID: u8 = 0x00;
/// Beaver multiplication of 16-bit shares.
pub const OP_MUL: u8 = 0x01;
/// Garble one AND gate.
pub const OP_GARBLE: u8 = 0x02;
/// Evaluate one AND gate.
pub const OP_EVAL: u8 = 0x03;
/// The status byte of an unknown opcode.
pub const STATUS_UNKNOWN: u8 = 0xee;
/// The host protocol's version, in the identify response.
pub const PROTOCOL_VERSION: u8 = 1;
/// The ring width of the Beaver multiplier.
pub const RING_BITS: u32 = 16;

/// Payload bytes of a request; `None` for an unknown opcode.
pub fn payload_len(op: u8) -> Option<usize> {
    Some(match op {
        OP_ID => 0,
        OP_MUL => 11,
        OP_GARBLE => 52,
        OP_EVAL => 68,
        _ => return None,
    })
}

/// Result bytes of a response, after the status byte; `None` for an unknown opcode.
pub fn result_len(op: u8) -> Option<usize> {
    Some(match op {
        OP_ID => 8,
        OP_MUL => 2,
        OP_GARBLE => 48,
        OP_EVAL => 16,
        _ => return None,
    })
}

/// The status byte of a served request.
pub fn status_ok(op: u8) -> u8 {
    0x80 | op
}

/// The identify response's result bytes.
pub fn identity(frac_bits: u32, divisor: u16) -> [u8; 8] {
    let d = divisor.to_le_bytes();
    [
        b'P',
        b'M',
        b'C',
        PROTOCOL_VERSION,
        RING_BITS as u8,
        frac_bits as u8,
        d[0],
        d[1],
    ]
}

/// A request to the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Identify.
    Identify,
    /// One party's online Beaver multiplication (16-bit shares).
    Mul {
        /// The party, 0 or 1.
        party: u8,
        /// The shares and opened values.
        input: MulInput,
    },
    /// Garble AND gate number `g` with offset `delta` and the inputs' false labels.
    Garble {
        /// The offset (lowest bit 1).
        delta: Label,
        /// The first input's false label.
        a0: Label,
        /// The second input's false label.
        b0: Label,
        /// The gate's number among the circuit's AND gates.
        g: u32,
    },
    /// Evaluate AND gate number `g` on one label per input and its two ciphertexts.
    Evaluate {
        /// The first input's label.
        a: Label,
        /// The second input's label.
        b: Label,
        /// The garbler half's ciphertext.
        tg: Label,
        /// The evaluator half's ciphertext.
        te: Label,
        /// The gate's number.
        g: u32,
    },
}

/// What the board answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The identify response.
    Identity([u8; 8]),
    /// The party's share of the product.
    Product(u16),
    /// The gate's ciphertexts and its output's false label.
    Garbled {
        /// `T_G`.
        tg: Label,
        /// `T_E`.
        te: Label,
        /// The output's false label.
        c0: Label,
    },
    /// The output's label.
    Evaluated(Label),
}

impl Request {
    /// The opcode.
    pub fn op(&self) -> u8 {
        match self {
            Request::Identify => OP_ID,
            Request::Mul { .. } => OP_MUL,
            Request::Garble { .. } => OP_GARBLE,
            Request::Evaluate { .. } => OP_EVAL,
        }
    }

    /// The request's bytes on the line: the opcode and the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.op()];
        match *self {
            Request::Identify => {}
            Request::Mul { party, input } => {
                v.push((party & 1) | u8::from(input.truncate) << 1);
                for x in [input.a, input.b, input.c, input.d, input.e] {
                    v.extend_from_slice(&(x as u16).to_le_bytes());
                }
            }
            Request::Garble { delta, a0, b0, g } => {
                for x in [a0, b0, delta] {
                    v.extend_from_slice(&x.to_le_bytes());
                }
                v.extend_from_slice(&g.to_le_bytes());
            }
            Request::Evaluate { a, b, tg, te, g } => {
                for x in [a, b, tg, te] {
                    v.extend_from_slice(&x.to_le_bytes());
                }
                v.extend_from_slice(&g.to_le_bytes());
            }
        }
        v
    }

    /// The golden model: the reply a board with `frac_bits` and `divisor` gives.
    pub fn golden(&self, frac_bits: u32, divisor: u16) -> Reply {
        let h = Hasher::default();
        match *self {
            Request::Identify => Reply::Identity(identity(frac_bits, divisor)),
            Request::Mul { party, input } => {
                let m = |x: u64| x & 0xffff;
                let i = MulInput {
                    a: m(input.a),
                    b: m(input.b),
                    c: m(input.c),
                    d: m(input.d),
                    e: m(input.e),
                    truncate: input.truncate,
                };
                Reply::Product(product_share(&i, frac_bits, party & 1, RING_BITS) as u16)
            }
            Request::Garble { delta, a0, b0, g } => {
                let [tg, te, c0] = garble_and(&h, delta, a0, b0, g);
                Reply::Garbled { tg, te, c0 }
            }
            Request::Evaluate { a, b, tg, te, g } => {
                Reply::Evaluated(evaluate_and(&h, a, b, tg, te, g))
            }
        }
    }
}

/// A reply that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The board did not know the opcode.
    #[error("the board does not know opcode {0:#04x}")]
    Unknown(u8),
    /// The board refused the request's memory or lane (the accelerator's link,
    /// [`crate::accel_link::STATUS_BAD`]).
    #[error("the board refused the memory or lane of request {0:#04x}")]
    Bad(u8),
    /// The status byte is not the request's.
    #[error("status byte {got:#04x} for opcode {op:#04x} (expected {:#04x})", status_ok(*op))]
    Status {
        /// The request's opcode.
        op: u8,
        /// The status received.
        got: u8,
    },
    /// Too few or too many bytes.
    #[error("{got} reply bytes for opcode {op:#04x}, expected {expected}")]
    Length {
        /// The request's opcode.
        op: u8,
        /// Bytes received (with the status).
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
}

fn label(b: &[u8]) -> Label {
    let mut x = [0u8; 16];
    x.copy_from_slice(&b[..16]);
    Label::from_le_bytes(x)
}

/// Parses the reply to a request with opcode `op` (status byte first).
pub fn decode_reply(op: u8, bytes: &[u8]) -> Result<Reply, ReplyError> {
    if bytes.first() == Some(&STATUS_UNKNOWN) {
        return Err(ReplyError::Unknown(op));
    }
    let n = result_len(op).ok_or(ReplyError::Unknown(op))?;
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
    Ok(match op {
        OP_ID => {
            let mut id = [0u8; 8];
            id.copy_from_slice(r);
            Reply::Identity(id)
        }
        OP_MUL => Reply::Product(u16::from_le_bytes([r[0], r[1]])),
        OP_GARBLE => Reply::Garbled {
            tg: label(&r[..16]),
            te: label(&r[16..32]),
            c0: label(&r[32..48]),
        },
        _ => Reply::Evaluated(label(r)),
    })
}

fn mask(bit: bool, x: Label) -> Label {
    if bit {
        x
    } else {
        0
    }
}

/// Half-gates garbling of AND gate `g`: `[T_G, T_E, C0]` (the golden model).
pub fn garble_and(h: &Hasher, delta: Label, a0: Label, b0: Label, g: u32) -> [Label; 3] {
    let j = 2 * u64::from(g);
    let (pa, pb) = (a0 & 1 == 1, b0 & 1 == 1);
    let (ha0, ha1) = (h.hash(a0, j), h.hash(a0 ^ delta, j));
    let (hb0, hb1) = (h.hash(b0, j + 1), h.hash(b0 ^ delta, j + 1));
    let tg = ha0 ^ ha1 ^ mask(pb, delta);
    let wg = ha0 ^ mask(pa, tg);
    let te = hb0 ^ hb1 ^ a0;
    let we = hb0 ^ mask(pb, te ^ a0);
    [tg, te, wg ^ we]
}

/// Half-gates evaluation of AND gate `g`: the output's label (the golden model).
pub fn evaluate_and(h: &Hasher, a: Label, b: Label, tg: Label, te: Label, g: u32) -> Label {
    let j = 2 * u64::from(g);
    let wg = h.hash(a, j) ^ mask(a & 1 == 1, tg);
    let we = h.hash(b, j + 1) ^ mask(b & 1 == 1, te ^ a);
    wg ^ we
}

/// Cycles from the request's last payload byte shown by the receiver to its first
/// result: the top level's states (header, execute, wait, send) around the unit.
fn exec_cycles(op: u8) -> u64 {
    match op {
        OP_MUL => units::beaver_mul(RING_BITS).latency,
        OP_GARBLE => units::garbled_and_serial(true).latency,
        OP_EVAL => units::garbled_and_serial(false).latency,
        _ => 1,
    }
}

/// The cycle the response's first start bit goes out on `tx`, for a request whose
/// frames go out back to back from cycle `sent` on `rx` (the top level's cycle model).
pub fn response_start(op: u8, divisor: u16, sent: u64) -> u64 {
    let n = payload_len(op).unwrap_or(0) as u64;
    // The receiver shows the last byte; a request without payload passes the header
    // state first.
    let last = sent + n * uart::tx_cycles(divisor) + uart::rx_latency(divisor);
    let header = u64::from(n == 0);
    last + header + 3 + exec_cycles(op)
}

/// Cycles of a whole request from its first start bit to the end of the reply's last
/// stop bit, its frames back to back both ways.
pub fn transaction_cycles(op: u8, divisor: u16) -> u64 {
    let reply = 1 + result_len(op).unwrap_or(0) as u64;
    response_start(op, divisor, 0) + reply * uart::tx_cycles(divisor)
}

/// The garbled-AND unit's datapath, combinational: the hash input of hash `idx`, and
/// the results from the four hashes.
#[derive(LogicBlock, Default)]
struct AndDatapath {
    garble: Signal<In, Bit>,
    f0: Signal<In, Bits<128>>,
    f1: Signal<In, Bits<128>>,
    f2: Signal<In, Bits<128>>,
    f3: Signal<In, Bits<128>>,
    f4: Signal<In, Bits<128>>,
    idx: Signal<In, Bits<2>>,
    h0: Signal<In, Bits<128>>,
    h1: Signal<In, Bits<128>>,
    h2: Signal<In, Bits<128>>,
    h3: Signal<In, Bits<128>>,
    k: Signal<Out, Bits<128>>,
    y0: Signal<Out, Bits<128>>,
    y1: Signal<Out, Bits<128>>,
    y2: Signal<Out, Bits<128>>,
}

/// The fields of a gate request: `(a, b, delta or T_G, T_E, g)`.
fn gate_fields(f: [u128; 5], garble: bool) -> (u128, u128, u128, u128, u32) {
    let g = if garble { f[3] >> 96 } else { f[4] >> 96 };
    (f[0], f[1], f[2], f[3], g as u32)
}

impl Logic for AndDatapath {
    fn update(&mut self) {
        let garble = self.garble.val();
        let f = [
            self.f0.val().to_u128(),
            self.f1.val().to_u128(),
            self.f2.val().to_u128(),
            self.f3.val().to_u128(),
            self.f4.val().to_u128(),
        ];
        let (a, b, t2, t3, g) = gate_fields(f, garble);
        let idx = self.idx.val().to_u64();
        let x = match idx {
            0 => a,
            1 => a ^ t2,
            2 => b,
            _ => b ^ t2,
        };
        let k = perf_model::circuit::garble::double(x) ^ u128::from(2 * g as u64 + (idx >> 1));
        let h = [
            self.h0.val().to_u128(),
            self.h1.val().to_u128(),
            self.h2.val().to_u128(),
            self.h3.val().to_u128(),
        ];
        let tg_g = h[0] ^ h[1] ^ mask(b & 1 == 1, t2);
        let te_g = h[2] ^ h[3] ^ a;
        let (tg, te) = if garble { (tg_g, te_g) } else { (t2, t3) };
        let w = h[0] ^ mask(a & 1 == 1, tg) ^ h[2] ^ mask(b & 1 == 1, te ^ a);
        self.k.next = k.to_bits();
        self.y0.next = if garble { tg_g } else { w }.to_bits();
        self.y1.next = te_g.to_bits();
        self.y2.next = w.to_bits();
    }

    fn connect(&mut self) {
        self.k.connect();
        self.y0.connect();
        self.y1.connect();
        self.y2.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
// Garbling: f0 = A0, f1 = B0, f2 = delta, f3[127:96] = g.
// Evaluating: f0 = A, f1 = B, f2 = T_G, f3 = T_E, f4[127:96] = g.
/* verilator lint_off UNUSED */
wire [127:0] f4_unused = f4;
/* verilator lint_on UNUSED */
wire [31:0] g = garble ? f3[127:96] : f4[127:96];
wire [127:0] x = (idx == 2'd0) ? f0 : (idx == 2'd1) ? (f0 ^ f2) : (idx == 2'd2) ? f1 : (f1 ^ f2);
wire [127:0] x2 = {x[126:0], 1'b0} ^ {120'b0, 8'h87 & {8{x[127]}}};
wire [127:0] tg_g = h0 ^ h1 ^ (f1[0] ? f2 : 128'b0);
wire [127:0] te_g = h2 ^ h3 ^ f0;
wire [127:0] tg = garble ? tg_g : f2;
wire [127:0] te = garble ? te_g : f3;
wire [127:0] w = h0 ^ (f0[0] ? tg : 128'b0) ^ h2 ^ (f1[0] ? (te ^ f0) : 128'b0);
always @(*) begin
  k = x2 ^ {95'b0, g, idx[1]};
  y0 = garble ? tg_g : w;
  y1 = te_g;
  y2 = w;
end
"
            .into(),
        )
    }
}

/// The garbled-AND unit: a gate's hashes one after another on one column-serial AES
/// core ([`garbled_and_serial`](units::garbled_and_serial)). Garbling gives `T_G`,
/// `T_E`, `C0` on `y0`..`y2`; evaluating gives `C` on `y0`. The fields stay put while
/// the unit runs.
#[derive(LogicBlock)]
pub struct GarbledAnd {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Garble (high) or evaluate (low).
    pub garble: Signal<In, Bit>,
    /// Start a gate (taken while `ready`).
    pub start: Signal<In, Bit>,
    /// Field 0: `A0` or `A`.
    pub f0: Signal<In, Bits<128>>,
    /// Field 1: `B0` or `B`.
    pub f1: Signal<In, Bits<128>>,
    /// Field 2: `delta` or `T_G`.
    pub f2: Signal<In, Bits<128>>,
    /// Field 3: `g` in bits 96..128 (garbling) or `T_E`.
    pub f3: Signal<In, Bits<128>>,
    /// Field 4: `g` in bits 96..128 (evaluating).
    pub f4: Signal<In, Bits<128>>,
    /// The unit is free.
    pub ready: Signal<Out, Bit>,
    /// The results are new this cycle.
    pub done: Signal<Out, Bit>,
    /// `T_G` or `C`.
    pub y0: Signal<Out, Bits<128>>,
    /// `T_E`.
    pub y1: Signal<Out, Bits<128>>,
    /// `C0`.
    pub y2: Signal<Out, Bits<128>>,
    aes: AesSerial,
    datapath: AndDatapath,
    idx: DFF<Bits<2>>,
    running: DFF<Bit>,
    launch: DFF<Bit>,
    fin: DFF<Bit>,
    h0: DFF<Bits<128>>,
    h1: DFF<Bits<128>>,
    h2: DFF<Bits<128>>,
    h3: DFF<Bits<128>>,
    key: Constant<Bits<128>>,
    i0: Constant<Bits<2>>,
    i1: Constant<Bits<2>>,
    i2: Constant<Bits<2>>,
    i3: Constant<Bits<2>>,
}

impl Default for GarbledAnd {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            garble: Default::default(),
            start: Default::default(),
            f0: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            f3: Default::default(),
            f4: Default::default(),
            ready: Default::default(),
            done: Default::default(),
            y0: Default::default(),
            y1: Default::default(),
            y2: Default::default(),
            aes: Default::default(),
            datapath: Default::default(),
            idx: Default::default(),
            running: Default::default(),
            launch: Default::default(),
            fin: Default::default(),
            h0: Default::default(),
            h1: Default::default(),
            h2: Default::default(),
            h3: Default::default(),
            key: Constant::new(u128::from_le_bytes(FIXED_KEY).to_bits()),
            i0: Constant::new(0u64.into()),
            i1: Constant::new(1u64.into()),
            i2: Constant::new(2u64.into()),
            i3: Constant::new(3u64.into()),
        }
    }
}

impl Logic for GarbledAnd {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, idx, running, launch, fin, h0, h1, h2, h3);
        self.aes.clock.next = self.clock.val();
        self.datapath.garble.next = self.garble.val();
        self.datapath.f0.next = self.f0.val();
        self.datapath.f1.next = self.f1.val();
        self.datapath.f2.next = self.f2.val();
        self.datapath.f3.next = self.f3.val();
        self.datapath.f4.next = self.f4.val();
        self.datapath.idx.next = self.idx.q.val();
        self.datapath.h0.next = self.h0.q.val();
        self.datapath.h1.next = self.h1.q.val();
        self.datapath.h2.next = self.h2.q.val();
        self.datapath.h3.next = self.h3.q.val();
        self.aes.key.next = self.key.val();
        self.aes.block.next = self.datapath.k.val();
        // A launch waits for the core (which is free by then: a hash starts only
        // after the previous one is done).
        self.aes.start.next = self.launch.q.val();
        self.launch.d.next = self.launch.q.val() & !self.aes.ready.val();
        self.fin.d.next = false;
        if self.running.q.val() {
            if self.aes.done.val() {
                if self.idx.q.val() == self.i0.val() {
                    self.h0.d.next = self.aes.y.val() ^ self.datapath.k.val();
                }
                if self.idx.q.val() == self.i1.val() {
                    self.h1.d.next = self.aes.y.val() ^ self.datapath.k.val();
                }
                if self.idx.q.val() == self.i2.val() {
                    self.h2.d.next = self.aes.y.val() ^ self.datapath.k.val();
                }
                if self.idx.q.val() == self.i3.val() {
                    self.h3.d.next = self.aes.y.val() ^ self.datapath.k.val();
                }
                if (self.garble.val() & (self.idx.q.val() == self.i3.val()))
                    | (!self.garble.val() & (self.idx.q.val() == self.i2.val()))
                {
                    self.running.d.next = false;
                    self.fin.d.next = true;
                } else {
                    self.launch.d.next = true;
                    if self.garble.val() {
                        self.idx.d.next = self.idx.q.val() + self.i1.val();
                    } else {
                        self.idx.d.next = self.idx.q.val() + self.i2.val();
                    }
                }
            }
        } else if self.start.val() {
            self.running.d.next = true;
            self.launch.d.next = true;
            self.idx.d.next = self.i0.val();
        }
        self.ready.next = !self.running.q.val();
        self.done.next = self.fin.q.val();
        self.y0.next = self.datapath.y0.val();
        self.y1.next = self.datapath.y1.val();
        self.y2.next = self.datapath.y2.val();
    }
}

/// The field registers' next values, combinational: hold (mode 0), shift the received
/// byte in at the top of field `count / 16` (1), shift field `count / 16` down a byte
/// as it is sent (2), load results `r0`..`r2` (3) or the 16-bit product (4). Also the
/// byte to send and the multiply request's fields.
#[derive(LogicBlock, Default)]
struct HostFields {
    f0: Signal<In, Bits<128>>,
    f1: Signal<In, Bits<128>>,
    f2: Signal<In, Bits<128>>,
    f3: Signal<In, Bits<128>>,
    f4: Signal<In, Bits<128>>,
    byte_in: Signal<In, Bits<8>>,
    count: Signal<In, Bits<7>>,
    mode: Signal<In, Bits<3>>,
    r0: Signal<In, Bits<128>>,
    r1: Signal<In, Bits<128>>,
    r2: Signal<In, Bits<128>>,
    y16: Signal<In, Bits<16>>,
    n0: Signal<Out, Bits<128>>,
    n1: Signal<Out, Bits<128>>,
    n2: Signal<Out, Bits<128>>,
    n3: Signal<Out, Bits<128>>,
    n4: Signal<Out, Bits<128>>,
    byte_out: Signal<Out, Bits<8>>,
    party: Signal<Out, Bit>,
    truncate: Signal<Out, Bit>,
    ma: Signal<Out, Bits<16>>,
    mb: Signal<Out, Bits<16>>,
    mc: Signal<Out, Bits<16>>,
    md: Signal<Out, Bits<16>>,
    me: Signal<Out, Bits<16>>,
}

/// The field registers after a cycle in `mode` (the golden model of [`HostFields`]).
fn fields_next(f: [u128; 5], byte: u8, count: u64, mode: u64, r: [u128; 3], y16: u16) -> [u128; 5] {
    let sel = (count >> 4) as usize;
    let mut n = f;
    match mode {
        1 if sel < 5 => n[sel] = f[sel] >> 8 | u128::from(byte) << 120,
        2 if sel < 5 => n[sel] = f[sel] >> 8,
        3 => {
            n[0] = r[0];
            n[1] = r[1];
            n[2] = r[2];
        }
        4 => n[0] = u128::from(y16),
        _ => {}
    }
    n
}

impl Logic for HostFields {
    fn update(&mut self) {
        let f = [
            self.f0.val().to_u128(),
            self.f1.val().to_u128(),
            self.f2.val().to_u128(),
            self.f3.val().to_u128(),
            self.f4.val().to_u128(),
        ];
        let count = self.count.val().to_u64();
        let n = fields_next(
            f,
            self.byte_in.val().to_u64() as u8,
            count,
            self.mode.val().to_u64(),
            [
                self.r0.val().to_u128(),
                self.r1.val().to_u128(),
                self.r2.val().to_u128(),
            ],
            self.y16.val().to_u64() as u16,
        );
        self.n0.next = n[0].to_bits();
        self.n1.next = n[1].to_bits();
        self.n2.next = n[2].to_bits();
        self.n3.next = n[3].to_bits();
        self.n4.next = n[4].to_bits();
        let sel = ((count >> 4) as usize).min(4);
        self.byte_out.next = u64::from(f[sel] as u8).into();
        let m = |k: u32| u64::from((f[0] >> (48 + 16 * k)) as u16).into();
        self.party.next = f[0] >> 40 & 1 == 1;
        self.truncate.next = f[0] >> 41 & 1 == 1;
        self.ma.next = m(0);
        self.mb.next = m(1);
        self.mc.next = m(2);
        self.md.next = m(3);
        self.me.next = m(4);
    }

    fn connect(&mut self) {
        self.n0.connect();
        self.n1.connect();
        self.n2.connect();
        self.n3.connect();
        self.n4.connect();
        self.byte_out.connect();
        self.party.connect();
        self.truncate.connect();
        self.ma.connect();
        self.mb.connect();
        self.mc.connect();
        self.md.connect();
        self.me.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
// The multiply request's eleven bytes end at the top of f0.
/* verilator lint_off UNUSED */
wire [47:0] f0_low_unused = f0[47:0];
wire [3:0] count_low_unused = count[3:0];
/* verilator lint_on UNUSED */
wire [2:0] sel = count[6:4];
always @(*) begin
  n0 = f0; n1 = f1; n2 = f2; n3 = f3; n4 = f4;
  case (mode)
    3'd1: case (sel)
      3'd0: n0 = {byte_in, f0[127:8]};
      3'd1: n1 = {byte_in, f1[127:8]};
      3'd2: n2 = {byte_in, f2[127:8]};
      3'd3: n3 = {byte_in, f3[127:8]};
      3'd4: n4 = {byte_in, f4[127:8]};
      default: ;
    endcase
    3'd2: case (sel)
      3'd0: n0 = {8'b0, f0[127:8]};
      3'd1: n1 = {8'b0, f1[127:8]};
      3'd2: n2 = {8'b0, f2[127:8]};
      3'd3: n3 = {8'b0, f3[127:8]};
      3'd4: n4 = {8'b0, f4[127:8]};
      default: ;
    endcase
    3'd3: begin n0 = r0; n1 = r1; n2 = r2; end
    3'd4: n0 = {112'b0, y16};
    default: ;
  endcase
  case (sel)
    3'd0: byte_out = f0[7:0];
    3'd1: byte_out = f1[7:0];
    3'd2: byte_out = f2[7:0];
    3'd3: byte_out = f3[7:0];
    default: byte_out = f4[7:0];
  endcase
  party = f0[40];
  truncate = f0[41];
  ma = f0[63:48];
  mb = f0[79:64];
  mc = f0[95:80];
  md = f0[111:96];
  me = f0[127:112];
end
"
            .into(),
        )
    }
}

const S_IDLE: u64 = 0;
const S_HEAD: u64 = 1;
const S_RECV: u64 = 2;
const S_EXEC: u64 = 3;
const S_WAIT: u64 = 4;
const S_SEND: u64 = 5;

/// The request engine: request bytes in, reply bytes out (a byte stream each way, with
/// handshakes), the Beaver multiplier and the garbled-AND unit; the UART top level
/// ([`HostLink`]) and the AXI-Stream one ([`AxisLink`]) put their own ports around it.
#[derive(LogicBlock)]
pub struct RequestEngine {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// A request byte.
    pub in_data: Signal<In, Bits<8>>,
    /// `in_data` is valid.
    pub in_valid: Signal<In, Bit>,
    /// The byte's frame was broken: the request is dropped.
    pub in_error: Signal<In, Bit>,
    /// The engine takes a byte this cycle (waiting for a request, or for its payload).
    pub in_ready: Signal<Out, Bit>,
    /// A reply byte.
    pub out_data: Signal<Out, Bits<8>>,
    /// `out_data` is valid.
    pub out_valid: Signal<Out, Bit>,
    /// The consumer takes the byte this cycle.
    pub out_ready: Signal<In, Bit>,
    /// The byte is the reply's last.
    pub out_last: Signal<Out, Bit>,
    mul: BeaverMul16,
    gc: GarbledAnd,
    fields: HostFields,
    f0: DFF<Bits<128>>,
    f1: DFF<Bits<128>>,
    f2: DFF<Bits<128>>,
    f3: DFF<Bits<128>>,
    f4: DFF<Bits<128>>,
    state: DFF<Bits<3>>,
    op: DFF<Bits<8>>,
    count: DFF<Bits<7>>,
    last: DFF<Bits<7>>,
    status: DFF<Bits<8>>,
    head: DFF<Bit>,
    plen: Signal<Local, Bits<7>>,
    s_idle: Constant<Bits<3>>,
    s_head: Constant<Bits<3>>,
    s_recv: Constant<Bits<3>>,
    s_exec: Constant<Bits<3>>,
    s_wait: Constant<Bits<3>>,
    s_send: Constant<Bits<3>>,
    m_hold: Constant<Bits<3>>,
    m_shift_in: Constant<Bits<3>>,
    m_shift_out: Constant<Bits<3>>,
    m_load: Constant<Bits<3>>,
    m_load16: Constant<Bits<3>>,
    op_id: Constant<Bits<8>>,
    op_mul: Constant<Bits<8>>,
    op_garble: Constant<Bits<8>>,
    op_eval: Constant<Bits<8>>,
    st_unknown: Constant<Bits<8>>,
    st_ok: Constant<Bits<8>>,
    len_mul: Constant<Bits<7>>,
    len_garble: Constant<Bits<7>>,
    len_eval: Constant<Bits<7>>,
    res_id: Constant<Bits<7>>,
    res_mul: Constant<Bits<7>>,
    res_garble: Constant<Bits<7>>,
    res_eval: Constant<Bits<7>>,
    zero7: Constant<Bits<7>>,
    one7: Constant<Bits<7>>,
    id: Constant<Bits<128>>,
    zero128: Constant<Bits<128>>,
}

impl RequestEngine {
    /// An engine whose multiplier truncates by `frac_bits` and which identifies itself
    /// with `id`.
    pub fn new(frac_bits: u32, id: [u8; 8]) -> Self {
        let c3 = |x: u64| Constant::new(x.into());
        let c7 = |x: usize| Constant::new((x as u64).into());
        let c8 = |x: u8| Constant::new(u64::from(x).into());
        let res = |op| result_len(op).unwrap_or(0) - 1;
        let id = u64::from_le_bytes(id);
        Self {
            clock: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_error: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            mul: BeaverMul16::new(frac_bits),
            gc: Default::default(),
            fields: Default::default(),
            f0: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            f3: Default::default(),
            f4: Default::default(),
            state: Default::default(),
            op: Default::default(),
            count: Default::default(),
            last: Default::default(),
            status: Default::default(),
            head: Default::default(),
            plen: Default::default(),
            s_idle: c3(S_IDLE),
            s_head: c3(S_HEAD),
            s_recv: c3(S_RECV),
            s_exec: c3(S_EXEC),
            s_wait: c3(S_WAIT),
            s_send: c3(S_SEND),
            m_hold: c3(0),
            m_shift_in: c3(1),
            m_shift_out: c3(2),
            m_load: c3(3),
            m_load16: c3(4),
            op_id: c8(OP_ID),
            op_mul: c8(OP_MUL),
            op_garble: c8(OP_GARBLE),
            op_eval: c8(OP_EVAL),
            st_unknown: c8(STATUS_UNKNOWN),
            st_ok: c8(0x80),
            len_mul: c7(payload_len(OP_MUL).unwrap_or(0)),
            len_garble: c7(payload_len(OP_GARBLE).unwrap_or(0)),
            len_eval: c7(payload_len(OP_EVAL).unwrap_or(0)),
            res_id: c7(res(OP_ID)),
            res_mul: c7(res(OP_MUL)),
            res_garble: c7(res(OP_GARBLE)),
            res_eval: c7(res(OP_EVAL)),
            zero7: c7(0),
            one7: c7(1),
            id: Constant::new(u128::from(id).to_bits()),
            zero128: Constant::new(0u128.to_bits()),
        }
    }
}

impl Logic for RequestEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, f0, f1, f2, f3, f4, state, op, count, last, status, head);
        self.mul.clock.next = self.clock.val();
        self.gc.clock.next = self.clock.val();
        // The field registers follow the datapath; the mode is hold unless set below.
        self.fields.f0.next = self.f0.q.val();
        self.fields.f1.next = self.f1.q.val();
        self.fields.f2.next = self.f2.q.val();
        self.fields.f3.next = self.f3.q.val();
        self.fields.f4.next = self.f4.q.val();
        self.fields.byte_in.next = self.in_data.val();
        self.fields.count.next = self.count.q.val();
        self.fields.mode.next = self.m_hold.val();
        self.fields.r0.next = self.gc.y0.val();
        self.fields.r1.next = self.gc.y1.val();
        self.fields.r2.next = self.gc.y2.val();
        self.fields.y16.next = self.mul.y.val();
        self.f0.d.next = self.fields.n0.val();
        self.f1.d.next = self.fields.n1.val();
        self.f2.d.next = self.fields.n2.val();
        self.f3.d.next = self.fields.n3.val();
        self.f4.d.next = self.fields.n4.val();
        // The units read the fields.
        self.mul.party.next = self.fields.party.val();
        self.mul.truncate.next = self.fields.truncate.val();
        self.mul.a.next = self.fields.ma.val();
        self.mul.b.next = self.fields.mb.val();
        self.mul.c.next = self.fields.mc.val();
        self.mul.d.next = self.fields.md.val();
        self.mul.e.next = self.fields.me.val();
        self.mul.valid_in.next = false;
        self.mul.ready_out.next = true;
        self.gc.f0.next = self.f0.q.val();
        self.gc.f1.next = self.f1.q.val();
        self.gc.f2.next = self.f2.q.val();
        self.gc.f3.next = self.f3.q.val();
        self.gc.f4.next = self.f4.q.val();
        self.gc.garble.next = self.op.q.val() == self.op_garble.val();
        self.gc.start.next = false;
        self.in_ready.next =
            (self.state.q.val() == self.s_idle.val()) | (self.state.q.val() == self.s_recv.val());
        self.out_last.next = false;
        self.out_valid.next = false;
        self.out_data.next = self.fields.byte_out.val();
        // The payload length of the request being received.
        self.plen.next = self.zero7.val();
        if self.op.q.val() == self.op_mul.val() {
            self.plen.next = self.len_mul.val();
        }
        if self.op.q.val() == self.op_garble.val() {
            self.plen.next = self.len_garble.val();
        }
        if self.op.q.val() == self.op_eval.val() {
            self.plen.next = self.len_eval.val();
        }
        if self.state.q.val() == self.s_idle.val() {
            if self.in_valid.val() {
                self.op.d.next = self.in_data.val();
                self.count.d.next = self.zero7.val();
                self.state.d.next = self.s_head.val();
            }
        } else if self.state.q.val() == self.s_head.val() {
            if self.plen.val() == self.zero7.val() {
                self.state.d.next = self.s_exec.val();
            } else {
                self.state.d.next = self.s_recv.val();
            }
        } else if self.state.q.val() == self.s_recv.val() {
            if self.in_valid.val() {
                self.fields.mode.next = self.m_shift_in.val();
                self.count.d.next = self.count.q.val() + self.one7.val();
                if self.count.q.val() + self.one7.val() == self.plen.val() {
                    self.state.d.next = self.s_exec.val();
                }
            }
        } else if self.state.q.val() == self.s_exec.val() {
            // Start the unit when it is free (always, between requests).
            if self.op.q.val() == self.op_mul.val() {
                if self.mul.ready_in.val() {
                    self.mul.valid_in.next = true;
                    self.state.d.next = self.s_wait.val();
                }
            } else if (self.op.q.val() == self.op_garble.val())
                | (self.op.q.val() == self.op_eval.val())
            {
                if self.gc.ready.val() {
                    self.gc.start.next = true;
                    self.state.d.next = self.s_wait.val();
                }
            } else {
                self.state.d.next = self.s_wait.val();
            }
        } else if self.state.q.val() == self.s_wait.val() {
            self.count.d.next = self.zero7.val();
            self.head.d.next = true;
            self.status.d.next = self.st_ok.val() | self.op.q.val();
            if self.op.q.val() == self.op_mul.val() {
                if self.mul.valid_out.val() {
                    self.fields.mode.next = self.m_load16.val();
                    self.last.d.next = self.res_mul.val();
                    self.state.d.next = self.s_send.val();
                }
            } else if (self.op.q.val() == self.op_garble.val())
                | (self.op.q.val() == self.op_eval.val())
            {
                if self.gc.done.val() {
                    self.fields.mode.next = self.m_load.val();
                    if self.op.q.val() == self.op_garble.val() {
                        self.last.d.next = self.res_garble.val();
                    } else {
                        self.last.d.next = self.res_eval.val();
                    }
                    self.state.d.next = self.s_send.val();
                }
            } else if self.op.q.val() == self.op_id.val() {
                self.fields.mode.next = self.m_load.val();
                self.fields.r0.next = self.id.val();
                self.fields.r1.next = self.zero128.val();
                self.fields.r2.next = self.zero128.val();
                self.last.d.next = self.res_id.val();
                self.state.d.next = self.s_send.val();
            } else {
                self.status.d.next = self.st_unknown.val();
                self.state.d.next = self.s_send.val();
            }
        } else if self.state.q.val() == self.s_send.val() {
            self.out_valid.next = true;
            if self.head.q.val() {
                self.out_data.next = self.status.q.val();
                self.out_last.next = self.status.q.val() == self.st_unknown.val();
                if self.out_ready.val() {
                    self.head.d.next = false;
                    if self.status.q.val() == self.st_unknown.val() {
                        self.state.d.next = self.s_idle.val();
                    }
                }
            } else {
                self.out_last.next = self.count.q.val() == self.last.q.val();
            }
            if !self.head.q.val() & self.out_ready.val() {
                self.fields.mode.next = self.m_shift_out.val();
                self.count.d.next = self.count.q.val() + self.one7.val();
                if self.count.q.val() == self.last.q.val() {
                    self.state.d.next = self.s_idle.val();
                }
            }
        } else {
            self.state.d.next = self.s_idle.val();
        }
        // A request with a broken frame is dropped.
        if self.in_error.val() & (self.state.q.val() == self.s_recv.val()) {
            self.state.d.next = self.s_idle.val();
        }
    }
}

crate::stream::byte_stream_tops! {
    /// The host link's top level: UART, request engine, Beaver multiplier and garbled-AND
    /// unit ([`byte_stream_tops`](crate::stream::byte_stream_tops)'s UART ports and LEDs).
    uart HostLink,
    /// The request engine with AXI-Stream ports, for Xilinx parts: requests on the slave
    /// stream (`s_axis_*`, 8-bit beats), replies on the master stream (`m_axis_*`, `tlast`
    /// on each reply's last byte). The same requests and replies as over the UART; the
    /// identify reply's divisor bytes are zero.
    axis AxisLink,
    engine RequestEngine
}

impl HostLink {
    /// A top level whose UART takes `divisor` clock cycles a bit and whose multiplier
    /// truncates by `frac_bits`.
    pub fn new(divisor: u16, frac_bits: u32) -> Self {
        Self::around(
            RequestEngine::new(frac_bits, identity(frac_bits, divisor)),
            divisor,
        )
    }
}

impl AxisLink {
    /// A top level whose multiplier truncates by `frac_bits`.
    pub fn new(frac_bits: u32) -> Self {
        Self::around(RequestEngine::new(frac_bits, identity(frac_bits, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perf_model::circuit::garble::{decode, evaluate, garble, Delta};
    use perf_model::circuit::{Circuit, Gate};

    #[test]
    fn the_gate_models_are_half_gates() {
        // One AND gate garbled and evaluated by the circuit reference (gate 0).
        let c = Circuit {
            garbler_inputs: 1,
            evaluator_inputs: 1,
            wires: 3,
            gates: vec![Gate::And { a: 0, b: 1, out: 2 }],
            outputs: vec![2],
        };
        let h = Hasher::default();
        let delta = Delta::new(0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
        let (a0, b0) = (0xaaaa_5555u128 << 64 | 7, 0x0f0f_f0f0u128 << 32 | 12);
        let (gc, st) = garble(&c, delta, &[a0, b0], &h).unwrap();
        let [tg, te, c0] = garble_and(&h, delta.get(), a0, b0, 0);
        assert_eq!(gc.tables, vec![[tg, te]]);
        assert_eq!(st.output_labels, vec![c0]);
        for (x, y) in [(false, false), (false, true), (true, false), (true, true)] {
            let la = if x { a0 ^ delta.get() } else { a0 };
            let lb = if y { b0 ^ delta.get() } else { b0 };
            let l = evaluate_and(&h, la, lb, tg, te, 0);
            assert_eq!(evaluate(&c, &gc, &[la, lb], &h).unwrap(), vec![l]);
            assert_eq!(decode(&[l], &gc.decode), vec![x & y]);
        }
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let r = Request::Garble {
            delta: 3,
            a0: 4,
            b0: 5,
            g: 9,
        };
        let bytes = r.encode();
        assert_eq!(bytes.len(), 1 + payload_len(OP_GARBLE).unwrap());
        assert_eq!(bytes[49..], [9, 0, 0, 0]);
        let reply = [status_ok(OP_MUL), 0x34, 0x12];
        assert_eq!(decode_reply(OP_MUL, &reply), Ok(Reply::Product(0x1234)));
        assert_eq!(
            decode_reply(OP_MUL, &[STATUS_UNKNOWN]),
            Err(ReplyError::Unknown(OP_MUL))
        );
        assert!(matches!(
            decode_reply(OP_MUL, &reply[..2]),
            Err(ReplyError::Length { .. })
        ));
    }

    #[test]
    fn fields_fill_from_the_top() {
        let mut f = [0u128; 5];
        for (k, b) in (0u8..68).enumerate() {
            f = fields_next(f, b, k as u64, 1, [0; 3], 0);
        }
        assert_eq!(f[0].to_le_bytes()[0], 0);
        assert_eq!(f[1].to_le_bytes()[15], 31);
        assert_eq!((f[4] >> 96) as u32, u32::from_le_bytes([64, 65, 66, 67]));
    }

    #[test]
    fn both_top_levels_generate_verilog() {
        let v = crate::verilog(HostLink::new(4, 12));
        assert!(v.contains("module top(") && v.contains("led_reply"));
        let v = crate::verilog(AxisLink::new(12));
        assert!(v.contains("module top(") && v.contains("m_axis_tlast"));
    }
}
