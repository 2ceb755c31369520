//! Half-gates garbling (Zahur, Rosulek and Evans, 2015) with free XOR and
//! point-and-permute, hashing with fixed-key AES-128: the reference the hardware
//! garbler and evaluator are held to, bit for bit, and the protocol simulator's engine.
//!
//! - Labels are 128-bit; a wire's true label is its false label XOR `delta`, whose
//!   lowest bit is 1 so a label's lowest bit is its permute bit.
//! - The hash of a label `X` with tweak `j` is `H(X, j) = AES_K(K') ^ K'` with
//!   `K' = 2X ^ j` (doubling in GF(2^128), reduction polynomial `x^128 + x^7 + x^2 + x +
//!   1`) and the fixed public key [`FIXED_KEY`]. Labels enter AES as their 16
//!   little-endian bytes.
//! - The `g`-th AND gate of a circuit (counting AND gates only) uses tweaks `2g` (the
//!   garbler half) and `2g + 1` (the evaluator half) and gives two ciphertexts: 4 AES
//!   calls to garble, 2 to evaluate ([`crate::protocol`]).
//! - XOR gates XOR labels; an inverter's false label is its input's true one, and the
//!   evaluator passes its label through.

use super::{Circuit, CircuitError, Gate};
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;

/// A wire label.
pub type Label = u128;

/// The public fixed AES key of the hash.
pub const FIXED_KEY: [u8; 16] = *b"polympc-halfgate";

/// The global offset between a wire's false and true labels (free XOR); its lowest
/// bit is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta(Label);

impl Delta {
    /// The offset from 128 random bits, its lowest bit set.
    pub fn new(random: Label) -> Delta {
        Delta(random | 1)
    }

    /// The offset.
    pub fn get(self) -> Label {
        self.0
    }
}

/// `2x` in GF(2^128).
pub fn double(x: Label) -> Label {
    let carry = (x >> 127) as u8;
    (x << 1) ^ (0x87 * Label::from(carry))
}

/// The fixed-key AES hash `H(x, tweak)`, in batches of any size.
#[derive(Clone)]
pub struct Hasher {
    aes: Aes128,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            aes: Aes128::new(&FIXED_KEY.into()),
        }
    }
}

impl Hasher {
    /// `AES_K(block)` of a 128-bit value (little-endian bytes).
    pub fn aes(&self, x: u128) -> u128 {
        let mut b = x.to_le_bytes().into();
        self.aes.encrypt_block(&mut b);
        u128::from_le_bytes(b.into())
    }

    /// `H(x, tweak)`.
    pub fn hash(&self, x: Label, tweak: u64) -> Label {
        let k = double(x) ^ Label::from(tweak);
        self.aes(k) ^ k
    }

    /// `H` of `N` (label, tweak) pairs at once, which lets AES pipeline them.
    pub fn hash_n<const N: usize>(&self, x: [(Label, u64); N]) -> [Label; N] {
        let k = x.map(|(x, t)| double(x) ^ Label::from(t));
        let mut blocks = k.map(|k| k.to_le_bytes().into());
        self.aes.encrypt_blocks(&mut blocks);
        let mut out = [0; N];
        for i in 0..N {
            out[i] = u128::from_le_bytes(blocks[i].into()) ^ k[i];
        }
        out
    }
}

/// An AES-128 known-answer vector; key and blocks are the 128-bit values of their 16
/// bytes in little-endian order, as [`Hasher::aes`] and the hardware core take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownAnswer {
    /// The suite: `fips197`, `gfsbox`, `keysbox`, `vartxt` or `varkey`.
    pub suite: &'static str,
    /// Key.
    pub key: u128,
    /// Plaintext.
    pub plaintext: u128,
    /// Ciphertext.
    pub ciphertext: u128,
}

/// The AES-128 known-answer vectors (FIPS-197, AESAVS) of
/// `perf_model/tests/data/aes128_kat.txt`, which the software hash and the hardware
/// core are both held to.
pub fn aes_known_answers() -> Vec<KnownAnswer> {
    fn block(s: &str) -> Option<u128> {
        let b: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        Some(u128::from_le_bytes(b.try_into().ok()?))
    }
    include_str!("../../tests/data/aes128_kat.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some(KnownAnswer {
                suite: w.first()?,
                key: block(w.get(1)?)?,
                plaintext: block(w.get(2)?)?,
                ciphertext: block(w.get(3)?)?,
            })
        })
        .collect()
}

/// A garbled circuit as the garbler sends it: two ciphertexts per AND gate, in gate
/// order, and the permute bits that decode the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarbledCircuit {
    /// `[T_G, T_E]` of every AND gate.
    pub tables: Vec<[Label; 2]>,
    /// The lowest bit of every output's false label: an output's value is its label's
    /// lowest bit XOR this.
    pub decode: Vec<bool>,
}

impl GarbledCircuit {
    /// Bytes on the wire: 32 per AND gate and a bit per output.
    pub fn bytes(&self) -> u64 {
        32 * self.tables.len() as u64 + (self.decode.len() as u64).div_ceil(8)
    }
}

/// What the garbler keeps: the false label of every input and output wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarblerState {
    /// The offset.
    pub delta: Delta,
    /// False labels of the inputs, garbler's then evaluator's.
    pub input_labels: Vec<Label>,
    /// False labels of the outputs.
    pub output_labels: Vec<Label>,
}

impl GarblerState {
    /// The label that encodes `bit` on input wire `i`.
    pub fn input_label(&self, i: usize, bit: bool) -> Label {
        self.input_labels[i] ^ if bit { self.delta.get() } else { 0 }
    }

    /// The value an output label stands for, or `None` when it is neither of the
    /// output's labels (a corrupted evaluation).
    pub fn decode_label(&self, i: usize, label: Label) -> Option<bool> {
        let zero = self.output_labels[i];
        if label == zero {
            Some(false)
        } else if label == zero ^ self.delta.get() {
            Some(true)
        } else {
            None
        }
    }
}

fn bit(x: Label) -> bool {
    x & 1 == 1
}

fn mask(b: bool, x: Label) -> Label {
    if b {
        x
    } else {
        0
    }
}

fn check_inputs(c: &Circuit, labels: usize) -> Result<(), CircuitError> {
    let expected = (c.garbler_inputs + c.evaluator_inputs) as usize;
    if labels == expected {
        Ok(())
    } else {
        Err(CircuitError::InputLength {
            party: "input-label",
            expected,
            got: labels,
        })
    }
}

/// Garbles `c` with offset `delta` and the false labels of its inputs (garbler's, then
/// evaluator's).
pub fn garble(
    c: &Circuit,
    delta: Delta,
    input_labels: &[Label],
    h: &Hasher,
) -> Result<(GarbledCircuit, GarblerState), CircuitError> {
    c.validate()?;
    check_inputs(c, input_labels.len())?;
    let r = delta.get();
    let mut w: Vec<Label> = vec![0; c.wires as usize];
    w[..input_labels.len()].copy_from_slice(input_labels);
    let mut tables = Vec::with_capacity(c.counts().and as usize);
    for g in &c.gates {
        match *g {
            Gate::Xor { a, b, out } => w[out as usize] = w[a as usize] ^ w[b as usize],
            Gate::Inv { a, out } => w[out as usize] = w[a as usize] ^ r,
            Gate::And { a, b, out } => {
                let (a0, b0) = (w[a as usize], w[b as usize]);
                let j = 2 * tables.len() as u64;
                let (pa, pb) = (bit(a0), bit(b0));
                let [ha0, ha1, hb0, hb1] =
                    h.hash_n([(a0, j), (a0 ^ r, j), (b0, j + 1), (b0 ^ r, j + 1)]);
                // Garbler half: a AND pb; evaluator half: a AND (b XOR pb).
                let tg = ha0 ^ ha1 ^ mask(pb, r);
                let wg = ha0 ^ mask(pa, tg);
                let te = hb0 ^ hb1 ^ a0;
                let we = hb0 ^ mask(pb, te ^ a0);
                w[out as usize] = wg ^ we;
                tables.push([tg, te]);
            }
        }
    }
    let output_labels: Vec<Label> = c.outputs.iter().map(|&o| w[o as usize]).collect();
    Ok((
        GarbledCircuit {
            tables,
            decode: output_labels.iter().map(|&l| bit(l)).collect(),
        },
        GarblerState {
            delta,
            input_labels: input_labels.to_vec(),
            output_labels,
        },
    ))
}

/// Evaluates a garbled circuit on one label per input; gives the output labels.
pub fn evaluate(
    c: &Circuit,
    gc: &GarbledCircuit,
    input_labels: &[Label],
    h: &Hasher,
) -> Result<Vec<Label>, CircuitError> {
    c.validate()?;
    check_inputs(c, input_labels.len())?;
    let ands = c.counts().and as usize;
    if gc.tables.len() != ands {
        return Err(CircuitError::Tables {
            expected: ands,
            got: gc.tables.len(),
        });
    }
    let mut w: Vec<Label> = vec![0; c.wires as usize];
    w[..input_labels.len()].copy_from_slice(input_labels);
    let mut g_and = 0usize;
    for g in &c.gates {
        match *g {
            Gate::Xor { a, b, out } => w[out as usize] = w[a as usize] ^ w[b as usize],
            Gate::Inv { a, out } => w[out as usize] = w[a as usize],
            Gate::And { a, b, out } => {
                let (la, lb) = (w[a as usize], w[b as usize]);
                let [tg, te] = gc.tables[g_and];
                let j = 2 * g_and as u64;
                let [ha, hb] = h.hash_n([(la, j), (lb, j + 1)]);
                let wg = ha ^ mask(bit(la), tg);
                let we = hb ^ mask(bit(lb), te ^ la);
                w[out as usize] = wg ^ we;
                g_and += 1;
            }
        }
    }
    Ok(c.outputs.iter().map(|&o| w[o as usize]).collect())
}

/// The outputs' values from their labels and the garbler's decode bits.
pub fn decode(labels: &[Label], decode: &[bool]) -> Vec<bool> {
    labels
        .iter()
        .zip(decode)
        .map(|(&l, &d)| bit(l) ^ d)
        .collect()
}

/// A pseudo-random generator of labels: AES-128 in counter mode under a seed key.
#[derive(Clone)]
pub struct LabelRng {
    aes: Aes128,
    counter: u128,
}

impl LabelRng {
    /// A generator from a 128-bit seed.
    pub fn new(seed: u128) -> LabelRng {
        LabelRng {
            aes: Aes128::new(&seed.to_le_bytes().into()),
            counter: 0,
        }
    }

    /// The next 128 pseudo-random bits.
    pub fn next_label(&mut self) -> Label {
        let mut b = self.counter.to_le_bytes().into();
        self.counter += 1;
        self.aes.encrypt_block(&mut b);
        u128::from_le_bytes(b.into())
    }

    /// `n` labels.
    pub fn labels(&mut self, n: usize) -> Vec<Label> {
        (0..n).map(|_| self.next_label()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::library;
    use super::*;

    #[test]
    fn doubling_reduces_by_the_field_polynomial() {
        assert_eq!(double(1), 2);
        assert_eq!(double(1 << 127), 0x87);
        let h = Hasher::default();
        assert_eq!(h.hash_n([(5, 3), (7, 9)]), [h.hash(5, 3), h.hash(7, 9)]);
    }

    #[test]
    fn wrong_tables_are_caught() {
        let c = library::relu(16);
        let h = Hasher::default();
        let mut rng = LabelRng::new(1);
        let zeros = rng.labels(48);
        let (mut gc, state) = garble(&c, Delta::new(rng.next_label()), &zeros, &h).unwrap();
        gc.tables[3][0] ^= 1 << 77;
        let out = evaluate(&c, &gc, &zeros, &h).unwrap();
        assert!(
            (0..out.len()).any(|i| state.decode_label(i, out[i]).is_none()),
            "a corrupted table gives a label that is neither"
        );
        gc.tables.pop();
        assert!(matches!(
            evaluate(&c, &gc, &zeros, &h),
            Err(CircuitError::Tables { .. })
        ));
    }
}
