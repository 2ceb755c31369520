//! training: polympc's hardware-aware trainer on tch (libtorch). Networks are built
//! from model specs ([`net::SpecNet`]), with trainable polynomial activations and
//! Circa's stochastic ReLU beside ReLU. This is the only crate of the workspace that
//! links libtorch.

pub mod net;

pub use net::SpecNet;

/// What libtorch this build runs on: its compute devices.
pub fn runtime() -> String {
    let cuda = tch::Cuda::device_count();
    let threads = tch::get_num_threads();
    if cuda > 0 {
        format!("CPU ({threads} threads) and {cuda} CUDA device(s)")
    } else {
        format!("CPU ({threads} threads), no CUDA device")
    }
}
