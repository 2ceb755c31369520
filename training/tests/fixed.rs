//! The ring evaluation computes what the protocol computes: exact products mod 2^l,
//! SecureML's truncation with its measured error rates, and a network output close to
//! the float network's.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{BatchNorm, Coeffs, Conv2d, Dense, Layer, LayerOp, Poly, Pool};
use perf_model::{CheckedSpec, FixedPoint, ModelSpec, Shape};
use std::path::Path;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};
use training::fixed::{self, Weights};
use training::SpecNet;

fn ring_mul_ref(a: i64, b: i64, l: u32) -> i64 {
    let p = (a as i128).wrapping_mul(b as i128);
    let m = if l == 64 {
        p as i64
    } else {
        (p & ((1i128 << l) - 1)) as i64
    };
    // Sign-extend from l bits.
    (m << (64 - l)) >> (64 - l)
}

#[test]
fn products_are_exact_mod_2_to_the_l() {
    tch::manual_seed(11);
    for l in [16u32, 32, 64] {
        // Full-width ring elements, so every product and sum wraps.
        let ring = |shape: [i64; 2]| {
            let hi = Tensor::randint_low(0, 1i64 << 32, shape, (Kind::Int64, tch::Device::Cpu));
            let lo = Tensor::randint_low(0, 1i64 << 32, shape, (Kind::Int64, tch::Device::Cpu));
            fixed::wrap(&(hi.bitwise_left_shift_tensor_scalar(32) + lo), l)
        };
        let (x, w) = (ring([5, 300]), ring([3, 300]));
        let y = fixed::bilinear(&x, &w, l, |a, b| a.matmul(&b.tr()));
        let (xv, wv, yv): (Vec<i64>, Vec<i64>, Vec<i64>) = (
            Vec::try_from(x.flatten(0, -1)).unwrap(),
            Vec::try_from(w.flatten(0, -1)).unwrap(),
            Vec::try_from(y.flatten(0, -1)).unwrap(),
        );
        for n in 0..5 {
            for o in 0..3 {
                let acc = (0..300).fold(0i64, |a, k| {
                    ring_mul_ref(
                        1,
                        a.wrapping_add(ring_mul_ref(xv[n * 300 + k], wv[o * 300 + k], l)),
                        l,
                    )
                });
                assert_eq!(yv[n * 3 + o], acc, "l = {l}, row {n}, column {o}");
            }
        }
    }
}

#[test]
fn truncation_errors_happen_at_the_documented_rates() {
    tch::manual_seed(3);
    let n = 400_000;
    // l = 32, values 2^26: the large error (a wrap of the shares) has probability
    // |x| / 2^l = 1/64 per element; off by one in the last bit is common.
    let l = 32;
    let f = 12;
    let v = Tensor::randint_low(0, 1 << f, [n], (Kind::Int64, tch::Device::Cpu)) + (1i64 << 26);
    let exact = v.bitwise_right_shift_tensor_scalar(f as i64);
    let t = fixed::truncate(&v, f, l);
    let d: Vec<i64> = Vec::try_from(t - &exact).unwrap();
    let off_by_one = d.iter().filter(|&&e| e == 1).count() as f64 / n as f64;
    let large = d.iter().filter(|&&e| e.abs() > 1).count() as f64 / n as f64;
    assert!(
        (large - 1.0 / 64.0).abs() < 0.002,
        "large-error rate {large}"
    );
    assert!(off_by_one > 0.3, "off-by-one rate {off_by_one}");
    // In a 64-bit ring the same values are never badly truncated.
    let t = fixed::truncate(&v, f, 64);
    let d: Vec<i64> = Vec::try_from(t - exact).unwrap();
    assert!(d.iter().all(|e| (0..=1).contains(e)));
}

/// The ring evaluation follows the float network, with whole-layer sites and with
/// sites gated per channel (some channels ReLU, the others the polynomial).
#[test]
fn ring_network_tracks_the_float_network() {
    ring_tracks_float(&[], None);
    ring_tracks_float(&[1, 3], Some(&[0, 2]));
}

fn ring_tracks_float(conv_relu: &[usize], dense_relu: Option<&[usize]>) {
    tch::manual_seed(9);
    let dense_site = match dense_relu {
        None => LayerOp::Relu,
        Some(r) => LayerOp::Poly(Poly {
            w2: Coeffs::Layer(0.1),
            relu_channels: r.to_vec(),
            ..Poly::default()
        }),
    };
    let layers = vec![
        Layer::new(LayerOp::Conv2d(Conv2d {
            out_channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        }))
        .named("conv"),
        Layer::new(LayerOp::BatchNorm(BatchNorm { eps: 1e-5 })),
        Layer::new(LayerOp::Poly(Poly {
            w2: Coeffs::Layer(0.2),
            relu_channels: conv_relu.to_vec(),
            ..Poly::default()
        })),
        Layer::new(LayerOp::AvgPool(Pool {
            kernel: 2,
            stride: None,
        })),
        Layer::new(LayerOp::MaxPool(Pool {
            kernel: 2,
            stride: None,
        })),
        Layer::new(LayerOp::Flatten),
        Layer::new(LayerOp::Dense(Dense {
            out_features: 5,
            bias: true,
        })),
        Layer::new(LayerOp::BatchNorm(BatchNorm { eps: 1e-5 })),
        Layer::new(dense_site),
        Layer::new(LayerOp::Dense(Dense {
            out_features: 3,
            bias: true,
        })),
    ];
    let spec = ModelSpec {
        name: "t".into(),
        input: Shape(vec![2, 8, 8]),
        fixed_point: FixedPoint {
            ring_bits: 64,
            frac_bits: 14,
        },
        weights: None,
        normalize: None,
        layers,
    };
    let spec = CheckedSpec::new(spec, Path::new("t.yaml")).unwrap();
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let net = SpecNet::new(&vs.root(), &spec);
    // Give batch norm non-trivial statistics.
    let x = Tensor::randn([64, 2, 8, 8], (Kind::Float, tch::Device::Cpu));
    for _ in 0..5 {
        let _ = net.forward_t(&x, true);
    }
    let weights: Weights = vs.variables().into_iter().collect();
    let float = net.forward_t(&x, false).to_kind(Kind::Double);
    let ring = fixed::decode(
        &fixed::forward(&spec, &weights, &x).unwrap(),
        spec.spec().fixed_point,
    );
    let err = (&float - &ring).abs().max().double_value(&[]);
    let scale = float.abs().max().double_value(&[]);
    assert!(
        err < 1e-2 * scale.max(1.0),
        "max error {err} on outputs up to {scale} (ReLU channels {conv_relu:?}, {dense_relu:?})"
    );
}
