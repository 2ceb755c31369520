//! Helpers the end-to-end tests share: run the real binary, find the examples, make
//! scratch folders.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the polympc binary with `args`.
pub fn polympc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polympc"))
        .args(args)
        .output()
        .expect("polympc runs")
}

/// The path of `examples/NAME.yaml`.
pub fn example(name: &str) -> String {
    format!("{}/../examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch folder for one test of one process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("polympc-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
