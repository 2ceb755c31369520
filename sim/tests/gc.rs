//! The garbled-circuit hardware on Verilator: the AES core on the FIPS-197 and AESAVS
//! known-answer vectors for every number of round circuits; the half-gates engine
//! against the software garbler and evaluator, bit for bit, on random circuits and on
//! the ReLU and Circa circuits, on the cycles perf_model's schedule predicts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::ring::mask;
use perf_model::accel::units;
use perf_model::circuit::garble::{self, Delta, Hasher, Label, LabelRng};
use perf_model::circuit::program::{self, compile};
use perf_model::circuit::{from_bits, library, to_bits, Circuit};
use proptest::prelude::*;
use sim::gc::{self, Role};

#[test]
fn aes_core_passes_the_known_answers_at_its_interval() {
    let v = garble::aes_known_answers();
    assert!(v.len() >= 165);
    let blocks: Vec<(u128, u128)> = v.iter().map(|k| (k.key, k.plaintext)).collect();
    for r in [1u32, 2, 5, 10] {
        let t = units::aes_core(r);
        let run = gc::drive_aes(&gc::aes_design(r).unwrap(), &blocks, t.ii as usize, None).unwrap();
        assert!(run.always_ready, "R = {r}: a block met a busy core");
        assert_eq!(run.outputs.len(), v.len(), "R = {r}");
        for (i, (kat, &(cycle, ct))) in v.iter().zip(&run.outputs).enumerate() {
            assert_eq!(ct, kat.ciphertext, "R = {r}: {} vector {i}", kat.suite);
            assert_eq!(
                cycle as u64,
                i as u64 * t.ii + t.latency,
                "R = {r}: vector {i}"
            );
        }
    }
}

#[test]
fn rolled_core_is_busy_between_its_slots() {
    // Two blocks one cycle apart: the second meets the first looping back.
    let d = gc::aes_design(2).unwrap();
    let run = gc::drive_aes(&d, &[(1, 2), (3, 4), (5, 6)], 2, None).unwrap();
    assert!(!run.always_ready);
}

/// The software garbler's tables and output labels, and the hardware's.
fn garble_both(
    c: &Circuit,
    r: u32,
    seed: u128,
) -> (garble::GarbledCircuit, garble::GarblerState, gc::EngineRun) {
    let h = Hasher::default();
    let mut rng = LabelRng::new(seed);
    let delta = Delta::new(rng.next_label());
    let zeros = rng.labels((c.garbler_inputs + c.evaluator_inputs) as usize);
    let (sw, state) = garble::garble(c, delta, &zeros, &h).unwrap();
    let p = compile(c).unwrap();
    let d = gc::engine_design(r).unwrap();
    let hw =
        gc::drive_engine(&d, r, &p, &zeros, Role::Garble { delta: delta.get() }, None).unwrap();
    (sw, state, hw)
}

/// Evaluates on the hardware with the labels of `bits`.
fn evaluate_hw(
    c: &Circuit,
    r: u32,
    gcirc: &garble::GarbledCircuit,
    state: &garble::GarblerState,
    bits: &[bool],
) -> gc::EngineRun {
    let labels: Vec<Label> = bits
        .iter()
        .enumerate()
        .map(|(i, &b)| state.input_label(i, b))
        .collect();
    let d = gc::engine_design(r).unwrap();
    gc::drive_engine(
        &d,
        r,
        &compile(c).unwrap(),
        &labels,
        Role::Evaluate {
            tables: &gcirc.tables,
        },
        None,
    )
    .unwrap()
}

fn check_cycles(run: &gc::EngineRun) {
    assert_eq!(run.refused, 0, "the engine refused a scheduled instruction");
    assert!(!run.fault, "the engine flagged a fault");
    assert_eq!(run.cycles, run.model_cycles, "cycles: hardware, perf_model");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn engine_garbles_and_evaluates_random_circuits_as_the_software_does(
        ri in 0usize..4,
        g in 1u32..8,
        e in 1u32..8,
        ops in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..120),
        outs in prop::collection::vec(any::<u32>(), 1..12),
        bits in any::<u16>(),
        seed in any::<u128>(),
    ) {
        let r = [1u32, 2, 5, 10][ri];
        let c = library::random(g, e, &ops, &outs);
        let (sw, state, hw) = garble_both(&c, r, seed);
        prop_assert_eq!(&hw.tables, &sw.tables);
        prop_assert_eq!(&hw.outputs, &state.output_labels);
        check_cycles(&hw);
        let input: Vec<bool> = (0..g + e).map(|i| (bits >> i) & 1 == 1).collect();
        let ev = evaluate_hw(&c, r, &sw, &state, &input);
        let want = garble::evaluate(&c, &sw, &input.iter().enumerate().map(|(i, &b)| state.input_label(i, b)).collect::<Vec<_>>(), &Hasher::default()).unwrap();
        prop_assert_eq!(&ev.outputs, &want);
        check_cycles(&ev);
    }
}

#[test]
fn garbled_relu_on_the_engine_is_relu_re_shared() {
    let mut rng = LabelRng::new(7);
    for l in [16u32, 32, 64] {
        let c = library::relu(l);
        let m = mask(l);
        let (sw, state, hw) = garble_both(&c, 10, rng.next_label());
        assert_eq!(hw.tables, sw.tables, "l = {l}");
        assert_eq!(hw.outputs, state.output_labels, "l = {l}");
        check_cycles(&hw);
        for x in [
            0u64,
            1,
            m >> 1,
            (m >> 1) + 1,
            m,
            rng.next_label() as u64 & m,
        ] {
            let (xs, r) = (rng.next_label() as u64 & m, rng.next_label() as u64 & m);
            let xc = x.wrapping_sub(xs) & m;
            let mut bits = to_bits(xs, l);
            bits.extend(to_bits(xc, l));
            bits.extend(to_bits(r.wrapping_neg() & m, l));
            let ev = evaluate_hw(&c, 10, &sw, &state, &bits);
            check_cycles(&ev);
            let out = from_bits(&garble::decode(&ev.outputs, &sw.decode));
            let relu = if (x >> (l - 1)) & 1 == 1 { 0 } else { x };
            assert_eq!(out.wrapping_add(r) & m, relu, "l = {l}, x = {x:#x}");
        }
    }
}

#[test]
fn garbled_circa_sign_on_the_engine_matches_the_software() {
    let mut rng = LabelRng::new(11);
    for (l, k) in [(16u32, 4u32), (32, 8), (64, 11)] {
        let c = library::circa_sign(l, k);
        let (sw, state, hw) = garble_both(&c, 5, rng.next_label());
        assert_eq!(hw.tables, sw.tables, "l = {l}, k = {k}");
        assert_eq!(hw.outputs, state.output_labels, "l = {l}, k = {k}");
        check_cycles(&hw);
    }
}

#[test]
fn interleaved_relus_garble_one_and_gate_per_cycle() {
    let t = units::gc_engine(10);
    let n = t.distance as u32;
    let c = library::relu(16).interleave(n);
    let (sw, state, hw) = garble_both(&c, 10, 3);
    assert_eq!(hw.tables, sw.tables);
    assert_eq!(hw.outputs, state.output_labels);
    check_cycles(&hw);
    // With enough instances nothing waits: one instruction per cycle.
    let p = compile(&c).unwrap();
    let (issue, _) = program::schedule(&p, &t, 1);
    assert!(issue.iter().enumerate().all(|(k, &at)| at == k as u64 + 1));
    // The same count as the ReLU engine's sequencer gives: the batch is a single one.
    let w = perf_model::protocol::GcWork::of(&library::relu(16), n.into());
    assert_eq!(
        hw.cycles,
        units::gc_cycles(
            units::garbler(4, 10),
            1,
            &w,
            1 << hdl::gc::engine::SLOT_BITS
        )
    );
}
