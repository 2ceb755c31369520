//! The ReLU engine on Verilator: its program ROM and sequencer run many instances of
//! ReLU and Circa circuits, garbling bit for bit as the software garbles the batched
//! circuit, evaluating to ReLU of the shared values, on the very cycles perf_model's
//! `sequence` and `gc_cycles` give.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::accel::units;
use perf_model::circuit::garble::{self, Delta, Hasher, LabelRng};
use perf_model::circuit::program::{compile, Op, Program};
use perf_model::circuit::{library, Circuit};
use perf_model::protocol::GcWork;
use sim::gc::{self, ReluRun, Role};

const RAM: u64 = 1 << hdl::gc::engine::SLOT_BITS;

fn check_timing(run: &ReluRun, p: &Program, c: &Circuit, r: u32, n: u32) {
    let t = units::gc_engine(r);
    assert!(!run.fault, "R = {r}, n = {n}: fault");
    assert_eq!(run.misplaced_inputs, 0, "R = {r}, n = {n}: input cycles");
    assert_eq!(run.cycles, run.model.end, "R = {r}, n = {n}: cycles");
    let w = GcWork::of(c, n.into());
    assert_eq!(
        run.cycles,
        units::gc_cycles(units::garbler(4, r), 1, &w, RAM),
        "R = {r}, n = {n}: gc_cycles"
    );
    assert_eq!(run.busy_cycles, run.cycles - 1, "R = {r}, n = {n}: busy");
    if !run.tables.is_empty() {
        let ands: Vec<u64> = run
            .model
            .issues
            .iter()
            .filter(|&&(_, k, _)| p.instrs[k].op == Op::And)
            .map(|&(at, _, _)| at + t.latency)
            .collect();
        assert_eq!(run.table_cycles, ands, "R = {r}, n = {n}: table cycles");
    }
}

/// Garbles `n` copies of `c` on the engine and checks tables, labels and cycles.
fn garble_on_engine(c: &Circuit, r: u32, n: u32, seed: u128) -> ReluRun {
    let p = compile(c).unwrap();
    let d = gc::relu_design(r, &p).unwrap();
    let per = (RAM / u64::from(p.slots)) as u32;
    let big = c.batched(n, per);
    let mut rng = LabelRng::new(seed);
    let delta = Delta::new(rng.next_label());
    let zeros = rng.labels((big.garbler_inputs + big.evaluator_inputs) as usize);
    let (sw, state) = garble::garble(&big, delta, &zeros, &Hasher::default()).unwrap();
    let run = gc::drive_relu(
        &d,
        r,
        &p,
        n,
        &gc::per_copy(c, n, &zeros),
        Role::Garble { delta: delta.get() },
        None,
    )
    .unwrap();
    assert_eq!(run.model.per_batch, per);
    assert_eq!(run.tables, sw.tables, "R = {r}, n = {n}: tables");
    assert_eq!(
        run.outputs, state.output_labels,
        "R = {r}, n = {n}: outputs"
    );
    check_timing(&run, &p, c, r, n);
    run
}

/// Garbles and evaluates `n` ReLUs on the engine; everything must match, to the cycle.
fn relu_round_trip(l: u32, r: u32, n: u32, seed: u64) {
    let rep = gc::check_relu(r, l, n, seed, None).unwrap();
    assert_eq!(rep.instances, n);
    assert!(rep.compared > 0);
    assert_eq!(rep.mismatches, 0, "{rep:?}");
    assert_eq!(rep.wrong_results, 0, "{rep:?}");
    assert_eq!(rep.timing_faults, 0, "{rep:?}");
    assert_eq!(rep.garble_cycles.0, rep.garble_cycles.1, "{rep:?}");
    assert_eq!(rep.eval_cycles.0, rep.eval_cycles.1, "{rep:?}");
    assert!(rep.passed());
}

#[test]
fn relu_engine_verilog_is_lint_clean() {
    for r in [1, 10] {
        let v = hdl::gc::relu_verilog(r, &compile(&library::relu(16)).unwrap()).unwrap();
        sim::verilator::lint(&format!("relu_engine{r}"), &v).unwrap();
    }
}

#[test]
fn relu_engine_runs_batches_of_16_bit_relus_at_full_rate() {
    // 64 slots each: batches of 32 and 8; the second pads its rows to 13 cycles.
    relu_round_trip(16, 10, 40, 5);
}

#[test]
fn relu_engine_runs_64_bit_relus_on_pipelined_cores() {
    // 256 slots each: batches of 8 and 1.
    relu_round_trip(64, 5, 9, 9);
}

#[test]
fn rolled_relu_engine_waits_for_the_aes_phase() {
    relu_round_trip(32, 1, 3, 13);
}

#[test]
fn relu_engine_runs_circa_sign_tests() {
    let c = library::circa_sign(32, 8);
    let g = garble_on_engine(&c, 2, 30, 17);
    assert_eq!(g.model.per_batch, 25);
}

#[test]
fn programs_that_do_not_fit_are_refused() {
    let mut wide = compile(&library::relu(16)).unwrap();
    wide.slots = 3000;
    let e = hdl::gc::relu_verilog(10, &wide).unwrap_err();
    assert!(e.to_string().contains("3000 label slots"), "{e}");
    let mut long = compile(&library::max(64, 9)).unwrap();
    long.slots = 64;
    let e = hdl::gc::relu_verilog(10, &long).unwrap_err();
    assert!(e.to_string().contains("9120 instructions"), "{e}");
    let relu = compile(&library::relu(16)).unwrap();
    assert!(hdl::gc::relu_verilog(3, &relu).is_err());
    let empty = Program {
        instrs: Vec::new(),
        slots: 0,
    };
    assert!(hdl::gc::relu_verilog(10, &empty).is_err());
}
