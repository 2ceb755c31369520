//! The accelerator's top level on Verilator with programs written by hand: dot
//! products whose rows do not fill the last group of lanes, additions, a strided
//! convolution, all back to back; against the golden model (itself checked against a
//! direct computation) and the cycles the program says. Then what goes wrong: a late
//! instruction raises `late`, programs that break the rules are refused, and the
//! generated Verilog of every lane count passes lint.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::accel::{self, AccelError, CoefWalk, Geometry, Instr, Memories, Op, Size};
use hdl::beaver::{poly_share, PolyInput};
use hdl::mac::{truncate_share, DEFAULT_FRAC_BITS};
use hdl::ring::{mask, mul};
use sim::accel::{drive, Compiled, Output, Used};

mod common;
use common::Lcg;

/// What the hand-written programs use of the memories.
const USED: Used = Used {
    act: 130,
    aux: 60,
    weights: 200,
    beaver: 40,
    coef: 8,
};

#[allow(clippy::too_many_arguments)] // one per field of the instruction
fn instr(start: u32, op: Op, count: u16, depth: u16, a: u16, b: u16, o: u16, w: u16) -> Instr {
    Instr {
        start,
        op,
        count,
        depth,
        a,
        b,
        o,
        w,
        raw: 0,
    }
}

/// The rings the top level is generated for, each with the fractional bits it is
/// tried with.
const RINGS: [(u32, u32); 3] = [(64, DEFAULT_FRAC_BITS), (32, DEFAULT_FRAC_BITS), (16, 8)];

/// A program of two lanes on the `l`-bit ring truncating by `f`: a dense layer of 5
/// rows (the last group half full), an addition of 3 elements right after it, then a
/// 3x3 convolution with stride 2 on a 2x7x7 input into 4 channels of 3x3, cut into two
/// tiles.
fn program(rng: &mut Lcg, (l, f): (u32, u32)) -> (Vec<Instr>, Memories, Vec<Vec<u64>>) {
    let lanes = 2;
    let mut mem = Memories::new(lanes, lanes).ring(l, f);
    let mut vec = |n: usize| (0..n).map(|_| rng.word() & mask(l)).collect::<Vec<u64>>();
    // Dense: x (7 elements) at row 0, masks at aux row 0, out at row 10.
    let (x, wd, masks) = (vec(7), vec(5 * 7), vec(5));
    Memories::put(&mut mem.act, 0, &x);
    Memories::put(&mut mem.aux, 0, &masks);
    mem.put_weights(0, &wd, 7);
    // Addition: act row 20 plus aux row 20 into row 30.
    let (p, q) = (vec(3), vec(3));
    Memories::put(&mut mem.act, 20, &p);
    Memories::put(&mut mem.aux, 20, &q);
    // Convolution: input [2, 7, 7] at row 40, masks at aux row 40 (channel-last),
    // weights [4, 2, 3, 3] from word 100, out at row 100 (channel-last).
    let geo = Geometry {
        input: [2, 7, 7],
        output: [4, 3, 3],
        kernel: 3,
        stride: 2,
        padding: 0,
    };
    let (xc, wc, mc) = (vec(2 * 49), vec(4 * 18), vec(36));
    Memories::put(&mut mem.act, 40, &xc);
    Memories::put(&mut mem.aux, 40, &mc);
    mem.put_weights(100, &wc, 18);
    let dense = instr(3, Op::Dot, 5, 7, 0, 0, 10, 0);
    let add = instr(3 + 24, Op::Add, 3, 0, 20, 20, 30, 0);
    // Tile 0: elements 0..20 (10 groups of 19 cycles); tile 1: 20..36.
    let conv0 = instr(3 + 24 + 2 + 5, Op::Conv, 20, 18, 40, 40, 100, 100);
    let s1 = 3 + 24 + 2 + 5 + 10 * 19;
    let g1 = geo.group_of(2, 20) as u16;
    let conv1 = instr(s1, Op::Conv, 16, 18, 40, 50, 110, 100 + g1 * 18);
    let prog = vec![
        dense,
        add,
        Instr::setup(geo.geom(2)),
        Instr::setup(geo.tile(2, 0, 100)),
        conv0,
        Instr::setup(geo.geom(2)),
        Instr::setup(geo.tile(2, 20, 100)),
        conv1,
    ];
    // What each should give, computed directly.
    let trunc = |acc: u64| truncate_share(acc & mask(l), f, 0, l);
    let dot = |xs: &[u64], ws: &[u64], m: u64| {
        trunc(
            xs.iter()
                .zip(ws)
                .fold(m, |a, (&x, &w)| a.wrapping_add(mul(x, w, l))),
        )
    };
    let want_dense: Vec<u64> = (0..5)
        .map(|r| dot(&x, &wd[r * 7..(r + 1) * 7], masks[r]))
        .collect();
    let want_add: Vec<u64> = p
        .iter()
        .zip(&q)
        .map(|(a, b)| a.wrapping_add(*b) & mask(l))
        .collect();
    let mut want_conv = vec![0u64; 36];
    for oc in 0..4 {
        for oy in 0..3 {
            for ox in 0..3 {
                let mut win = Vec::new();
                for ic in 0..2 {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            win.push(xc[ic * 49 + (2 * oy + ky) * 7 + 2 * ox + kx]);
                        }
                    }
                }
                let e = (oy * 3 + ox) * 4 + oc;
                want_conv[e] = dot(&win, &wc[oc * 18..(oc + 1) * 18], mc[e]);
            }
        }
    }
    (prog, mem, vec![want_dense, want_add, want_conv])
}

/// On every ring the top level is generated for.
#[test]
fn hand_written_programs_run_bit_exact_at_their_cycles() {
    for ring in RINGS {
        hand_written_program(ring, Size::Full);
    }
}

/// The same program on the small-memory top level: it fits its 256-row banks.
#[test]
fn the_small_memory_top_level_runs_what_fits_it() {
    hand_written_program(RINGS[2], Size::Small);
    poly_beside_the_array(1, RINGS[2], Size::Small);
}

fn hand_written_program((l, f): (u32, u32), size: Size) {
    let mut rng = Lcg(7);
    let (prog, mem, want) = program(&mut rng, (l, f));
    let mem = mem.sized(size);
    let times = accel::check(&prog, 2, 2, l, size).unwrap();
    let mut golden = mem.clone();
    accel::run(&prog, &mut golden).unwrap();
    assert_eq!(golden.act_vector(10, 5), want[0], "dense");
    assert_eq!(golden.act_vector(30, 3), want[1], "add");
    assert_eq!(golden.act_vector(100, 36), want[2], "convolution");
    let c = Compiled::by_hand(prog.clone(), mem, USED);
    let last = times.iter().map(|t| t.2).max().unwrap();
    let design = sim::accel::design((l, f), 2, 2, size).unwrap();
    let trace = drive(&design, &c, last + 10, None).unwrap();
    assert!(!trace.late && !trace.fault && trace.halted);
    let starts: Vec<u64> = prog
        .iter()
        .filter(|i| !matches!(i.op, Op::Geom | Op::Tile))
        .map(|i| u64::from(i.start))
        .collect();
    assert_eq!(trace.issues, starts);
    // One write per group or row, each `delay(l)` cycles after its last issue cycle.
    let mut writes = Vec::new();
    for i in prog.iter().filter(|i| !matches!(i.op, Op::Geom | Op::Tile)) {
        let s = u64::from(i.start);
        let groups = u64::from(i.count).div_ceil(2);
        for g in 0..groups {
            let last_issue = match i.op {
                Op::Add => s + g,
                _ => s + (g + 1) * (u64::from(i.depth) + 1) - 1,
            };
            writes.push(last_issue + accel::delay(l));
        }
    }
    assert_eq!(trace.writes, writes);
    let out = |row: u64, n: usize| {
        Output {
            node: 0,
            row,
            elements: n,
            hwc: None,
        }
        .read(|k| trace.act[((row + k / 2) * 2 + k % 2) as usize])
    };
    assert_eq!(out(10, 5), want[0], "{l}-bit dense");
    assert_eq!(out(30, 3), want[1], "{l}-bit add");
    assert_eq!(out(100, 36), want[2], "{l}-bit convolution");
    // Memory the program does not write keeps what was loaded.
    assert_eq!(out(20, 3), golden.act_vector(20, 3));
}

#[test]
fn a_late_instruction_raises_late_and_rule_breaking_programs_are_refused() {
    let mut rng = Lcg(9);
    let (mut prog, mem, _) = program(&mut rng, RINGS[0]);
    // The addition due while the dense layer still issues.
    prog[1].start = 10;
    assert_eq!(
        accel::check(&prog, 2, 2, 64, Size::Full).unwrap_err(),
        AccelError::Overlap {
            index: 1,
            start: 10,
            free: 27
        }
    );
    let c = Compiled::by_hand(prog, mem, USED);
    let trace = drive(
        &sim::accel::design(RINGS[0], 2, 2, Size::Full).unwrap(),
        &c,
        400,
        None,
    )
    .unwrap();
    assert!(trace.late, "issued at {:?}", trace.issues);
    assert_eq!(trace.issues[1], 27, "the addition waits for the array");
    // Out of memory, and too long.
    let far = instr(0, Op::Add, 8, 0, u16::MAX - 1, 0, 0, 0);
    let e = accel::check(&[far], 2, 2, 64, Size::Full)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("instruction 0: a 65537") && e.contains("activation memory"),
        "{e}"
    );
    let many = vec![instr(0, Op::Add, 0, 0, 0, 0, 0, 0); 1 << accel::PROG_BITS];
    assert!(matches!(
        accel::check(&many, 2, 2, 64, Size::Full),
        Err(AccelError::TooLong { .. })
    ));
}

/// A polynomial of 4 channels on a [4, 3, 3] input kept channels last, on two MAC
/// lanes and `beaver` Beaver lanes, in two tiles (18 and 17 elements, the second's walk
/// starting mid-period and its last row half full) while the MAC array runs an
/// addition; then the array adds the client's re-share to `z`.
fn poly_beside_the_array(beaver: usize, (l, f): (u32, u32), size: Size) {
    let mut rng = Lcg(11);
    let lanes = 2;
    let mut mem = Memories::new(lanes, beaver).ring(l, f);
    let mut vec = |n: usize| (0..n).map(|_| rng.word() & mask(l)).collect::<Vec<u64>>();
    let (x, a, c, d, recv) = (vec(36), vec(36), vec(36), vec(36), vec(36));
    // Small fixed-point coefficients per channel, and whole-word ones.
    let (w2, w1, b) = (vec(4), vec(4), vec(4));
    Memories::put(&mut mem.act, 0, &x);
    for (bank, v) in mem.pairs.iter_mut().zip([&a, &c, &d]) {
        Memories::put(bank, 5, v);
    }
    Memories::put(&mut mem.aux, 30, &recv);
    let (p, q) = (vec(6), vec(6));
    Memories::put(&mut mem.act, 50, &p);
    Memories::put(&mut mem.aux, 50, &q);
    // Channels last: element e is channel e % 4; lane j's word k holds channel 2k + j.
    let walk = CoefWalk {
        base: 3,
        rep: 1,
        period: 2,
    };
    for ch in 0..4 {
        for (bank, v) in mem.coef.iter_mut().zip([&w2, &w1, &b]) {
            bank[ch % 2][3 + ch / 2] = v[ch];
        }
    }
    // Each tile holds the Beaver lanes ceil(n / beaver) cycles.
    let (n0, n1) = (18u32, 17u32);
    let busy = |n: u32| n.div_ceil(beaver as u32);
    let t0 = 4;
    let t1 = t0 + busy(n0);
    let bdelay = accel::beaver_delay(l);
    let ready1 = t1 + busy(n1) + bdelay as u32;
    let n = (n0 + n1) as usize;
    let prog = vec![
        Instr::setup(walk.setup(0)),
        Instr::poly(t0, n0 as u16, 0, 5),
        // The array adds beside the lanes.
        instr(t0, Op::Add, 6, 0, 50, 50, 60, 0),
        Instr::setup(walk.setup(9)),
        Instr::poly(t1, n1 as u16, 9, 14),
        instr(ready1, Op::Add, n as u16, 1, 5, 30, 70, 0),
    ];
    let mem = mem.sized(size);
    let times = accel::check(&prog, lanes, beaver, l, size).unwrap();
    let end1 = u64::from(t1 + busy(n1));
    assert_eq!(times[4], (u64::from(t1), end1, end1 + bdelay - 1));
    let mut golden = mem.clone();
    accel::run(&prog, &mut golden).unwrap();
    let want_z: Vec<u64> = (0..n)
        .map(|e| {
            let ch = e % 4;
            let i = PolyInput {
                x: x[e],
                a: a[e],
                c: c[e],
                d: d[e],
                w2: w2[ch],
                w1: w1[ch],
                b: b[ch],
            };
            poly_share(&i, f, 0, l)
        })
        .collect();
    let want_y: Vec<u64> = want_z
        .iter()
        .zip(&recv)
        .map(|(z, r)| z.wrapping_add(*r) & mask(l))
        .collect();
    assert_eq!(
        (0..n as u64)
            .map(|e| Memories::get(&golden.z, 5, e))
            .collect::<Vec<_>>(),
        want_z
    );
    assert_eq!(golden.act_vector(70, n), want_y, "z plus the re-share");
    let c = Compiled::by_hand(prog, mem, USED);
    let trace = drive(
        &sim::accel::design((l, f), lanes as u32, beaver as u32, size).unwrap(),
        &c,
        u64::from(ready1) + 40,
        None,
    )
    .unwrap();
    assert!(!trace.late && !trace.fault && trace.halted);
    assert_eq!(trace.beaver_issues, vec![u64::from(t0), u64::from(t1)]);
    assert_eq!(trace.issues, vec![u64::from(t0), u64::from(ready1)]);
    // One write a cycle, each the cycle's lanes' results.
    let writes: Vec<u64> = (u64::from(t0)..end1).map(|k| k + bdelay).collect();
    assert_eq!(trace.beaver_writes, writes);
    let out = |row: u64, n: u64| -> Vec<u64> {
        (0..n)
            .map(|k| trace.act[((row + k / 2) * 2 + k % 2) as usize])
            .collect()
    };
    assert_eq!(out(70, n as u64), want_y);
    let sums: Vec<u64> = p
        .iter()
        .zip(&q)
        .map(|(a, b)| a.wrapping_add(*b) & mask(l))
        .collect();
    assert_eq!(out(60, 6), sums);
    // The lanes are one unit: a second `POLY` due while the first issues is refused.
    let mut clash = c.program.clone();
    clash[4].start = t1 - 3;
    assert_eq!(
        accel::check(&clash, lanes, beaver, l, size).unwrap_err(),
        AccelError::Overlap {
            index: 4,
            start: u64::from(t1 - 3),
            free: u64::from(t1)
        }
    );
    let bad = [Instr::setup(
        CoefWalk {
            base: 1020,
            rep: 1,
            period: 8,
        }
        .setup(0),
    )];
    let e = accel::check(&bad, lanes, beaver, l, size)
        .unwrap_err()
        .to_string();
    assert!(e.contains("coefficient memory"), "{e}");
}

#[test]
fn poly_runs_on_the_beaver_lanes_beside_the_array_and_adds_the_reshare() {
    poly_beside_the_array(2, RINGS[0], Size::Full);
}

/// A single Beaver lane for two banks: a row in two cycles, the last half-full row in
/// one; on the 64-bit ring and on the 16-bit one.
#[test]
fn poly_on_fewer_beaver_lanes_takes_a_row_in_several_cycles() {
    poly_beside_the_array(1, RINGS[0], Size::Full);
    poly_beside_the_array(1, RINGS[2], Size::Full);
}

#[test]
fn the_top_level_of_every_lane_count_passes_lint() {
    for (l, f) in RINGS {
        for lanes in accel::LANE_COUNTS {
            let counts = accel::beaver_lane_counts(lanes);
            assert_eq!(counts.first(), Some(&lanes));
            assert_eq!(counts.last(), Some(&1));
            for b in counts {
                let v = accel::verilog(l, f, lanes, b, Size::Full).unwrap();
                sim::verilator::lint(&format!("accelerator-l{l}-x{lanes}b{b}"), &v)
                    .unwrap_or_else(|e| panic!("{l} bits, {lanes} lanes, {b} Beaver lanes: {e}"));
            }
        }
    }
    for b in [2, 1] {
        let v = accel::verilog(16, 8, 2, b, Size::Small).unwrap();
        assert!(v.contains("(* ram_style = \"logic\" *) reg[15:0] mem[7:0];"));
        sim::verilator::lint(&format!("accelerator-l16-x2b{b}-small"), &v)
            .unwrap_or_else(|e| panic!("the small top level, {b} Beaver lanes: {e}"));
    }
    assert!(accel::verilog(64, 12, 3, 1, Size::Full).is_none());
    assert!(accel::verilog(64, 12, 8, 4, Size::Full).is_none());
    assert!(accel::verilog(24, 12, 2, 2, Size::Full).is_none());
    assert!(accel::verilog(16, 16, 2, 2, Size::Full).is_none());
    assert!(accel::verilog(32, 12, 2, 2, Size::Small).is_none());
    assert!(accel::verilog(16, 8, 4, 1, Size::Small).is_none());
    assert!(accel::beaver_lane_counts(3).is_empty());
    // A configuration's share of Beaver lanes, down to a count the top level has.
    assert_eq!(accel::beaver_lanes_for(4, 64, 4), Some(1));
    assert_eq!(accel::beaver_lanes_for(32, 64, 16), Some(8));
    assert_eq!(accel::beaver_lanes_for(8, 8, 8), Some(8));
    assert_eq!(accel::beaver_lanes_for(16, 16, 8), Some(4));
}

/// The small top level refuses, in the golden model, a program past its 256-row banks,
/// 256-instruction programs or 8-word coefficient banks; and its hardware raises
/// `fault` at a window row or coefficient word past them, where the full-size top level
/// runs the same program cleanly.
#[test]
fn the_small_memory_top_level_refuses_and_faults_past_its_memories() {
    let (l, f) = RINGS[2];
    let small = Size::Small;
    let past = instr(0, Op::Add, 4, 0, 0, 0, 255, 0);
    let e = accel::check(&[past], 2, 1, l, small)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("o 256") && e.contains("256-entry activation memory"),
        "{e}"
    );
    let many = vec![instr(0, Op::Add, 0, 0, 0, 0, 0, 0); 256];
    assert!(matches!(
        accel::check(&many, 2, 1, l, small),
        Err(AccelError::TooLong { size: 256, .. })
    ));
    let walk = CoefWalk {
        base: 7,
        rep: 1,
        period: 2,
    };
    let e = accel::check(&[Instr::setup(walk.setup(0))], 2, 1, l, small)
        .unwrap_err()
        .to_string();
    assert!(e.contains("8-entry coefficient memory"), "{e}");
    assert!(accel::check(&[Instr::setup(walk.setup(0))], 2, 1, l, Size::Full).is_ok());
    // Unchecked on the hardware: a dot product whose vector runs from row 255 into
    // row 256, and a walk whose second row group takes coefficient word 8.
    let dot = [instr(2, Op::Dot, 2, 4, 255, 0, 0, 0)];
    let poly = [Instr::setup(walk.setup(0)), Instr::poly(2, 4, 0, 0)];
    let used = Used {
        act: 4,
        aux: 1,
        weights: 8,
        beaver: 2,
        coef: 8,
    };
    for (what, prog) in [("the dot product", &dot[..]), ("the walk", &poly[..])] {
        for size in [Size::Small, Size::Full] {
            let mem = Memories::new(2, 1).ring(l, f).sized(size);
            let c = Compiled::by_hand(prog.to_vec(), mem, used);
            let d = sim::accel::design((l, f), 2, 1, size).unwrap();
            let trace = drive(&d, &c, 40, None).unwrap();
            assert_eq!(trace.fault, size == Size::Small, "{what}, {size:?}");
            assert!(trace.halted && !trace.late, "{what}, {size:?}");
        }
    }
}
