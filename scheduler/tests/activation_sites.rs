//! Activation sites become the operators their kind says, with their element counts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{Circa, Coeffs, LayerOp, Poly};
use perf_model::CheckedSpec;
use scheduler::{Operator, TwoPcGraph};
use std::path::Path;

#[test]
fn lenet_with_polynomial_and_circa_sites() {
    let path = format!("{}/../examples/lenet5.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut spec = CheckedSpec::load(Path::new(&path)).unwrap().spec().clone();
    // Convolutional sites (6 and 16 channels) become per-channel polynomials,
    // dense sites Circa ReLU with 8 dropped bits.
    let mut site = 0;
    for layer in &mut spec.layers {
        if layer.op == LayerOp::Relu {
            layer.op = match site {
                0 => LayerOp::Poly(Poly {
                    w2: Coeffs::Channel(vec![0.1; 6]),
                    ..Poly::default()
                }),
                1 => LayerOp::Poly(Poly {
                    w2: Coeffs::Channel(vec![0.1; 16]),
                    ..Poly::default()
                }),
                _ => LayerOp::Circa(Circa { truncated_bits: 8 }),
            };
            site += 1;
        }
    }
    let g = TwoPcGraph::build(&CheckedSpec::new(spec, Path::new(&path)).unwrap());
    let t = g.totals();
    assert_eq!(
        (t.relu_elements, t.poly_elements, t.circa_elements),
        (0, 6 * 28 * 28 + 16 * 10 * 10, 120 + 84)
    );
    // Per-channel coefficients are parameters: 3 per channel.
    assert_eq!(t.params, 62_158 + 3 * (6 + 16));
    let kinds: Vec<&Operator> = g
        .nodes()
        .map(|(_, n)| &n.op)
        .filter(|op| op.is_interactive())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|op| matches!(op, Operator::BeaverPoly { per_channel: true }))
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|op| matches!(op, Operator::CircaRelu { truncated_bits: 8 }))
            .count(),
        2
    );
    assert!(g.to_table().contains("beaver-poly") && g.to_table().contains("circa-relu"));
}
