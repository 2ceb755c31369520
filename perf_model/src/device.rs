//! FPGA devices: the resources an accelerator configuration must fit in, and the clock
//! and memory figures its timing model uses.
//!
//! A device is a YAML file; every figure in it names the datasheet it comes from
//! (`sources:`). polympc ships the five devices in `perf_model/devices/`; users add
//! their own by passing a path, or by putting files in a folder listed in the
//! `POLYMPC_DEVICES` environment variable (colon-separated).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable listing extra device folders.
pub const DEVICE_PATH_VAR: &str = "POLYMPC_DEVICES";

const BUILT_IN: [(&str, &str); 5] = [
    ("ice40hx8k.yaml", include_str!("../devices/ice40hx8k.yaml")),
    ("ice40up5k.yaml", include_str!("../devices/ice40up5k.yaml")),
    ("xc7z020.yaml", include_str!("../devices/xc7z020.yaml")),
    ("xczu9eg.yaml", include_str!("../devices/xczu9eg.yaml")),
    ("xcu250.yaml", include_str!("../devices/xcu250.yaml")),
];

/// Hard multipliers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dsp {
    /// DSP blocks.
    pub count: u64,
    /// Width of the multiplier's first operand.
    pub a_bits: u32,
    /// Width of the multiplier's second operand.
    pub b_bits: u32,
}

impl Dsp {
    /// DSP blocks one 16 x 16 partial product takes: one where the multiplier is at
    /// least 16 x 16 (signed widths hold 16 unsigned bits from 17 up; the iCE40
    /// SB_MAC16 multiplies unsigned 16 x 16), none where there are no DSPs.
    pub fn per_16x16(&self) -> u64 {
        if self.count == 0 {
            0
        } else if self.a_bits >= 16 && self.b_bits >= 16 {
            1
        } else {
            4
        }
    }
}

/// A kind of on-chip RAM block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamBlocks {
    /// Blocks on the device.
    pub count: u64,
    /// Bits per block.
    pub bits: u64,
}

/// Clock limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Highest clock a design may ask for (the PLL's or the DSP's limit).
    pub max_mhz: f64,
    /// The clock the usual board provides, the default of accelerator configurations.
    pub board_mhz: f64,
}

/// Off-chip memory (or the host link where the board has none): where garbled tables
/// stream from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Bandwidth in gigabytes per second.
    pub gbps: f64,
    /// What it is.
    pub kind: String,
}

/// An FPGA device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Name (the part).
    pub name: String,
    /// Other names it is known by (boards carrying it).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Vendor.
    pub vendor: String,
    /// Device family.
    pub family: String,
    /// Inputs of the fabric's look-up tables (4 or 6).
    pub lut_inputs: u32,
    /// Look-up tables.
    pub luts: u64,
    /// Flip-flops.
    pub flip_flops: u64,
    /// Hard multipliers.
    pub dsp: Dsp,
    /// Block RAM.
    pub bram: RamBlocks,
    /// UltraRAM (Xilinx UltraScale+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uram: Option<RamBlocks>,
    /// Single-port RAM (iCE40 UltraPlus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spram: Option<RamBlocks>,
    /// Clock limits.
    pub clock: Clock,
    /// Off-chip memory bandwidth.
    pub memory: Memory,
    /// Where every figure comes from: field name to datasheet reference.
    pub sources: BTreeMap<String, String>,
}

/// Why a device cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No device of that name.
    #[error("unknown device `{name}`; known devices: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Names that would have worked.
        known: Vec<String>,
    },
    /// The file cannot be read.
    #[error("cannot read device file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown or missing fields.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde said, with the line.
        message: String,
    },
    /// A figure is out of range or has no source.
    #[error("{}: field `{field}`: {message}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl Device {
    /// Parses and checks a device description; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Device, DeviceError> {
        let d: Device = serde_yaml_ng::from_str(text).map_err(|e| DeviceError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        d.check(origin)?;
        Ok(d)
    }

    /// Reads a device file.
    pub fn load(path: &Path) -> Result<Device, DeviceError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeviceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Device::from_yaml(&text, path)
    }

    fn check(&self, origin: &Path) -> Result<(), DeviceError> {
        let bad = |field: &str, message: String| DeviceError::Field {
            path: origin.to_path_buf(),
            field: field.to_string(),
            message,
        };
        if ![4, 6].contains(&self.lut_inputs) {
            return Err(bad(
                "lut_inputs",
                format!("{} is not 4 or 6", self.lut_inputs),
            ));
        }
        if self.luts == 0 || self.flip_flops == 0 {
            return Err(bad("luts", "a device needs LUTs and flip-flops".into()));
        }
        if self.dsp.count > 0 && (self.dsp.a_bits == 0 || self.dsp.b_bits == 0) {
            return Err(bad("dsp", "DSPs need their multiplier widths".into()));
        }
        if self.bram.bits == 0 && self.bram.count > 0 {
            return Err(bad("bram", "block size of 0 bits".into()));
        }
        let c = self.clock;
        if !(c.max_mhz > 0.0 && c.board_mhz > 0.0 && c.board_mhz <= c.max_mhz) {
            return Err(bad(
                "clock",
                format!(
                    "need 0 < board_mhz <= max_mhz, got {} and {}",
                    c.board_mhz, c.max_mhz
                ),
            ));
        }
        if !(self.memory.gbps > 0.0 && self.memory.gbps.is_finite()) {
            return Err(bad("memory", "bandwidth must be positive".into()));
        }
        let mut cited = vec!["luts", "flip_flops", "dsp", "bram", "clock", "memory"];
        if self.uram.is_some() {
            cited.push("uram");
        }
        if self.spram.is_some() {
            cited.push("spram");
        }
        for field in cited {
            if self.sources.get(field).is_none_or(|s| s.trim().is_empty()) {
                return Err(bad(
                    "sources",
                    format!("no source for `{field}`: cite the datasheet each figure comes from"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `name` is this device's name or one of its aliases (ignoring case).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// The devices polympc ships.
    pub fn built_in() -> Vec<Device> {
        BUILT_IN
            .iter()
            .map(|(file, text)| {
                Device::from_yaml(text, Path::new(file))
                    .unwrap_or_else(|e| panic!("built-in device {file} is broken: {e}"))
            })
            .collect()
    }

    /// Every device known: built-in ones, then those in the folders of
    /// `POLYMPC_DEVICES`.
    pub fn known() -> Result<Vec<Device>, DeviceError> {
        let mut all = Device::built_in();
        if let Some(dirs) = std::env::var_os(DEVICE_PATH_VAR) {
            for dir in std::env::split_paths(&dirs) {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| is_yaml(p))
                    .collect();
                files.sort();
                for f in files {
                    all.push(Device::load(&f)?);
                }
            }
        }
        Ok(all)
    }

    /// A device by name or alias, or by path to a YAML file.
    pub fn find(name: &str) -> Result<Device, DeviceError> {
        let path = Path::new(name);
        if is_yaml(path) || name.contains(std::path::MAIN_SEPARATOR) {
            return Device::load(path);
        }
        let known = Device::known()?;
        known
            .iter()
            .find(|d| d.answers_to(name))
            .cloned()
            .ok_or_else(|| DeviceError::Unknown {
                name: name.to_string(),
                known: known
                    .iter()
                    .map(|d| match d.aliases.is_empty() {
                        true => d.name.clone(),
                        false => format!("{} ({})", d.name, d.aliases.join(", ")),
                    })
                    .collect(),
            })
    }

    /// Bits of on-chip RAM of all kinds.
    pub fn ram_bits(&self) -> u64 {
        let blocks = |r: &Option<RamBlocks>| r.map_or(0, |r| r.count * r.bits);
        self.bram.count * self.bram.bits + blocks(&self.uram) + blocks(&self.spram)
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_devices_parse_and_cite_every_figure() {
        let all = Device::built_in();
        assert_eq!(all.len(), 5);
        for name in ["zcu102", "ICE40HX8K", "icebreaker", "pynq-z2", "u250"] {
            assert!(Device::find(name).is_ok(), "{name}");
        }
        let up5k = Device::find("up5k").unwrap();
        assert_eq!(up5k.dsp.per_16x16(), 1);
        assert_eq!(up5k.spram.unwrap().count, 4);
        assert_eq!(Device::find("hx8k").unwrap().dsp.per_16x16(), 0);
    }

    #[test]
    fn unknown_device_lists_the_known_ones() {
        let e = Device::find("xc9999").unwrap_err().to_string();
        assert!(e.contains("unknown device `xc9999`"), "{e}");
        for name in ["ice40hx8k", "ice40up5k", "xc7z020", "xczu9eg", "xcu250"] {
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn malformed_devices_are_rejected_with_the_field() {
        let good = BUILT_IN[2].1;
        let e = Device::from_yaml(
            &good.replace("luts: 53200", "luts: lots"),
            Path::new("d.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("d.yaml:") && e.contains("luts"), "{e}");
        let e = Device::from_yaml(
            &good.replace("lut_inputs: 6", "lut_inputs: 5"),
            Path::new("d.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("lut_inputs"), "{e}");
        let uncited: String = good
            .lines()
            .filter(|l| !l.trim_start().starts_with("dsp: \"DS190"))
            .collect::<Vec<_>>()
            .join("\n");
        let e = Device::from_yaml(&uncited, Path::new("d.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no source for `dsp`"), "{e}");
        let e = Device::from_yaml(&format!("{good}\nbogus: 1\n"), Path::new("d.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
