//! What crossed the wire, per node and phase, beside what perf_model predicts.

use super::channel::{Phase, Record, Role};
use super::Network;
use perf_model::protocol::PhaseCost;
use serde::Serialize;
use std::collections::BTreeMap;

/// Bytes and rounds of one node in one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Payload bytes from the server to the client.
    pub s2c: u64,
    /// Payload bytes from the client to the server.
    pub c2s: u64,
    /// Rounds (the deepest message).
    pub rounds: u64,
    /// Messages.
    pub messages: u64,
}

impl Counts {
    fn of(cost: &PhaseCost) -> Counts {
        Counts {
            s2c: cost.bytes_s2c(),
            c2s: cost.bytes_c2s(),
            rounds: cost.rounds(),
            messages: 0,
        }
    }

    /// Whether bytes and rounds agree (messages are not modelled).
    pub fn agrees(&self, other: &Counts) -> bool {
        (self.s2c, self.c2s, self.rounds) == (other.s2c, other.c2s, other.rounds)
    }
}

/// One row of the table: a node (or the output reveal) in one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Graph node (`None` for the output reveal).
    pub node: Option<usize>,
    /// Name for people.
    pub label: String,
    /// Operator.
    pub kind: String,
    /// Phase.
    pub phase: Phase,
    /// Measured.
    pub measured: Counts,
    /// perf_model's prediction (`None` for the output reveal, which it leaves out).
    pub predicted: Option<Counts>,
}

/// Measured traffic of one inference, per node and phase, from one party's log (a
/// party sees every message: the ones it sent and the ones it received).
pub fn table(net: &Network, role: Role, log: &[Record]) -> Vec<Row> {
    let mut m: BTreeMap<(Phase, u32), Counts> = BTreeMap::new();
    for rec in log {
        let c = m.entry((rec.phase, rec.node)).or_default();
        let from_server = rec.sent == (role == Role::Server);
        if from_server {
            c.s2c += rec.bytes;
        } else {
            c.c2s += rec.bytes;
        }
        c.rounds = c.rounds.max(u64::from(rec.depth));
        c.messages += 1;
    }
    let l = net.ring.l;
    let mut rows = Vec::new();
    for phase in [Phase::Offline, Phase::Online] {
        for (idx, node) in net.graph.nodes() {
            let i = idx.index();
            let cost = node.operation().cost(node.elements, l);
            let predicted = Counts::of(if phase == Phase::Offline {
                &cost.offline
            } else {
                &cost.online
            });
            rows.push(Row {
                node: Some(i),
                label: node.label.clone(),
                kind: node.op.name().to_string(),
                phase,
                measured: m.get(&(phase, i as u32)).copied().unwrap_or_default(),
                predicted: Some(predicted),
            });
        }
    }
    if let Some(c) = m.get(&(Phase::Output, u32::MAX)) {
        rows.push(Row {
            node: None,
            label: "output".into(),
            kind: "reveal".into(),
            phase: Phase::Output,
            measured: *c,
            predicted: None,
        });
    }
    rows
}

/// Totals of a phase's rows: measured and predicted.
pub fn totals(rows: &[Row], phase: Phase) -> (Counts, Counts) {
    let mut m = Counts::default();
    let mut p = Counts::default();
    for r in rows.iter().filter(|r| r.phase == phase) {
        m.s2c += r.measured.s2c;
        m.c2s += r.measured.c2s;
        m.rounds += r.measured.rounds;
        m.messages += r.measured.messages;
        if let Some(q) = r.predicted {
            p.s2c += q.s2c;
            p.c2s += q.c2s;
            p.rounds += q.rounds;
        }
    }
    (m, p)
}

fn human(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / f64::from(1 << 20))
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// The table as text: nodes with traffic, then each phase's totals, with perf_model's
/// figures beside the measured ones.
pub fn render(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:<12} {:<8} {:>12} {:>12} {:>6}  {}\n",
        "node", "operator", "phase", "server→client", "client→server", "rounds", "perf_model"
    );
    for r in rows
        .iter()
        .filter(|r| r.measured.messages > 0 || r.predicted.is_some_and(|p| p.rounds > 0))
    {
        let verdict = match r.predicted {
            Some(p) if p.agrees(&r.measured) => "equal".to_string(),
            Some(p) => format!("predicts {} / {} / {}", p.s2c, p.c2s, p.rounds),
            None => "not modelled".to_string(),
        };
        out += &format!(
            "{:<18} {:<12} {:<8} {:>12} {:>12} {:>6}  {}\n",
            r.label,
            r.kind,
            r.phase.name(),
            human(r.measured.s2c),
            human(r.measured.c2s),
            r.measured.rounds,
            verdict
        );
    }
    for phase in [Phase::Offline, Phase::Online] {
        let (m, p) = totals(rows, phase);
        out += &format!(
            "{:<18} {:<12} {:<8} {:>12} {:>12} {:>6}  {}\n",
            "total",
            "",
            phase.name(),
            human(m.s2c),
            human(m.c2s),
            m.rounds,
            if p.agrees(&m) {
                "equal".to_string()
            } else {
                format!("predicts {} / {} / {}", p.s2c, p.c2s, p.rounds)
            }
        );
    }
    out
}
