//! The AES-128 encryption core: round circuits in a ring, each followed by a register.
//!
//! A round circuit ([`AesRound`]) computes one round (SubBytes, ShiftRows, MixColumns
//! except in round 10, AddRoundKey) together with that round's key from the previous
//! one, so every block carries its own key and the core encrypts under any key. With
//! `R` round circuits (1, 2, 5 or 10) a block loops `10 / R` times round the ring: it
//! takes 10 cycles whatever R, and the core takes a new block every `10 / R` cycles
//! ([`aes_core`](perf_model::accel::units::aes_core)). Blocks entering on cycles that
//! are all congruent modulo `10 / R` never meet in the ring; `ready_in` is low on the
//! cycles where a looping block holds the first round circuit. With R = 10 the core is
//! a 10-stage pipeline taking a block every cycle.
//!
//! Blocks are 128-bit values whose byte `i` is bits `8i..8i + 8` (the little-endian
//! order [`perf_model::circuit::garble::Hasher::aes`] uses).

use rust_hdl::prelude::*;
use std::fmt::Write as _;

const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 == 1 {
            p ^= a;
        }
        a = xtime(a);
        b >>= 1;
    }
    p
}

/// Multiplication by x in GF(2^8).
pub(crate) const fn xtime(a: u8) -> u8 {
    (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 }
}

/// The AES S-box: the inverse in GF(2^8) (0 for 0) through the affine map.
pub const SBOX: [u8; 256] = {
    // Powers of the generator 3 give logarithms; the inverse of 3^k is 3^(255 - k).
    let (mut exp, mut log) = ([0u8; 256], [0u8; 256]);
    let (mut x, mut k) = (1u8, 0usize);
    while k < 255 {
        exp[k] = x;
        log[x as usize] = k as u8;
        x = gmul(x, 3);
        k += 1;
    }
    let mut s = [0u8; 256];
    let mut i = 0usize;
    while i < 256 {
        let inv = if i == 0 {
            0
        } else {
            exp[(255 - log[i] as usize) % 255]
        };
        let mut y = inv;
        let mut r = 1;
        while r < 5 {
            y ^= inv.rotate_left(r);
            r += 1;
        }
        s[i] = y ^ 0x63;
        i += 1;
    }
    s
};

/// The round constant of round `r` (1 to 10).
pub fn rcon(r: u32) -> u8 {
    (1..r).fold(1u8, |c, _| xtime(c))
}

fn bytes(x: u128) -> [u8; 16] {
    x.to_le_bytes()
}

/// The next round key after `key` for round `r` (the key schedule's step).
pub fn next_key(key: u128, r: u32) -> u128 {
    let k = bytes(key);
    let mut n = [0u8; 16];
    let t = [
        SBOX[k[13] as usize] ^ rcon(r),
        SBOX[k[14] as usize],
        SBOX[k[15] as usize],
        SBOX[k[12] as usize],
    ];
    for i in 0..4 {
        n[i] = k[i] ^ t[i];
    }
    for i in 4..16 {
        n[i] = k[i] ^ n[i - 4];
    }
    u128::from_le_bytes(n)
}

/// Round `r` of a block whose state is `state` and whose previous round key is `key`:
/// the new state and the round's key. The golden model of [`AesRound`].
pub fn round(state: u128, key: u128, r: u32) -> (u128, u128) {
    let s = bytes(state);
    let mut h = [0u8; 16];
    // Byte (row, column) is byte row + 4 column; ShiftRows moves row r left by r.
    for c in 0..4 {
        for row in 0..4 {
            h[row + 4 * c] = SBOX[s[row + 4 * ((c + row) % 4)] as usize];
        }
    }
    let mut m = h;
    if r != 10 {
        for c in 0..4 {
            let b = &h[4 * c..4 * c + 4];
            for row in 0..4 {
                m[4 * c + row] = gmul(b[row], 2)
                    ^ gmul(b[(row + 1) % 4], 3)
                    ^ b[(row + 2) % 4]
                    ^ b[(row + 3) % 4];
            }
        }
    }
    let k = next_key(key, r);
    (u128::from_le_bytes(m) ^ k, k)
}

/// AES-128 encryption of `block` under `key`, round by round as the core computes it.
pub fn encrypt(key: u128, block: u128) -> u128 {
    let (mut s, mut k) = (block ^ key, key);
    for r in 1..=10 {
        (s, k) = round(s, k, r);
    }
    s
}

/// One AES round with its key-schedule step, combinational.
#[derive(LogicBlock, Default)]
pub struct AesRound {
    /// The state before the round.
    pub state: Signal<In, Bits<128>>,
    /// The previous round's key.
    pub key: Signal<In, Bits<128>>,
    /// The round, 1 to 10.
    pub round: Signal<In, Bits<4>>,
    /// The state after the round.
    pub state_out: Signal<Out, Bits<128>>,
    /// This round's key.
    pub key_out: Signal<Out, Bits<128>>,
}

impl Logic for AesRound {
    fn update(&mut self) {
        let r = self.round.val().to_u64() as u32;
        let (s, k) = round(self.state.val().to_u128(), self.key.val().to_u128(), r);
        self.state_out.next = s.to_bits();
        self.key_out.next = k.to_bits();
    }

    fn connect(&mut self) {
        self.state_out.connect();
        self.key_out.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(round_verilog())
    }
}

fn byte(name: &str, i: usize) -> String {
    format!("{name}[{}:{}]", 8 * i + 7, 8 * i)
}

fn concat(names: impl DoubleEndedIterator<Item = String>) -> String {
    format!("{{{}}}", names.rev().collect::<Vec<_>>().join(", "))
}

/// The body of [`AesRound`]'s module: the S-box as a case table, ShiftRows as wiring,
/// MixColumns with `xtime`, the key step.
/// The Verilog both AES cores' round logic starts with: the S-box as a ROM `sb` (an
/// initialised array: compact for Verilator, a ROM or logic for synthesis), `xt`
/// (multiplication by x) and `rc`, the round constant of the 4-bit input `round`.
pub(crate) fn round_tables_verilog() -> String {
    let mut v = String::from("reg [7:0] sb [0:255];\ninitial begin\n");
    for (i, s) in SBOX.iter().enumerate() {
        let _ = writeln!(v, "  sb[{i}] = 8'h{s:02x};");
    }
    v.push_str("end\n\n");
    v.push_str(
        "function [7:0] xt;\n  input [7:0] xt_in;\n  xt = {xt_in[6:0], 1'b0} ^ (8'h1b & {8{xt_in[7]}});\nendfunction\n\n",
    );
    v.push_str("reg [7:0] rc;\nalways @(*) begin\n  case (round)\n");
    for r in 1..=10 {
        let _ = writeln!(v, "    4'd{r}: rc = 8'h{:02x};", rcon(r));
    }
    v.push_str("    default: rc = 8'h00;\n  endcase\nend\n");
    v
}

fn round_verilog() -> String {
    let mut v = round_tables_verilog();
    for c in 0..4 {
        for row in 0..4 {
            let from = row + 4 * ((c + row) % 4);
            let _ = writeln!(
                v,
                "wire [7:0] h{} = sb[{}];",
                row + 4 * c,
                byte("state", from)
            );
        }
    }
    for c in 0..4 {
        let h = |k: usize| format!("h{}", 4 * c + k % 4);
        for row in 0..4 {
            let _ = writeln!(
                v,
                "wire [7:0] m{} = xt({}) ^ xt({}) ^ {} ^ {} ^ {};",
                4 * c + row,
                h(row),
                h(row + 1),
                h(row + 1),
                h(row + 2),
                h(row + 3)
            );
        }
    }
    let _ = writeln!(
        v,
        "wire [31:0] t = {{sb[{}], sb[{}], sb[{}], sb[{}] ^ rc}};",
        byte("key", 12),
        byte("key", 15),
        byte("key", 14),
        byte("key", 13)
    );
    v.push_str("wire [31:0] k0 = key[31:0] ^ t;\nwire [31:0] k1 = key[63:32] ^ k0;\n");
    v.push_str("wire [31:0] k2 = key[95:64] ^ k1;\nwire [31:0] k3 = key[127:96] ^ k2;\n");
    let h = concat((0..16).map(|i| format!("h{i}")));
    let m = concat((0..16).map(|i| format!("m{i}")));
    let _ = write!(
        v,
        "always @(*) begin\n  key_out = {{k3, k2, k1, k0}};\n  state_out = ((round == 4'd10) ? {h} : {m}) ^ {{k3, k2, k1, k0}};\nend\n"
    );
    v
}

macro_rules! aes_core {
    ($name:ident, $r:literal) => {
        #[doc = concat!("An AES-128 core with ", stringify!($r), " round circuits.")]
        #[derive(LogicBlock)]
        pub struct $name {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// The key of the block entering.
            pub key: Signal<In, Bits<128>>,
            /// The block entering.
            pub block: Signal<In, Bits<128>>,
            /// A block enters this cycle.
            pub valid_in: Signal<In, Bit>,
            /// The first round circuit is free this cycle.
            pub ready_in: Signal<Out, Bit>,
            /// The ciphertext.
            pub y: Signal<Out, Bits<128>>,
            /// `y` is valid (ten cycles after its block entered).
            pub valid_out: Signal<Out, Bit>,
            rounds: [AesRound; $r],
            st: [DFF<Bits<128>>; $r],
            rk: [DFF<Bits<128>>; $r],
            rn: [DFF<Bits<4>>; $r],
            v: [DFF<Bit>; $r],
            feedback: Signal<Local, Bit>,
            one: Constant<Bits<4>>,
            ten: Constant<Bits<4>>,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    clock: Default::default(),
                    key: Default::default(),
                    block: Default::default(),
                    valid_in: Default::default(),
                    ready_in: Default::default(),
                    y: Default::default(),
                    valid_out: Default::default(),
                    rounds: Default::default(),
                    st: Default::default(),
                    rk: Default::default(),
                    rn: Default::default(),
                    v: Default::default(),
                    feedback: Default::default(),
                    one: Constant::new(1u64.into()),
                    ten: Constant::new(10u64.into()),
                }
            }
        }

        // The one-circuit core has no later circuits: its `1..1` loop is empty.
        #[allow(clippy::reversed_empty_ranges)]
        impl Logic for $name {
            #[hdl_gen]
            fn update(&mut self) {
                for i in 0..$r {
                    self.st[i].clock.next = self.clock.val();
                    self.rk[i].clock.next = self.clock.val();
                    self.rn[i].clock.next = self.clock.val();
                    self.v[i].clock.next = self.clock.val();
                    self.st[i].d.next = self.rounds[i].state_out.val();
                    self.rk[i].d.next = self.rounds[i].key_out.val();
                }
                // A block that has not done round 10 loops back to the first circuit.
                self.feedback.next =
                    self.v[$r - 1].q.val() & (self.rn[$r - 1].q.val() != self.ten.val());
                self.ready_in.next = !self.feedback.val();
                if self.feedback.val() {
                    self.rounds[0].state.next = self.st[$r - 1].q.val();
                    self.rounds[0].key.next = self.rk[$r - 1].q.val();
                    self.rounds[0].round.next = self.rn[$r - 1].q.val() + self.one.val();
                    self.rn[0].d.next = self.rn[$r - 1].q.val() + self.one.val();
                    self.v[0].d.next = true;
                } else {
                    self.rounds[0].state.next = self.block.val() ^ self.key.val();
                    self.rounds[0].key.next = self.key.val();
                    self.rounds[0].round.next = self.one.val();
                    self.rn[0].d.next = self.one.val();
                    self.v[0].d.next = self.valid_in.val();
                }
                for i in 1..$r {
                    self.rounds[i].state.next = self.st[i - 1].q.val();
                    self.rounds[i].key.next = self.rk[i - 1].q.val();
                    self.rounds[i].round.next = self.rn[i - 1].q.val() + self.one.val();
                    self.rn[i].d.next = self.rn[i - 1].q.val() + self.one.val();
                    self.v[i].d.next = self.v[i - 1].q.val();
                }
                self.y.next = self.st[$r - 1].q.val();
                self.valid_out.next =
                    self.v[$r - 1].q.val() & (self.rn[$r - 1].q.val() == self.ten.val());
            }
        }
    };
}

aes_core!(AesCore1, 1);
aes_core!(AesCore2, 2);
aes_core!(AesCore5, 5);
aes_core!(AesCore10, 10);

#[cfg(test)]
mod tests {
    use super::*;
    use perf_model::circuit::garble::Hasher;

    #[test]
    fn sbox_and_round_constants() {
        assert_eq!(SBOX[0x00], 0x63);
        assert_eq!(SBOX[0x53], 0xed);
        assert_eq!(SBOX[0xff], 0x16);
        assert_eq!(rcon(1), 1);
        assert_eq!(rcon(9), 0x1b);
        assert_eq!(rcon(10), 0x36);
    }

    #[test]
    fn round_model_is_aes() {
        let key = u128::from_le_bytes(perf_model::circuit::garble::FIXED_KEY);
        let h = Hasher::default();
        for x in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            assert_eq!(encrypt(key, x), h.aes(x));
        }
    }

    #[test]
    fn round_verilog_tabulates_the_sbox() {
        let v = round_verilog();
        assert_eq!(v.matches("] = 8'h").count(), 256);
        assert!(v.contains("sb[83] = 8'hed;"));
    }
}
