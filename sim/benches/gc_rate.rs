//! AND gates per cycle of the hardware half-gates engine, for each AES core
//! configuration: a batch of interleaved 16-bit ReLU circuits (as many as the
//! engine's result distance, so no gate waits on an operand) garbled on Verilator,
//! every table checked against the software garbler, the cycles against perf_model's
//! schedule. Target: one AND gate per cycle per engine with fully pipelined cores
//! (10 round circuits) once the pipeline is full.
//!
//! `cargo bench -p sim --bench gc_rate` (`GC_RATE_L` sets the ring width, default 16; the label RAM
//! holds 13 instances of up to 16 or 20-bit ReLUs).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::accel::units;
use perf_model::circuit::garble::{self, Delta, Hasher, LabelRng};
use perf_model::circuit::library;
use perf_model::circuit::program::compile;
use sim::gc::{self, Role};
use std::time::Instant;

fn main() {
    let l: u32 = std::env::var("GC_RATE_L")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    println!(
        "{:>11} {:>9} {:>7} {:>8} {:>8} {:>10} {:>13} {:>11}",
        "round units",
        "instances",
        "ANDs",
        "cycles",
        "model",
        "AND/cycle",
        "AND/cycle, full",
        "sim s"
    );
    for r in [1u32, 2, 5, 10] {
        let t = units::gc_engine(r);
        // Enough instances that no gate waits for an operand.
        let n = t.distance;
        let c = library::relu(l).interleave(n as u32);
        let h = Hasher::default();
        let mut rng = LabelRng::new(u128::from(r));
        let delta = Delta::new(rng.next_label());
        let zeros = rng.labels((c.garbler_inputs + c.evaluator_inputs) as usize);
        let (sw, _) = garble::garble(&c, delta, &zeros, &h).unwrap();
        let p = compile(&c).unwrap();
        let d = gc::engine_design(r).unwrap();
        let start = Instant::now();
        let run =
            gc::drive_engine(&d, r, &p, &zeros, Role::Garble { delta: delta.get() }, None).unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(
            run.tables, sw.tables,
            "R = {r}: tables differ from the software's"
        );
        assert_eq!(
            run.cycles, run.model_cycles,
            "R = {r}: cycles differ from the model's"
        );
        assert!(
            run.refused == 0 && !run.fault,
            "R = {r}: the engine refused or faulted"
        );
        let ands = p.and_gates() as f64;
        // The rate once the pipeline is full: tables leaving within a row of AND gates
        // (successive tables at most one AES interval apart), measured on the hardware.
        let gaps: Vec<u64> = run
            .table_cycles
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&g| g <= t.and_ii)
            .collect();
        let and_cycles = gaps.iter().sum::<u64>() as f64 / gaps.len().max(1) as f64;
        println!(
            "{r:>11} {n:>9} {ands:>7} {:>8} {:>8} {:>10.3} {:>13.3} {secs:>11.2}",
            run.cycles,
            run.model_cycles,
            ands / run.cycles as f64,
            1.0 / and_cycles,
        );
    }
}
