//! Helpers the end-to-end tests share: run the real binary, find the examples, make
//! scratch folders.

#![allow(dead_code)] // each test file uses its own subset

use std::ops::Deref;
use std::path::{Path, PathBuf};
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

/// A fresh scratch folder for one test of one process. It is removed when the test
/// is done with it, and kept (for a look at what went wrong) when the test fails.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("polympc-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    Scratch(dir)
}

/// A scratch folder, removed on drop unless the thread is panicking.
pub struct Scratch(PathBuf);

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
