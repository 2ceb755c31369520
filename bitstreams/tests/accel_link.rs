//! The accelerator's link on Verilator: the small-memory top level behind the UART,
//! driven by its host driver over the line model. A program (a dense layer, an addition
//! and a polynomial beside it, then the polynomial's output added to a received share)
//! is loaded, run and read back: the activations equal the golden model's and the
//! run's counts equal those of the same program driven on the top level's own ports.
//! Bad memories, lanes and opcodes get their status bytes, and the link passes lint.
//! The same engine with AXI-Stream ports before the full-size 64-bit top level runs the
//! self-test and two-byte addresses and counts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bitstreams::accel_host::{
    accel_self_test, self_test_program, AccelDriver, SimulatedAccelBoard, SimulatedAxisBoard,
    SELF_TEST_USED,
};
use bitstreams::host::LinkError;
use hdl::accel::{self, Size};
use hdl::accel_link::{self, Mem, Reply, ReplyError, Request};
use sim::accel::{drive, Compiled, Used};

const DIVISOR: u16 = 4;
const L: u32 = 16;
const FRAC: u32 = 8;

/// What the self-test's program uses of the memories, as `drive` takes it.
const USED: Used = Used {
    act: SELF_TEST_USED[0],
    aux: SELF_TEST_USED[1],
    weights: SELF_TEST_USED[2],
    beaver: SELF_TEST_USED[3],
    coef: SELF_TEST_USED[4],
};

#[test]
fn the_driver_loads_runs_and_reads_a_program_through_the_simulated_link() {
    for beaver in [1, 2] {
        let (prog, mem) = self_test_program(FRAC, beaver, 3);
        let times = accel::check(&prog, 2, beaver, L, Size::Small).unwrap();
        let last = times.iter().map(|t| t.2).max().unwrap();
        let mut golden = mem.clone();
        accel::run(&prog, &mut golden).unwrap();
        let board = SimulatedAccelBoard::new(DIVISOR, FRAC, beaver).unwrap();
        let mut d = AccelDriver::new(board);
        let run = d.run_program(&prog, &mem, SELF_TEST_USED, 10_000).unwrap();
        for (j, bank) in run.act.iter().enumerate() {
            let want = &golden.act[j][..USED.act as usize];
            assert_eq!(bank, want, "bank {j}, {beaver} Beaver lanes");
        }
        // The same program on the top level's own ports.
        let design = sim::accel::design((L, FRAC), 2, beaver as u32, Size::Small).unwrap();
        let c = Compiled::by_hand(prog.clone(), mem.clone(), USED);
        let trace = drive(&design, &c, last + 10, None).unwrap();
        let r = run.report;
        assert!(r.halted && !r.late && !r.fault, "{r:?}");
        assert_eq!(
            (
                usize::from(r.issues),
                usize::from(r.writes),
                usize::from(r.beaver_issues),
                usize::from(r.beaver_writes)
            ),
            (
                trace.issues.len(),
                trace.writes.len(),
                trace.beaver_issues.len(),
                trace.beaver_writes.len()
            ),
            "{beaver} Beaver lanes"
        );
        assert!(
            u64::from(r.now) > last && u64::from(r.now) <= last + accel_link::DRAIN + 2,
            "answered at {} after the last write at {last}",
            r.now
        );
        // A limit below the program's cycles answers before the halt.
        let short = d
            .session(&[Request::Run { max_cycles: 10 }])
            .unwrap()
            .pop()
            .unwrap();
        match short {
            Reply::Ran(r) => assert!(
                !r.halted && u64::from(r.now) == 10 + accel_link::DRAIN,
                "{r:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
}

/// The self-test `polympc host --config` runs: identify, the program, every row and
/// the run's flags and cycles against the golden model.
#[test]
fn the_self_test_passes_on_the_simulated_link() {
    let mut d = AccelDriver::new(SimulatedAccelBoard::new(DIVISOR, FRAC, 2).unwrap());
    let t = accel_self_test(&mut d, 9).unwrap();
    assert!(t.passed(), "{:?}", t.mismatches);
    assert_eq!(t.identity, accel_link::identity(FRAC, 2));
    assert_eq!(t.rows, 2 * SELF_TEST_USED[0] as usize);
    assert_eq!(t.counts[0], 3, "two additions and the dense layer");
}

#[test]
fn bad_memories_lanes_and_opcodes_get_their_status() {
    let board = SimulatedAccelBoard::new(DIVISOR, FRAC, 1).unwrap();
    let mut d = AccelDriver::new(board);
    assert_eq!(d.identify().unwrap(), accel_link::identity(FRAC, 1));
    let load = |mem: u8, lane: u8| Request::Load {
        mem,
        lane,
        addr: 4,
        words: vec![0x1234, 0x5678],
    };
    let read = |lane: u8| Request::Read {
        lane,
        row: 4,
        count: 2,
    };
    let rs = [
        load(Mem::Act as u8, 1),
        load(11, 0),
        load(Mem::Aux as u8, 2),
        read(2),
        read(1),
        read(0),
    ];
    let wire: Vec<(Vec<u8>, usize, u64)> = rs
        .iter()
        .map(|r| (r.encode(), 1 + r.result_len(), 16))
        .collect();
    use bitstreams::host::Transport;
    let mut board = SimulatedAccelBoard::new(DIVISOR, FRAC, 1).unwrap();
    let replies = board.exchange_all(&wire).unwrap();
    let parsed: Vec<Result<Reply, ReplyError>> = rs
        .iter()
        .zip(&replies)
        .map(|(r, b)| accel_link::decode_reply(r, b))
        .collect();
    assert_eq!(parsed[0], Ok(Reply::Loaded));
    assert_eq!(parsed[1], Err(ReplyError::Bad(accel_link::OP_LOAD)));
    assert_eq!(parsed[2], Err(ReplyError::Bad(accel_link::OP_LOAD)));
    assert_eq!(parsed[3], Err(ReplyError::Bad(accel_link::OP_READ)));
    assert_eq!(parsed[4], Ok(Reply::Read(vec![0x1234, 0x5678])));
    // Bank 0 is untouched: the refused loads wrote nothing.
    assert_eq!(parsed[5], Ok(Reply::Read(vec![0, 0])));
    // Every reply's first start bit at the cycle the link's model says.
    for (r, &(sent, start)) in rs.iter().zip(board.last_timing()) {
        assert_eq!(
            start,
            accel_link::response_start(r, DIVISOR, sent),
            "reply start of {r:?}"
        );
    }
    let unknown = board.exchange(&[0x55], 1).unwrap();
    assert_eq!(unknown, [accel_link::STATUS_UNKNOWN]);
    let (sent, start) = board.last_timing()[0];
    assert_eq!(
        start,
        accel_link::response_start(&Request::Identify, DIVISOR, sent),
        "an unknown opcode is answered as fast as identify"
    );
    let id = [Request::Identify, load(Mem::Prog as u8, 0)];
    let wire: Vec<(Vec<u8>, usize, u64)> = id
        .iter()
        .map(|r| (r.encode(), 1 + r.result_len(), 16))
        .collect();
    board.exchange_all(&wire).unwrap();
    for (r, &(sent, start)) in id.iter().zip(board.last_timing()) {
        assert_eq!(start, accel_link::response_start(r, DIVISOR, sent), "{r:?}");
    }
    // And through the driver, the refusal is an error naming the link.
    let e = d.request(&read(3)).unwrap_err();
    assert!(matches!(e, LinkError::Reply { .. }), "{e}");
    assert!(e.to_string().contains("accel_link_d4_f8_b1"), "{e}");
}

#[test]
fn the_link_passes_lint() {
    for beaver in [1, 2] {
        let v = accel_link::verilog(DIVISOR, FRAC, beaver).unwrap();
        sim::verilator::lint(&format!("accel-link-b{beaver}"), &v).unwrap();
    }
}

/// The AXI-Stream link before the full-size top level on the 64-bit ring: its identity
/// names the two-byte format, the self-test's program (8-byte elements) matches the
/// golden model, a load of 300 words at a 16-bit address reads back whole, and a bad
/// lane is refused, also with the reply stream stalled every third cycle. Every request
/// byte found `tready` high, and it passes lint.
#[test]
fn the_axi_stream_link_serves_the_full_size_64_bit_top_level() {
    let (l, f) = (64, 16);
    let board = SimulatedAxisBoard::new(l, f, 2, 1, Size::Full).unwrap();
    let fmt = board.format();
    assert_eq!(fmt, accel_link::Format::of(Size::Full, l, 2));
    let mut d = AccelDriver::with_format(board, fmt);
    let t = accel_self_test(&mut d, 5).unwrap();
    assert!(t.passed(), "{:?}", t.mismatches);
    assert_eq!(t.identity, accel_link::identity_of(&fmt, f, 1));
    assert_eq!(t.rows, 2 * SELF_TEST_USED[0] as usize);
    assert!(t.cycles as u64 > t.last_write);
    let words: Vec<u128> = (0..300u128)
        .map(|k| k * 0x0101_0101_0101_0101 + (k << 60))
        .collect();
    let rs = [
        Request::Load {
            mem: Mem::Act as u8,
            lane: 1,
            addr: 0x1234,
            words: words.clone(),
        },
        Request::Read {
            lane: 1,
            row: 0x1234,
            count: 300,
        },
        Request::Read {
            lane: 2,
            row: 0,
            count: 1,
        },
    ];
    let replies: Vec<_> = rs.iter().map(|r| d.request(r)).collect();
    assert!(matches!(replies[0], Ok(Reply::Loaded)), "{:?}", replies[0]);
    let want: Vec<u64> = words.iter().map(|&w| w as u64).collect();
    match &replies[1] {
        Ok(Reply::Read(v)) => assert_eq!(v, &want),
        other => panic!("{other:?}"),
    }
    let e = replies[2].as_ref().unwrap_err();
    assert!(matches!(e, LinkError::Reply { .. }), "{e}");
    // With `m_axis_tready` low every third cycle, the replies are the same.
    let stalled = SimulatedAxisBoard::new(l, f, 2, 1, Size::Full)
        .unwrap()
        .stall(3);
    let mut s = AccelDriver::with_format(stalled, fmt);
    let t = accel_self_test(&mut s, 5).unwrap();
    assert!(t.passed(), "stalled: {:?}", t.mismatches);
    let got = s.session(&rs[..2]).unwrap();
    assert_eq!(got, [Reply::Loaded, Reply::Read(want)]);
    let e = s.session(&rs).unwrap_err();
    assert!(matches!(e, LinkError::Reply { .. }), "{e}");
    let v = accel_link::axis_verilog(l, f, 2, 1, Size::Full).unwrap();
    sim::verilator::lint("accel-axis-l64", &v).unwrap();
}
