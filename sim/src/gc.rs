//! The garbled-circuit hardware on Verilator: the AES core on known-answer vectors, the
//! half-gates engine running a compiled circuit on the cycles
//! [`schedule`](perf_model::circuit::program::schedule) gives it, and the ReLU engine
//! running many instances on the cycles [`sequence`](program::sequence) gives it
//! ([`check_relu`] garbles and evaluates ReLUs on it against the software).

use crate::verilator::{HarnessError, VerilatedDesign};
use perf_model::accel::units;
use perf_model::circuit::garble::{self, Delta, Hasher, Label, LabelRng};
use perf_model::circuit::program::{self, compile, Op, Program};
use perf_model::circuit::{from_bits, library, to_bits, Circuit};
use std::path::Path;

fn port(d: &VerilatedDesign, name: &str) -> Result<usize, HarnessError> {
    d.port(name).ok_or_else(|| HarnessError::Ports {
        design: d.name().to_string(),
        message: format!("no port `{name}`"),
    })
}

/// What an engine gave on its output port: garbled AND tables with their cycles, `Out`
/// labels, and the cycle after the last output.
struct Emitted {
    tables: Vec<[Label; 2]>,
    table_cycles: Vec<u64>,
    outputs: Vec<Label>,
    cycles: u64,
}

impl Emitted {
    fn collect(d: &VerilatedDesign, res: &[Vec<u128>]) -> Result<Emitted, HarnessError> {
        let (vout, opo) = (port(d, "valid_out")?, port(d, "op_out")?);
        let (y0, y1) = (port(d, "y0")?, port(d, "y1")?);
        let mut e = Emitted {
            tables: Vec::new(),
            table_cycles: Vec::new(),
            outputs: Vec::new(),
            cycles: 0,
        };
        for (cycle, o) in res.iter().enumerate() {
            if o[vout] != 1 {
                continue;
            }
            if o[opo] == u128::from(Op::And.code()) {
                e.tables.push([o[y0], o[y1]]);
                e.table_cycles.push(cycle as u64);
            } else {
                e.outputs.push(o[y0]);
            }
            e.cycles = cycle as u64 + 1;
        }
        Ok(e)
    }
}

fn no_version(what: &str, round_units: u32) -> HarnessError {
    HarnessError::Ports {
        design: format!("{what}{round_units}"),
        message: "round units must be 1, 2, 5 or 10".into(),
    }
}

/// Builds the AES core with `round_units` round circuits (cached).
pub fn aes_design(round_units: u32) -> Result<VerilatedDesign, HarnessError> {
    let v = hdl::gc::aes_verilog(round_units).ok_or_else(|| no_version("aes", round_units))?;
    VerilatedDesign::build(&format!("aes{round_units}"), &v)
}

/// Builds the half-gates engine whose AES cores have `round_units` round circuits.
pub fn engine_design(round_units: u32) -> Result<VerilatedDesign, HarnessError> {
    let v =
        hdl::gc::engine_verilog(round_units).ok_or_else(|| no_version("gc_engine", round_units))?;
    VerilatedDesign::build(&format!("gc_engine{round_units}"), &v)
}

/// What an AES run gave: `(cycle, ciphertext)` of every output, and whether the core
/// was ready on every cycle a block entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AesRun {
    /// Outputs with the cycle they appeared.
    pub outputs: Vec<(usize, u128)>,
    /// The core was ready whenever a block was offered.
    pub always_ready: bool,
}

/// Feeds `(key, plaintext)` blocks into an AES core, one every `spacing` cycles from
/// cycle 0, then lets the core drain.
pub fn drive_aes(
    d: &VerilatedDesign,
    blocks: &[(u128, u128)],
    spacing: usize,
    vcd: Option<&Path>,
) -> Result<AesRun, HarnessError> {
    let (key, block, vin) = (port(d, "key")?, port(d, "block")?, port(d, "valid_in")?);
    let (y, vout, rin) = (port(d, "y")?, port(d, "valid_out")?, port(d, "ready_in")?);
    let spacing = spacing.max(1);
    let cycles = blocks.len() * spacing + 12;
    let mut rows = vec![vec![0u128; d.inputs().len()]; cycles];
    for (i, &(k, p)) in blocks.iter().enumerate() {
        let row = &mut rows[i * spacing];
        (row[key], row[block], row[vin]) = (k, p, 1);
    }
    let out = d.run(&rows, vcd)?;
    Ok(AesRun {
        outputs: out
            .iter()
            .enumerate()
            .filter(|(_, o)| o[vout] == 1)
            .map(|(t, o)| (t, o[y]))
            .collect(),
        always_ready: rows
            .iter()
            .zip(&out)
            .all(|(i, o)| i[vin] == 0 || o[rin] == 1),
    })
}

/// The engine's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// Garble with this offset.
    Garble {
        /// The offset delta.
        delta: Label,
    },
    /// Evaluate with these tables, one pair per AND gate in order.
    Evaluate {
        /// `[T_G, T_E]` per AND gate.
        tables: &'a [[Label; 2]],
    },
}

/// What the engine gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRun {
    /// Tables of the garbled AND gates, in order (garbling only).
    pub tables: Vec<[Label; 2]>,
    /// The cycle each table left.
    pub table_cycles: Vec<u64>,
    /// The labels of the `Out` instructions, in order.
    pub outputs: Vec<Label>,
    /// The cycle after the last output.
    pub cycles: u64,
    /// perf_model's schedule: the cycle after the last output.
    pub model_cycles: u64,
    /// Instructions the engine refused on the cycle the schedule issued them.
    pub refused: usize,
    /// The engine's fault flag at the end.
    pub fault: bool,
}

/// Runs a program on the engine: `start` in cycle 0, then every instruction on the
/// cycle perf_model's schedule gives it (from cycle 1). `labels` holds every input's
/// label (the false label when garbling, the one encoding the input when evaluating).
pub fn drive_engine(
    d: &VerilatedDesign,
    round_units: u32,
    p: &Program,
    labels: &[Label],
    role: Role<'_>,
    vcd: Option<&Path>,
) -> Result<EngineRun, HarnessError> {
    let stimulus = |message: String| HarnessError::Stimulus {
        design: d.name().to_string(),
        message,
    };
    let loads = p.instrs.iter().filter(|i| i.op == Op::Load).count();
    if labels.len() < loads {
        return Err(stimulus(format!(
            "{} input labels for {loads} loads",
            labels.len()
        )));
    }
    if let Role::Evaluate { tables } = role {
        if tables.len() != p.and_gates() {
            return Err(stimulus(format!(
                "{} tables for {} AND gates",
                tables.len(),
                p.and_gates()
            )));
        }
    }
    if p.slots > 1 << hdl::gc::engine::SLOT_BITS {
        return Err(stimulus(format!(
            "the program needs {} label slots; the engine has {}",
            p.slots,
            1 << hdl::gc::engine::SLOT_BITS
        )));
    }
    let t = units::gc_engine(round_units);
    let (issue, end) = program::schedule(p, &t, 1);
    let names = [
        "garble", "delta", "start", "valid_in", "op", "a", "b", "out", "x0", "x1",
    ];
    let idx = names
        .iter()
        .map(|n| port(d, n))
        .collect::<Result<Vec<_>, _>>()?;
    let [garble, delta, start, vin, op, a, b, out, x0, x1] =
        <[usize; 10]>::try_from(idx).map_err(|_| stimulus("ports".into()))?;
    let mut base = vec![0u128; d.inputs().len()];
    if let Role::Garble { delta: r } = role {
        (base[garble], base[delta]) = (1, r);
    }
    let mut rows = vec![base; end as usize + 2];
    rows[0][start] = 1;
    let mut g = 0usize;
    for (i, &at) in p.instrs.iter().zip(&issue) {
        let row = &mut rows[at as usize];
        row[vin] = 1;
        row[op] = i.op.code().into();
        (row[a], row[b], row[out]) = (i.a.into(), i.b.into(), i.out.into());
        match (i.op, role) {
            (Op::Load, _) => row[x0] = labels[i.a as usize],
            (Op::And, Role::Evaluate { tables }) => {
                (row[x0], row[x1]) = (tables[g][0], tables[g][1])
            }
            _ => {}
        }
        g += usize::from(i.op == Op::And);
    }
    let res = d.run(&rows, vcd)?;
    let out = Emitted::collect(d, &res)?;
    let (rin, fault) = (port(d, "ready_in")?, port(d, "fault")?);
    let run = EngineRun {
        tables: out.tables,
        table_cycles: out.table_cycles,
        outputs: out.outputs,
        cycles: out.cycles,
        model_cycles: end,
        refused: p
            .instrs
            .iter()
            .zip(&issue)
            .filter(|&(i, &at)| i.op == Op::And && res[at as usize][rin] != 1)
            .count(),
        fault: res.last().is_some_and(|o| o[fault] == 1),
    };
    Ok(run)
}

/// Builds the ReLU engine with `p` in its ROM and AES cores of `round_units` round
/// circuits.
pub fn relu_design(round_units: u32, p: &Program) -> Result<VerilatedDesign, HarnessError> {
    let v = hdl::gc::relu_verilog(round_units, p).map_err(|e| HarnessError::Ports {
        design: format!("relu_engine{round_units}"),
        message: e.to_string(),
    })?;
    VerilatedDesign::build(&format!("relu_engine{round_units}"), &v)
}

/// What the ReLU engine gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReluRun {
    /// Tables of the garbled AND gates, in order (garbling only).
    pub tables: Vec<[Label; 2]>,
    /// The cycle each table left.
    pub table_cycles: Vec<u64>,
    /// The output labels, in order.
    pub outputs: Vec<Label>,
    /// The cycle after the last output.
    pub cycles: u64,
    /// The cycles `busy` was high.
    pub busy_cycles: u64,
    /// perf_model's sequence for the run.
    pub model: program::Sequence,
    /// Input words the engine took on a cycle other than the model's.
    pub misplaced_inputs: usize,
    /// The fault flag at the end.
    pub fault: bool,
}

/// Runs `instances` copies of `p` on the ReLU engine: `start` in cycle 0, then every
/// input word on the cycle [`program::sequence`] says the engine takes it. `labels[j]`
/// holds copy `j`'s input labels; `tables`, when evaluating, one pair per AND gate in
/// the order of [`perf_model::circuit::Circuit::batched`].
pub fn drive_relu(
    d: &VerilatedDesign,
    round_units: u32,
    p: &Program,
    instances: u32,
    labels: &[Vec<Label>],
    role: Role<'_>,
    vcd: Option<&Path>,
) -> Result<ReluRun, HarnessError> {
    let stimulus = |message: String| HarnessError::Stimulus {
        design: d.name().to_string(),
        message,
    };
    let t = units::gc_engine(round_units);
    let seq = program::sequence(p, instances, 1 << hdl::gc::engine::SLOT_BITS, &t, 0)
        .map_err(|e| stimulus(e.to_string()))?;
    if labels.len() != instances as usize {
        return Err(stimulus(format!(
            "input labels for {} copies; {instances} run",
            labels.len()
        )));
    }
    let loads = p.instrs.iter().filter(|i| i.op == Op::Load).count();
    if let Some((j, l)) = labels.iter().enumerate().find(|(_, l)| l.len() < loads) {
        return Err(stimulus(format!(
            "{} input labels for copy {j}; the program loads {loads}",
            l.len()
        )));
    }
    let names = [
        "garble",
        "delta",
        "start",
        "instances",
        "in_valid",
        "x0",
        "x1",
    ];
    let idx = names
        .iter()
        .map(|n| port(d, n))
        .collect::<Result<Vec<_>, _>>()?;
    let [garble, delta, start, count, valid, x0, x1] =
        <[usize; 7]>::try_from(idx).map_err(|_| stimulus("ports".into()))?;
    let mut base = vec![0u128; d.inputs().len()];
    if let Role::Garble { delta: r } = role {
        (base[garble], base[delta]) = (1, r);
    }
    let mut rows = vec![base; seq.end as usize + 2];
    (rows[0][start], rows[0][count]) = (1, instances.into());
    let mut want_inputs = Vec::new();
    let mut and = 0usize;
    for &(at, k, copy) in &seq.issues {
        let i = p.instrs[k];
        let row = &mut rows[at as usize];
        match (i.op, role) {
            (Op::Load, _) => {
                row[x0] = labels[copy as usize][i.a as usize];
                row[valid] = 1;
                want_inputs.push(at);
            }
            (Op::And, Role::Evaluate { tables }) => {
                let pair = tables.get(and).ok_or_else(|| {
                    stimulus(format!("{} tables for more AND gates", tables.len()))
                })?;
                (row[x0], row[x1], row[valid]) = (pair[0], pair[1], 1);
                want_inputs.push(at);
            }
            _ => {}
        }
        and += usize::from(i.op == Op::And);
    }
    let res = d.run(&rows, vcd)?;
    let out = Emitted::collect(d, &res)?;
    let (ready, busy, fault) = (port(d, "in_ready")?, port(d, "busy")?, port(d, "fault")?);
    let took: Vec<u64> = res
        .iter()
        .enumerate()
        .filter(|(_, o)| o[ready] == 1)
        .map(|(c, _)| c as u64)
        .collect();
    let run = ReluRun {
        tables: out.tables,
        table_cycles: out.table_cycles,
        outputs: out.outputs,
        cycles: out.cycles,
        busy_cycles: res.iter().filter(|o| o[busy] == 1).count() as u64,
        misplaced_inputs: differ(&took, &want_inputs),
        model: seq,
        fault: res.last().is_some_and(|o| o[fault] == 1),
    };
    Ok(run)
}

/// Copy `j`'s input labels out of a batched circuit's (garbler inputs of every copy,
/// then evaluator inputs), for [`drive_relu`].
pub fn per_copy(c: &Circuit, copies: u32, all: &[Label]) -> Vec<Vec<Label>> {
    let (g, e) = (c.garbler_inputs as usize, c.evaluator_inputs as usize);
    let n = copies as usize;
    (0..n)
        .map(|j| {
            let mut v = all[j * g..(j + 1) * g].to_vec();
            v.extend_from_slice(&all[n * g + j * e..n * g + (j + 1) * e]);
            v
        })
        .collect()
}

/// What garbling and evaluating ReLUs on the ReLU engine found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReluReport {
    /// The engine and ring width, e.g. `relu_engine10 l=32`.
    pub name: String,
    /// ReLUs garbled and evaluated.
    pub instances: u32,
    /// Garbled tables and output labels compared with the software garbler's, and
    /// evaluated labels with the software evaluator's.
    pub compared: usize,
    /// Tables and labels that differ.
    pub mismatches: usize,
    /// Decoded results that are not ReLU of the shared value.
    pub wrong_results: usize,
    /// Garbling: cycles on Verilator, and perf_model's `gc_cycles`.
    pub garble_cycles: (u64, u64),
    /// Evaluation: cycles on Verilator, and perf_model's `gc_cycles`.
    pub eval_cycles: (u64, u64),
    /// Inputs taken, or tables given out, on a cycle other than `sequence`'s; faults.
    pub timing_faults: usize,
}

impl ReluReport {
    /// Everything matched, to the cycle.
    pub fn passed(&self) -> bool {
        self.mismatches == 0
            && self.wrong_results == 0
            && self.timing_faults == 0
            && self.garble_cycles.0 == self.garble_cycles.1
            && self.eval_cycles.0 == self.eval_cycles.1
    }
}

fn timing_faults(run: &ReluRun, p: &Program, latency: u64) -> usize {
    let ands: Vec<u64> = run
        .model
        .issues
        .iter()
        .filter(|&&(_, k, _)| p.instrs[k].op == Op::And)
        .map(|&(at, _, _)| at + latency)
        .collect();
    // Only a garbling run gives tables out.
    let tables = if run.tables.is_empty() {
        0
    } else {
        differ(&run.table_cycles, &ands)
    };
    run.misplaced_inputs
        + tables
        + usize::from(run.fault)
        + usize::from(run.busy_cycles + 1 != run.cycles)
}

fn differ<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.len().abs_diff(b.len()) + a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Garbles `instances` ReLUs on `l`-bit shares on the ReLU engine with `round_units`
/// round circuits per AES core, then evaluates them on it with random shares of values
/// that include the edges (0, 1, the largest positive, the smallest negative, -1):
/// tables and labels against the software garbler and evaluator on the batched
/// circuit, results decoded against ReLU, cycles against perf_model.
pub fn check_relu(
    round_units: u32,
    l: u32,
    instances: u32,
    seed: u64,
    vcd: Option<&Path>,
) -> Result<ReluReport, HarnessError> {
    let c = library::relu(l);
    let p = compile(&c).map_err(|e| HarnessError::Stimulus {
        design: format!("relu_engine{round_units}"),
        message: e.to_string(),
    })?;
    let d = relu_design(round_units, &p)?;
    let t = units::gc_engine(round_units);
    let ram = 1u32 << hdl::gc::engine::SLOT_BITS;
    let per = program::per_batch(&p, ram).map_err(|e| HarnessError::Stimulus {
        design: d.name().to_string(),
        message: e.to_string(),
    })?;
    let n = instances.max(1);
    let big = c.batched(n, per);
    let h = Hasher::default();
    let mut rng = LabelRng::new(u128::from(seed) << 1 | 1);
    let delta = Delta::new(rng.next_label());
    let zeros = rng.labels((big.garbler_inputs + big.evaluator_inputs) as usize);
    let stimulus = |message: String| HarnessError::Stimulus {
        design: d.name().to_string(),
        message,
    };
    let (sw, state) =
        garble::garble(&big, delta, &zeros, &h).map_err(|e| stimulus(e.to_string()))?;
    let garbled = drive_relu(
        &d,
        round_units,
        &p,
        n,
        &per_copy(&c, n, &zeros),
        Role::Garble { delta: delta.get() },
        vcd,
    )?;
    // Shares of each value; the client also supplies its output mask's negation.
    let m = hdl::ring::mask(l);
    let edges = [0u64, 1, m >> 1, (m >> 1) + 1, m];
    let xs: Vec<u64> = (0..n as usize)
        .map(|j| edges.get(j).copied().unwrap_or(rng.next_label() as u64 & m))
        .collect();
    let (mut server, mut client, mut masks) = (Vec::new(), Vec::new(), Vec::new());
    for &x in &xs {
        let (s, r) = (rng.next_label() as u64 & m, rng.next_label() as u64 & m);
        server.extend(to_bits(s, l));
        client.extend(to_bits(x.wrapping_sub(s) & m, l));
        client.extend(to_bits(r.wrapping_neg() & m, l));
        masks.push(r);
    }
    let active: Vec<Label> = server
        .into_iter()
        .chain(client)
        .enumerate()
        .map(|(i, b)| state.input_label(i, b))
        .collect();
    let evaluated = drive_relu(
        &d,
        round_units,
        &p,
        n,
        &per_copy(&c, n, &active),
        Role::Evaluate { tables: &sw.tables },
        None,
    )?;
    let want = garble::evaluate(&big, &sw, &active, &h).map_err(|e| stimulus(e.to_string()))?;
    // Outputs leave row by row: output k of every copy of a batch.
    let decoded = garble::decode(&evaluated.outputs, &sw.decode);
    let order: Vec<u32> = evaluated
        .model
        .issues
        .iter()
        .filter(|&&(_, k, _)| p.instrs[k].op == Op::Out)
        .map(|&(_, _, copy)| copy)
        .collect();
    let wrong_results = xs
        .iter()
        .enumerate()
        .filter(|&(j, &x)| {
            let bits: Vec<bool> = order
                .iter()
                .zip(&decoded)
                .filter(|(&copy, _)| copy == j as u32)
                .map(|(_, &b)| b)
                .collect();
            let relu = if (x >> (l - 1)) & 1 == 1 { 0 } else { x };
            bits.len() != l as usize || from_bits(&bits).wrapping_add(masks[j]) & m != relu
        })
        .count();
    let model = |run: &ReluRun| {
        let w = perf_model::protocol::GcWork::of(&c, n.into());
        (
            run.cycles,
            units::gc_cycles(units::garbler(4, round_units), 1, &w, ram.into()),
        )
    };
    Ok(ReluReport {
        name: format!("relu_engine{round_units} l={l}"),
        instances: n,
        compared: sw.tables.len() + state.output_labels.len() + want.len(),
        mismatches: differ(&garbled.tables, &sw.tables)
            + differ(&garbled.outputs, &state.output_labels)
            + differ(&evaluated.outputs, &want),
        wrong_results,
        garble_cycles: model(&garbled),
        eval_cycles: model(&evaluated),
        timing_faults: timing_faults(&garbled, &p, t.latency)
            + timing_faults(&evaluated, &p, t.latency),
    })
}
