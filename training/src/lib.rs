//! training: polympc's hardware-aware trainer on tch (libtorch). Networks are built
//! from model specs ([`net::SpecNet`]), with trainable polynomial activations and
//! Circa's stochastic ReLU beside ReLU; a gate per activation site picks among them,
//! with the FPGA latency of each choice, from perf_model, in the loss ([`latency`]).
//! [`train`] runs the search, the fine-tuning and the baselines; [`fixed`] evaluates a
//! trained network in the ring, as 2PC inference computes it; [`data`] reads the
//! datasets. This is the only crate of the workspace that links libtorch.

pub mod adam;
pub mod data;
pub mod fixed;
pub mod latency;
pub mod net;
pub mod plot;
pub mod sweep;
pub mod train;

pub use net::SpecNet;
pub use tch;
pub use train::{Method, PolyInit, TrainConfig, TrainReport};

use std::path::PathBuf;

/// What can go wrong in training. Every variant names the file, field or layer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] perf_model::SpecError),
    /// A dataset file is missing or corrupt.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The latency model cannot be evaluated.
    #[error(transparent)]
    Estimate(#[from] perf_model::estimate::EstimateError),
    /// A weights tensor is missing or has the wrong shape.
    #[error("weights: `{name}`: {message}")]
    Weights {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An option is unusable.
    #[error("{field}: {message}")]
    Config {
        /// The option.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl TrainError {
    pub(crate) fn file(file: impl Into<PathBuf>, message: impl std::fmt::Display) -> TrainError {
        TrainError::File {
            file: file.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn config(field: &str, message: impl Into<String>) -> TrainError {
        TrainError::Config {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

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
