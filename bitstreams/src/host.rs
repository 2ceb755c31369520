//! The host driver of the board's UART link ([`hdl::host`]): requests out, replies in,
//! over a serial port to a real board or over the line model to the top level simulated
//! on Verilator, so the driver is tested without a board.

use hdl::beaver_mul::MulInput;
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
    /// A program the accelerator link cannot take.
    #[error("{link}: {message}")]
    Program {
        /// The link.
        link: String,
        /// What is wrong.
        message: String,
    },
    /// A byte stream's handshake was broken: the board was not ready for a byte.
    #[error("{link}: the board did not take request byte {byte} at cycle {cycle} (`tready` low)")]
    Dropped {
        /// The link.
        link: String,
        /// The byte's index in the session.
        byte: usize,
        /// The cycle it was offered.
        cycle: usize,
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

    /// Sends each request in turn, each after the previous reply, and gives the
    /// replies: `(bytes, reply bytes expected, cycles the board may work on it)`.
    fn exchange_all(
        &mut self,
        requests: &[(Vec<u8>, usize, u64)],
    ) -> Result<Vec<Vec<u8>>, LinkError> {
        requests
            .iter()
            .map(|(bytes, expected, _)| self.exchange(bytes, *expected))
            .collect()
    }
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

    /// Sends every request of `rs`, each after the previous reply, and parses the
    /// replies: one stimulus on a simulated board.
    pub fn session(&mut self, rs: &[Request]) -> Result<Vec<Reply>, LinkError> {
        let wire: Vec<(Vec<u8>, usize, u64)> = rs
            .iter()
            .map(|r| (r.encode(), 1 + host::result_len(r.op()).unwrap_or(0), 0))
            .collect();
        let replies = self.link.exchange_all(&wire)?;
        rs.iter()
            .zip(&replies)
            .map(|(r, b)| {
                decode_reply(r.op(), b).map_err(|source| LinkError::Reply {
                    link: self.link.describe(),
                    source,
                })
            })
            .collect()
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
/// reply off the transmitter's line. A batch of requests ([`Transport::exchange_all`])
/// goes out in one stimulus, each after the latest its previous reply can end.
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

/// Splits the bytes a batch of `requests` brought back into each request's reply: its
/// expected bytes, or the lone status byte when that is one of `alone`. Too few bytes
/// are a timeout on the link and after the wait `at` names.
pub(crate) fn split_replies(
    mut new: &[u8],
    requests: &[(Vec<u8>, usize, u64)],
    alone: &[u8],
    at: impl FnOnce() -> (String, String),
) -> Result<Vec<Vec<u8>>, LinkError> {
    let mut replies = Vec::with_capacity(requests.len());
    for (_, expected, _) in requests {
        let n = match new.first() {
            Some(b) if alone.contains(b) => 1,
            _ => *expected,
        };
        if new.len() < n {
            let (link, waited) = at();
            return Err(LinkError::Timeout {
                link,
                waited,
                got: new.len(),
                expected: n,
            });
        }
        replies.push(new[..n].to_vec());
        new = &new[n..];
    }
    Ok(replies)
}

/// Runs a top level with the UART ports `rx` and `tx` on Verilator with `line` on
/// `rx`, a cycle a value; gives the `tx` line and the bytes decoded from it.
pub(crate) fn run_line(
    design: &VerilatedDesign,
    line: &[bool],
    divisor: u16,
) -> Result<(Vec<bool>, Vec<u8>), LinkError> {
    let rx = design.port("rx").unwrap_or(0);
    let tx = design.port("tx").unwrap_or(0);
    let inputs = design.inputs().len();
    let cycles: Vec<Vec<u128>> = line
        .iter()
        .map(|&b| {
            let mut c = vec![0u128; inputs];
            c[rx] = u128::from(b);
            c
        })
        .collect();
    let out = design.run(&cycles, None)?;
    let tx_line: Vec<bool> = out.iter().map(|o| o[tx] == 1).collect();
    let bytes = uart::decode(&tx_line, divisor)?;
    Ok((tx_line, bytes))
}

impl Transport for SimulatedBoard {
    fn exchange_all(
        &mut self,
        requests: &[(Vec<u8>, usize, u64)],
    ) -> Result<Vec<Vec<u8>>, LinkError> {
        let mut sent = Vec::with_capacity(requests.len());
        for (bytes, expected, _) in requests {
            sent.push(self.line.len());
            self.line.extend(uart::encode(bytes, self.divisor, 0));
            let budget = self.budget(*expected);
            self.line.extend(std::iter::repeat_n(true, budget + GAP));
        }
        let (tx_line, bytes) = run_line(&self.design, &self.line, self.divisor)?;
        if let Some(&s) = sent.last() {
            let start = (s..tx_line.len()).find(|&t| !tx_line[t]);
            self.last_start = start.map(|t| (s as u64, t as u64));
        }
        let new = bytes.get(self.replies..).unwrap_or_default();
        self.replies = bytes.len();
        let waited = format!("{} cycles", self.line.len());
        split_replies(new, requests, &[host::STATUS_UNKNOWN], || {
            (self.describe(), waited)
        })
    }

    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let sent = self.line.len() as u64;
        self.line.extend(uart::encode(request, self.divisor, 0));
        let budget = self.budget(expected);
        let line: Vec<bool> = self
            .line
            .iter()
            .copied()
            .chain(std::iter::repeat_n(true, budget))
            .collect();
        let (tx_line, bytes) = run_line(&self.design, &line, self.divisor)?;
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
                waited: format!("{budget} cycles"),
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
            // A one-byte refusal: an unknown opcode, or the accelerator link's bad
            // memory or lane.
            if matches!(
                reply.first(),
                Some(&(host::STATUS_UNKNOWN | hdl::accel_link::STATUS_BAD))
            ) {
                break;
            }
        }
        Ok(reply)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// What a self-test of a board found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SelfTest {
    /// The identify reply.
    pub identity: [u8; 8],
    /// Requests sent, by kind: identify, Beaver multiply, garble, evaluate.
    pub requests: [usize; 4],
    /// Replies that differ from the golden model, described.
    pub mismatches: Vec<String>,
    /// Wall-clock seconds per request kind, summed.
    pub seconds: [f64; 4],
}

impl SelfTest {
    /// No reply differed.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn label(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

/// Runs `n` Beaver multiplications (each party's share) and `n` garbled AND gates (each
/// garbled, then evaluated on all four input pairs, the output decoded) on the board,
/// every reply against the golden model of a board with the identity it reports.
pub fn self_test<T: Transport>(
    d: &mut Driver<T>,
    n: usize,
    seed: u64,
) -> Result<SelfTest, LinkError> {
    let mut t = SelfTest::default();
    let mut rng = SplitMix(seed);
    let timed = |d: &mut Driver<T>, r: &Request, kind: usize, t: &mut SelfTest| {
        let start = std::time::Instant::now();
        let reply = d.request(r);
        t.seconds[kind] += start.elapsed().as_secs_f64();
        t.requests[kind] += 1;
        reply
    };
    let id = timed(d, &Request::Identify, 0, &mut t)?;
    let Reply::Identity(identity) = id else {
        return Err(LinkError::Unexpected {
            link: d.link.describe(),
            reply: format!("{id:?}"),
        });
    };
    t.identity = identity;
    if identity[..3] != *b"PMC" || identity[3] != host::PROTOCOL_VERSION {
        t.mismatches.push(format!(
            "identify: {identity:02x?} is not a polympc host link of protocol version {}",
            host::PROTOCOL_VERSION
        ));
        return Ok(t);
    }
    let frac_bits = u32::from(identity[5]);
    let divisor = u16::from_le_bytes([identity[6], identity[7]]);
    // One session a kind: the multiplications, the garblings, then the evaluations of
    // the garbled tables; each reply against the golden model.
    let batch = |d: &mut Driver<T>, rs: &[Request], kind: usize, t: &mut SelfTest| {
        let start = std::time::Instant::now();
        let replies = d.session(rs)?;
        t.seconds[kind] += start.elapsed().as_secs_f64();
        t.requests[kind] += rs.len();
        for (r, got) in rs.iter().zip(&replies) {
            let want = r.golden(frac_bits, divisor);
            if *got != want {
                t.mismatches
                    .push(format!("{r:?}: the board gave {got:?}, the model {want:?}"));
            }
        }
        Ok::<Vec<Reply>, LinkError>(replies)
    };
    let mut muls = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let mut m = || rng.next() & 0xffff;
        let input = MulInput {
            a: m(),
            b: m(),
            c: m(),
            d: m(),
            e: m(),
            truncate: m() & 1 == 1,
        };
        muls.extend((0..2).map(|party| Request::Mul { party, input }));
    }
    batch(d, &muls, 1, &mut t)?;
    let gates: Vec<(u128, u128, u128, u32)> = (0..n)
        .map(|k| (rng.label() | 1, rng.label(), rng.label(), k as u32))
        .collect();
    let garbles: Vec<Request> = gates
        .iter()
        .map(|&(delta, a0, b0, g)| Request::Garble { delta, a0, b0, g })
        .collect();
    let tables = batch(d, &garbles, 2, &mut t)?;
    let mut evals = Vec::new();
    let mut wants = Vec::new();
    for (&(delta, a0, b0, g), table) in gates.iter().zip(&tables) {
        let Reply::Garbled { tg, te, c0 } = *table else {
            continue;
        };
        for (x, y) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = if x { a0 ^ delta } else { a0 };
            let b = if y { b0 ^ delta } else { b0 };
            evals.push(Request::Evaluate { a, b, tg, te, g });
            wants.push((g, x, y, if x & y { c0 ^ delta } else { c0 }));
        }
    }
    let outs = batch(d, &evals, 3, &mut t)?;
    for ((g, x, y, want), got) in wants.into_iter().zip(outs) {
        if got != Reply::Evaluated(want) {
            t.mismatches.push(format!(
                "gate {g}: {x} AND {y} does not decode to {} on the board's labels",
                x & y
            ));
        }
    }
    Ok(t)
}
