//! Arithmetic in Z_2^l: values held as their low `l` bits in a `u64`, the fixed-point
//! encoding of the spec (f fractional bits), and SecureML's local truncation of
//! additive shares.

use hdl::mac::truncate_share;
use perf_model::FixedPoint;

/// The ring Z_2^l with f fractional bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    /// Bits of the ring (16, 32 or 64).
    pub l: u32,
    /// Fractional bits of the fixed-point encoding.
    pub f: u32,
}

impl Ring {
    /// The ring of a spec's fixed-point format.
    pub fn of(fp: FixedPoint) -> Ring {
        Ring {
            l: fp.ring_bits,
            f: fp.frac_bits,
        }
    }

    /// `2^l - 1`.
    pub fn mask(self) -> u64 {
        hdl::ring::mask(self.l)
    }

    /// `x mod 2^l`.
    pub fn wrap(self, x: u64) -> u64 {
        x & self.mask()
    }

    /// `a + b`.
    pub fn add(self, a: u64, b: u64) -> u64 {
        self.wrap(a.wrapping_add(b))
    }

    /// `a - b`.
    pub fn sub(self, a: u64, b: u64) -> u64 {
        self.wrap(a.wrapping_sub(b))
    }

    /// `a * b`.
    pub fn mul(self, a: u64, b: u64) -> u64 {
        hdl::ring::mul(a, b, self.l)
    }

    /// `-a`.
    pub fn neg(self, a: u64) -> u64 {
        self.wrap(a.wrapping_neg())
    }

    /// The two's-complement value of a ring element.
    pub fn signed(self, x: u64) -> i64 {
        let up = 64 - self.l;
        ((x << up) as i64) >> up
    }

    /// The ring element of an integer.
    pub fn from_i64(self, v: i64) -> u64 {
        self.wrap(v as u64)
    }

    /// Whether a ring element is non-negative as a two's-complement value.
    pub fn non_negative(self, x: u64) -> bool {
        (x >> (self.l - 1)) & 1 == 0
    }

    /// `round(x 2^f)`, ties to even, saturated at `±min(2^(l-1) - 1, 2^62)`: the
    /// encoding the trainer's ring evaluation uses.
    pub fn encode(self, x: f64) -> u64 {
        let lim = (2f64.powi(self.l as i32 - 1) - 1.0).min(2f64.powi(62));
        let v = (x * 2f64.powi(self.f as i32))
            .round_ties_even()
            .clamp(-lim, lim);
        self.from_i64(v as i64)
    }

    /// The real value of a ring element.
    pub fn decode(self, x: u64) -> f64 {
        self.signed(x) as f64 / 2f64.powi(self.f as i32)
    }

    /// The server's (party 0's) local truncation of its share: `x_S >> f` on the l-bit
    /// pattern (the MAC and Beaver lanes' golden model).
    pub fn trunc_server(self, x: u64) -> u64 {
        truncate_share(x, self.f, 0, self.l)
    }

    /// The client's (party 1's) local truncation of its share: `-((-x_C) >> f)`.
    pub fn trunc_client(self, x: u64) -> u64 {
        truncate_share(x, self.f, 1, self.l)
    }

    /// SecureML's truncation of `x` split as `(x - c, c)`: what the two parties' local
    /// truncations add up to.
    pub fn trunc_split(self, x: u64, c: u64) -> u64 {
        self.add(self.trunc_server(self.sub(x, c)), self.trunc_client(c))
    }

    /// Exact truncation: the arithmetic shift of the signed value.
    pub fn trunc_exact(self, x: u64) -> u64 {
        self.from_i64(self.signed(x) >> self.f)
    }

    /// Bytes of one element on the wire.
    pub fn bytes(self) -> usize {
        (self.l as usize).div_ceil(8)
    }

    /// Elements packed little-endian, `l / 8` bytes each.
    pub fn pack(self, v: &[u64]) -> Vec<u8> {
        let b = self.bytes();
        let mut out = Vec::with_capacity(v.len() * b);
        for x in v {
            out.extend_from_slice(&x.to_le_bytes()[..b]);
        }
        out
    }

    /// The elements of [`Ring::pack`]'s bytes (whose length the caller has checked).
    pub fn unpack(self, bytes: &[u8]) -> Vec<u64> {
        bytes
            .chunks(self.bytes())
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                self.wrap(u64::from_le_bytes(w))
            })
            .collect()
    }
}

/// Bits packed eight to a byte, least significant first.
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 8] |= u8::from(b) << (i % 8);
    }
    out
}

/// The first `n` bits of [`pack_bits`]'s bytes.
pub fn unpack_bits(bytes: &[u8], n: usize) -> Vec<bool> {
    (0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_of_shares_is_off_by_at_most_one_away_from_the_wrap() {
        let r = Ring { l: 32, f: 8 };
        // Client shares outside the wrap event's range (about |x| values next to 0).
        for (x, c) in [
            (1000i64, 0x9000_0000u64),
            (-1000, 0xdead_beef),
            (5, 1 << 31),
            (-3, 12),
        ] {
            let xe = r.from_i64(x);
            let got = r.signed(r.trunc_split(xe, c));
            let want = x >> 8;
            assert!((got - want).abs() <= 1, "x={x} c={c}: {got} vs {want}");
        }
        assert_eq!(r.encode(1.5), 384);
        assert_eq!(r.encode(-0.001953125), r.from_i64(0), "ties go to even");
        assert_eq!(r.signed(r.encode(1e30)), (1 << 31) - 1);
        let bytes = r.pack(&[1, 0xffff_ffff, 7]);
        assert_eq!(bytes.len(), 12);
        assert_eq!(r.unpack(&bytes), vec![1, 0xffff_ffff, 7]);
        let bits = [true, false, true, true, false, false, false, false, true];
        assert_eq!(unpack_bits(&pack_bits(&bits), 9), bits);
    }
}
