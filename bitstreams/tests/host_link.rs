//! The host link on Verilator: the column-serial AES core against AES, then the whole
//! top level (UART, request decoder, Beaver multiplier, garbled-AND unit) driven by the
//! host driver over the line model: Beaver products and garbled AND gates equal the
//! golden models, replies start at the cycle the model predicts, the LEDs toggle per
//! byte and per reply, and bad requests are answered or dropped as specified. The
//! AXI-Stream top level serves the same requests with the same replies, under
//! backpressure.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bitstreams::host::{self_test, Driver, LinkError, SimulatedBoard, Transport};
use hdl::beaver_mul::MulInput;
use hdl::gc::serial::AesSerial;
use hdl::host::{self, AxisLink, HostLink, Reply, ReplyError, Request};
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
    let reply = Transport::exchange(&mut link, &[0x7f], 9).unwrap();
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
    let e = Transport::exchange(&mut link, half, 49).unwrap_err();
    assert!(matches!(e, LinkError::Timeout { got: 0, .. }), "{e}");
}

#[test]
fn the_leds_toggle_per_byte_and_per_reply() {
    let sim = VerilatedDesign::build(
        &format!("host_link_d{DIVISOR}_f{FRAC}"),
        &hdl::verilog(HostLink::new(DIVISOR, FRAC)),
    )
    .unwrap();
    let p = |n: &str| sim.port(n).unwrap();
    // Two identify requests, then a Beaver multiply: 14 bytes in, 3 replies out.
    let mut bytes = Request::Identify.encode();
    bytes.extend(Request::Identify.encode());
    let mul = Request::Mul {
        party: 0,
        input: MulInput {
            a: 1,
            b: 2,
            c: 3,
            d: 4,
            e: 5,
            truncate: false,
        },
    };
    let mut line = uart::encode(&bytes[..1], DIVISOR, 5);
    line.extend(vec![true; 600]);
    line.extend(uart::encode(&bytes[1..], DIVISOR, 0));
    line.extend(vec![true; 600]);
    line.extend(uart::encode(&mul.encode(), DIVISOR, 0));
    line.extend(vec![true; 600]);
    let mut cycles = vec![vec![0u128; sim.inputs().len()]; line.len()];
    for (c, &b) in cycles.iter_mut().zip(&line) {
        c[p("rx")] = u128::from(b);
    }
    let out = sim.run(&cycles, None).unwrap();
    let toggles = |port: usize| out.windows(2).filter(|w| w[0][port] != w[1][port]).count();
    assert_eq!(toggles(p("led_rx")), 2 + 12);
    assert_eq!(toggles(p("led_reply")), 3);
}

/// Serves `requests` on the AXI-Stream top level: each request's beats as the engine
/// takes them (the opcode, a cycle for the header, then a beat a cycle), the reply read
/// with `m_axis_tready` low every third cycle; gives each reply's bytes, checking that
/// every beat offered was taken and that `tlast` marks exactly each reply's last byte.
fn serve_axis(sim: &VerilatedDesign, requests: &[Request]) -> Vec<Vec<u8>> {
    let p = |n: &str| sim.port(n).unwrap();
    let mut cycles: Vec<Vec<u128>> = Vec::new();
    let mut offered = Vec::new();
    let idle = |cycles: &mut Vec<Vec<u128>>, n: usize| {
        for _ in 0..n {
            cycles.push(vec![0u128; sim.inputs().len()]);
        }
    };
    for r in requests {
        idle(&mut cycles, 3);
        for (k, b) in r.encode().iter().enumerate() {
            if k == 1 {
                idle(&mut cycles, 1); // the header cycle
            }
            let mut c = vec![0u128; sim.inputs().len()];
            c[p("s_axis_tdata")] = u128::from(*b);
            c[p("s_axis_tvalid")] = 1;
            offered.push(cycles.len());
            cycles.push(c);
        }
        // The unit and the reply, read under backpressure.
        let reply = 1 + host::result_len(r.op()).unwrap();
        idle(
            &mut cycles,
            units::garbled_and_serial(true).latency as usize + 3 * reply + 8,
        );
    }
    for (t, c) in cycles.iter_mut().enumerate() {
        c[p("m_axis_tready")] = u128::from(t % 3 != 2);
    }
    let out = sim.run(&cycles, None).unwrap();
    for &t in &offered {
        assert_eq!(out[t][p("s_axis_tready")], 1, "beat at cycle {t} refused");
    }
    let mut replies = vec![Vec::new()];
    for (t, o) in out.iter().enumerate() {
        if o[p("m_axis_tvalid")] == 1 && cycles[t][p("m_axis_tready")] == 1 {
            replies.last_mut().unwrap().push(o[p("m_axis_tdata")] as u8);
            if o[p("m_axis_tlast")] == 1 {
                replies.push(Vec::new());
            }
        }
    }
    assert!(
        replies.pop().unwrap().is_empty(),
        "bytes after the last tlast"
    );
    replies
}

#[test]
fn the_axi_stream_top_level_serves_the_same_requests() {
    let sim = VerilatedDesign::build(
        &format!("axis_link_f{FRAC}"),
        &hdl::verilog(AxisLink::new(FRAC)),
    )
    .unwrap();
    let mut rng = Rng(23);
    let delta = rng.label() | 1;
    let (a0, b0) = (rng.label(), rng.label());
    let [tg, te, _] = host::garble_and(&Hasher::default(), delta, a0, b0, 3);
    let requests = [
        Request::Identify,
        Request::Mul {
            party: 1,
            input: MulInput {
                a: rng.next() & 0xffff,
                b: rng.next() & 0xffff,
                c: rng.next() & 0xffff,
                d: rng.next() & 0xffff,
                e: rng.next() & 0xffff,
                truncate: true,
            },
        },
        Request::Garble {
            delta,
            a0,
            b0,
            g: 3,
        },
        Request::Evaluate {
            a: a0 ^ delta,
            b: b0,
            tg,
            te,
            g: 3,
        },
    ];
    let replies = serve_axis(&sim, &requests);
    assert_eq!(replies.len(), requests.len());
    for (r, bytes) in requests.iter().zip(&replies) {
        assert_eq!(
            host::decode_reply(r.op(), bytes).unwrap(),
            r.golden(FRAC, 0),
            "{r:?}"
        );
    }
}

/// A board that flips one bit of every `every`-th reply's last byte.
struct Faulty {
    board: SimulatedBoard,
    every: usize,
    count: usize,
}

impl Transport for Faulty {
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let mut r = self.board.exchange(request, expected)?;
        self.count += 1;
        if self.count % self.every == 0 {
            if let Some(b) = r.last_mut() {
                *b ^= 0x10;
            }
        }
        Ok(r)
    }

    fn describe(&self) -> String {
        self.board.describe()
    }
}

#[test]
fn the_self_test_passes_on_the_simulated_board_and_catches_a_faulty_one() {
    let mut d = board();
    let t = self_test(&mut d, 2, 9).unwrap();
    assert!(t.passed(), "{:?}", t.mismatches);
    assert_eq!(t.requests, [1, 4, 2, 8]);
    assert_eq!(t.identity, host::identity(FRAC, DIVISOR));
    let mut d = Driver::new(Faulty {
        board: SimulatedBoard::new(DIVISOR, FRAC).unwrap(),
        every: 5,
        count: 0,
    });
    let t = self_test(&mut d, 2, 9).unwrap();
    // Replies 5, 10 and 15 are corrupted: the last product, and each gate's last
    // evaluation, which then also fails to decode.
    assert_eq!(t.mismatches.len(), 5, "{:#?}", t.mismatches);
    assert!(t.mismatches[0].starts_with("Mul { party: 1"));
    assert!(t.mismatches.iter().any(|m| m.contains("does not decode")));
}

#[test]
fn the_top_level_passes_verilator_lint() {
    for (name, v) in [
        ("aes_serial", hdl::verilog(AesSerial::default())),
        ("host_link", hdl::verilog(HostLink::new(868, 12))),
        ("axis_link", hdl::verilog(AxisLink::new(12))),
    ] {
        if let Err(e) = lint(name, &v) {
            panic!("{e}");
        }
    }
}
