//! The accelerator's blocks on Verilator: drive them with vectors, compare every output
//! with the golden model, and measure latency and initiation interval against
//! perf_model's formulas. `polympc sim` and the block tests use it.

use crate::verilator::{HarnessError, VerilatedDesign};
use hdl::beaver::{self, PolyInput};
use hdl::beaver_mul::{self, MulInput};
use hdl::blocks::BlockKind;
use hdl::mac;
use hdl::ring::{self, mask};
use std::path::Path;

/// Builds a block for ring width `l` (cached).
pub fn design(kind: BlockKind, l: u32, frac_bits: u32) -> Result<VerilatedDesign, HarnessError> {
    let name = kind.name(l);
    let v = kind
        .verilog(l, frac_bits)
        .ok_or_else(|| HarnessError::Ports {
            design: name.clone(),
            message: format!("no {l}-bit version (16, 32 or 64)"),
        })?;
    VerilatedDesign::build(&format!("{name}-f{frac_bits}"), &v)
}

fn port(d: &VerilatedDesign, name: &str) -> Result<usize, HarnessError> {
    d.port(name).ok_or_else(|| HarnessError::Ports {
        design: d.name().to_string(),
        message: format!("no port `{name}`"),
    })
}

/// The `(cycle, y)` of every output the consumer takes.
fn taken(
    d: &VerilatedDesign,
    rows: &[Vec<u128>],
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let (y, vout, rout) = (port(d, "y")?, port(d, "valid_out")?, port(d, "ready_out")?);
    Ok(d.run(rows, vcd)?
        .iter()
        .zip(rows)
        .enumerate()
        .filter(|(_, (o, i))| o[vout] == 1 && i[rout] == 1)
        .map(|(t, (o, _))| (t, o[y] as u64))
        .collect())
}

/// Drives operand pairs into a ring multiplier, the consumer ready on the cycles
/// `ready` says (repeating it); flushes the pipeline after the last pair.
pub fn drive_multiplier(
    d: &VerilatedDesign,
    pairs: &[(u64, u64)],
    ready: &[bool],
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let (a, b, vin, rout) = (
        port(d, "a")?,
        port(d, "b")?,
        port(d, "valid_in")?,
        port(d, "ready_out")?,
    );
    let ready = if ready.iter().any(|&r| r) {
        ready
    } else {
        &[true]
    };
    let (mut rows, mut next, mut flushed) = (Vec::new(), 0, 0);
    // The deepest pipeline is 6 stages; 8 ready cycles after the last pair drain it.
    while flushed < 8 {
        let r = ready[rows.len() % ready.len()];
        let mut row = vec![0u128; d.inputs().len()];
        row[rout] = r.into();
        if let Some(&(x, y)) = pairs.get(next) {
            (row[a], row[b], row[vin]) = (x.into(), y.into(), 1);
            // The multiplier takes the pair when the consumer is ready.
            next += usize::from(r);
        } else if r {
            flushed += 1;
        }
        rows.push(row);
    }
    taken(d, &rows, vcd)
}

/// Streams dot products of (share, weight) pairs back to back into a MAC lane as
/// `party`.
pub fn drive_mac(
    d: &VerilatedDesign,
    dots: &[Vec<(u64, u64)>],
    party: u8,
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let (x, w, last) = (port(d, "x")?, port(d, "w")?, port(d, "last")?);
    let (vin, rout, pty) = (
        port(d, "valid_in")?,
        port(d, "ready_out")?,
        port(d, "party")?,
    );
    let mut rows = Vec::new();
    let blank = |rows: &mut Vec<Vec<u128>>| {
        let mut row = vec![0u128; d.inputs().len()];
        (row[rout], row[pty]) = (1, party.into());
        rows.push(row);
    };
    for dot in dots {
        for (i, &(xv, wv)) in dot.iter().enumerate() {
            blank(&mut rows);
            let row = rows.last_mut().expect("just pushed");
            (row[x], row[w], row[vin]) = (xv.into(), wv.into(), 1);
            row[last] = u128::from(i + 1 == dot.len());
        }
    }
    for _ in 0..10 {
        blank(&mut rows);
    }
    taken(d, &rows, vcd)
}

/// Streams elements, one per cycle, into a block with a `party` input: each element
/// gives the values of the ports `names`.
fn drive_elements(
    d: &VerilatedDesign,
    names: &[&str],
    elems: &[Vec<u64>],
    party: u8,
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let idx = names
        .iter()
        .map(|n| port(d, n))
        .collect::<Result<Vec<_>, _>>()?;
    let (vin, rout, pty) = (
        port(d, "valid_in")?,
        port(d, "ready_out")?,
        port(d, "party")?,
    );
    let mut rows = Vec::new();
    for e in elems.iter().map(Some).chain(std::iter::repeat_n(None, 20)) {
        let mut row = vec![0u128; d.inputs().len()];
        (row[rout], row[pty]) = (1, party.into());
        if let Some(e) = e {
            for (i, &v) in idx.iter().zip(e) {
                row[*i] = v.into();
            }
            row[vin] = 1;
        }
        rows.push(row);
    }
    taken(d, &rows, vcd)
}

/// Streams elements into a Beaver lane as `party`, one per cycle.
pub fn drive_beaver(
    d: &VerilatedDesign,
    elems: &[PolyInput],
    party: u8,
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let rows: Vec<Vec<u64>> = elems
        .iter()
        .map(|e| vec![e.x, e.a, e.c, e.d, e.w2, e.w1, e.b])
        .collect();
    drive_elements(d, &["x", "a", "c", "d", "w2", "w1", "b"], &rows, party, vcd)
}

/// Streams elements into a Beaver multiply unit as `party`, one per cycle.
pub fn drive_beaver_mul(
    d: &VerilatedDesign,
    elems: &[MulInput],
    party: u8,
    vcd: Option<&Path>,
) -> Result<Vec<(usize, u64)>, HarnessError> {
    let rows: Vec<Vec<u64>> = elems
        .iter()
        .map(|e| vec![e.a, e.b, e.c, e.d, e.e, e.truncate.into()])
        .collect();
    drive_elements(d, &["a", "b", "c", "d", "e", "truncate"], &rows, party, vcd)
}

/// What checking one block found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockReport {
    /// The block.
    pub name: String,
    /// Input vectors driven (pairs, or elements).
    pub vectors: usize,
    /// Outputs compared.
    pub outputs: usize,
    /// The first mismatches: (output index, hardware, golden).
    pub mismatches: Vec<(usize, u64, u64)>,
    /// Mismatches in all.
    pub mismatch_count: usize,
    /// Latency measured on Verilator, and perf_model's.
    pub latency: (u64, u64),
    /// Initiation interval measured, and perf_model's.
    pub ii: (u64, u64),
    /// Cycles simulated.
    pub cycles: usize,
}

impl BlockReport {
    /// No mismatch, and the cycles are the model's.
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0 && self.latency.0 == self.latency.1 && self.ii.0 == self.ii.1
    }
}

/// A small deterministic generator of test vectors (splitmix64).
pub struct Vectors(u64);

impl Vectors {
    /// Seeded.
    pub fn new(seed: u64) -> Vectors {
        Vectors(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Compares outputs with the golden model's; latency, interval and cycles are filled
/// in by the caller.
fn compare(name: String, vectors: usize, got: &[(usize, u64)], want: &[u64]) -> BlockReport {
    let mut mismatches = Vec::new();
    let mut count = got.len().abs_diff(want.len());
    for (i, (&(_, g), &w)) in got.iter().zip(want).enumerate() {
        if g != w {
            count += 1;
            if mismatches.len() < 5 {
                mismatches.push((i, g, w));
            }
        }
    }
    BlockReport {
        name,
        vectors,
        outputs: got.len(),
        mismatches,
        mismatch_count: count,
        latency: (0, 0),
        ii: (0, 0),
        cycles: 0,
    }
}

/// One stream through a block: what it gave, what the golden model says, the largest
/// gap between outputs, cycles simulated.
struct Run {
    got: Vec<(usize, u64)>,
    want: Vec<u64>,
    ii: u64,
    cycles: usize,
}

/// Cycles between successive outputs: the largest gap, so a single stall shows.
fn interval(got: &[(usize, u64)]) -> u64 {
    got.windows(2)
        .map(|w| (w[1].0 - w[0].0) as u64)
        .max()
        .unwrap_or(1)
}

/// One run per party of `n / 2` random elements, one per cycle, through a block that
/// takes a whole element each cycle (the Beaver units).
fn element_runs<T>(
    n: usize,
    mut random: impl FnMut() -> T,
    drive: impl Fn(&[T], u8) -> Result<Vec<(usize, u64)>, HarnessError>,
    golden: impl Fn(&T, u8) -> u64,
) -> Result<Vec<Run>, HarnessError> {
    (0..2u8)
        .map(|party| {
            let elems: Vec<T> = (0..n / 2).map(|_| random()).collect();
            let got = drive(&elems, party)?;
            Ok(Run {
                ii: interval(&got),
                want: elems.iter().map(|e| golden(e, party)).collect(),
                cycles: elems.len() + 20,
                got,
            })
        })
        .collect()
}

/// Checks a block with `n` random vectors (half for each party where the block has
/// one): bit-exact outputs, latency and initiation interval from a full-rate stream.
pub fn check(
    kind: BlockKind,
    l: u32,
    frac_bits: u32,
    n: usize,
    seed: u64,
    vcd: Option<&Path>,
) -> Result<BlockReport, HarnessError> {
    let d = design(kind, l, frac_bits)?;
    let t = kind.timing(l);
    let model = (t.latency, t.ii);
    let mut v = Vectors::new(seed);
    let m = mask(l);
    let n = n.max(2);
    let vcd_for = |party: u8| if party == 0 { vcd } else { None };
    let runs: Vec<Run> = match kind {
        BlockKind::RingMul => {
            let pairs: Vec<(u64, u64)> = (0..n)
                .map(|_| (v.next_u64() & m, v.next_u64() & m))
                .collect();
            let got = drive_multiplier(&d, &pairs, &[true], vcd)?;
            vec![Run {
                ii: interval(&got),
                want: pairs.iter().map(|&(a, b)| ring::mul(a, b, l)).collect(),
                cycles: pairs.len() + 8,
                got,
            }]
        }
        // Dot products of one pair each first: every cycle gives a result, so latency
        // and interval show directly; then longer ones for the accumulator.
        BlockKind::MacLane => (0..2u8)
            .map(|party| {
                let dots: Vec<Vec<(u64, u64)>> = (0..n / 2)
                    .map(|i| {
                        let len = if i < n / 4 {
                            1
                        } else {
                            1 + (v.next_u64() % 8) as usize
                        };
                        (0..len)
                            .map(|_| (v.next_u64() & m, v.next_u64() & m))
                            .collect()
                    })
                    .collect();
                let got = drive_mac(&d, &dots, party, vcd_for(party))?;
                let singles = dots.iter().take_while(|d| d.len() == 1).count();
                Ok(Run {
                    ii: interval(&got[..singles.min(got.len())]),
                    want: dots
                        .iter()
                        .map(|dot| mac::dot_truncated(dot, frac_bits, party, l))
                        .collect(),
                    cycles: dots.iter().map(Vec::len).sum::<usize>() + 10,
                    got,
                })
            })
            .collect::<Result<_, HarnessError>>()?,
        BlockKind::BeaverLane => element_runs(
            n,
            || PolyInput {
                x: v.next_u64() & m,
                a: v.next_u64() & m,
                c: v.next_u64() & m,
                d: v.next_u64() & m,
                w2: v.next_u64() & m,
                w1: v.next_u64() & m,
                b: v.next_u64() & m,
            },
            |elems, party| drive_beaver(&d, elems, party, vcd_for(party)),
            |e, party| beaver::poly_share(e, frac_bits, party, l),
        )?,
        BlockKind::BeaverMul => element_runs(
            n,
            || MulInput {
                a: v.next_u64() & m,
                b: v.next_u64() & m,
                c: v.next_u64() & m,
                d: v.next_u64() & m,
                e: v.next_u64() & m,
                truncate: v.next_u64() & 1 == 1,
            },
            |elems, party| drive_beaver_mul(&d, elems, party, vcd_for(party)),
            |e, party| beaver_mul::product_share(e, frac_bits, party, l),
        )?,
    };
    // Latency and interval from the first run (party 0); outputs of all runs compared.
    let latency = runs[0].got.first().map_or(0, |g| g.0 as u64);
    let ii = runs[0].ii;
    let got: Vec<(usize, u64)> = runs.iter().flat_map(|r| r.got.iter().copied()).collect();
    let want: Vec<u64> = runs.iter().flat_map(|r| r.want.iter().copied()).collect();
    Ok(BlockReport {
        latency: (latency, model.0),
        ii: (ii, model.1),
        cycles: runs.iter().map(|r| r.cycles).sum(),
        ..compare(kind.name(l), n, &got, &want)
    })
}
