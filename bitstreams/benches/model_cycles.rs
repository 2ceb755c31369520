//! perf_model's cycle counts against Verilator's, side by side in one run: every
//! arithmetic block's latency and initiation interval (16, 32 and 64-bit rings), the
//! ReLU engine's garbling and evaluation cycles for each AES configuration, the
//! column-serial AES core, and the host link's reply times per request. Each line
//! prints Verilator / model; the last line the worst ratio's distance from 1.
//!
//! `cargo bench -p bitstreams --bench model_cycles` (`MODEL_CYCLES_VECTORS` sets the
//! vectors per block, 200 by default).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use bitstreams::host::{Driver, SimulatedBoard};
use hdl::beaver_mul::MulInput;
use hdl::blocks::BlockKind;
use hdl::gc::serial::AesSerial;
use hdl::host::{self, Request};
use perf_model::accel::units;
use sim::verilator::VerilatedDesign;
use std::time::Instant;

fn main() {
    let vectors: usize = std::env::var("MODEL_CYCLES_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t0 = Instant::now();
    let mut rows: Vec<(String, u64, u64)> = Vec::new();
    for l in [16u32, 32, 64] {
        for kind in BlockKind::ALL {
            let r = sim::blocks::check(kind, l, 12, vectors, 1, None).unwrap();
            assert!(r.passed(), "{}: {} mismatches", r.name, r.mismatch_count);
            rows.push((
                format!("{} latency", kind.name(l)),
                r.latency.0,
                r.latency.1,
            ));
            rows.push((format!("{} II", kind.name(l)), r.ii.0, r.ii.1));
        }
    }
    for (r, l, n) in [(1u32, 16u32, 3u32), (2, 16, 8), (5, 32, 8), (10, 16, 32)] {
        let g = sim::gc::check_relu(r, l, n, 1, None).unwrap();
        assert!(g.passed(), "{}", g.name);
        rows.push((
            format!("{} garble, {n} ReLUs", g.name),
            g.garble_cycles.0,
            g.garble_cycles.1,
        ));
        rows.push((
            format!("{} evaluate, {n} ReLUs", g.name),
            g.eval_cycles.0,
            g.eval_cycles.1,
        ));
    }
    // The serial AES core: cycles from start to done.
    let d = VerilatedDesign::build("aes_serial", &hdl::verilog(AesSerial::default())).unwrap();
    let p = |n: &str| d.port(n).unwrap();
    let mut cycles = vec![vec![0u128; d.inputs().len()]; 80];
    cycles[2][p("start")] = 1;
    cycles[2][p("block")] = 0x0123_4567_89ab_cdef;
    let out = d.run(&cycles, None).unwrap();
    let done = out.iter().position(|o| o[p("done")] == 1).unwrap() as u64;
    rows.push((
        "aes_serial latency".into(),
        done - 2,
        units::aes_serial().latency,
    ));
    // The host link: cycles from a request's first start bit to its reply's.
    let divisor = 4;
    let mut board = Driver::new(SimulatedBoard::new(divisor, 12).unwrap());
    let requests = [
        Request::Identify,
        Request::Mul {
            party: 0,
            input: MulInput {
                a: 1,
                b: 2,
                c: 3,
                d: 4,
                e: 5,
                truncate: true,
            },
        },
        Request::Garble {
            delta: 3,
            a0: 4,
            b0: 5,
            g: 6,
        },
        Request::Evaluate {
            a: 7,
            b: 8,
            tg: 9,
            te: 10,
            g: 6,
        },
    ];
    for r in requests {
        board.request(&r).unwrap();
        let (sent, start) = board.link().last_timing().unwrap();
        rows.push((
            format!("host link opcode {:#04x} reply", r.op()),
            start - sent,
            host::response_start(r.op(), divisor, sent) - sent,
        ));
    }
    println!(
        "{:<44} {:>10} {:>10} {:>7}",
        "what (cycles)", "Verilator", "perf_model", "ratio"
    );
    let mut worst: f64 = 0.0;
    for (what, hw, model) in &rows {
        let ratio = *hw as f64 / (*model).max(1) as f64;
        worst = worst.max((ratio - 1.0).abs());
        println!("{what:<44} {hw:>10} {model:>10} {ratio:>7.3}");
    }
    println!(
        "{} figures; largest |Verilator / perf_model - 1| = {worst:.3}; {:.0} s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    );
}
