//! Property tests of shape inference on random valid networks: the checker's shapes
//! and MAC counts equal those tracked while the network was generated, and the spec
//! survives a YAML round trip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{Add, Circa, Coeffs, Conv2d, Dense, Layer, LayerOp, Poly, Pool, Shortcut};
use perf_model::{CheckedSpec, FixedPoint, ModelSpec, Shape};
use proptest::prelude::*;
use std::path::Path;

/// A random valid network, with the shape and MACs expected after each layer.
fn network(input: (usize, usize, usize), choices: &[u32]) -> (ModelSpec, Vec<(Shape, u64)>) {
    let mut shape = vec![input.0, input.1, input.2];
    let mut layers: Vec<Layer> = Vec::new();
    let mut expected: Vec<(Shape, u64)> = Vec::new();
    for (i, &r) in choices.iter().enumerate() {
        let pick = |n: u32, shift: u32| ((r >> shift) % n) as usize;
        let mut macs = 0;
        let op = if shape.len() == 3 {
            let (c, h, w) = (shape[0], shape[1], shape[2]);
            match pick(9, 0) {
                0 | 1 => {
                    let padding = pick(2, 4);
                    let kernel = 1 + pick(3, 6).min(h.min(w) + 2 * padding - 1);
                    let kernel = kernel.max(padding + 1);
                    let stride = 1 + pick(2, 8);
                    let out = 1 + pick(6, 10);
                    let (ho, wo) = (
                        (h + 2 * padding - kernel) / stride + 1,
                        (w + 2 * padding - kernel) / stride + 1,
                    );
                    macs = (c * out * kernel * kernel * ho * wo) as u64;
                    shape = vec![out, ho, wo];
                    LayerOp::Conv2d(Conv2d {
                        out_channels: out,
                        kernel,
                        stride,
                        padding,
                        bias: pick(2, 14) == 0,
                    })
                }
                2 | 3 => {
                    let kernel = 1 + pick(2, 4).min(h.min(w) - 1);
                    let stride = 1 + pick(2, 6);
                    shape = vec![c, (h - kernel) / stride + 1, (w - kernel) / stride + 1];
                    let p = Pool {
                        kernel,
                        stride: Some(stride),
                    };
                    if pick(2, 8) == 0 {
                        LayerOp::MaxPool(p)
                    } else {
                        LayerOp::AvgPool(p)
                    }
                }
                4 => {
                    shape = vec![c * h * w];
                    LayerOp::Flatten
                }
                _ => activation_or_add(pick(5, 4), i, &layers, &expected, &shape, c),
            }
        } else {
            match pick(3, 0) {
                0 => {
                    let out = 1 + pick(20, 4);
                    macs = (shape[0] * out) as u64;
                    shape = vec![out];
                    LayerOp::Dense(Dense {
                        out_features: out,
                        bias: true,
                    })
                }
                _ => activation_or_add(pick(5, 4), i, &layers, &expected, &shape, shape[0]),
            }
        };
        layers.push(Layer::new(op).named(format!("l{i}")));
        expected.push((Shape(shape.clone()), macs));
    }
    let spec = ModelSpec {
        name: "random".into(),
        input: Shape(vec![input.0, input.1, input.2]),
        fixed_point: FixedPoint::default(),
        weights: None,
        normalize: None,
        layers,
    };
    (spec, expected)
}

/// A shape-preserving layer: an activation, batch norm, or an add of an earlier
/// layer of the same shape.
fn activation_or_add(
    which: usize,
    i: usize,
    layers: &[Layer],
    expected: &[(Shape, u64)],
    shape: &[usize],
    channels: usize,
) -> LayerOp {
    match which {
        0 => LayerOp::Relu,
        1 => LayerOp::Poly(Poly {
            w2: Coeffs::Channel(vec![0.1; channels]),
            ..Poly::default()
        }),
        2 => LayerOp::Circa(Circa { truncated_bits: 8 }),
        3 => LayerOp::BatchNorm(Default::default()),
        _ => match (0..i).rev().skip(1).find(|&j| expected[j].0 .0 == shape) {
            Some(j) => LayerOp::Add(Add {
                with: layers[j].name.clone().unwrap_or_default(),
                shortcut: Shortcut::Identity,
            }),
            None => LayerOp::Relu,
        },
    }
}

proptest! {
    #[test]
    fn inferred_shapes_match_generated(
        c in 1usize..4, h in 2usize..16, w in 2usize..16,
        choices in prop::collection::vec(any::<u32>(), 1..24),
    ) {
        let (spec, expected) = network((c, h, w), &choices);
        let checked = CheckedSpec::new(spec.clone(), Path::new("random.yaml"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (k, (info, (shape, macs))) in checked.layers().iter().zip(&expected).enumerate() {
            prop_assert_eq!(&info.out_shape, shape, "layer {}", k);
            prop_assert_eq!(info.macs, *macs, "layer {}", k);
        }
        let back = ModelSpec::from_yaml(&spec.to_yaml(), Path::new("random.yaml"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, spec);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = ModelSpec::from_yaml(&text, Path::new("fuzz.yaml"))
            .and_then(|s| CheckedSpec::new(s, Path::new("fuzz.yaml")));
    }

    #[test]
    fn random_layer_parameters_never_panic(
        kernel in 0usize..12, stride in 0usize..4, padding in 0usize..12, out in 0usize..4,
        h in 1usize..10, flat in any::<bool>(),
    ) {
        let input = if flat { vec![h] } else { vec![2, h, h] };
        let spec = ModelSpec {
            name: "r".into(),
            input: Shape(input),
            fixed_point: FixedPoint::default(),
            weights: None,
            normalize: None,
            layers: vec![
                Layer::new(LayerOp::Conv2d(Conv2d { out_channels: out, kernel, stride, padding, bias: true })),
                Layer::new(LayerOp::MaxPool(Pool { kernel, stride: Some(stride) })),
            ],
        };
        let _ = CheckedSpec::new(spec, Path::new("r.yaml"));
    }
}
