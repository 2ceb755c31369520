//! The polympc command line: parses arguments, calls the stage libraries, reports.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use perf_model::CheckedSpec;
use scheduler::TwoPcGraph;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// FPGA-accelerated private neural-network inference: train, compile, schedule,
/// generate, verify and deploy.
#[derive(Parser)]
#[command(name = "polympc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the 2PC operator graph of a model spec: a per-node table and totals.
    Graph {
        /// The model spec (YAML).
        spec: PathBuf,
        /// Print JSON (nodes, operands, shapes, totals) instead of the table.
        #[arg(long, conflicts_with = "dot")]
        json: bool,
        /// Print Graphviz DOT instead of the table (`dot -Tsvg` draws it).
        #[arg(long)]
        dot: bool,
        /// Write to this file (atomically) instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Check the external tools and libraries polympc uses, with their versions.
    Tools,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Graph {
            spec,
            json,
            dot,
            out,
        } => graph(&spec, json, dot, out.as_deref()),
        Command::Tools => tools(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn graph(spec: &Path, json: bool, dot: bool, out: Option<&Path>) -> Result<()> {
    let spec = CheckedSpec::load(spec)?;
    let g = TwoPcGraph::build(&spec);
    let text = if json {
        g.to_json()
    } else if dot {
        g.to_dot()
    } else {
        g.to_table()
    };
    emit(&text, out)
}

/// Prints `text`, or writes it atomically to `out`.
fn emit(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => perf_model::io::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
    }
}

fn tools() -> Result<()> {
    let mut missing = 0;
    let found = std::iter::once(sim::tools::verilator()).chain(bitstreams::tools::ice40_flow());
    for t in found {
        match t {
            Ok(t) => println!("{:<15} {:<28} {}", t.name, t.path.display(), t.version),
            Err(e) => {
                missing += 1;
                println!("missing         {e}");
            }
        }
    }
    #[cfg(feature = "train")]
    println!("{:<15} {}", "libtorch", training::runtime());
    #[cfg(not(feature = "train"))]
    println!(
        "{:<15} not built in (build with the `train` feature)",
        "libtorch"
    );
    anyhow::ensure!(missing == 0, "{missing} tool(s) missing");
    Ok(())
}
