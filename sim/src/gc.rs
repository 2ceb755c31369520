//! The garbled-circuit hardware on Verilator: the AES core on known-answer vectors, and
//! the half-gates engine running a compiled circuit on the cycles
//! [`schedule`](perf_model::circuit::program::schedule) gives it.

use crate::verilator::{HarnessError, VerilatedDesign};
use perf_model::accel::units;
use perf_model::circuit::garble::Label;
use perf_model::circuit::program::{self, Op, Program};
use std::path::Path;

fn port(d: &VerilatedDesign, name: &str) -> Result<usize, HarnessError> {
    d.port(name).ok_or_else(|| HarnessError::Ports {
        design: d.name().to_string(),
        message: format!("no port `{name}`"),
    })
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
    let (vout, opo, y0, y1) = (
        port(d, "valid_out")?,
        port(d, "op_out")?,
        port(d, "y0")?,
        port(d, "y1")?,
    );
    let (rin, fault) = (port(d, "ready_in")?, port(d, "fault")?);
    let mut run = EngineRun {
        tables: Vec::new(),
        table_cycles: Vec::new(),
        outputs: Vec::new(),
        cycles: 0,
        model_cycles: end,
        refused: issue
            .iter()
            .filter(|&&at| res[at as usize][rin] != 1)
            .count(),
        fault: res.last().is_some_and(|o| o[fault] == 1),
    };
    for (cycle, o) in res.iter().enumerate() {
        if o[vout] != 1 {
            continue;
        }
        if o[opo] == u128::from(Op::And.code()) {
            run.tables.push([o[y0], o[y1]]);
            run.table_cycles.push(cycle as u64);
        } else {
            run.outputs.push(o[y0]);
        }
        run.cycles = cycle as u64 + 1;
    }
    Ok(run)
}
