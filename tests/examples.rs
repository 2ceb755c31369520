//! Every example network's 2PC graph, through the command line as a user runs it:
//! the counts below are worked out by hand from the architectures.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use serde_json::Value;
use std::process::Command;

fn graph_json(example: &str) -> Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_polympc"))
        .args([
            "graph",
            &format!("{root}/examples/{example}.yaml"),
            "--json",
        ])
        .output()
        .expect("polympc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

struct Counts {
    relu: u64,
    macs: u64,
    params: u64,
    maxpool_comparisons: u64,
}

fn assert_counts(example: &str, want: Counts) {
    let g = graph_json(example);
    let t = &g["totals"];
    assert_eq!(t["relu_elements"], want.relu, "{example}: ReLU elements");
    assert_eq!(t["macs"], want.macs, "{example}: MACs");
    assert_eq!(t["params"], want.params, "{example}: parameters");
    assert_eq!(
        t["maxpool_comparisons"], want.maxpool_comparisons,
        "{example}: max-pool comparisons"
    );
    assert_eq!(
        t["poly_elements"], 0u64,
        "{example}: no polynomial sites yet"
    );
}

#[test]
fn resnet20_with_parameter_free_shortcuts() {
    // Stem 16x32x32 ReLU, then 6 ReLUs per stage: 16x32x32, 32x16x16, 64x8x8.
    assert_counts(
        "resnet20",
        Counts {
            relu: 188_416,
            macs: 40_551_040,
            params: 269_722,
            maxpool_comparisons: 0,
        },
    );
}

#[test]
fn resnet20_with_projection_shortcuts() {
    // Two 1x1 projections: 16*32*16*16 + 32*64*8*8 = 262,144 MACs more,
    // 512 + 2048 weights and 64 + 128 batch-norm parameters more.
    assert_counts(
        "resnet20-projection",
        Counts {
            relu: 188_416,
            macs: 40_813_184,
            params: 272_474,
            maxpool_comparisons: 0,
        },
    );
}

#[test]
fn mlp() {
    assert_counts(
        "mlp",
        Counts {
            relu: 256,
            macs: 118_016,
            params: 118_282,
            maxpool_comparisons: 0,
        },
    );
}

#[test]
fn lenet5() {
    // Max pools: 6x14x14 + 16x5x5 windows of 4, three comparisons each.
    assert_counts(
        "lenet5",
        Counts {
            relu: 6_508,
            macs: 416_520,
            params: 62_158,
            maxpool_comparisons: 4_728,
        },
    );
}

#[test]
fn vgg11() {
    // Windows: 64x16x16 + 128x8x8 + 256x4x4 + 512x2x2 + 512x1x1, three comparisons each.
    let windows = 64 * 256 + 128 * 64 + 256 * 16 + 512 * 4 + 512;
    assert_counts(
        "vgg11",
        Counts {
            relu: 151_552,
            macs: 152_769_536,
            params: 9_228_362,
            maxpool_comparisons: 3 * windows,
        },
    );
}

#[test]
fn batch_norm_is_folded_and_every_scaled_tensor_truncated() {
    let g = graph_json("resnet20");
    let nodes = g["nodes"].as_array().unwrap();
    let count = |op: &str| nodes.iter().filter(|n| n["op"] == op).count();
    assert_eq!(
        count("linear"),
        19 + 1 + 9 + 1 + 1,
        "convs, dense, adds, avgpool, flatten"
    );
    assert!(
        nodes.iter().all(|n| n["linear"] != "batch_norm"),
        "every batch norm folds"
    );
    assert_eq!(
        count("truncate"),
        19 + 1 + 1,
        "after each conv, the dense layer and the avgpool"
    );
    assert_eq!(count("gc_relu"), 19);
    // Operands come before the nodes that read them.
    for n in nodes {
        for i in n["inputs"].as_array().unwrap() {
            assert!(i.as_u64() < n["id"].as_u64());
        }
    }
}
