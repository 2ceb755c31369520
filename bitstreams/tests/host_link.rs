//! The host link on Verilator: the column-serial AES core against AES, then the whole
//! top level (UART, request decoder, Beaver multiplier, garbled-AND unit) driven by the
//! host driver over the line model: Beaver products and garbled AND gates equal the
//! golden models, replies start at the cycle the model predicts, and bad requests are
//! answered or dropped as specified.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bitstreams::host::{Driver, LinkError, SimulatedBoard};
use hdl::beaver_mul::MulInput;
use hdl::gc::serial::AesSerial;
use hdl::host::{self, HostLink, Reply, ReplyError, Request};
use hdl::uart;
use perf_model::accel::units;
use perf_model::circuit::garble::{Hasher, FIXED_KEY};
use sim::verilator::{lint, VerilatedDesign};

const DIVISOR: u16 = 4;
const FRAC: u32 = 6;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11 ^ self.0 << 23
    }

    fn label(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

#[test]
fn the_serial_aes_core_is_aes_in_51_cycles() {
    let v = hdl::verilog(AesSerial::default());
    let sim = VerilatedDesign::build("aes_serial", &v).unwrap();
    let p = |n: &str| sim.port(n).unwrap();
    let key = u128::from_le_bytes(FIXED_KEY);
    let h = Hasher::default();
    let mut rng = Rng(5);
    let blocks: Vec<u128> = (0..4).map(|_| rng.label()).collect();
    let t = units::aes_serial();
    // A block every `ii` cycles, each entering the cycle the previous one is done.
    let total = 3 + blocks.len() * t.ii as usize + 5;
    let mut cycles = vec![vec![0u128; sim.inputs().len()]; total];
    for (k, b) in blocks.iter().enumerate() {
        let c = &mut cycles[2 + k * t.ii as usize];
        c[p("key")] = key;
        c[p("block")] = *b;
        c[p("start")] = 1;
    }
    let out = sim.run(&cycles, None).unwrap();
    let done: Vec<usize> = (0..total).filter(|&c| out[c][p("done")] == 1).collect();
    let want: Vec<usize> = (0..blocks.len())
        .map(|k| 2 + k * t.ii as usize + t.latency as usize)
        .collect();
    assert_eq!(done, want);
    for (k, &c) in done.iter().enumerate() {
        assert_eq!(out[c][p("y")], h.aes(blocks[k]), "block {k}");
        assert_eq!(out[c][p("ready")], 1);
    }
}

fn board() -> Driver<SimulatedBoard> {
    Driver::new(SimulatedBoard::new(DIVISOR, FRAC).unwrap())
}

/// Sends `r`, checks the reply against the golden model and the reply's first start bit
/// against the cycle model.
fn check(d: &mut Driver<SimulatedBoard>, r: Request) -> Reply {
    let got = d.request(&r).unwrap();
    assert_eq!(got, r.golden(FRAC, DIVISOR), "{r:?}");
    let (sent, start) = d.link().last_timing().unwrap();
    assert_eq!(
        start,
        host::response_start(r.op(), DIVISOR, sent),
        "reply start of {r:?}"
    );
    got
}

#[test]
fn the_driver_runs_beaver_products_and_garbled_and_gates_on_the_simulated_board() {
    let mut d = board();
    assert_eq!(d.identify().unwrap(), host::identity(FRAC, DIVISOR));
    let mut rng = Rng(11);
    // Beaver multiplication: both parties' shares through the board add up to x y
    // (truncated products up to the one-unit error of local truncation).
    let m = |x: u64| x & 0xffff;
    for k in 0..6 {
        let truncate = k % 2 == 1;
        // Truncation by shares is exact up to one unit for values small beside the
        // ring: fixed-point values below 2 in magnitude (f = 6) when truncating.
        let small = |r: u64| m((r % 256) as i64 as u64).wrapping_sub(128);
        let (x, y) = if truncate {
            (m(small(rng.next())), m(small(rng.next())))
        } else {
            (m(rng.next()), m(rng.next()))
        };
        let (a, b) = (m(rng.next()), m(rng.next()));
        let c = m(a.wrapping_mul(b));
        let (a0, b0, c0) = (m(rng.next()), m(rng.next()), m(rng.next()));
        let (dd, e) = (m(x.wrapping_sub(a)), m(y.wrapping_sub(b)));
        let share = |p: u8| MulInput {
            a: if p == 0 { a0 } else { m(a.wrapping_sub(a0)) },
            b: if p == 0 { b0 } else { m(b.wrapping_sub(b0)) },
            c: if p == 0 { c0 } else { m(c.wrapping_sub(c0)) },
            d: dd,
            e,
            truncate,
        };
        let z: Vec<u64> = (0..2u8)
            .map(|party| {
                let Reply::Product(z) = check(
                    &mut d,
                    Request::Mul {
                        party,
                        input: share(party),
                    },
                ) else {
                    panic!("not a product")
                };
                u64::from(z)
            })
            .collect();
        let sum = m(z[0] + z[1]);
        if truncate {
            let signed = |v: u64| i64::from(v as u16 as i16);
            let exact = (signed(x) * signed(y)) >> FRAC;
            assert!(
                (signed(sum) - exact).abs() <= 1,
                "product {k}: {sum} vs {exact}"
            );
        } else {
            assert_eq!(sum, m(x.wrapping_mul(y)), "product {k}");
        }
    }
    // A garbled AND gate: garbled on the board, evaluated on the board for every input
    // pair; the output label decodes to a AND b.
    for g in [0u32, 7, 0xdead_beef] {
        let delta = rng.label() | 1;
        let (a0, b0) = (rng.label(), rng.label());
        let Reply::Garbled { tg, te, c0 } = check(&mut d, Request::Garble { delta, a0, b0, g })
        else {
            panic!("not a garbled gate")
        };
        for (x, y) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = if x { a0 ^ delta } else { a0 };
            let b = if y { b0 ^ delta } else { b0 };
            let Reply::Evaluated(c) = check(&mut d, Request::Evaluate { a, b, tg, te, g }) else {
                panic!("not an evaluated gate")
            };
            let want = if x & y { c0 ^ delta } else { c0 };
            assert_eq!(c, want, "gate {g}, inputs {x} {y}");
        }
    }
}

#[test]
fn bad_requests_are_answered_or_dropped() {
    // An unknown opcode gets the one-byte error status.
    let mut link = SimulatedBoard::new(DIVISOR, FRAC).unwrap();
    let reply = bitstreams::host::Transport::exchange(&mut link, &[0x7f], 9).unwrap();
    assert_eq!(reply, [host::STATUS_UNKNOWN]);
    assert_eq!(
        host::decode_reply(0x7f, &reply),
        Err(ReplyError::Unknown(0x7f))
    );
    // A multiply request whose third byte has no stop bit is dropped; the next request
    // is served.
    let mut line = uart::encode(&[host::OP_MUL, 0, 1], DIVISOR, 0);
    let stop = line.len() - DIVISOR as usize;
    for c in &mut line[stop..] {
        *c = false;
    }
    line.extend(vec![true; 4 * uart::tx_cycles(DIVISOR) as usize]);
    link.push_line(&line);
    let mut d = Driver::new(link);
    assert_eq!(d.identify().unwrap(), host::identity(FRAC, DIVISOR));
    // A reply the board never completes is a timeout, not a hang.
    let mut link = SimulatedBoard::new(DIVISOR, FRAC).unwrap();
    let half = &Request::Garble {
        delta: 1,
        a0: 2,
        b0: 3,
        g: 4,
    }
    .encode()[..20];
    let e = bitstreams::host::Transport::exchange(&mut link, half, 49).unwrap_err();
    assert!(matches!(e, LinkError::Timeout { got: 0, .. }), "{e}");
}

#[test]
fn the_top_level_passes_verilator_lint() {
    for (name, v) in [
        ("aes_serial", hdl::verilog(AesSerial::default())),
        ("host_link", hdl::verilog(HostLink::new(868, 12))),
    ] {
        if let Err(e) = lint(name, &v) {
            panic!("{e}");
        }
    }
}
