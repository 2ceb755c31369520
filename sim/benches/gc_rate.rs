//! AND gates per cycle of the hardware ReLU engine, for each AES core configuration: a
//! full batch of ReLU circuits (as many as the label RAM holds) garbled on Verilator,
//! every table checked against the software garbler, the cycles against perf_model's
//! `gc_cycles`. Target: one AND gate per cycle per engine with fully pipelined cores
//! (10 round circuits) once the pipeline is full.
//!
//! `cargo bench -p sim --bench gc_rate` (`GC_RATE_L` sets the ring width: 16, the
//! default, 32 or 64).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::accel::units;
use perf_model::circuit::garble::{self, Delta, Hasher, LabelRng};
use perf_model::circuit::library;
use perf_model::circuit::program::{self, compile};
use perf_model::protocol::GcWork;
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
        let c = library::relu(l);
        let p = compile(&c).unwrap();
        let n = program::per_batch(&p, 1 << hdl::gc::engine::SLOT_BITS).unwrap();
        let big = c.batched(n, n);
        let h = Hasher::default();
        let mut rng = LabelRng::new(u128::from(r));
        let delta = Delta::new(rng.next_label());
        let zeros = rng.labels((big.garbler_inputs + big.evaluator_inputs) as usize);
        let (sw, _) = garble::garble(&big, delta, &zeros, &h).unwrap();
        let d = gc::relu_design(r, &p).unwrap();
        let start = Instant::now();
        let run = gc::drive_relu(
            &d,
            r,
            &p,
            n,
            &gc::per_copy(&c, n, &zeros),
            Role::Garble { delta: delta.get() },
            None,
        )
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(
            run.tables, sw.tables,
            "R = {r}: tables differ from the software's"
        );
        let model = units::gc_cycles(
            units::garbler(4, r),
            1,
            &GcWork::of(&c, n.into()),
            1 << hdl::gc::engine::SLOT_BITS,
        );
        assert_eq!(run.cycles, model, "R = {r}: cycles differ from the model's");
        assert!(!run.fault && run.misplaced_inputs == 0, "R = {r}: fault");
        let ands = (p.and_gates() * n as usize) as f64;
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
            model,
            ands / run.cycles as f64,
            1.0 / and_cycles,
        );
    }
}
