//! The graph for people and scripts: a text table, JSON and Graphviz DOT.

use super::{Operator, Totals, TwoPcGraph};
use perf_model::{FixedPoint, Shape};
use serde::Serialize;
use std::fmt::Write;

/// One node as written in JSON.
#[derive(Serialize)]
struct JsonNode<'a> {
    id: usize,
    #[serde(flatten)]
    node: &'a super::Node,
    inputs: Vec<usize>,
    in_shapes: Vec<&'a Shape>,
}

/// The whole graph as written in JSON.
#[derive(Serialize)]
struct JsonGraph<'a> {
    name: &'a str,
    fixed_point: FixedPoint,
    output: usize,
    nodes: Vec<JsonNode<'a>>,
    totals: Totals,
}

impl TwoPcGraph {
    /// The graph as pretty-printed JSON: nodes with their operands, and totals.
    pub fn to_json(&self) -> String {
        let nodes = self
            .nodes()
            .map(|(i, node)| {
                let ins = self.operands(i);
                JsonNode {
                    id: i.index(),
                    node,
                    in_shapes: ins.iter().map(|&s| &self.graph[s].out_shape).collect(),
                    inputs: ins.iter().map(|s| s.index()).collect(),
                }
            })
            .collect();
        let g = JsonGraph {
            name: &self.name,
            fixed_point: self.fixed_point,
            output: self.output.index(),
            nodes,
            totals: self.totals(),
        };
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string_pretty(&g).unwrap_or_default()
    }

    /// The graph in Graphviz DOT: interactive operators coloured by protocol.
    pub fn to_dot(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "digraph \"{}\" {{", escape(&self.name));
        let _ = writeln!(
            s,
            "  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];"
        );
        for (i, n) in self.nodes() {
            let colour = match n.op {
                Operator::GcRelu | Operator::GcMaxPool { .. } => "#f4a6a6",
                Operator::CircaRelu { .. } => "#f7c88f",
                Operator::BeaverPoly { .. } => "#a8d8a0",
                Operator::Truncate { .. } => "#e4e4e4",
                Operator::Input => "#9ec5f0",
                Operator::Linear(_) => "#ffffff",
            };
            let mut label = format!("{}\\n{} {}", escape(&n.label), n.op.name(), n.out_shape);
            if n.macs > 0 {
                let _ = write!(label, "\\n{} MACs", group(n.macs));
            }
            let _ = writeln!(
                s,
                "  n{} [label=\"{label}\", fillcolor=\"{colour}\"];",
                i.index()
            );
        }
        for e in self.graph.edge_indices() {
            if let Some((a, b)) = self.graph.edge_endpoints(e) {
                let _ = writeln!(
                    s,
                    "  n{} -> n{} [label=\"{}\"];",
                    a.index(),
                    b.index(),
                    self.graph[e].shape
                );
            }
        }
        s.push_str("}\n");
        s
    }

    /// A per-node table and the totals, for a terminal.
    pub fn to_table(&self) -> String {
        let header = [
            "id", "operator", "layer", "inputs", "output", "MACs", "params", "elements",
        ];
        let mut rows: Vec<[String; 8]> = Vec::new();
        for (i, n) in self.nodes() {
            let ins: Vec<String> = self
                .operands(i)
                .iter()
                .map(|s| s.index().to_string())
                .collect();
            let interactive = n.op.is_interactive() || matches!(n.op, Operator::Truncate { .. });
            rows.push([
                i.index().to_string(),
                n.op.name().to_string(),
                n.label.clone(),
                ins.join(","),
                n.out_shape.to_string(),
                blank_zero(n.macs),
                blank_zero(n.params),
                if interactive {
                    group(n.elements)
                } else {
                    String::new()
                },
            ]);
        }
        let mut width = header.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut s = String::new();
        let line = |s: &mut String, cells: &[String]| {
            for (k, (c, w)) in cells.iter().zip(width).enumerate() {
                // Text columns left-aligned, numbers right-aligned.
                if k >= 5 {
                    let _ = write!(s, "{c:>w$}  ");
                } else {
                    let _ = write!(s, "{c:<w$}  ");
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
        };
        line(&mut s, &header.map(String::from));
        line(&mut s, &width.map(|w| "-".repeat(w)));
        for r in &rows {
            line(&mut s, r);
        }
        let t = self.totals();
        let fp = self.fixed_point;
        let _ = writeln!(
            s,
            "\n{}: {} operators, ring Z_2^{} with {} fractional bits",
            self.name, t.nodes, fp.ring_bits, fp.frac_bits
        );
        for (what, v) in [
            ("GC ReLU elements", t.relu_elements),
            ("Circa ReLU elements", t.circa_elements),
            ("polynomial elements", t.poly_elements),
            ("GC max-pool comparisons", t.maxpool_comparisons),
            ("truncated elements", t.truncated_elements),
            ("MACs (conv + dense)", t.macs),
            ("parameters", t.params),
        ] {
            let _ = writeln!(s, "  {what:<24} {:>14}", group(v));
        }
        s
    }
}

fn blank_zero(v: u64) -> String {
    if v == 0 {
        String::new()
    } else {
        group(v)
    }
}

/// 40551040 -> "40,551,040".
fn group(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(40_551_040), "40,551,040");
    }
}
