//! Bad specs give errors naming the file, the line or layer, and what is wrong.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{CheckedSpec, ModelSpec, SpecError};
use std::path::Path;

fn check(yaml: &str) -> Result<CheckedSpec, SpecError> {
    let file = Path::new("nets/bad.yaml");
    CheckedSpec::new(ModelSpec::from_yaml(yaml, file)?, file)
}

/// The error text, after checking it names the file and contains every `needle`.
fn fails(yaml: &str, needles: &[&str]) -> String {
    let e = check(yaml)
        .expect_err("spec should be rejected")
        .to_string();
    assert!(e.starts_with("nets/bad.yaml: "), "no file name in: {e}");
    for n in needles {
        assert!(e.contains(n), "`{n}` missing from: {e}");
    }
    e
}

const HEAD: &str = "name: t\ninput: [1, 8, 8]\nlayers:\n";

#[test]
fn malformed_yaml_names_the_line() {
    fails("name: t\ninput: [1, 8, 8\nlayers: []\n", &["line"]);
    fails(
        &format!("{HEAD}  - conv2d: {{out_channels: 2, kernel: 3\n"),
        &["line"],
    );
}

#[test]
fn unknown_layer_kind_lists_the_known_ones() {
    fails(
        &format!("{HEAD}  - flatten\n  - dens: {{out_features: 2}}\n"),
        &["dens", "dense", "line 5"],
    );
    fails(&format!("{HEAD}  - softmax\n"), &["softmax", "conv2d"]);
}

#[test]
fn unknown_field_is_named() {
    fails(
        &format!("{HEAD}  - conv2d: {{out_channels: 2, kernal: 3}}\n"),
        &["kernal", "line 4"],
    );
    fails("nmae: t\ninput: [1, 8, 8]\nlayers: []\n", &["nmae"]);
    fails(&format!("{HEAD}  - relu: {{slope: 1}}\n"), &["slope"]);
}

#[test]
fn missing_parameters_are_named() {
    fails(
        &format!("{HEAD}  - conv2d\n"),
        &["conv2d", "needs parameters"],
    );
    fails(
        &format!("{HEAD}  - conv2d: {{kernel: 3}}\n"),
        &["out_channels"],
    );
    fails(&format!("{HEAD}  - name: x\n"), &["without a kind"]);
    fails(
        &format!("{HEAD}  - {{relu: null, flatten: null}}\n"),
        &["two kinds"],
    );
}

#[test]
fn negative_and_zero_sizes() {
    fails(
        &format!("{HEAD}  - conv2d: {{out_channels: -4, kernel: 3}}\n"),
        &["-4", "line 4"],
    );
    fails("name: t\ninput: [1, -8, 8]\nlayers: [relu]\n", &["-8"]);
    fails(
        &format!("{HEAD}  - conv2d: {{out_channels: 0, kernel: 3}}\n"),
        &["layer 0", "conv2d", "out_channels must be positive"],
    );
    fails(
        "name: t\ninput: [1, 0, 8]\nlayers: [relu]\n",
        &["input", "positive"],
    );
    fails(
        &format!("{HEAD}  - maxpool: {{kernel: 2, stride: 0}}\n"),
        &["stride must be positive"],
    );
}

#[test]
fn shape_mismatches_name_the_layer() {
    let e = fails(
        &format!("{HEAD}  - conv2d: {{out_channels: 2, kernel: 3}}\n    name: c1\n  - dense: {{out_features: 4}}\n"),
        &["layer 1", "dense", "flatten"],
    );
    assert!(e.contains("2x6x6"), "{e}");
    fails(
        &format!("{HEAD}  - conv2d: {{out_channels: 2, kernel: 9}}\n"),
        &["layer 0", "larger than"],
    );
    fails(
        &format!("{HEAD}  - flatten\n  - maxpool: {{kernel: 2}}\n"),
        &["layer 1", "maxpool", "[C, H, W]"],
    );
    fails(
        &format!("{HEAD}  - flatten\n  - poly: {{w2: [1, 2], w1: 1, b: 0}}\n"),
        &["layer 1", "poly", "2 per-channel values", "64 channels"],
    );
}

#[test]
fn residual_add_of_different_shapes() {
    let yaml = format!(
        "{HEAD}  - relu:\n    name: a\n  - conv2d: {{out_channels: 4, kernel: 3, padding: 1}}\n  - add: {{with: a}}\n    name: sum\n"
    );
    fails(&yaml, &["layer 2", "`sum`", "add", "4x8x8", "1x8x8"]);
    let yaml = format!("{HEAD}  - relu:\n    name: a\n  - relu\n  - add: {{with: b}}\n");
    fails(&yaml, &["layer 2", "`b`", "no earlier layer"]);
    let yaml = format!(
        "{HEAD}  - conv2d: {{out_channels: 4, kernel: 3, padding: 1}}\n    name: a\n  - conv2d: {{out_channels: 2, kernel: 3, stride: 2, padding: 1}}\n  - add: {{with: a, shortcut: pad}}\n"
    );
    fails(&yaml, &["layer 2", "cannot bring 4x8x8 to 2x4x4"]);
}

#[test]
fn references_and_names() {
    fails(
        &format!("{HEAD}  - relu:\n    input: later\n  - relu:\n    name: later\n"),
        &["comes later"],
    );
    fails(
        &format!("{HEAD}  - relu:\n    name: a\n  - relu:\n    name: a\n"),
        &["layer 1", "`a`", "earlier layer too"],
    );
    fails(
        &format!("{HEAD}  - relu:\n    name: dead\n  - relu:\n    input: input\n"),
        &["layer 0", "`dead`", "never used"],
    );
}

#[test]
fn ring_bits_outside_the_supported_widths() {
    for bits in [8, 24, 65, 128] {
        fails(
            &format!("name: t\ninput: [4]\nfixed_point: {{ring_bits: {bits}, frac_bits: 4}}\nlayers: [relu]\n"),
            &["fixed_point.ring_bits", &bits.to_string(), "16, 32 or 64"],
        );
    }
    fails(
        "name: t\ninput: [4]\nfixed_point: {ring_bits: 16, frac_bits: 8}\nlayers: [relu]\n",
        &["fixed_point.frac_bits", "2f < l"],
    );
    fails(
        "name: t\ninput: [4]\nfixed_point: {ring_bits: 16, frac_bits: 6}\nlayers: [{circa: {truncated_bits: 16}}]\n",
        &["circa", "between 1 and 15"],
    );
}

#[test]
fn unreadable_file_is_named() {
    let e = CheckedSpec::load(Path::new("no/such/spec.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no/such/spec.yaml") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn bare_and_parameterised_layers_read_alike() {
    let a = check(&format!("{HEAD}  - relu\n  - batchnorm\n  - poly\n")).unwrap();
    let b = check(&format!(
        "{HEAD}  - relu: {{}}\n  - batchnorm: {{eps: 0.00001}}\n  - poly: {{w2: 0, w1: 1, b: 0}}\n"
    ))
    .unwrap();
    assert_eq!(a.spec().layers, b.spec().layers);
}

#[test]
fn relu_channels_of_a_site_gated_per_channel_are_checked() {
    let conv = "  - conv2d: {out_channels: 4, kernel: 3}\n";
    fails(
        &format!("{HEAD}{conv}  - poly: {{relu_channels: [1, 4]}}\n"),
        &["layer 1", "channel 4", "4 channels"],
    );
    fails(
        &format!("{HEAD}{conv}  - poly: {{relu_channels: [2, 1]}}\n"),
        &["layer 1", "increasing order"],
    );
    fails(
        &format!("{HEAD}{conv}  - poly: {{relu_channels: [1, 1]}}\n"),
        &["increasing order"],
    );
    fails(
        &format!("{HEAD}{conv}  - poly: {{relu_channels: [0, 1, 2, 3]}}\n"),
        &["all 4 channels", "write `relu`"],
    );
    // A valid one reads back the same.
    let ok = check(&format!(
        "{HEAD}{conv}  - poly: {{w2: 0.1, relu_channels: [0, 3]}}\n"
    ))
    .unwrap();
    let again = ModelSpec::from_yaml(&ok.spec().to_yaml(), Path::new("again.yaml")).unwrap();
    assert_eq!(&again, ok.spec());
}
