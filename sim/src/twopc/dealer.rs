//! The offline phase's dealer: correlated randomness from a seed, each party taking its
//! part. It makes the client's masks (the client's share of every value it holds before
//! the input exists), Beaver square pairs and triples split into shares, and the base
//! OTs of the OT extension.
//!
//! One thing the dealer stands in for: Delphi's linear-layer preprocessing, where the
//! client sends its masks under linearly homomorphic encryption and the server returns
//! `W r - s`. Here the server's code receives the client's masks as [`Sealed`] values it
//! can only feed to its linear layers; the returned shares cross the wire as in Delphi
//! (the ciphertext expansion of a real scheme is not simulated, as perf_model does not
//! count it).

use super::ot::{self, OtReceiver, OtSender};
use super::ring::Ring;
use perf_model::circuit::garble::{Hasher, LabelRng};

/// What a dealer's stream is for.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum Purpose {
    BaseOt = 1,
    Mask = 2,
    SignMask = 3,
    Beaver = 4,
}

/// A dealer: every party's correlated randomness from one seed, drawn afresh for each
/// inference of a session (a mask or triple used twice would leak the difference of
/// two inputs).
#[derive(Debug, Clone, Copy)]
pub struct Dealer {
    seed: u128,
    ring: Ring,
    inference: u32,
}

/// A party's shares of Beaver randomness: `a`, `b` and `c = a b` (for a square pair,
/// `b = a`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeaverShares {
    /// Shares of `a`.
    pub a: Vec<u64>,
    /// Shares of `b`.
    pub b: Vec<u64>,
    /// Shares of `c`.
    pub c: Vec<u64>,
}

/// Values the server's code holds without reading them: the client's masks as
/// homomorphic ciphertexts would carry them.
#[derive(Debug, Clone, Default)]
pub struct Sealed(Vec<u64>);

impl Sealed {
    /// Seals values.
    pub fn new(v: Vec<u64>) -> Sealed {
        Sealed(v)
    }

    /// `f(values)`, sealed: what the server can compute on ciphertexts (linear maps).
    pub fn map(&self, f: impl FnOnce(&[u64]) -> Vec<u64>) -> Sealed {
        Sealed(f(&self.0))
    }

    /// The linear layer's correlation for the client, `f(values) - s`: what the server
    /// sends back in Delphi's offline phase, and so may hold in the clear.
    pub fn open_masked(
        &self,
        f: impl FnOnce(&[u64]) -> Vec<u64>,
        s: &[u64],
        ring: Ring,
    ) -> Vec<u64> {
        f(&self.0)
            .iter()
            .zip(s)
            .map(|(&v, &m)| ring.sub(v, m))
            .collect()
    }

    /// Several sealed operands, for a local operator of many inputs.
    pub fn combine(parts: &[&Sealed], f: impl FnOnce(&[&[u64]]) -> Vec<u64>) -> Sealed {
        let v: Vec<&[u64]> = parts.iter().map(|p| &p.0[..]).collect();
        Sealed(f(&v))
    }
}

impl Dealer {
    /// A dealer for the ring from a seed.
    pub fn new(seed: u128, ring: Ring) -> Dealer {
        Dealer {
            seed,
            ring,
            inference: 0,
        }
    }

    /// The same dealer's randomness for inference `k` of the session (the base OTs
    /// are the session's).
    pub fn inference(&self, k: u32) -> Dealer {
        Dealer {
            inference: k,
            ..*self
        }
    }

    fn rng(&self, purpose: Purpose, node: usize) -> LabelRng {
        let tag =
            (u128::from(self.inference) << 96) | (u128::from(purpose as u32) << 64) | node as u128;
        LabelRng::new(Hasher::default().aes(self.seed ^ tag))
    }

    fn ring_vec(&self, rng: &mut LabelRng, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let x = rng.next_label();
            out.push(self.ring.wrap(x as u64));
            out.push(self.ring.wrap((x >> 64) as u64));
        }
        out.truncate(n);
        out
    }

    /// The base OTs: the server's part and the client's.
    pub fn base_ots(&self) -> (OtSender, OtReceiver) {
        ot::base_ots(&mut self.inference(0).rng(Purpose::BaseOt, 0))
    }

    /// The client's fresh masks of node `node`'s output.
    pub fn mask(&self, node: usize, n: usize) -> Vec<u64> {
        self.ring_vec(&mut self.rng(Purpose::Mask, node), n)
    }

    /// The client's masks of Circa's sign bits at node `node`.
    pub fn sign_mask(&self, node: usize, n: usize) -> Vec<u64> {
        self.ring_vec(&mut self.rng(Purpose::SignMask, node), n)
    }

    /// `n` Beaver triples (`square`: pairs `(a, a^2)`) of node `node`, as the server's
    /// shares and the client's.
    pub fn beaver(&self, node: usize, n: usize, square: bool) -> (BeaverShares, BeaverShares) {
        let r = self.ring;
        let mut rng = self.rng(Purpose::Beaver, node);
        let a = self.ring_vec(&mut rng, n);
        let b = if square {
            a.clone()
        } else {
            self.ring_vec(&mut rng, n)
        };
        let c: Vec<u64> = a.iter().zip(&b).map(|(&x, &y)| r.mul(x, y)).collect();
        let split = |v: &[u64], rng: &mut LabelRng| {
            let s = self.ring_vec(rng, v.len());
            let cl: Vec<u64> = v.iter().zip(&s).map(|(&x, &y)| r.sub(x, y)).collect();
            (s, cl)
        };
        let (a_s, a_c) = split(&a, &mut rng);
        let (b_s, b_c) = if square {
            (a_s.clone(), a_c.clone())
        } else {
            split(&b, &mut rng)
        };
        let (c_s, c_c) = split(&c, &mut rng);
        (
            BeaverShares {
                a: a_s,
                b: b_s,
                c: c_s,
            },
            BeaverShares {
                a: a_c,
                b: b_c,
                c: c_c,
            },
        )
    }
}
