//! The garbled circuits of polympc's 2PC profile, built to use few AND gates (XOR and
//! INV are free with free-XOR).
//!
//! Values are l-bit ring elements, least significant bit first. Every circuit takes the
//! garbler's (server's) share and the evaluator's (client's) share of its inputs, adds
//! them mod 2^l inside the circuit, and re-shares its result the way the next linear
//! layer needs it (Delphi's data flow): the client also inputs `-r mod 2^l`, where `r`
//! is its precomputed mask of the next layer's input, and the circuit's output
//! `result - r` is revealed to the server only (the client returns the output labels'
//! colour bits; the server alone holds their decoding). Every client input is known in
//! the offline phase, so its labels travel by oblivious transfer offline.

use super::{Circuit, Gate, Wire};

/// Builds a circuit gate by gate.
#[derive(Debug)]
pub struct Builder {
    garbler_inputs: u32,
    evaluator_inputs: u32,
    next: Wire,
    gates: Vec<Gate>,
}

impl Builder {
    /// A builder for a circuit with these input widths.
    pub fn new(garbler_inputs: u32, evaluator_inputs: u32) -> Builder {
        Builder {
            garbler_inputs,
            evaluator_inputs,
            next: garbler_inputs + evaluator_inputs,
            gates: Vec::new(),
        }
    }

    /// Garbler input wires `from..from + n`.
    pub fn garbler(&self, from: u32, n: u32) -> Vec<Wire> {
        assert!(
            from + n <= self.garbler_inputs,
            "garbler input out of range"
        );
        (from..from + n).collect()
    }

    /// Evaluator input wires `from..from + n`.
    pub fn evaluator(&self, from: u32, n: u32) -> Vec<Wire> {
        assert!(
            from + n <= self.evaluator_inputs,
            "evaluator input out of range"
        );
        let base = self.garbler_inputs;
        (base + from..base + from + n).collect()
    }

    fn wire(&mut self) -> Wire {
        let w = self.next;
        self.next += 1;
        w
    }

    /// `a ^ b`.
    pub fn xor(&mut self, a: Wire, b: Wire) -> Wire {
        let out = self.wire();
        self.gates.push(Gate::Xor { a, b, out });
        out
    }

    /// `a & b`.
    pub fn and(&mut self, a: Wire, b: Wire) -> Wire {
        let out = self.wire();
        self.gates.push(Gate::And { a, b, out });
        out
    }

    /// `!a`.
    pub fn inv(&mut self, a: Wire) -> Wire {
        let out = self.wire();
        self.gates.push(Gate::Inv { a, out });
        out
    }

    /// A constant 0, from any wire (free: `w ^ w`).
    pub fn zero(&mut self, w: Wire) -> Wire {
        self.xor(w, w)
    }

    /// The carries `c_1..c_n` of `a + b + carry_in`, one AND each:
    /// `c_{i+1} = c_i ^ ((a_i ^ c_i) & (b_i ^ c_i))`. The carry-in folds into the first
    /// carry: `c_1 = a_0 & b_0`, or `a_0 | b_0 = !(!a_0 & !b_0)` with carry-in 1.
    fn carries(&mut self, a: &[Wire], b: &[Wire], n: usize, carry_in: bool) -> Vec<Wire> {
        let mut c: Vec<Wire> = Vec::with_capacity(n);
        for i in 0..n {
            let next = match c.last().copied() {
                None if carry_in => {
                    let (na, nb) = (self.inv(a[0]), self.inv(b[0]));
                    let t = self.and(na, nb);
                    self.inv(t)
                }
                None => self.and(a[0], b[0]),
                Some(ci) => {
                    let x = self.xor(a[i], ci);
                    let y = self.xor(b[i], ci);
                    let t = self.and(x, y);
                    self.xor(ci, t)
                }
            };
            c.push(next);
        }
        c
    }

    /// `a + b mod 2^l`: l - 1 AND gates.
    pub fn add(&mut self, a: &[Wire], b: &[Wire]) -> Vec<Wire> {
        assert_eq!(a.len(), b.len());
        let l = a.len();
        let c = self.carries(a, b, l - 1, false);
        (0..l)
            .map(|i| {
                let s = self.xor(a[i], b[i]);
                if i == 0 {
                    s
                } else {
                    self.xor(s, c[i - 1])
                }
            })
            .collect()
    }

    /// `a + bit mod 2^l`: l - 1 AND gates (the carry ripples while the bits are 1).
    pub fn add_bit(&mut self, a: &[Wire], bit: Wire) -> Vec<Wire> {
        let mut carry = bit;
        let mut out = Vec::with_capacity(a.len());
        for (i, &w) in a.iter().enumerate() {
            out.push(self.xor(w, carry));
            if i + 1 < a.len() {
                carry = self.and(w, carry);
            }
        }
        out
    }

    /// The most significant bit of `a + b + carry_in mod 2^l`: l - 1 AND gates.
    pub fn sum_msb(&mut self, a: &[Wire], b: &[Wire], carry_in: bool) -> Wire {
        assert_eq!(a.len(), b.len());
        let l = a.len();
        let s = self.xor(a[l - 1], b[l - 1]);
        if l == 1 {
            return if carry_in { self.inv(s) } else { s };
        }
        let c = self.carries(a, b, l - 1, carry_in);
        self.xor(s, c[l - 2])
    }

    /// `sel ? b : a`, bitwise: one AND per bit (`a ^ (sel & (a ^ b))`).
    pub fn mux(&mut self, sel: Wire, a: &[Wire], b: &[Wire]) -> Vec<Wire> {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = self.xor(x, y);
                let t = self.and(sel, d);
                self.xor(x, t)
            })
            .collect()
    }

    /// Whether `a < b` as two's-complement values: the MSB of `a - b = a + !b + 1`,
    /// l - 1 AND gates.
    pub fn less_than(&mut self, a: &[Wire], b: &[Wire]) -> Wire {
        let nb: Vec<Wire> = b.iter().map(|&w| self.inv(w)).collect();
        self.sum_msb(a, &nb, true)
    }

    /// Finishes the circuit with these outputs.
    pub fn finish(self, outputs: Vec<Wire>) -> Circuit {
        Circuit {
            garbler_inputs: self.garbler_inputs,
            evaluator_inputs: self.evaluator_inputs,
            wires: self.next,
            gates: self.gates,
            outputs,
        }
    }
}

/// ReLU on additive shares mod 2^l.
///
/// Garbler input: `x_S` (l bits). Evaluator inputs: `x_C` (l bits), `-r` (l bits).
/// Output (to the server): `ReLU(x_S + x_C) - r mod 2^l`.
/// AND gates: l - 1 (add shares) + l - 1 (select; the top bit of a ReLU is 0) +
/// l - 1 (re-mask) = 3(l - 1).
pub fn relu(l: u32) -> Circuit {
    let mut b = Builder::new(l, 2 * l);
    let (xs, xc, neg_r) = (b.garbler(0, l), b.evaluator(0, l), b.evaluator(l, l));
    let x = b.add(&xs, &xc);
    let sign = x[l as usize - 1];
    let keep = b.inv(sign);
    let mut y: Vec<Wire> = x[..l as usize - 1]
        .iter()
        .map(|&w| b.and(w, keep))
        .collect();
    y.push(b.zero(sign));
    let out = b.add(&y, &neg_r);
    b.finish(out)
}

/// Circa's truncated sign test on shares with their `k` low bits dropped.
///
/// Garbler input: the top l - k bits of `x_S`. Evaluator inputs: the top l - k bits of
/// `x_C`, and `-r` (l bits). Output (to the server): `[x >= 0] - r mod 2^l`, an
/// arithmetic share of the positive bit; the ReLU itself, `x * [x >= 0]`, then costs
/// one Beaver multiplication.
/// AND gates: l - k - 1 (the carries of the truncated sum) + l - 1 (adding the bit to
/// `-r`).
pub fn circa_sign(l: u32, k: u32) -> Circuit {
    assert!(k < l, "Circa drops fewer bits than the ring has");
    let n = l - k;
    let mut b = Builder::new(n, n + l);
    let (xs, xc, neg_r) = (b.garbler(0, n), b.evaluator(0, n), b.evaluator(n, l));
    let msb = b.sum_msb(&xs, &xc, false);
    let positive = b.inv(msb);
    let out = b.add_bit(&neg_r, positive);
    b.finish(out)
}

/// Max over a pooling window of `n` shared values.
///
/// Garbler inputs: the n shares `x_S,i` (n·l bits). Evaluator inputs: the n shares
/// `x_C,i`, then `-r` (l bits). Output (to the server): `max_i x_i - r mod 2^l`.
/// AND gates: n(l - 1) to add the shares, (n - 1)(2l - 1) for the comparisons and
/// selects, l - 1 to re-mask.
pub fn max(l: u32, n: u32) -> Circuit {
    assert!(n >= 1);
    let mut b = Builder::new(n * l, (n + 1) * l);
    let xs: Vec<Vec<Wire>> = (0..n)
        .map(|i| {
            let (s, c) = (b.garbler(i * l, l), b.evaluator(i * l, l));
            b.add(&s, &c)
        })
        .collect();
    let neg_r = b.evaluator(n * l, l);
    let mut best = xs[0].clone();
    for x in &xs[1..] {
        let lt = b.less_than(&best, x);
        best = b.mux(lt, &best, x);
    }
    let out = b.add(&best, &neg_r);
    b.finish(out)
}

/// A valid circuit from raw random draws, for property tests: `g` garbler and `e`
/// evaluator inputs; each `(op, a, b)` adds an XOR, AND or inverter (`op % 3`) reading
/// earlier wires `a` and `b` (modulo the wires so far); `outs` picks outputs likewise.
pub fn random(g: u32, e: u32, ops: &[(u8, u32, u32)], outs: &[u32]) -> Circuit {
    let mut wires = (g + e).max(1);
    let mut gates = Vec::with_capacity(ops.len());
    for &(op, a, b) in ops {
        let (a, b, out) = (a % wires, b % wires, wires);
        gates.push(match op % 3 {
            0 => Gate::Xor { a, b, out },
            1 => Gate::And { a, b, out },
            _ => Gate::Inv { a, out },
        });
        wires += 1;
    }
    Circuit {
        garbler_inputs: g,
        evaluator_inputs: e,
        wires,
        gates,
        outputs: outs.iter().map(|o| o % wires).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{from_bits, to_bits};
    use super::*;

    fn mask(l: u32) -> u64 {
        if l == 64 {
            u64::MAX
        } else {
            (1 << l) - 1
        }
    }

    /// Signed value of an l-bit ring element.
    fn signed(v: u64, l: u32) -> i64 {
        ((v << (64 - l)) as i64) >> (64 - l)
    }

    fn run(c: &Circuit, garbler: &[(u64, u32)], evaluator: &[(u64, u32)]) -> u64 {
        let bits = |vs: &[(u64, u32)]| {
            vs.iter()
                .flat_map(|&(v, l)| to_bits(v, l))
                .collect::<Vec<_>>()
        };
        let (out, done) = c.eval(&bits(garbler), &bits(evaluator)).unwrap();
        assert_eq!(done, c.counts(), "every gate evaluates once");
        from_bits(&out)
    }

    #[test]
    fn relu_on_shares() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for l in [16, 32, 64] {
            let c = relu(l);
            c.validate().unwrap();
            assert_eq!(c.counts().and, 3 * (l as u64 - 1));
            for _ in 0..200 {
                let (x, xs, r) = (next() & mask(l), next() & mask(l), next() & mask(l));
                let xc = x.wrapping_sub(xs) & mask(l);
                let neg_r = r.wrapping_neg() & mask(l);
                let ys = run(&c, &[(xs, l)], &[(xc, l), (neg_r, l)]);
                let want = if signed(x, l) >= 0 { x } else { 0 };
                assert_eq!(ys.wrapping_add(r) & mask(l), want, "l={l} x={x:#x}");
            }
        }
    }

    #[test]
    fn less_than_and_max() {
        let l = 8;
        let c = max(l, 3);
        c.validate().unwrap();
        assert_eq!(c.counts().and, 3 * 7 + 2 * 15 + 7);
        for (a, b2, d) in [
            (5i64, -3i64, 7i64),
            (-1, -2, -128),
            (127, 0, 127),
            (-128, -128, -127),
        ] {
            let enc = |v: i64| (v as u64) & mask(l);
            let shares = [(enc(a), 17u64), (enc(b2), 200), (enc(d), 3)];
            let g: Vec<(u64, u32)> = shares.iter().map(|&(_, s)| (s, l)).collect();
            let e: Vec<(u64, u32)> = shares
                .iter()
                .map(|&(v, s)| (v.wrapping_sub(s) & mask(l), l))
                .chain([(0, l)])
                .collect();
            assert_eq!(signed(run(&c, &g, &e), l), a.max(b2).max(d));
        }
    }

    #[test]
    fn circa_sign_is_exact_away_from_zero() {
        let (l, k) = (16, 4);
        let c = circa_sign(l, k);
        c.validate().unwrap();
        assert_eq!(c.counts().and, (l - k - 1 + l - 1) as u64);
        let r = 0xbeefu64;
        for (x, xs) in [(1000i64, 12345u64), (-1000, 999), (17, 60000), (-17, 3)] {
            let xe = (x as u64) & mask(l);
            let xc = xe.wrapping_sub(xs) & mask(l);
            let neg_r = r.wrapping_neg() & mask(l);
            let out = run(&c, &[(xs >> k, l - k)], &[(xc >> k, l - k), (neg_r, l)]);
            if x.abs() >= 1 << k {
                let bit = out.wrapping_add(r) & mask(l);
                assert_eq!(bit, u64::from(x >= 0), "x={x}");
            }
        }
    }

    #[test]
    fn malformed_circuits_are_rejected() {
        let mut c = relu(16);
        c.gates.swap(0, 40);
        assert!(matches!(
            c.validate(),
            Err(super::super::CircuitError::Undriven { .. })
        ));
        let mut c = relu(16);
        c.outputs.push(c.wires + 3);
        assert!(matches!(
            c.validate(),
            Err(super::super::CircuitError::OutOfRange { .. })
        ));
        let mut c = relu(16);
        let g = c.gates[5];
        c.gates.push(g);
        assert!(matches!(
            c.validate(),
            Err(super::super::CircuitError::Redriven { .. })
        ));
    }
}
