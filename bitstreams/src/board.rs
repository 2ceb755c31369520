//! Boards: the FPGA part and package, the pins of the clock, reset, UART and LEDs,
//! and how the board is programmed. The board files live in `bitstreams/boards/`
//! (YAML) and are built in; [`Board::pcf`] writes nextpnr's pin constraints for a top
//! level's ports.

use serde::Deserialize;

/// A pin with its frequency.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockPin {
    /// Package pin.
    pub pin: String,
    /// Oscillator frequency, MHz.
    pub mhz: f64,
}

/// The reset button.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPin {
    /// Package pin.
    pub pin: String,
    /// Pressed reads 0.
    pub active_low: bool,
}

/// The USB-serial bridge's pins, as the FPGA sees them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UartPins {
    /// Data into the FPGA.
    pub rx: String,
    /// Data out of the FPGA.
    pub tx: String,
}

/// A board.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Its name (`alchitry-cu`).
    pub name: String,
    /// For people.
    pub description: String,
    /// perf_model's device of its FPGA.
    pub device: String,
    /// nextpnr-ice40's part flag (`hx8k` gives `--hx8k`).
    pub family: String,
    /// nextpnr-ice40's package.
    pub package: String,
    /// The oscillator.
    pub clock: ClockPin,
    /// The reset button.
    pub reset: ResetPin,
    /// USB-serial.
    pub uart: UartPins,
    /// User LEDs.
    pub leds: Vec<String>,
    /// openFPGALoader's name for the board's programming interface.
    pub openfpgaloader_board: String,
    /// The clock polympc's designs run at on this board, MHz, when it is not the
    /// oscillator's (the PLL makes it).
    #[serde(default)]
    pub design_mhz: Option<f64>,
}

/// Why a board cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// Not a known board.
    #[error("unknown board `{name}` (known: {known})")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The known ones.
        known: String,
    },
    /// A board file is malformed.
    #[error("board file {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// The built-in board files: name and text.
const BUILT_IN: [(&str, &str); 2] = [
    (
        "alchitry-cu.yaml",
        include_str!("../boards/alchitry-cu.yaml"),
    ),
    ("icebreaker.yaml", include_str!("../boards/icebreaker.yaml")),
];

impl Board {
    /// Parses a board file's text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Board, BoardError> {
        serde_yaml_ng::from_str(text).map_err(|e| BoardError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })
    }

    /// The clock polympc's designs run at on this board, MHz.
    pub fn design_mhz(&self) -> f64 {
        self.design_mhz.unwrap_or(self.clock.mhz)
    }

    /// Every built-in board.
    pub fn built_in() -> Result<Vec<Board>, BoardError> {
        BUILT_IN
            .iter()
            .map(|(file, text)| Board::from_yaml(text, &format!("bitstreams/boards/{file}")))
            .collect()
    }

    /// The board called `name`.
    pub fn find(name: &str) -> Result<Board, BoardError> {
        let all = Board::built_in()?;
        let known = all
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        all.iter()
            .find(|b| b.name == name)
            .cloned()
            .ok_or(BoardError::Unknown {
                name: name.to_string(),
                known,
            })
    }

    /// A board by name, or from a board file when `arg` names a YAML file.
    pub fn named_or_file(arg: &str) -> Result<Board, BoardError> {
        let path = std::path::Path::new(arg);
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if !yaml {
            return Board::find(arg);
        }
        let text = std::fs::read_to_string(path).map_err(|e| BoardError::Parse {
            file: arg.to_string(),
            message: e.to_string(),
        })?;
        Board::from_yaml(&text, arg)
    }

    /// nextpnr's pin constraints for a top level's ports: `clk`, `rst`, `uart_rx`,
    /// `uart_tx` and `led[i]`, each only where `ports` has it (`set_io -nowarn`).
    pub fn pcf(&self, ports: &[&str]) -> String {
        let mut s = format!(
            "# {}: pins of polympc's top level\nset_frequency clk {}\n",
            self.description, self.clock.mhz
        );
        let mut pin = |port: &str, pin: &str| {
            if ports.contains(&port) || ports.iter().any(|p| port.starts_with(&format!("{p}["))) {
                s.push_str(&format!("set_io -nowarn {port} {pin}\n"));
            }
        };
        pin("clk", &self.clock.pin);
        pin("rst", &self.reset.pin);
        pin("uart_rx", &self.uart.rx);
        pin("uart_tx", &self.uart.tx);
        for (i, l) in self.leds.iter().enumerate() {
            pin(&format!("led[{i}]"), l);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_boards_parse_and_name_their_devices() {
        for b in Board::built_in().unwrap() {
            perf_model::Device::find(&b.device).unwrap();
            assert!(b.clock.mhz > 0.0 && !b.leds.is_empty(), "{}", b.name);
        }
        let e = Board::find("nexys").unwrap_err().to_string();
        assert!(e.contains("alchitry-cu") && e.contains("icebreaker"), "{e}");
        let e = Board::from_yaml("name: x\nwires: 3\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("board file x.yaml:"), "{e}");
    }

    #[test]
    fn pin_constraints_cover_the_ports_given() {
        let b = Board::find("alchitry-cu").unwrap();
        let pcf = b.pcf(&["clk", "uart_rx", "uart_tx", "led"]);
        assert!(pcf.contains("set_frequency clk 100"));
        assert!(pcf.contains("set_io -nowarn clk P7"));
        assert!(pcf.contains("set_io -nowarn uart_tx M9"));
        assert!(pcf.contains("set_io -nowarn led[7] N14"));
        assert!(!pcf.contains(" rst "), "{pcf}");
    }
}
