//! The column-serial AES-128 core: the small core of the host link's garbled-AND unit,
//! for parts where even one round circuit of [`super::aes`] (twenty S-boxes) is too
//! big.
//!
//! Four S-boxes serve, in turn, the key-schedule step and the four columns of a round.
//! A round takes five cycles:
//! - phase 0: the round key from the previous one (`SubWord(RotWord(w3)) ^ rcon`);
//! - phases 1 to 4: column c of the new state from SubBytes, ShiftRows, MixColumns
//!   (not in round 10) and AddRoundKey. The old state and the key turn by a column a
//!   phase, so the four bytes that ShiftRows brings to column c (bytes 0, 5, 10 and 15
//!   of the turned state) and the key's column c are always at the same place, and the
//!   new columns shift into a 96-bit register until the fourth completes the state.
//!
//! A block entering with `start` (while `ready`) is whitened with the key in that cycle;
//! its ciphertext is on `y` with a one-cycle `done` 51 cycles later, and stays there
//! until the next block ([`aes_serial`](perf_model::accel::units::aes_serial)).
//! [`step`] is the datapath's golden model and [`encrypt`] runs it a block through.

use super::aes::{rcon, round_tables_verilog, xtime, SBOX};
use rust_hdl::prelude::*;
use std::fmt::Write as _;

fn col(x: u128, c: usize) -> u32 {
    (x >> (32 * c)) as u32
}

fn sub_word(w: u32) -> u32 {
    u32::from_le_bytes(w.to_le_bytes().map(|b| SBOX[b as usize]))
}

fn mix_column(w: u32) -> u32 {
    let s = w.to_le_bytes();
    let m: [u8; 4] = std::array::from_fn(|r| {
        let (a, b) = (s[r], s[(r + 1) % 4]);
        xtime(a) ^ xtime(b) ^ b ^ s[(r + 2) % 4] ^ s[(r + 3) % 4]
    });
    u32::from_le_bytes(m)
}

/// The registers of the datapath between two cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The state, turned by `phase - 1` columns during a round.
    pub st: u128,
    /// The round key, turned likewise.
    pub rk: u128,
    /// The new state's columns done so far, the latest on top.
    pub ns: u128,
}

/// One cycle of the datapath in round `round` (1 to 10), phase `phase` (0 to 4).
pub fn step(s: State, round: u32, phase: u32) -> State {
    if phase == 0 {
        let w3 = col(s.rk, 3);
        let t = sub_word(w3.rotate_right(8)) ^ u32::from(rcon(round));
        let mut k = [0u32; 4];
        let mut prev = t;
        for (c, kc) in k.iter_mut().enumerate() {
            *kc = col(s.rk, c) ^ prev;
            prev = *kc;
        }
        let rk = k
            .iter()
            .enumerate()
            .fold(0u128, |a, (c, &w)| a | u128::from(w) << (32 * c));
        return State { rk, ..s };
    }
    let b = s.st.to_le_bytes();
    let word = u32::from_le_bytes([b[0], b[5], b[10], b[15]]);
    let sub = sub_word(word);
    let column = if round == 10 { sub } else { mix_column(sub) } ^ col(s.rk, 0);
    let ns = (s.ns >> 32 | u128::from(column) << 64) & ((1u128 << 96) - 1);
    if phase == 4 {
        State {
            st: s.ns & ((1u128 << 96) - 1) | u128::from(column) << 96,
            rk: s.rk.rotate_right(32),
            ns,
        }
    } else {
        State {
            st: s.st.rotate_right(32),
            rk: s.rk.rotate_right(32),
            ns,
        }
    }
}

/// AES-128 of `block` under `key` through [`step`], cycle by cycle.
pub fn encrypt(key: u128, block: u128) -> u128 {
    let mut s = State {
        st: block ^ key,
        rk: key,
        ns: 0,
    };
    for round in 1..=10 {
        for phase in 0..5 {
            s = step(s, round, phase);
        }
    }
    s.st
}

/// The datapath of a cycle ([`step`]), combinational.
#[derive(LogicBlock, Default)]
pub struct ColumnStep {
    /// The state.
    pub st: Signal<In, Bits<128>>,
    /// The round key.
    pub rk: Signal<In, Bits<128>>,
    /// The new columns so far.
    pub ns: Signal<In, Bits<96>>,
    /// The round, 1 to 10.
    pub round: Signal<In, Bits<4>>,
    /// The phase, 0 to 4.
    pub phase: Signal<In, Bits<3>>,
    /// `st` after the cycle.
    pub st_next: Signal<Out, Bits<128>>,
    /// `rk` after the cycle.
    pub rk_next: Signal<Out, Bits<128>>,
    /// `ns` after the cycle.
    pub ns_next: Signal<Out, Bits<96>>,
}

impl Logic for ColumnStep {
    fn update(&mut self) {
        let s = State {
            st: self.st.val().to_u128(),
            rk: self.rk.val().to_u128(),
            ns: self.ns.val().to_u128(),
        };
        let n = step(
            s,
            self.round.val().to_u64() as u32,
            self.phase.val().to_u64() as u32,
        );
        self.st_next.next = n.st.to_bits();
        self.rk_next.next = n.rk.to_bits();
        self.ns_next.next = n.ns.to_bits();
    }

    fn connect(&mut self) {
        self.st_next.connect();
        self.rk_next.connect();
        self.ns_next.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(step_verilog())
    }
}

/// The body of [`ColumnStep`]'s module.
fn step_verilog() -> String {
    let mut v = round_tables_verilog();
    // The S-boxes' input: RotWord of the key's last column, or ShiftRows' bytes.
    v.push_str(
        "wire [31:0] w = (phase == 3'd0) ? {rk[103:96], rk[127:120], rk[119:112], rk[111:104]}\n\
         \x20                             : {st[127:120], st[87:80], st[47:40], st[7:0]};\n",
    );
    v.push_str("wire [7:0] s0 = sb[w[7:0]];\nwire [7:0] s1 = sb[w[15:8]];\n");
    v.push_str("wire [7:0] s2 = sb[w[23:16]];\nwire [7:0] s3 = sb[w[31:24]];\n");
    for r in 0..4 {
        let s = |k: usize| format!("s{}", (r + k) % 4);
        let _ = writeln!(
            v,
            "wire [7:0] m{r} = xt({}) ^ xt({}) ^ {} ^ {} ^ {};",
            s(0),
            s(1),
            s(1),
            s(2),
            s(3)
        );
    }
    v.push_str("wire [31:0] t = {s3, s2, s1, s0 ^ rc};\n");
    v.push_str("wire [31:0] k0 = rk[31:0] ^ t;\nwire [31:0] k1 = rk[63:32] ^ k0;\n");
    v.push_str("wire [31:0] k2 = rk[95:64] ^ k1;\nwire [31:0] k3 = rk[127:96] ^ k2;\n");
    v.push_str(
        "wire [31:0] c = ((round == 4'd10) ? {s3, s2, s1, s0} : {m3, m2, m1, m0}) ^ rk[31:0];\n",
    );
    v.push_str(
        "always @(*) begin\n\
         \x20 if (phase == 3'd0) begin\n\
         \x20   st_next = st;\n\
         \x20   rk_next = {k3, k2, k1, k0};\n\
         \x20   ns_next = ns;\n\
         \x20 end else begin\n\
         \x20   st_next = (phase == 3'd4) ? {c, ns} : {st[31:0], st[127:32]};\n\
         \x20   rk_next = {rk[31:0], rk[127:32]};\n\
         \x20   ns_next = {c, ns[95:32]};\n\
         \x20 end\n\
         end\n",
    );
    v
}

/// The column-serial AES-128 core.
#[derive(LogicBlock)]
pub struct AesSerial {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The key of the block entering.
    pub key: Signal<In, Bits<128>>,
    /// The block entering.
    pub block: Signal<In, Bits<128>>,
    /// A block enters this cycle (taken only while `ready`).
    pub start: Signal<In, Bit>,
    /// The core is free.
    pub ready: Signal<Out, Bit>,
    /// The last ciphertext.
    pub y: Signal<Out, Bits<128>>,
    /// `y` is new this cycle.
    pub done: Signal<Out, Bit>,
    datapath: ColumnStep,
    st: DFF<Bits<128>>,
    rk: DFF<Bits<128>>,
    ns: DFF<Bits<96>>,
    round: DFF<Bits<4>>,
    phase: DFF<Bits<3>>,
    busy: DFF<Bit>,
    fin: DFF<Bit>,
    one4: Constant<Bits<4>>,
    ten: Constant<Bits<4>>,
    zero3: Constant<Bits<3>>,
    one3: Constant<Bits<3>>,
    four: Constant<Bits<3>>,
}

impl Default for AesSerial {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            key: Default::default(),
            block: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            y: Default::default(),
            done: Default::default(),
            datapath: Default::default(),
            st: Default::default(),
            rk: Default::default(),
            ns: Default::default(),
            round: Default::default(),
            phase: Default::default(),
            busy: Default::default(),
            fin: Default::default(),
            one4: Constant::new(1u64.into()),
            ten: Constant::new(10u64.into()),
            zero3: Constant::new(0u64.into()),
            one3: Constant::new(1u64.into()),
            four: Constant::new(4u64.into()),
        }
    }
}

impl Logic for AesSerial {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, st, rk, ns, round, phase, busy, fin);
        self.datapath.st.next = self.st.q.val();
        self.datapath.rk.next = self.rk.q.val();
        self.datapath.ns.next = self.ns.q.val();
        self.datapath.round.next = self.round.q.val();
        self.datapath.phase.next = self.phase.q.val();
        self.fin.d.next = false;
        if self.busy.q.val() {
            self.st.d.next = self.datapath.st_next.val();
            self.rk.d.next = self.datapath.rk_next.val();
            self.ns.d.next = self.datapath.ns_next.val();
            if self.phase.q.val() == self.four.val() {
                self.phase.d.next = self.zero3.val();
                self.round.d.next = self.round.q.val() + self.one4.val();
                if self.round.q.val() == self.ten.val() {
                    self.busy.d.next = false;
                    self.fin.d.next = true;
                }
            } else {
                self.phase.d.next = self.phase.q.val() + self.one3.val();
            }
        } else if self.start.val() {
            self.st.d.next = self.block.val() ^ self.key.val();
            self.rk.d.next = self.key.val();
            self.round.d.next = self.one4.val();
            self.phase.d.next = self.zero3.val();
            self.busy.d.next = true;
        }
        self.ready.next = !self.busy.q.val();
        self.y.next = self.st.q.val();
        self.done.next = self.fin.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perf_model::circuit::garble::{Hasher, FIXED_KEY};

    #[test]
    fn the_column_steps_are_aes() {
        let key = u128::from_le_bytes(FIXED_KEY);
        let h = Hasher::default();
        for x in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            assert_eq!(encrypt(key, x), h.aes(x));
            assert_eq!(encrypt(key, x), super::super::aes::encrypt(key, x));
        }
    }

    #[test]
    fn the_core_generates_verilog() {
        let v = crate::verilog(AesSerial::default());
        assert!(v.contains("module top("));
        assert_eq!(v.matches("] = 8'h").count(), 256);
    }
}
