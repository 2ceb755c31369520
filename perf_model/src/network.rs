//! Network profiles between the two parties: bandwidth and round-trip time.
//!
//! The presets are the LAN and WAN settings of the 2PC inference literature, so that
//! polympc's figures can be set beside published ones: `lan` and `wan` are Cheetah's
//! (Huang et al., USENIX Security 2022, section 6: 384 MB/s with 0.3 ms RTT, and
//! 44 MB/s with 40 ms RTT), `lan-cryptflow2` and `wan-cryptflow2` CrypTFlow2's
//! (Rathee et al., ACM CCS 2020, section 7: 377 MB/s with 0.3 ms, 40 MB/s with 80 ms).
//! A custom profile is written `BANDWIDTH_MBPS:RTT_MS` (megabits per second,
//! milliseconds), or as a YAML file with the fields of [`NetworkProfile`].

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A network between the server and the client (full duplex, symmetric).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkProfile {
    /// Name.
    pub name: String,
    /// Bandwidth each way, in megabits per second.
    pub bandwidth_mbps: f64,
    /// Round-trip time, in milliseconds.
    pub rtt_ms: f64,
    /// Where the figures come from.
    #[serde(default)]
    pub source: String,
}

/// Why a network profile cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Not a preset, a `MBPS:MS` pair or a YAML file.
    #[error("unknown network `{name}`; known: {} (or BANDWIDTH_MBPS:RTT_MS, or a YAML file)", known.join(", "))]
    Unknown {
        /// What was asked for.
        name: String,
        /// The presets.
        known: Vec<String>,
    },
    /// A figure out of range.
    #[error("network `{name}`: {message}")]
    Invalid {
        /// The profile.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The YAML file cannot be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl NetworkProfile {
    /// The presets.
    pub fn presets() -> Vec<NetworkProfile> {
        let p = |name: &str, mbytes: f64, rtt_ms: f64, source: &str| NetworkProfile {
            name: name.into(),
            bandwidth_mbps: mbytes * 8.0,
            rtt_ms,
            source: source.into(),
        };
        let cheetah = "Cheetah (Huang et al., USENIX Security 2022), section 6";
        let cf2 = "CrypTFlow2 (Rathee et al., ACM CCS 2020), section 7";
        vec![
            p("lan", 384.0, 0.3, cheetah),
            p("wan", 44.0, 40.0, cheetah),
            p("lan-cryptflow2", 377.0, 0.3, cf2),
            p("wan-cryptflow2", 40.0, 80.0, cf2),
        ]
    }

    /// A preset by name, a custom `MBPS:MS` profile, or a YAML file.
    pub fn find(name: &str) -> Result<NetworkProfile, NetworkError> {
        if let Some(p) = Self::presets()
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            return Ok(p);
        }
        let path = Path::new(name);
        let profile = if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            let file = |message: String| NetworkError::File {
                path: name.to_string(),
                message,
            };
            let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
            serde_yaml_ng::from_str(&text).map_err(|e| file(e.to_string()))?
        } else if let Some((bw, rtt)) = name.split_once(':') {
            let num = |s: &str| s.trim().parse::<f64>().ok();
            match (num(bw), num(rtt)) {
                (Some(bandwidth_mbps), Some(rtt_ms)) => NetworkProfile {
                    name: name.to_string(),
                    bandwidth_mbps,
                    rtt_ms,
                    source: "custom".into(),
                },
                _ => return Err(Self::unknown(name)),
            }
        } else {
            return Err(Self::unknown(name));
        };
        profile.check()?;
        Ok(profile)
    }

    fn unknown(name: &str) -> NetworkError {
        NetworkError::Unknown {
            name: name.to_string(),
            known: Self::presets().into_iter().map(|p| p.name).collect(),
        }
    }

    fn check(&self) -> Result<(), NetworkError> {
        let invalid = |message: &str| NetworkError::Invalid {
            name: self.name.clone(),
            message: message.into(),
        };
        if !(self.bandwidth_mbps > 0.0 && self.bandwidth_mbps.is_finite()) {
            return Err(invalid("bandwidth must be a positive number of Mbit/s"));
        }
        if !(self.rtt_ms >= 0.0 && self.rtt_ms.is_finite()) {
            return Err(invalid(
                "round-trip time must be a non-negative number of ms",
            ));
        }
        Ok(())
    }

    /// Seconds to send `bytes` one way.
    pub fn transfer_s(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / (self.bandwidth_mbps * 1e6)
    }

    /// Seconds of one round (a one-way delay, half the round-trip time).
    pub fn round_s(&self) -> f64 {
        self.rtt_ms / 2e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_custom_and_errors() {
        let lan = NetworkProfile::find("LAN").unwrap();
        let wan = NetworkProfile::find("wan").unwrap();
        assert!(lan.bandwidth_mbps > wan.bandwidth_mbps && lan.rtt_ms < wan.rtt_ms);
        let c = NetworkProfile::find("1000:2.5").unwrap();
        assert_eq!((c.bandwidth_mbps, c.rtt_ms), (1000.0, 2.5));
        assert!((c.transfer_s(125_000_000) - 1.0).abs() < 1e-12);
        let e = NetworkProfile::find("dialup").unwrap_err().to_string();
        assert!(e.contains("lan") && e.contains("wan"), "{e}");
        assert!(NetworkProfile::find("0:1").is_err());
        assert!(NetworkProfile::find("10:-1").is_err());
        assert!(NetworkProfile::find("/nonexistent/net.yaml").is_err());
    }
}
