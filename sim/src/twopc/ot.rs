//! The client's input labels by oblivious transfer: IKNP extension (Ishai, Kilian,
//! Nissim, Petrank 2003) of κ = 128 base OTs, which the dealer hands out (the only part
//! of it that is not run on the wire).
//!
//! The client (receiver, choice bits `r`) expands its two seeds per base OT into columns
//! `t_i = G(k_i^0)` and `G(k_i^1)` and sends `u_i = t_i ^ G(k_i^1) ^ r`, transposed: one
//! 128-bit row per OT, 16 bytes. The server (sender, base-OT choices `s`) holds
//! `q_j = t_j ^ r_j s` and sends both labels masked, `x_j^0 ^ H(q_j, j)` and
//! `x_j^1 ^ H(q_j ^ s, j)`: 32 bytes per OT, two hashes; the client unmasks one with
//! `H(t_j, j)`. These are the per-OT figures of [`perf_model::protocol`].

use perf_model::circuit::garble::{Hasher, Label, LabelRng};

/// Base OTs, and so rows of the OT matrix.
pub const KAPPA: usize = 128;

/// Transposes a 128 x 128 bit matrix in place: bit `j` of `a[i]` goes to bit `i` of
/// `a[j]`.
pub fn transpose128(a: &mut [u128; KAPPA]) {
    let mut j = 64usize;
    let mut m: u128 = u128::from(u64::MAX);
    while j != 0 {
        let mut k = 0usize;
        while k < KAPPA {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// `n` rows of the matrix whose 128 columns the generators produce, `ceil(n / 128)`
/// blocks of each.
fn rows(gens: &mut [LabelRng], n: usize) -> Vec<u128> {
    let mut out = Vec::with_capacity(n.div_ceil(KAPPA) * KAPPA);
    for _ in 0..n.div_ceil(KAPPA) {
        let mut block = [0u128; KAPPA];
        for (b, g) in block.iter_mut().zip(gens.iter_mut()) {
            *b = g.next_label();
        }
        transpose128(&mut block);
        out.extend_from_slice(&block);
    }
    out.truncate(n);
    out
}

/// The server's side: the base-OT choices `s` and the seeds it chose.
pub struct OtSender {
    s: u128,
    gens: Vec<LabelRng>,
    next: u64,
}

/// The client's side: both seeds of every base OT.
pub struct OtReceiver {
    gens0: Vec<LabelRng>,
    gens1: Vec<LabelRng>,
    next: u64,
}

/// Base OTs as a dealer makes them: 128 seed pairs, the server's choice bits, and the
/// seeds it chose.
pub fn base_ots(rng: &mut LabelRng) -> (OtSender, OtReceiver) {
    let s = rng.next_label();
    let pairs: Vec<(Label, Label)> = (0..KAPPA)
        .map(|_| (rng.next_label(), rng.next_label()))
        .collect();
    let sender = OtSender {
        s,
        gens: pairs
            .iter()
            .enumerate()
            .map(|(i, &(k0, k1))| LabelRng::new(if (s >> i) & 1 == 1 { k1 } else { k0 }))
            .collect(),
        next: 0,
    };
    let receiver = OtReceiver {
        gens0: pairs.iter().map(|&(k0, _)| LabelRng::new(k0)).collect(),
        gens1: pairs.iter().map(|&(_, k1)| LabelRng::new(k1)).collect(),
        next: 0,
    };
    (sender, receiver)
}

/// What the receiver keeps between its message and the sender's answer.
pub struct Pending {
    t: Vec<u128>,
    choices: Vec<bool>,
    first: u64,
}

impl OtReceiver {
    /// Starts OTs for `choices`: the message to the server (16 bytes per OT).
    pub fn request(&mut self, choices: &[bool]) -> (Vec<u8>, Pending) {
        let n = choices.len();
        let t = rows(&mut self.gens0, n);
        let g1 = rows(&mut self.gens1, n);
        let mut msg = Vec::with_capacity(16 * n);
        for j in 0..n {
            let r = if choices[j] { u128::MAX } else { 0 };
            msg.extend_from_slice(&(t[j] ^ g1[j] ^ r).to_le_bytes());
        }
        let first = self.next;
        self.next += n as u64;
        (
            msg,
            Pending {
                t,
                choices: choices.to_vec(),
                first,
            },
        )
    }

    /// The chosen labels from the server's answer (32 bytes per OT).
    pub fn finish(p: Pending, answer: &[u8], h: &Hasher) -> Vec<Label> {
        p.t.iter()
            .zip(&p.choices)
            .enumerate()
            .map(|(j, (&t, &c))| {
                let at = 32 * j + if c { 16 } else { 0 };
                let y = u128::from_le_bytes(answer[at..at + 16].try_into().unwrap_or([0; 16]));
                y ^ h.hash(t, p.first + j as u64)
            })
            .collect()
    }
}

impl OtSender {
    /// Answers a request (16 bytes per OT) with both messages of every OT masked (32
    /// bytes per OT).
    pub fn answer(&mut self, request: &[u8], messages: &[(Label, Label)], h: &Hasher) -> Vec<u8> {
        let n = messages.len();
        let g = rows(&mut self.gens, n);
        let mut out = Vec::with_capacity(32 * n);
        for (j, (&(x0, x1), gj)) in messages.iter().zip(&g).enumerate() {
            let u = u128::from_le_bytes(request[16 * j..16 * j + 16].try_into().unwrap_or([0; 16]));
            let q = gj ^ (u & self.s);
            let tweak = self.next + j as u64;
            let [h0, h1] = h.hash_n([(q, tweak), (q ^ self.s, tweak)]);
            out.extend_from_slice(&(x0 ^ h0).to_le_bytes());
            out.extend_from_slice(&(x1 ^ h1).to_le_bytes());
        }
        self.next += n as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_bit_j_of_row_i_to_bit_i_of_row_j() {
        let mut rng = LabelRng::new(7);
        let orig: [u128; KAPPA] = std::array::from_fn(|_| rng.next_label());
        let mut a = orig;
        transpose128(&mut a);
        for (i, row) in orig.iter().enumerate() {
            for (j, col) in a.iter().enumerate() {
                assert_eq!((row >> j) & 1, (col >> i) & 1, "({i}, {j})");
            }
        }
    }

    #[test]
    fn the_client_gets_the_chosen_label_and_only_it_unmasks() {
        let h = Hasher::default();
        let (mut s, mut r) = base_ots(&mut LabelRng::new(3));
        let mut rng = LabelRng::new(4);
        for n in [1usize, 200, 300] {
            let msgs: Vec<(Label, Label)> = (0..n)
                .map(|_| (rng.next_label(), rng.next_label()))
                .collect();
            let choices: Vec<bool> = (0..n)
                .map(|j| (rng.next_label() >> (j % 100)) & 1 == 1)
                .collect();
            let (req, p) = r.request(&choices);
            assert_eq!(req.len(), 16 * n);
            let ans = s.answer(&req, &msgs, &h);
            assert_eq!(ans.len(), 32 * n);
            let got = OtReceiver::finish(p, &ans, &h);
            for (j, &(m0, m1)) in msgs.iter().enumerate() {
                let (want, other) = if choices[j] { (m1, m0) } else { (m0, m1) };
                assert_eq!(got[j], want);
                assert_ne!(got[j], other);
            }
        }
    }
}
