//! Software half-gates throughput on one core: AND gates garbled and evaluated per
//! second on 32-bit garbled ReLUs, against the reference point of 10^7 AND gates per
//! second per core with AES-NI. Every evaluated ReLU is decoded and checked.
//!
//! `cargo bench -p perf_model --bench garble_speed` (`GARBLE_RELUS` sets how many).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::circuit::garble::{self, Delta, Hasher, Label, LabelRng};
use perf_model::circuit::{from_bits, library, to_bits};
use std::time::Instant;

const REFERENCE_AND_PER_S: f64 = 1e7;

fn main() {
    let n: usize = std::env::var("GARBLE_RELUS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let l = 32;
    let c = library::relu(l);
    let ands = c.counts().and as usize;
    let inputs = (c.garbler_inputs + c.evaluator_inputs) as usize;
    let h = Hasher::default();
    let mut rng = LabelRng::new(7);
    let delta = Delta::new(rng.next_label());
    let zeros: Vec<Vec<Label>> = (0..n).map(|_| rng.labels(inputs)).collect();

    let t = Instant::now();
    let garbled: Vec<_> = zeros
        .iter()
        .map(|z| garble::garble(&c, delta, z, &h).unwrap())
        .collect();
    let garble_s = t.elapsed().as_secs_f64();

    // Shares of x = i - n/2, mask r = 3i.
    let m = (1u64 << l) - 1;
    let inputs: Vec<Vec<Label>> = garbled
        .iter()
        .enumerate()
        .map(|(i, (_, st))| {
            let x = (i as u64).wrapping_sub(n as u64 / 2) & m;
            let (xs, r) = (0x1234_5678u64, (3 * i as u64) & m);
            let bits = [
                to_bits(xs, l),
                to_bits(x.wrapping_sub(xs) & m, l),
                to_bits(r.wrapping_neg() & m, l),
            ]
            .concat();
            bits.iter()
                .enumerate()
                .map(|(w, &b)| st.input_label(w, b))
                .collect()
        })
        .collect();
    let t = Instant::now();
    let outputs: Vec<Vec<Label>> = garbled
        .iter()
        .zip(&inputs)
        .map(|((gc, _), x)| garble::evaluate(&c, gc, x, &h).unwrap())
        .collect();
    let eval_s = t.elapsed().as_secs_f64();

    for (i, ((gc, _), out)) in garbled.iter().zip(&outputs).enumerate() {
        let x = (i as u64).wrapping_sub(n as u64 / 2) & m;
        let relu = if x >> (l - 1) == 1 { 0 } else { x };
        let got = from_bits(&garble::decode(out, &gc.decode));
        assert_eq!(got.wrapping_add(3 * i as u64) & m, relu, "ReLU {i}");
    }

    let total = (n * ands) as f64;
    println!("{n} garbled 32-bit ReLUs, {ands} AND gates each, one core, every output checked");
    println!("{:<10} {:>14} {:>12}", "phase", "AND gates/s", "vs 10^7");
    for (phase, s) in [("garble", garble_s), ("evaluate", eval_s)] {
        let rate = total / s;
        println!(
            "{:<10} {:>14.3e} {:>11.2}x",
            phase,
            rate,
            rate / REFERENCE_AND_PER_S
        );
    }
}
