//! Networks built from specs compute what the spec describes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{Circa, Layer, LayerOp, Poly};
use perf_model::{CheckedSpec, FixedPoint, ModelSpec, Shape};
use std::path::Path;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn example(name: &str) -> CheckedSpec {
    let path = format!("{}/../examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    CheckedSpec::load(Path::new(&path)).unwrap()
}

fn trainable(vs: &nn::VarStore) -> u64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as u64)
        .sum()
}

#[test]
fn every_example_has_the_specs_shapes_and_parameters() {
    for name in ["mlp", "lenet5", "vgg11", "resnet20", "resnet20-projection"] {
        let spec = example(name);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = training::SpecNet::new(&vs.root(), &spec);
        let mut shape = vec![2i64];
        shape.extend(spec.spec().input.dims().iter().map(|&d| d as i64));
        let y = net.forward_t(
            &Tensor::randn(&shape[..], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(
            y.size(),
            vec![2, spec.output_shape().numel() as i64],
            "{name}"
        );
        let params: u64 = spec.layers().iter().map(|l| l.params).sum();
        assert_eq!(trainable(&vs), params, "{name}: parameter count");
    }
}

fn tiny(layers: Vec<Layer>, input: usize) -> CheckedSpec {
    let spec = ModelSpec {
        name: "tiny".into(),
        input: Shape(vec![input]),
        fixed_point: FixedPoint {
            ring_bits: 32,
            frac_bits: 12,
        },
        weights: None,
        normalize: None,
        layers,
    };
    CheckedSpec::new(spec, Path::new("tiny.yaml")).unwrap()
}

#[test]
fn polynomial_starts_as_identity_and_its_coefficients_learn() {
    let spec = tiny(vec![Layer::new(LayerOp::Poly(Poly::default()))], 5);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = training::SpecNet::new(&vs.root(), &spec);
    let x = Tensor::randn([8, 5], (Kind::Float, Device::Cpu));
    let y = net.forward_t(&x, true);
    assert!(
        y.allclose(&x, 1e-6, 1e-6, false),
        "straight-through start is the identity"
    );
    // Fit y = x^2: every coefficient gets a gradient and the loss falls.
    let mut opt = nn::Adam::default().build(&vs, 0.05).unwrap();
    let loss = |n: &training::SpecNet| {
        (n.forward_t(&x, true) - x.square())
            .square()
            .mean(Kind::Float)
    };
    let first = loss(&net);
    opt.backward_step(&first);
    for (name, v) in vs.variables() {
        assert!(
            v.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "no gradient for {name}"
        );
    }
    for _ in 0..200 {
        opt.backward_step(&loss(&net));
    }
    assert!(loss(&net).double_value(&[]) < 0.01 * first.double_value(&[]));
}

/// A site gated per channel: ReLU on its `relu_channels`, the polynomial on the others;
/// the trained spec keeps the channels.
#[test]
fn a_site_gated_per_channel_is_relu_on_its_relu_channels() {
    let site = Poly {
        w2: perf_model::spec::Coeffs::Layer(0.5),
        relu_channels: vec![1, 3],
        ..Poly::default()
    };
    let spec = tiny(vec![Layer::new(LayerOp::Poly(site.clone()))], 5);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = training::SpecNet::new(&vs.root(), &spec);
    let x = Tensor::randn([16, 5], (Kind::Float, Device::Cpu));
    let y = net.forward_t(&x, false);
    for c in 0..5 {
        let (xc, yc) = (x.select(1, c), y.select(1, c));
        let want = if c == 1 || c == 3 {
            xc.relu()
        } else {
            &xc * &xc * 0.5 + &xc
        };
        assert!(yc.allclose(&want, 1e-6, 1e-6, false), "channel {c}");
    }
    let trained = net.trained_spec(spec.spec());
    let LayerOp::Poly(p) = &trained.layers[0].op else {
        panic!("{:?}", trained.layers[0].op)
    };
    assert_eq!(p.relu_channels, [1, 3]);
}

#[test]
fn circa_is_relu_away_from_zero_and_faulty_near_it() {
    // k = 12 dropped bits at f = 12: the sign test is blind below |x| = 2^(k-f) = 1.
    let spec = tiny(
        vec![Layer::new(LayerOp::Circa(Circa { truncated_bits: 12 }))],
        4096,
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let net = training::SpecNet::new(&vs.root(), &spec);
    tch::manual_seed(7);
    let far = Tensor::rand([1, 2048], (Kind::Float, Device::Cpu)) * 50.0 + 1.0;
    let far = Tensor::cat(&[&far, &(-&far)], 1);
    assert!(
        net.forward_t(&far, false).equal(&far.relu()),
        "exact for |x| >= 2^(k-f)"
    );
    let near = (Tensor::rand([1, 4096], (Kind::Float, Device::Cpu)) - 0.5) * 0.5;
    let wrong = net
        .forward_t(&near, false)
        .ne_tensor(&near.relu())
        .sum(Kind::Int64)
        .int64_value(&[]);
    // Small values get a random sign: faults on a large share of them, not all.
    assert!(
        (400..3700).contains(&wrong),
        "{wrong} of 4096 near-zero elements faulty"
    );
}
