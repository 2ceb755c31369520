//! Accelerator configurations: how many of each unit, how they are built, the clock;
//! what that costs on a device, and whether it fits.
//!
//! A configuration is a YAML file (`--config ACC.yaml`); [`AcceleratorConfig::for_device`]
//! gives a sensible one for a device when none is given (the design-space exploration
//! of the scheduler finds better ones).

pub mod units;

use crate::device::Device;
use crate::spec::FixedPoint;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use units::Resources;

/// How the AES S-boxes are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sbox {
    /// In logic.
    Lut,
    /// As lookup tables in block RAM.
    Ram,
}

/// The garbled-circuit engines. An engine garbles with half-gates on the server's
/// accelerator and evaluates on the client's (the evaluator's datapath is a subset of
/// the garbler's, so one engine serves either role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    /// Engines.
    pub engines: u32,
    /// AES cores per engine (1 to 4).
    pub aes_cores: u32,
    /// Round circuits per AES core: 1 (rolled), 2, 5 or 10 (fully pipelined).
    pub aes_round_units: u32,
    /// Where the S-boxes live.
    pub sbox: Sbox,
    /// Wire labels each unit holds on chip.
    pub label_ram_wires: u32,
}

/// On-chip buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buffers {
    /// Activation (share) buffer, KiB.
    pub activation_kib: u32,
    /// Weight buffer, KiB.
    pub weight_kib: u32,
}

/// An accelerator configuration. Both parties run one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorConfig {
    /// Ring width l (16, 32 or 64); must be the model's.
    pub ring_bits: u32,
    /// Fractional bits f the lanes truncate by; must be the model's.
    #[serde(default = "default_frac_bits")]
    pub frac_bits: u32,
    /// Clock, MHz.
    pub clock_mhz: f64,
    /// Lanes of the MAC array (one ring multiply-accumulate per cycle each).
    pub mac_lanes: u32,
    /// Beaver lanes (one element per cycle each): a square-and-polynomial unit and a
    /// multiply unit each.
    pub beaver_lanes: u32,
    /// Garbled-circuit engines.
    pub gc: GcConfig,
    /// On-chip buffers.
    pub buffers: Buffers,
}

fn default_frac_bits() -> u32 {
    FixedPoint::default().frac_bits
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read accelerator configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed YAML or unknown fields.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What serde said.
        message: String,
    },
    /// A field out of range.
    #[error("{origin}: field `{field}`: {message}")]
    Field {
        /// The file (or `default`).
        origin: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// It does not fit the device.
    #[error("{0}")]
    DoesNotFit(Box<FitReport>),
}

/// Resource use of a configuration on a device, unit by unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// The device.
    pub device: String,
    /// Per unit kind: name, count, resources of all copies.
    pub units: Vec<(String, u64, Resources)>,
    /// The total.
    pub total: Resources,
    /// What the device has.
    pub available: Resources,
    /// The clock asked for and the device's limit.
    pub clock_mhz: (f64, f64),
}

impl FitReport {
    /// Resources over the device's, with how much is needed and available.
    pub fn shortfalls(&self) -> Vec<(&'static str, u64, u64)> {
        self.rows()
            .into_iter()
            .filter(|&(_, used, avail)| used > avail)
            .collect()
    }

    fn rows(&self) -> Vec<(&'static str, u64, u64)> {
        let (t, a) = (self.total, self.available);
        vec![
            ("LUT", t.luts, a.luts),
            ("FF", t.flip_flops, a.flip_flops),
            ("DSP", t.dsps, a.dsps),
            ("BRAM", t.bram, a.bram),
            ("URAM", t.uram, a.uram),
            ("SPRAM", t.spram, a.spram),
        ]
    }

    /// Whether everything fits, the clock included.
    pub fn fits(&self) -> bool {
        self.shortfalls().is_empty() && self.clock_mhz.0 <= self.clock_mhz.1
    }

    /// Highest utilisation of any resource, 0 to 1 (and beyond when it does not fit).
    pub fn utilisation(&self) -> f64 {
        self.rows()
            .into_iter()
            .filter(|&(_, used, _)| used > 0)
            .map(|(_, used, avail)| used as f64 / avail.max(1) as f64)
            .fold(0.0, f64::max)
    }
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.fits() {
            let mut why: Vec<String> = self
                .shortfalls()
                .iter()
                .map(|(r, used, avail)| format!("{r} {used} > {avail}"))
                .collect();
            if self.clock_mhz.0 > self.clock_mhz.1 {
                why.push(format!(
                    "clock {} MHz > {} MHz",
                    self.clock_mhz.0, self.clock_mhz.1
                ));
            }
            writeln!(
                f,
                "the accelerator does not fit {}: {}",
                self.device,
                why.join(", ")
            )?;
        }
        writeln!(
            f,
            "{:<16} {:>5} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
            "unit", "count", "LUT", "FF", "DSP", "BRAM", "URAM", "SPRAM"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, n: String, r: &Resources| {
            writeln!(
                f,
                "{:<16} {:>5} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
                name, n, r.luts, r.flip_flops, r.dsps, r.bram, r.uram, r.spram
            )
        };
        for (name, n, r) in &self.units {
            row(f, name, n.to_string(), r)?;
        }
        row(f, "total", String::new(), &self.total)?;
        row(
            f,
            &format!("{} has", self.device),
            String::new(),
            &self.available,
        )?;
        let pct = |u: u64, a: u64| match a {
            0 if u == 0 => "-".to_string(),
            0 => "inf".to_string(),
            _ => format!("{:.0}%", 100.0 * u as f64 / a as f64),
        };
        let (t, a) = (self.total, self.available);
        writeln!(
            f,
            "{:<16} {:>5} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}",
            "utilisation",
            "",
            pct(t.luts, a.luts),
            pct(t.flip_flops, a.flip_flops),
            pct(t.dsps, a.dsps),
            pct(t.bram, a.bram),
            pct(t.uram, a.uram),
            pct(t.spram, a.spram)
        )
    }
}

/// Live labels of one compiled `l`-bit ReLU circuit (compiled once per width).
fn relu_slots(l: u32) -> u32 {
    static SLOTS: std::sync::OnceLock<[u32; 3]> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        [16, 32, 64].map(|l| {
            crate::circuit::program::compile(&crate::circuit::library::relu(l))
                .map_or(0, |p| p.slots)
        })
    });
    match l {
        16 => slots[0],
        32 => slots[1],
        64 => slots[2],
        _ => 0,
    }
}

impl AcceleratorConfig {
    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<AcceleratorConfig, ConfigError> {
        let c: AcceleratorConfig =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.display().to_string(),
                message: e.to_string(),
            })?;
        c.check(&origin.display().to_string())?;
        Ok(c)
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<AcceleratorConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        AcceleratorConfig::from_yaml(&text, path)
    }

    /// The configuration as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Checks the fields' ranges.
    pub fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |field: &'static str, message: String| {
            Err(ConfigError::Field {
                origin: origin.to_string(),
                field,
                message,
            })
        };
        if ![16, 32, 64].contains(&self.ring_bits) {
            return bad(
                "ring_bits",
                format!("{} is not 16, 32 or 64", self.ring_bits),
            );
        }
        if self.frac_bits >= self.ring_bits {
            return bad(
                "frac_bits",
                format!(
                    "{} must be below the ring width {}",
                    self.frac_bits, self.ring_bits
                ),
            );
        }
        if !(self.clock_mhz > 0.0 && self.clock_mhz.is_finite()) {
            return bad("clock_mhz", "must be a positive number".into());
        }
        if self.mac_lanes == 0 {
            return bad("mac_lanes", "needs at least one lane".into());
        }
        if self.beaver_lanes == 0 {
            return bad("beaver_lanes", "needs at least one lane".into());
        }
        if self.gc.engines == 0 {
            return bad("gc.engines", "needs at least one engine".into());
        }
        if !(1..=4).contains(&self.gc.aes_cores) {
            return bad(
                "gc.aes_cores",
                format!("{} is not 1 to 4", self.gc.aes_cores),
            );
        }
        if ![1, 2, 5, 10].contains(&self.gc.aes_round_units) {
            return bad(
                "gc.aes_round_units",
                format!("{} is not 1, 2, 5 or 10", self.gc.aes_round_units),
            );
        }
        let relu = relu_slots(self.ring_bits);
        if self.gc.label_ram_wires < relu {
            return bad(
                "gc.label_ram_wires",
                format!(
                    "{} labels do not hold one {}-bit ReLU circuit's {relu} live labels",
                    self.gc.label_ram_wires, self.ring_bits
                ),
            );
        }
        Ok(())
    }

    /// Seconds per clock cycle.
    pub fn cycle_s(&self) -> f64 {
        1.0 / (self.clock_mhz * 1e6)
    }

    /// Resource use on a device, unit by unit.
    pub fn resources(&self, d: &Device) -> FitReport {
        let (l, f) = (self.ring_bits, self.frac_bits);
        let g = &self.gc;
        let units = vec![
            (
                "mac lane".to_string(),
                u64::from(self.mac_lanes),
                units::mac_lane_resources(l, f, d).times(self.mac_lanes.into()),
            ),
            (
                "beaver lane".to_string(),
                u64::from(self.beaver_lanes),
                units::beaver_lane_resources(l, f, d).times(self.beaver_lanes.into()),
            ),
            (
                "beaver mul".to_string(),
                u64::from(self.beaver_lanes),
                units::beaver_mul_resources(l, f, d).times(self.beaver_lanes.into()),
            ),
            (
                "gc engine".to_string(),
                u64::from(g.engines),
                units::gc_engine_resources(self, d).times(g.engines.into()),
            ),
            (
                "buffers".to_string(),
                2,
                units::buffer_resources(self.buffers.activation_kib, d)
                    .plus(units::buffer_resources(self.buffers.weight_kib, d)),
            ),
            ("control".to_string(), 1, units::control_resources()),
        ];
        let total = units
            .iter()
            .fold(Resources::default(), |acc, (_, _, r)| acc.plus(*r));
        FitReport {
            device: d.name.clone(),
            units,
            total,
            available: Resources {
                luts: d.luts,
                flip_flops: d.flip_flops,
                dsps: d.dsp.count,
                bram: d.bram.count,
                uram: d.uram.map_or(0, |u| u.count),
                spram: d.spram.map_or(0, |s| s.count),
            },
            clock_mhz: (self.clock_mhz, d.clock.max_mhz),
        }
    }

    /// The resource report, or an error carrying it when the configuration does not fit.
    pub fn fit(&self, d: &Device) -> Result<FitReport, ConfigError> {
        let r = self.resources(d);
        if r.fits() {
            Ok(r)
        } else {
            Err(ConfigError::DoesNotFit(Box::new(r)))
        }
    }

    /// The configuration of scale `s` (1, 2, 4, ...): the MAC array grows fastest, the
    /// garbled-circuit engines reach four fully pipelined AES cores from scale 8.
    pub fn at_scale(s: u32, fixed: FixedPoint, sbox: Sbox, d: &Device) -> AcceleratorConfig {
        let s = s.max(1);
        let (aes_cores, aes_round_units) = match s {
            1 => (1, 1),
            2 => (1, 2),
            3..=4 => (2, 5),
            _ => (4, 10),
        };
        let gc_units = s.div_ceil(8);
        // A fifth of the on-chip RAM for each buffer, as a power of two.
        let kib = ((d.ram_bits() / 8 / 1024 / 5).max(1)).ilog2();
        AcceleratorConfig {
            ring_bits: fixed.ring_bits,
            frac_bits: fixed.frac_bits,
            clock_mhz: d.clock.board_mhz,
            mac_lanes: if s == 1 { 1 } else { 4 * s },
            beaver_lanes: s,
            gc: GcConfig {
                engines: gc_units,
                aes_cores,
                aes_round_units,
                sbox,
                label_ram_wires: 1 << 11,
            },
            buffers: Buffers {
                activation_kib: 1 << kib,
                weight_kib: 1 << kib,
            },
        }
    }

    /// The largest configuration of [`at_scale`](Self::at_scale) that fits the device
    /// with every resource at most 80% used (room for routing), S-boxes in logic or in
    /// RAM, whichever allows more; the smallest one when none does (so [`fit`](Self::fit)
    /// can say why).
    pub fn for_device(d: &Device, fixed: FixedPoint) -> AcceleratorConfig {
        let mut best: Option<(u32, AcceleratorConfig)> = None;
        for sbox in [Sbox::Lut, Sbox::Ram] {
            let mut s = 1u32;
            while s <= 1 << 14 {
                let c = AcceleratorConfig::at_scale(s, fixed, sbox, d);
                let r = c.resources(d);
                if !(r.fits() && r.utilisation() <= 0.8) {
                    break;
                }
                if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                    best = Some((s, c));
                }
                s *= 2;
            }
        }
        best.map(|(_, c)| c)
            .unwrap_or_else(|| AcceleratorConfig::at_scale(1, fixed, Sbox::Lut, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_their_devices_and_grow_with_them() {
        let lanes: Vec<u32> = ["pynq-z2", "zcu102", "u250"]
            .iter()
            .map(|n| {
                let d = Device::find(n).unwrap();
                let c = AcceleratorConfig::for_device(&d, FixedPoint::for_ring(16));
                c.fit(&d).unwrap_or_else(|e| panic!("{n}: {e}"));
                c.mac_lanes
            })
            .collect();
        assert!(lanes.windows(2).all(|w| w[0] < w[1]), "{lanes:?}");
    }

    #[test]
    fn the_gc_engine_outgrows_the_ice40_parts() {
        // Twenty S-boxes in logic alone take more LUTs than an UltraPlus has.
        for n in ["up5k", "hx8k"] {
            let d = Device::find(n).unwrap();
            let c = AcceleratorConfig::for_device(&d, FixedPoint::for_ring(16));
            let e = c.fit(&d).unwrap_err().to_string();
            assert!(e.contains("gc engine"), "{n}: {e}");
        }
    }

    #[test]
    fn a_configuration_too_big_is_rejected_with_the_table() {
        let d = Device::find("hx8k").unwrap();
        let mut c =
            AcceleratorConfig::for_device(&Device::find("zcu102").unwrap(), FixedPoint::default());
        c.clock_mhz = 100.0;
        let e = c.fit(&d).unwrap_err().to_string();
        assert!(e.contains("does not fit ice40hx8k"), "{e}");
        assert!(e.contains("LUT") && e.contains("utilisation"), "{e}");
    }

    #[test]
    fn yaml_round_trip_and_field_errors() {
        let d = Device::find("zcu102").unwrap();
        let c = AcceleratorConfig::for_device(&d, FixedPoint::default());
        let back = AcceleratorConfig::from_yaml(&c.to_yaml(), Path::new("acc.yaml")).unwrap();
        assert_eq!(back, c);
        let e = AcceleratorConfig::from_yaml(
            &c.to_yaml()
                .replace("aes_round_units: 10", "aes_round_units: 3"),
            Path::new("acc.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("acc.yaml") && e.contains("gc.aes_round_units"),
            "{e}"
        );
        let e = AcceleratorConfig::from_yaml("ring_bits: [", Path::new("acc.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("acc.yaml:"), "{e}");
    }
}
