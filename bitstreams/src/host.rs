//! The host driver of the board's UART link ([`hdl::host`]): requests out, replies in,
//! over a serial port to a real board or over the line model to the top level simulated
//! on Verilator, so the driver is tested without a board.

use hdl::host::{self, decode_reply, HostLink, Reply, ReplyError, Request};
use hdl::uart;
use sim::verilator::{HarnessError, VerilatedDesign};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What went wrong talking to the board.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The serial port could not be opened, set up, read or written.
    #[error("serial port {}: {message}", port.display())]
    Port {
        /// The port.
        port: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The board did not answer in time.
    #[error("no reply from the board on {link} within {waited} (got {got} of {expected} bytes)")]
    Timeout {
        /// The link.
        link: String,
        /// How long, or how many cycles.
        waited: String,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The reply does not parse.
    #[error("{link}: {source}")]
    Reply {
        /// The link.
        link: String,
        /// The cause.
        source: ReplyError,
    },
    /// A reply of another kind than the request's.
    #[error("{link}: unexpected reply {reply}")]
    Unexpected {
        /// The link.
        link: String,
        /// The reply.
        reply: String,
    },
    /// The simulated board failed.
    #[error(transparent)]
    Simulation(#[from] HarnessError),
    /// The line the simulated board sent has a broken frame.
    #[error("simulated board: {0}")]
    Framing(#[from] uart::FramingError),
}

/// A way to reach the board: sends a request's bytes, gives the reply's bytes.
pub trait Transport {
    /// Sends `request` and reads `expected` bytes, or fewer when the board stops
    /// earlier (a one-byte error status).
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError>;

    /// The link's name, for messages.
    fn describe(&self) -> String;
}

/// The driver: typed requests over a transport.
pub struct Driver<T: Transport> {
    link: T,
}

impl<T: Transport> Driver<T> {
    /// A driver over `link`.
    pub fn new(link: T) -> Self {
        Driver { link }
    }

    /// The transport.
    pub fn link(&self) -> &T {
        &self.link
    }

    /// Sends `r` and parses the reply.
    pub fn request(&mut self, r: &Request) -> Result<Reply, LinkError> {
        let op = r.op();
        let expected = 1 + host::result_len(op).unwrap_or(0);
        let bytes = self.link.exchange(&r.encode(), expected)?;
        decode_reply(op, &bytes).map_err(|source| LinkError::Reply {
            link: self.link.describe(),
            source,
        })
    }

    /// The board's identity bytes.
    pub fn identify(&mut self) -> Result<[u8; 8], LinkError> {
        match self.request(&Request::Identify)? {
            Reply::Identity(id) => Ok(id),
            other => Err(LinkError::Unexpected {
                link: self.link.describe(),
                reply: format!("{other:?}"),
            }),
        }
    }
}

/// The top level on Verilator behind the line model: every exchange replays the whole
/// session's line from reset (the simulator runs a fixed stimulus) and reads the new
/// reply off the transmitter's line.
pub struct SimulatedBoard {
    design: VerilatedDesign,
    divisor: u16,
    line: Vec<bool>,
    replies: usize,
    last_start: Option<(u64, u64)>,
}

/// Idle cycles between two requests on the simulated line.
const GAP: usize = 7;

impl SimulatedBoard {
    /// Builds (or finds built) the top level for `divisor` and `frac_bits`.
    pub fn new(divisor: u16, frac_bits: u32) -> Result<Self, LinkError> {
        let v = hdl::verilog(HostLink::new(divisor, frac_bits));
        let design = VerilatedDesign::build(&format!("host_link_d{divisor}_f{frac_bits}"), &v)?;
        Ok(SimulatedBoard {
            design,
            divisor,
            line: vec![true; GAP],
            replies: 0,
            last_start: None,
        })
    }

    /// Of the last exchange: the cycle its request's first start bit went out and the
    /// cycle its reply's first start bit came back.
    pub fn last_timing(&self) -> Option<(u64, u64)> {
        self.last_start
    }

    /// Appends raw line cycles (a broken frame, say) to the session.
    pub fn push_line(&mut self, cycles: &[bool]) {
        self.line.extend_from_slice(cycles);
    }

    /// Cycles to let run after a request: the slowest unit, the whole reply and slack.
    fn budget(&self, expected: usize) -> usize {
        let unit = perf_model::accel::units::garbled_and_serial(true).latency as usize;
        let byte = uart::tx_cycles(self.divisor) as usize;
        uart::rx_latency(self.divisor) as usize + unit + (expected + 2) * byte + 64
    }
}

impl Transport for SimulatedBoard {
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let sent = self.line.len() as u64;
        self.line.extend(uart::encode(request, self.divisor, 0));
        let mut line = self.line.clone();
        line.extend(std::iter::repeat_n(true, self.budget(expected)));
        let rx = self.design.port("rx").unwrap_or(0);
        let tx = self.design.port("tx").unwrap_or(0);
        let mut cycles = vec![vec![0u128; self.design.inputs().len()]; line.len()];
        for (c, &b) in cycles.iter_mut().zip(&line) {
            c[rx] = u128::from(b);
        }
        let out = self.design.run(&cycles, None)?;
        let tx_line: Vec<bool> = out.iter().map(|o| o[tx] == 1).collect();
        let bytes = uart::decode(&tx_line, self.divisor)?;
        let new = bytes.get(self.replies..).unwrap_or_default().to_vec();
        // The cycle the reply's first frame starts: the first falling edge after the
        // request began.
        let reply_start = (sent as usize..tx_line.len()).find(|&t| !tx_line[t]);
        self.last_start = reply_start.map(|t| (sent, t as u64));
        self.replies = bytes.len();
        // The line goes on where the reply ended, so the next request follows it.
        let end = reply_start
            .map(|t| t + new.len() * uart::tx_cycles(self.divisor) as usize)
            .unwrap_or(self.line.len());
        let pad = (end + GAP).saturating_sub(self.line.len());
        self.line.extend(std::iter::repeat_n(true, pad));
        if new.len() < expected && new.first() != Some(&host::STATUS_UNKNOWN) {
            return Err(LinkError::Timeout {
                link: self.describe(),
                waited: format!("{} cycles", self.budget(expected)),
                got: new.len(),
                expected,
            });
        }
        Ok(new)
    }

    fn describe(&self) -> String {
        format!("{} on Verilator", self.design.name())
    }
}

/// A board on a serial port (its USB-serial bridge), set to 8N1 raw mode at `baud` with
/// `stty`; reads give up after a second of silence.
pub struct SerialPort {
    path: PathBuf,
    file: std::fs::File,
}

impl SerialPort {
    /// Opens and sets up `path`.
    pub fn open(path: &Path, baud: u32) -> Result<Self, LinkError> {
        let err = |message: String| LinkError::Port {
            port: path.to_path_buf(),
            message,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| err(e.to_string()))?;
        let out = Command::new("stty")
            .arg("-F")
            .arg(path)
            .args([
                &baud.to_string(),
                "raw",
                "-echo",
                "cs8",
                "-cstopb",
                "-parenb",
                "min",
                "0",
                "time",
                "10",
            ])
            .output()
            .map_err(|e| err(format!("stty: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "stty could not set {baud} baud: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(SerialPort {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl Transport for SerialPort {
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let err = |message: String| LinkError::Port {
            port: self.path.clone(),
            message,
        };
        self.file
            .write_all(request)
            .and_then(|_| self.file.flush())
            .map_err(|e| err(e.to_string()))?;
        let mut reply = Vec::with_capacity(expected);
        let mut buf = [0u8; 64];
        while reply.len() < expected {
            let n = self.file.read(&mut buf).map_err(|e| err(e.to_string()))?;
            if n == 0 {
                return Err(LinkError::Timeout {
                    link: self.describe(),
                    waited: "1 s".into(),
                    got: reply.len(),
                    expected,
                });
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.first() == Some(&host::STATUS_UNKNOWN) {
                break;
            }
        }
        Ok(reply)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
