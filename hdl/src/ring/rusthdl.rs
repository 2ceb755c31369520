//! The ring multipliers on rust-hdl's own simulator, driven the way the Verilator
//! harness drives them: in cycle `t` the inputs of pair `t` are set with the consumer
//! ready, and the outputs are read before the clock edge.

use super::{RingMul16, RingMul32, RingMul64};
use rust_hdl::prelude::*;
use std::sync::{Arc, Mutex};

macro_rules! run_multiplier {
    ($name:ident, $ty:ty) => {
        fn $name(pairs: &[(u64, u64)], cycles: u64) -> Result<Vec<(u64, u64)>, String> {
            let pairs = pairs.to_vec();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&seen);
            let mut sim = Simulation::new();
            sim.add_clock(5, |x: &mut Box<$ty>| x.clock.next = !x.clock.val());
            sim.add_testbench(move |mut sim: Sim<$ty>| {
                let mut x = sim.init()?;
                for t in 0..cycles {
                    wait_clock_false!(sim, clock, x);
                    if x.valid_out.val() {
                        if let Ok(mut s) = sink.lock() {
                            s.push((t, x.y.val().to_u64()));
                        }
                    }
                    let (a, b, v) = match pairs.get(t as usize) {
                        Some(&(a, b)) => (a, b, true),
                        None => (0, 0, false),
                    };
                    x.a.next = a.into();
                    x.b.next = b.into();
                    x.valid_in.next = v;
                    x.ready_out.next = true;
                    wait_clock_true!(sim, clock, x);
                }
                sim.done(x)
            });
            let mut uut = <$ty>::default();
            uut.connect_all();
            sim.run(Box::new(uut), (cycles + 2) * 10)
                .map_err(|e| format!("rust-hdl simulation failed: {e:?}"))?;
            let out = seen.lock().map_err(|e| e.to_string())?.clone();
            Ok(out)
        }
    };
}

run_multiplier!(run16, RingMul16);
run_multiplier!(run32, RingMul32);
run_multiplier!(run64, RingMul64);

/// Runs the l-bit multiplier for `cycles` cycles on rust-hdl's simulator, feeding one
/// pair per cycle; returns `(cycle, product)` for every valid output.
pub fn run(l: u32, pairs: &[(u64, u64)], cycles: u64) -> Result<Vec<(u64, u64)>, String> {
    match l {
        16 => run16(pairs, cycles),
        32 => run32(pairs, cycles),
        64 => run64(pairs, cycles),
        _ => Err(format!("no {l}-bit ring multiplier (16, 32 or 64)")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{mask, mul};
    use super::*;
    use perf_model::accel::units;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn bit_exact_with_perf_model_latency(li in 0usize..3, pairs in prop::collection::vec((any::<u64>(), any::<u64>()), 1..40)) {
            let l = [16u32, 32, 64][li];
            let pairs: Vec<(u64, u64)> = pairs.iter().map(|&(a, b)| (a & mask(l), b & mask(l))).collect();
            let got = run(l, &pairs, pairs.len() as u64 + 10).unwrap();
            let latency = units::ring_multiplier(l).latency;
            let want: Vec<(u64, u64)> = pairs
                .iter()
                .enumerate()
                .map(|(t, &(a, b))| (t as u64 + latency, mul(a, b, l)))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
