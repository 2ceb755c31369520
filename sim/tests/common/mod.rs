//! Test helpers shared by the simulator's tests and the `private-infer` command's
//! end-to-end tests (which include this file by path): deterministic pseudo-random
//! numbers and random weights for any spec, as a `.safetensors` file's bytes.

#![allow(dead_code)] // each including test uses its own subset
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::LayerOp;
use perf_model::CheckedSpec;

/// Deterministic pseudo-random numbers for weights and inputs.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A whole 64-bit word (ring elements of any width).
    pub fn word(&mut self) -> u64 {
        self.next();
        self.0 ^ (self.0 >> 29)
    }
}

/// Random weights for every layer of a spec, as a safetensors file's bytes.
pub fn random_weights(spec: &CheckedSpec, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
        let name = spec.spec().layer_name(i);
        let mut add = |what: &str, shape: Vec<usize>, lo: f64, hi: f64, rng: &mut Lcg| {
            let n = shape.iter().product();
            let v = (0..n)
                .map(|_| (lo + (hi - lo) * rng.next()) as f32)
                .collect();
            tensors.push((format!("{name}.{what}"), shape, v));
        };
        match &layer.op {
            LayerOp::Conv2d(c) => {
                let cin = info.in_shapes[0].channels();
                let scale = 1.0 / ((cin * c.kernel * c.kernel) as f64).sqrt();
                add(
                    "weight",
                    vec![c.out_channels, cin, c.kernel, c.kernel],
                    -scale,
                    scale,
                    &mut rng,
                );
                if c.bias {
                    add("bias", vec![c.out_channels], -0.1, 0.1, &mut rng);
                }
            }
            LayerOp::Dense(d) => {
                let fin = info.in_shapes[0].numel();
                let scale = 1.0 / (fin as f64).sqrt();
                add("weight", vec![d.out_features, fin], -scale, scale, &mut rng);
                if d.bias {
                    add("bias", vec![d.out_features], -0.1, 0.1, &mut rng);
                }
            }
            LayerOp::BatchNorm(_) => {
                let c = info.out_shape.channels();
                add("weight", vec![c], 0.5, 1.5, &mut rng);
                add("bias", vec![c], -0.2, 0.2, &mut rng);
                add("running_mean", vec![c], -0.3, 0.3, &mut rng);
                add("running_var", vec![c], 0.5, 2.0, &mut rng);
            }
            _ => {}
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, &None).unwrap()
}
