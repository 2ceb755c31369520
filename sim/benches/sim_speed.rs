//! Simulated cycles per second of the same block, the 32-bit ring multiplier fed a
//! new pair every cycle, on Verilator (through polympc's harness: build cached,
//! stimulus and outputs piped as text) and on rust-hdl's own simulator, in one run.
//! Both runs check their products against the golden model. Target: Verilator at
//! least 100x faster.
//!
//! `cargo bench -p sim --bench sim_speed` (set `SIM_SPEED_CYCLES` to change the
//! Verilator run's length; rust-hdl's is a hundredth of it).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use hdl::blocks::BlockKind;
use hdl::ring;
use std::time::Instant;

fn pairs(n: usize) -> Vec<(u64, u64)> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s & 0xffff_ffff, s >> 32)
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("SIM_SPEED_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let latency = perf_model::accel::units::ring_multiplier(32).latency as usize;

    let design = sim::blocks::design(BlockKind::RingMul, 32, 12).unwrap();
    let (a, b, v, r) = (
        design.port("a").unwrap(),
        design.port("b").unwrap(),
        design.port("valid_in").unwrap(),
        design.port("ready_out").unwrap(),
    );
    let input = pairs(n);
    let rows: Vec<Vec<u128>> = input
        .iter()
        .map(|&(x, y)| {
            let mut row = vec![0u128; design.inputs().len()];
            (row[a], row[b], row[v], row[r]) = (x.into(), y.into(), 1, 1);
            row
        })
        .collect();
    let start = Instant::now();
    let out = design.run(&rows, None).unwrap();
    let verilator_s = start.elapsed().as_secs_f64();
    let y = design.port("y").unwrap();
    for t in latency..n {
        let (x, z) = input[t - latency];
        assert_eq!(
            out[t][y] as u64,
            ring::mul(x, z, 32),
            "Verilator, cycle {t}"
        );
    }

    let m = (n / 100).max(1000);
    let start = Instant::now();
    let got = ring::rusthdl::run(32, &input[..m], m as u64).unwrap();
    let rusthdl_s = start.elapsed().as_secs_f64();
    for &(t, z) in &got {
        let (x, w) = input[t as usize - latency];
        assert_eq!(z, ring::mul(x, w, 32), "rust-hdl, cycle {t}");
    }

    let vr = n as f64 / verilator_s;
    let rr = m as f64 / rusthdl_s;
    println!("block: 32-bit ring multiplier, one pair per cycle, products checked");
    println!("verilator  {n:>9} cycles in {verilator_s:>8.3} s: {vr:>12.0} cycles/s");
    println!("rust-hdl   {m:>9} cycles in {rusthdl_s:>8.3} s: {rr:>12.0} cycles/s");
    println!("ratio      {:.1}x (target: at least 100x)", vr / rr);
}
