//! The functional two-party protocol simulator: a trained network run privately by a
//! server (the weights) and a client (the input) that exchange real messages over a
//! [`channel::Channel`], on real additive shares of Z_2^l, real garbled circuits
//! (perf_model's half-gates garbler), real oblivious transfer (IKNP) and real Beaver
//! multiplications ([`party`]); with every byte and round counted per node and phase
//! and compared with perf_model's prediction ([`traffic`]).
//!
//! The plaintext fixed-point evaluation ([`model::reference`]) is the same arithmetic
//! with the truncations' share splits given: with the client's shares of a run it must
//! give that run's output bit for bit.

pub mod channel;
pub mod dealer;
pub mod model;
pub mod ot;
pub mod party;
pub mod ring;
pub mod traffic;
pub mod vectors;

pub use channel::{Channel, Phase, Role};
pub use model::{Network, Weights};
pub use party::{infer, serve, ClientReport, Options, Served, ServerReport};
pub use ring::Ring;

use perf_model::circuit::CircuitError;
use std::path::PathBuf;
use std::time::Duration;

/// Why a private inference failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The spec could not be read or checked.
    #[error(transparent)]
    Spec(#[from] perf_model::SpecError),
    /// The weights file is missing a tensor, has a wrong shape, or is unreadable.
    #[error("{}{}: {message}", file.display(), if name.is_empty() { String::new() } else { format!(": tensor `{name}`") })]
    Weights {
        /// The weights file.
        file: PathBuf,
        /// The tensor (empty for the whole file).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The input does not fit the network.
    #[error("input: {0}")]
    Input(String),
    /// The peer broke the protocol (oversized, truncated, out-of-step messages).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The parties run different networks.
    #[error(
        "the {other} runs a different network: spec hash {ours}… here, {theirs}… there; \
         both parties must load the same trained spec"
    )]
    SpecMismatch {
        /// Our hash (first bytes, hex).
        ours: String,
        /// Theirs.
        theirs: String,
        /// The peer.
        other: &'static str,
    },
    /// The peer closed the connection.
    #[error("the {role}'s peer disconnected while it was {during}")]
    Disconnected {
        /// This party.
        role: &'static str,
        /// What it was doing.
        during: String,
    },
    /// No message within the timeout.
    #[error("the {role} timed out waiting for {waiting_for}")]
    Timeout {
        /// This party.
        role: &'static str,
        /// The message it waited for.
        waiting_for: String,
    },
    /// A connection could not be made or used.
    #[error("{role}: {message}")]
    Io {
        /// This party.
        role: &'static str,
        /// What failed.
        message: String,
    },
    /// A garbled circuit did not fit its inputs (a corrupted message).
    #[error("garbled circuit: {0}")]
    Circuit(#[from] CircuitError),
}

/// Runs both parties in this process, each on its own thread, over an in-process
/// channel: one private inference per input.
pub fn run_local(
    net: &Network,
    weights: &Weights,
    inputs: &[Vec<u64>],
    opts: Options,
    timeout: Duration,
) -> Result<(ServerReport, ClientReport), SimError> {
    let (mut s, mut c) = Channel::pair(timeout);
    std::thread::scope(|scope| {
        let server = scope.spawn(move || serve(net, weights, &mut s, opts));
        let client = infer(net, inputs, &mut c, opts);
        // The client's channel end goes before the server is joined, so a server
        // waiting on a client that failed sees the disconnection.
        drop(c);
        let server = server
            .join()
            .unwrap_or_else(|_| Err(SimError::Protocol("the server thread panicked".into())));
        match (server, client) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            // A party that fails hangs up; its peer's disconnection is the lesser news.
            (Err(e), Err(SimError::Disconnected { .. })) | (Err(e), Ok(_)) => Err(e),
            (_, Err(e)) => Err(e),
        }
    })
}
