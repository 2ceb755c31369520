//! The flow's report: the key figures of every stage, read back from the files the
//! stages wrote, with their plots; as Markdown (`report.md`), HTML (`report.html`) and
//! JSON (`report.json`, the figures alone, for scripts and tests).

use crate::flow::{read_json, FlowArgs, Layout, Stage, StageRun};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;

/// A piece of the report.
enum Block {
    Heading(String),
    Para(String),
    Table(Vec<String>, Vec<Vec<String>>),
    Image(String, String),
}

fn row(cells: &[&dyn std::fmt::Display]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table(head.iter().map(|h| h.to_string()).collect(), rows)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The elements of a JSON array (none when it is not one).
fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn ms(seconds: &Value) -> String {
    format!("{:.3}", f(seconds) * 1e3)
}

fn render_md(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(h) if s.is_empty() => s += &format!("# {h}\n\n"),
            Block::Heading(h) => s += &format!("## {h}\n\n"),
            Block::Para(p) => s += &format!("{p}\n\n"),
            Block::Table(head, rows) => {
                s += &format!("| {} |\n", head.join(" | "));
                s += &format!("|{}\n", "---|".repeat(head.len()));
                for r in rows {
                    s += &format!("| {} |\n", r.join(" | "));
                }
                s += "\n";
            }
            Block::Image(path, alt) => s += &format!("![{alt}]({path})\n\n"),
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown's `code` spans as HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in esc(s).split('`').enumerate() {
        if k % 2 == 1 {
            out += &format!("<code>{part}</code>");
        } else {
            out += part;
        }
    }
    out
}

fn render_html(blocks: &[Block]) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>polympc flow report</title>\n\
         <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;\
         text-align:left}th{background:#f0f0f0}img{max-width:100%;border:1px solid #eee}\
         code{background:#f5f5f5}</style></head><body>\n",
    );
    let mut first = true;
    for b in blocks {
        match b {
            Block::Heading(h) => {
                let tag = if first { "h1" } else { "h2" };
                first = false;
                s += &format!("<{tag}>{}</{tag}>\n", esc(h));
            }
            Block::Para(p) => s += &format!("<p>{}</p>\n", inline(p)),
            Block::Table(head, rows) => {
                s += "<table><tr>";
                for h in head {
                    s += &format!("<th>{}</th>", inline(h));
                }
                s += "</tr>\n";
                for r in rows {
                    s += "<tr>";
                    for c in r {
                        s += &format!("<td>{}</td>", inline(c));
                    }
                    s += "</tr>\n";
                }
                s += "</table>\n";
            }
            Block::Image(path, alt) => {
                s += &format!("<p><img src=\"{}\" alt=\"{}\"></p>\n", esc(path), esc(alt))
            }
        }
    }
    s + "</body></html>\n"
}

/// The stages' outputs, read.
struct Inputs {
    train: Value,
    graph: Value,
    explore: Value,
    estimate: Value,
    schedule: Value,
    verify: Value,
    private: Value,
    /// The server's schedule on the accelerator's top level (`polympc accel --json`).
    accel: Value,
    /// The board stage's bitstream report and host self-test (absent with
    /// `--board none`).
    board: Option<(Value, Value)>,
    /// The Xilinx board whose Vivado project the hdl stage wrote, if it wrote one.
    vivado: Option<String>,
}

impl Inputs {
    fn read(at: &Layout, a: &FlowArgs) -> Result<Inputs> {
        let j = |s: Stage, f: &str| read_json(&at.dir(s).join(f));
        Ok(Inputs {
            train: j(Stage::Train, "report.json")?,
            graph: j(Stage::Graph, "graph.json")?,
            explore: j(Stage::Explore, "dse.json")?,
            estimate: j(Stage::Estimate, "estimate.json")?,
            schedule: j(Stage::Schedule, "schedule.json")?,
            verify: j(Stage::Verify, "verify.json")?,
            private: j(Stage::Private, "private.json")?,
            accel: j(Stage::Accel, "accel.json")?,
            board: if at.dir(Stage::Board).join("bitstream.json").exists() {
                Some((
                    j(Stage::Board, "bitstream.json")?,
                    j(Stage::Board, "host.json")?,
                ))
            } else {
                None
            },
            vivado: crate::flow::xilinx_board_for(&a.fpga).filter(|_| {
                let project = at.dir(Stage::Hdl).join(crate::flow::VIVADO_DIR);
                project.join("build.tcl").exists()
            }),
        })
    }
}

/// The key figures, as `report.json` has them.
fn figures(i: &Inputs, a: &FlowArgs, runs: &[StageRun]) -> Value {
    let t = &i.train;
    let est = &i.estimate;
    let sch = &i.schedule;
    let clock = f(&sch["config"]["clock_mhz"]);
    let makespan = u(&sch["makespan"]);
    let bound = u(&sch["lower_bound"]);
    let chosen = &i.explore["points"][i.explore["chosen"].as_u64().unwrap_or(0) as usize];
    let blocks = arr(&i.verify["blocks"]);
    let relu = &i.verify["relu_engine"];
    let traffic = arr(&i.private["traffic"]);
    let (mut measured, mut predicted) = (0u64, 0u64);
    for r in traffic {
        if r["phase"] == "online" {
            measured += u(&r["measured"]["s2c"]) + u(&r["measured"]["c2s"]);
            predicted += u(&r["predicted"]["s2c"]) + u(&r["predicted"]["c2s"]);
        }
    }
    let images = arr(&i.private["predictions"]).len();
    json!({
        "network": t["network"],
        "device": est["device"],
        "link": a.net,
        "training": {
            "method": t["method"],
            "choices": t["choices"],
            "relus": t["relus"],
            "float_accuracy": t["float_accuracy"],
            "ring_accuracy": t["fixed_accuracy"],
            "test_examples": t["test_examples"],
            "epochs": arr(&t["history"]).len(),
        },
        "graph": i.graph["totals"],
        "accelerator": {
            "config": sch["config"],
            "utilisation": chosen["utilisation"],
            "configurations_fitting": arr(&i.explore["points"]).len(),
            "pareto_points": arr(&i.explore["pareto"]).len(),
        },
        "estimate": {
            "online_ms": f(&est["online"]["total_s"]) * 1e3,
            "online_bound_ms": f(&est["online"]["bound_s"]) * 1e3,
            "offline_ms": f(&est["offline"]["total_s"]) * 1e3,
            "online_bytes": u(&est["online"]["bytes_s2c"]) + u(&est["online"]["bytes_c2s"]),
            "online_rounds": est["online"]["rounds"],
        },
        "schedule": {
            "makespan_cycles": makespan,
            "lower_bound_cycles": bound,
            "ratio": makespan as f64 / bound.max(1) as f64,
            "makespan_ms": makespan as f64 / clock / 1e3,
        },
        "verify": {
            "blocks": blocks.len() + 1,
            "passed": i.verify["passed"],
            "block_latency_cycles": blocks.iter().map(|b| json!({
                "block": b["block"], "verilator": b["latency"]["verilator"],
                "model": b["latency"]["model"],
            })).collect::<Vec<_>>(),
            "relu_garble_cycles": relu["garble_cycles"],
            "relu_eval_cycles": relu["eval_cycles"],
        },
        "private": {
            "images": images,
            "accuracy": i.private["accuracy"],
            "bit_exact": i.private["checked"],
            "inferences_per_second": i.private["inferences_per_second"],
            "online_bytes_measured": measured,
            "online_bytes_predicted": predicted,
        },
        "accelerator_run": {
            "image": a.first_image(),
            "lanes": i.accel["lanes"],
            "configuration_lanes": i.accel["configuration_lanes"],
            "beaver_lanes": i.accel["beaver_lanes"],
            "configuration_beaver_lanes": i.accel["configuration_beaver_lanes"],
            "tasks": i.accel["tasks"],
            "instructions": i.accel["instructions"],
            "on_time": i.accel["on_time"],
            "schedule_ready_cycles": i.accel["schedule_ready"],
            "measured_ready_cycles": i.accel["measured_ready"],
            "truncations_checked": arr(&i.accel["outputs"])
                .iter()
                .filter(|o| !o["golden_vs_protocol"].is_null())
                .count(),
            "elements_differing": arr(&i.accel["outputs"])
                .iter()
                .map(|o| u(&o["golden_vs_protocol"]) + u(&o["verilator_vs_golden"]))
                .sum::<u64>(),
            "tasks_not_run": arr(&i.accel["skipped"]).iter().map(|x| u(&x[1])).sum::<u64>(),
            "passed": i.accel["passed"],
        },
        "board": i.board.as_ref().map(|(b, h)| {
            let lc = arr(&b["utilisation"]).iter().find(|x| x["kind"] == "ICESTORM_LC");
            json!({
                "board": b["board"],
                "part": b["part"],
                "clock_mhz": b["clock_mhz"],
                "fmax_mhz": b["fmax_mhz"],
                "logic_cells": lc.map(|x| x["used"].clone()),
                "logic_cells_available": lc.map(|x| x["available"].clone()),
                "request_us": b["request_us"],
                "core": board_core(b),
                "core_kind": b["core_kind"],
                "frac_bits": b["frac_bits"],
                "refused": b["refused"],
                "self_test": board_self_test(b, h),
                "self_test_passed": arr(&h["mismatches"]).is_empty(),
            })
        }),
        "stages": runs,
    })
}

/// The board's core in a few words: `host link` or `accelerator link (2 MAC lanes, 1
/// Beaver lane)`.
fn board_core(bit: &Value) -> String {
    match bit["core_kind"]["accelerator"]["beaver_lanes"].as_u64() {
        Some(b) => format!(
            "accelerator link (2 MAC lanes, {})",
            crate::accel_cmd::beaver_count(b as u32)
        ),
        None => "host link".into(),
    }
}

/// What the board's self-test did, from `polympc host --json`.
fn board_self_test(bit: &Value, host: &Value) -> String {
    if bit["core_kind"]["accelerator"].is_null() {
        format!(
            "{} Beaver products, {} garbled and {} evaluated AND gates",
            host["requests"][1], host["requests"][2], host["requests"][3]
        )
    } else {
        format!(
            "a {}-instruction program loaded, run and {} rows read back in {} requests; \
             halted and answered at cycle {} (the model's last write: {})",
            host["instructions"],
            host["rows"],
            host["requests"],
            host["cycles"],
            host["last_write"]
        )
    }
}

/// A stage's file, relative to the report.
fn rel(s: Stage, file: &str) -> String {
    format!("{}/{file}", s.name())
}

fn blocks(i: &Inputs, k: &Value) -> Vec<Block> {
    let t = &k["training"];
    let e = &k["estimate"];
    let sc = &k["schedule"];
    let p = &k["private"];
    let acc = &k["accelerator"]["config"];
    let gc = &acc["gc"];
    let choices: Vec<&str> = arr(&t["choices"])
        .iter()
        .map(|x| x.as_str().unwrap_or("?"))
        .collect();
    let acc_line = format!(
        "{}-bit ring, {} MHz: {} MAC lanes, {} Beaver lanes, {} GC engines × {} AES cores × {} round units ({} S-boxes), {} KiB activation + {} KiB weight buffers",
        acc["ring_bits"], acc["clock_mhz"], acc["mac_lanes"], acc["beaver_lanes"],
        gc["engines"], gc["aes_cores"], gc["aes_round_units"], gc["sbox"].as_str().unwrap_or("?"),
        acc["buffers"]["activation_kib"], acc["buffers"]["weight_kib"]
    );
    let ar = &k["accelerator_run"];
    let accel_line = format!(
        "the server's {} MAC-array and Beaver tasks on the top level with {} MAC lanes and {}{}: last result at cycle {} (schedule: {}), {} elements differ from the protocol; {}",
        ar["tasks"],
        ar["lanes"],
        crate::accel_cmd::beaver_count(u(&ar["beaver_lanes"]) as u32),
        if ar["lanes"] == ar["configuration_lanes"]
            && ar["beaver_lanes"] == ar["configuration_beaver_lanes"]
        {
            String::new()
        } else {
            format!(
                " (the configuration has {} and {})",
                ar["configuration_lanes"], ar["configuration_beaver_lanes"]
            )
        },
        ar["measured_ready_cycles"],
        ar["schedule_ready_cycles"],
        ar["elements_differing"],
        if ar["passed"] == true { "bit-exact and cycle-exact" } else { "FAILED" }
    );
    let bd = &k["board"];
    let board_row = (!bd.is_null()).then(|| {
        row(&[
            &"iCE40 bitstream",
            &format!(
                "{} on the {}: {} of {} logic cells, {} MHz (nextpnr's maximum {:.2} MHz); self-test on Verilator {}",
                bd["core"].as_str().unwrap_or("?"),
                bd["board"].as_str().unwrap_or("?"),
                bd["logic_cells"],
                bd["logic_cells_available"],
                f(&bd["clock_mhz"]),
                f(&bd["fmax_mhz"]),
                if bd["self_test_passed"] == true { "passed" } else { "FAILED" }
            ),
        ])
    });
    let mut b = vec![
        Block::Heading(format!(
            "polympc flow: {} on {} over {}",
            k["network"].as_str().unwrap_or("?"),
            k["device"].as_str().unwrap_or("?"),
            k["link"].as_str().unwrap_or("?")
        )),
        Block::Heading("Key figures".into()),
        table(
            &["figure", "value"],
            vec![
                row(&[
                    &"test accuracy (float / ring)",
                    &format!(
                        "{:.2}% / {:.2}% on {} test images",
                        f(&t["float_accuracy"]),
                        f(&t["ring_accuracy"]),
                        t["test_examples"]
                    ),
                ]),
                row(&[
                    &"activation choices",
                    &format!("{} ({} ReLUs left)", choices.join(" "), t["relus"]),
                ]),
                row(&[&"accelerator", &acc_line]),
                row(&[
                    &"modelled online latency",
                    &format!(
                        "{:.3} ms (lower bound {:.3} ms); offline {:.3} ms",
                        f(&e["online_ms"]),
                        f(&e["online_bound_ms"]),
                        f(&e["offline_ms"])
                    ),
                ]),
                row(&[
                    &"schedule",
                    &format!(
                        "{} cycles = {:.3} ms; lower bound {} cycles (ratio {:.3})",
                        sc["makespan_cycles"],
                        f(&sc["makespan_ms"]),
                        sc["lower_bound_cycles"],
                        f(&sc["ratio"])
                    ),
                ]),
                row(&[
                    &"Verilator",
                    &format!(
                        "{} blocks, {}",
                        k["verify"]["blocks"],
                        if k["verify"]["passed"] == true {
                            "all bit-exact with the golden models and cycle-exact with the perf model"
                        } else {
                            "FAILED"
                        }
                    ),
                ]),
                row(&[
                    &"private inference",
                    &format!(
                        "{:.2}% on {} test images, every output equal to the plaintext ring reference; {:.2} inferences/s; {} online bytes measured, {} predicted",
                        f(&p["accuracy"]),
                        p["images"],
                        f(&p["inferences_per_second"]),
                        p["online_bytes_measured"],
                        p["online_bytes_predicted"]
                    ),
                ]),
                row(&[&"accelerator on Verilator", &accel_line]),
            ]
            .into_iter()
            .chain(board_row)
            .collect(),
        ),
        Block::Heading("Training".into()),
        Block::Para(format!(
            "Method `{}`, {} epochs; the loss carries the modelled latency of every activation site. Log: `train/log.jsonl`; trained spec and weights in `train/`.",
            t["method"].as_str().unwrap_or("?"),
            t["epochs"]
        )),
        Block::Image(rel(Stage::Train, "curves.svg"), "training curves".into()),
        Block::Heading("Design-space exploration".into()),
        Block::Para(format!(
            "{} configurations fit the device; {} are on the Pareto front of online latency against utilisation. The choice ({:.1}% utilisation): {}.",
            k["accelerator"]["configurations_fitting"],
            k["accelerator"]["pareto_points"],
            100.0 * f(&k["accelerator"]["utilisation"]),
            acc_line
        )),
        Block::Image(rel(Stage::Explore, "pareto.svg"), "Pareto front".into()),
        Block::Heading("Latency per layer".into()),
    ];
    let layers = arr(&i.estimate["layers"]);
    b.push(table(
        &[
            "layer",
            "operator",
            "online ms",
            "offline ms",
            "bytes online",
            "rounds",
        ],
        layers
            .iter()
            .map(|l| {
                row(&[
                    &l["label"].as_str().unwrap_or("?"),
                    &l["kind"].as_str().unwrap_or("?"),
                    &ms(&l["online"]["total_s"]),
                    &ms(&l["offline"]["total_s"]),
                    &(u(&l["online"]["bytes_s2c"]) + u(&l["online"]["bytes_c2s"])),
                    &l["online"]["rounds"],
                ])
            })
            .collect(),
    ));
    b.push(Block::Image(
        rel(Stage::Estimate, "breakdown.svg"),
        "latency breakdown".into(),
    ));
    b.push(Block::Heading("Schedule".into()));
    let units = arr(&i.schedule["units"]);
    b.push(table(
        &["unit", "busy cycles", "utilisation"],
        units
            .iter()
            .map(|x| {
                row(&[
                    &x["unit"].as_str().unwrap_or("?"),
                    &x["busy"],
                    &format!("{:.1}%", 100.0 * f(&x["utilisation"])),
                ])
            })
            .collect(),
    ));
    b.push(Block::Image(
        rel(Stage::Schedule, "gantt.svg"),
        "Gantt chart".into(),
    ));
    b.push(Block::Heading("Verilator verification".into()));
    let mut rows: Vec<Vec<String>> = arr(&i.verify["blocks"])
        .iter()
        .map(|x| {
            row(&[
                &x["block"].as_str().unwrap_or("?"),
                &x["vectors"],
                &x["mismatches"],
                &format!("{} / {}", x["latency"]["verilator"], x["latency"]["model"]),
                &format!("{} / {}", x["ii"]["verilator"], x["ii"]["model"]),
                &if x["passed"] == true { "ok" } else { "FAILED" },
            ])
        })
        .collect();
    let r = &i.verify["relu_engine"];
    rows.push(row(&[
        &r["block"].as_str().unwrap_or("?"),
        &format!("{} ReLUs", r["relus"]),
        &(u(&r["mismatches"]) + u(&r["wrong_results"])),
        &format!(
            "garble {} / {}, evaluate {} / {}",
            r["garble_cycles"]["verilator"],
            r["garble_cycles"]["model"],
            r["eval_cycles"]["verilator"],
            r["eval_cycles"]["model"]
        ),
        &"",
        &if r["passed"] == true { "ok" } else { "FAILED" },
    ]));
    b.push(table(
        &[
            "block",
            "vectors",
            "mismatches",
            "latency (cycles) Verilator / model",
            "II Verilator / model",
            "result",
        ],
        rows,
    ));
    let mut para =
        "The Verilog is in `hdl/`; `polympc sim --config explore/accelerator.yaml` reruns this."
            .to_string();
    if let Some(board) = &i.vivado {
        para.push_str(&format!(
            " The accelerator's Vivado project for the {board}, the top level behind its \
             AXI-Stream link with a clock constraint and a Tcl flow (checked here, run where \
             Vivado is installed), is in `hdl/{}/`: `polympc vivado --board {board} --config \
             explore/accelerator.yaml`.",
            crate::flow::VIVADO_DIR
        ));
    }
    b.push(Block::Para(para));
    b.push(Block::Heading("Private inference".into()));
    let traffic = arr(&i.private["traffic"]);
    b.push(table(
        &[
            "node",
            "operator",
            "phase",
            "bytes s→c",
            "bytes c→s",
            "rounds",
            "predicted s→c / c→s / rounds",
        ],
        traffic
            .iter()
            .map(|r| {
                let pr = &r["predicted"];
                row(&[
                    &r["label"].as_str().unwrap_or("?"),
                    &r["kind"].as_str().unwrap_or("?"),
                    &r["phase"].as_str().unwrap_or("?"),
                    &r["measured"]["s2c"],
                    &r["measured"]["c2s"],
                    &r["measured"]["rounds"],
                    &if pr.is_null() {
                        "—".to_string()
                    } else {
                        format!("{} / {} / {}", pr["s2c"], pr["c2s"], pr["rounds"])
                    },
                ])
            })
            .collect(),
    ));
    b.push(Block::Heading("The accelerator on Verilator".into()));
    b.push(Block::Para(format!(
        "The server's half of the schedule, every MAC-array and Beaver-lane task one instruction issued at the task's start cycle, on the accelerator's top level with {} MAC lanes and {}, from the test vectors of a private inference (`accel/vectors/`): {} instructions, {} of {} tasks issued on time, last result at cycle {} where the schedule has it at {}. {} element-wise tasks of GC operators and Circa's ReLUs have no instruction yet; the server's shares of their outputs are loaded from the vectors. `polympc accel TRAINED-SPEC --vectors accel/vectors/image-{} --config explore/accelerator.yaml` reruns this.",
        ar["lanes"],
        crate::accel_cmd::beaver_count(u(&ar["beaver_lanes"]) as u32),
        ar["instructions"],
        ar["on_time"],
        ar["tasks"],
        ar["measured_ready_cycles"],
        ar["schedule_ready_cycles"],
        ar["tasks_not_run"],
        ar["image"].as_str().unwrap_or("?"),
    )));
    b.push(table(
        &[
            "node",
            "elements",
            "golden model vs protocol",
            "Verilator vs golden model",
        ],
        arr(&i.accel["outputs"])
            .iter()
            .map(|o| {
                row(&[
                    &o["label"].as_str().unwrap_or("?"),
                    &o["elements"],
                    &if o["golden_vs_protocol"].is_null() {
                        "—".to_string()
                    } else {
                        format!("{} differ", o["golden_vs_protocol"])
                    },
                    &format!("{} differ", o["verilator_vs_golden"]),
                ])
            })
            .collect(),
    ));
    if let Some((bit, _)) = &i.board {
        b.push(Block::Heading("Board".into()));
        let core = if bit["core_kind"]["accelerator"].is_null() {
            "The host link (UART, request engine, a 16-bit Beaver multiplier, a garbled-AND unit on a column-serial AES core)".to_string()
        } else {
            format!(
                "The accelerator's link (UART, request decoder, the small-memory top level: 2 MAC lanes, {}, 256-row banks, on the 16-bit ring with f = {}), the largest core that fits,",
                crate::accel_cmd::beaver_count(u(&bit["core_kind"]["accelerator"]["beaver_lanes"]) as u32),
                bit["frac_bits"]
            )
        };
        let refused: Vec<&str> = arr(&bit["refused"])
            .iter()
            .filter_map(|r| r.as_str())
            .collect();
        let refused = if refused.is_empty() {
            String::new()
        } else {
            format!(
                " Larger cores refused (their logs under `board/`): {}.",
                refused.join("; ")
            )
        };
        b.push(Block::Para(format!(
            "{core} for the {} ({}): `board/polympc_board.bin`, {} with {} MHz design clock, nextpnr's maximum frequency {:.2} MHz.{refused} Its self-test on Verilator ({}): {}. `polympc deploy --board {} --bitstream board/polympc_board.bin` programs it; `polympc host --port PORT --report board/report.json` runs the self-test on it.",
            bd["board"].as_str().unwrap_or("?"),
            bd["part"].as_str().unwrap_or("?"),
            if bit["pll"].is_null() { "oscillator" } else { "PLL" },
            f(&bd["clock_mhz"]),
            f(&bd["fmax_mhz"]),
            bd["self_test"].as_str().unwrap_or("?"),
            if bd["self_test_passed"] == true { "every reply equal to the golden model" } else { "FAILED" },
            bd["board"].as_str().unwrap_or("?"),
        )));
        let mut rows: Vec<Vec<String>> = arr(&bit["utilisation"])
            .iter()
            .filter(|x| u(&x["used"]) > 0)
            .map(|x| {
                row(&[
                    &x["kind"].as_str().unwrap_or("?"),
                    &format!("{} / {}", x["used"], x["available"]),
                ])
            })
            .collect();
        for r in arr(&bit["request_us"]) {
            rows.push(row(&[
                &format!("{} over the UART (modelled)", r[0].as_str().unwrap_or("?")),
                &format!("{:.0} µs", f(&r[1])),
            ]));
        }
        b.push(table(&["figure", "value"], rows));
    }
    b.push(Block::Heading("Stages".into()));
    b.push(table(
        &["stage", "this run", "seconds", "folder"],
        arr(&k["stages"])
            .iter()
            .map(|r| {
                let name = r["stage"].as_str().unwrap_or("?");
                row(&[
                    &name,
                    &r["status"].as_str().unwrap_or("?"),
                    &format!("{:.1}", f(&r["seconds"])),
                    &format!("`{name}/`"),
                ])
            })
            .collect(),
    ));
    b
}

/// Writes `report.md`, `report.html` and `report.json` into the flow's folder; returns
/// the HTML's path.
pub fn write(at: &Layout, a: &FlowArgs, runs: &[StageRun]) -> Result<PathBuf> {
    let i = Inputs::read(at, a)?;
    let k = figures(&i, a, runs);
    let doc = blocks(&i, &k);
    let put = |name: &str, text: String| {
        let p = at.out.join(name);
        perf_model::io::write_atomic(&p, text.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))
    };
    put("report.json", serde_json::to_string_pretty(&k)? + "\n")?;
    put("report.md", render_md(&doc))?;
    put("report.html", render_html(&doc))?;
    Ok(at.out.join("report.html"))
}
