//! The host driver of the accelerator's link ([`hdl::accel_link`]): it loads a compiled
//! program's memories into the board, runs it and reads the activations back, over a
//! serial port to a real board or over the line model to the link simulated on
//! Verilator.

use crate::host::{LinkError, Transport};
use hdl::accel::{Instr, Memories};
use hdl::accel_link::{self, decode_reply, Reply, Request, RunReport, MAX_WORDS};
use hdl::uart;
use sim::verilator::VerilatedDesign;

/// The driver: typed requests over a transport.
pub struct AccelDriver<T: Transport> {
    link: T,
}

/// What a program's run on the board gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRun {
    /// The run's report.
    pub report: RunReport,
    /// The activation rows read back, bank by bank.
    pub act: Vec<Vec<u16>>,
    /// Requests sent, the run's included.
    pub requests: usize,
    /// Bytes sent to the board.
    pub bytes_out: usize,
}

impl<T: Transport> AccelDriver<T> {
    /// A driver over `link`.
    pub fn new(link: T) -> Self {
        AccelDriver { link }
    }

    /// The transport.
    pub fn link(&self) -> &T {
        &self.link
    }

    fn parse(&self, r: &Request, bytes: &[u8]) -> Result<Reply, LinkError> {
        decode_reply(r, bytes).map_err(|source| LinkError::Accel {
            link: self.link.describe(),
            source,
        })
    }

    /// Sends `r` and parses the reply.
    pub fn request(&mut self, r: &Request) -> Result<Reply, LinkError> {
        let bytes = self.link.exchange(&r.encode(), 1 + r.result_len())?;
        self.parse(r, &bytes)
    }

    /// Sends every request of `rs`, each after the previous reply, and parses the
    /// replies.
    pub fn session(&mut self, rs: &[Request]) -> Result<Vec<Reply>, LinkError> {
        let wire: Vec<(Vec<u8>, usize, u64)> = rs
            .iter()
            .map(|r| (r.encode(), 1 + r.result_len(), work_cycles(r)))
            .collect();
        let replies = self.link.exchange_all(&wire)?;
        rs.iter()
            .zip(&replies)
            .map(|(r, b)| self.parse(r, b))
            .collect()
    }

    /// The board's identity bytes.
    pub fn identify(&mut self) -> Result<[u8; 8], LinkError> {
        match self.request(&Request::Identify)? {
            Reply::Identity(id) => Ok(id),
            other => Err(self.unexpected(&other)),
        }
    }

    fn unexpected(&self, reply: &Reply) -> LinkError {
        LinkError::Unexpected {
            link: self.link.describe(),
            reply: format!("{reply:?}"),
        }
    }

    /// Loads `program` and the first `used` entries of each bank of `mem` (activation,
    /// aux, weight, Beaver and coefficient entries), runs it for at most `max_cycles`
    /// and reads the first `used[0]` activation rows of every bank back: one session.
    pub fn run_program(
        &mut self,
        program: &[Instr],
        mem: &Memories,
        used: [u64; 5],
        max_cycles: u32,
    ) -> Result<BoardRun, LinkError> {
        let mut rs = accel_link::load_requests(mem, program, used).map_err(|message| {
            LinkError::Program {
                link: self.link.describe(),
                message,
            }
        })?;
        rs.push(Request::Run { max_cycles });
        let rows = used[0] as usize;
        for lane in 0..accel_link::LANES {
            for first in (0..rows).step_by(MAX_WORDS) {
                rs.push(Request::Read {
                    lane: lane as u8,
                    row: first as u8,
                    count: (rows - first).min(MAX_WORDS),
                });
            }
        }
        let bytes_out = rs.iter().map(|r| r.encode().len()).sum();
        let replies = self.session(&rs)?;
        let mut report = None;
        let mut act = vec![Vec::new(); accel_link::LANES];
        for (r, reply) in rs.iter().zip(&replies) {
            match (r, reply) {
                (Request::Load { .. }, Reply::Loaded) => {}
                (Request::Run { .. }, Reply::Ran(rep)) => report = Some(*rep),
                (Request::Read { lane, .. }, Reply::Read(v)) => {
                    act[usize::from(*lane)].extend_from_slice(v);
                }
                (_, other) => return Err(self.unexpected(other)),
            }
        }
        let report = report.ok_or_else(|| LinkError::Program {
            link: self.link.describe(),
            message: "the run was not answered".into(),
        })?;
        Ok(BoardRun {
            report,
            act,
            requests: rs.len(),
            bytes_out,
        })
    }
}

/// Cycles the board may work on `r` beyond receiving it and sending the reply.
fn work_cycles(r: &Request) -> u64 {
    match r {
        Request::Run { max_cycles } => u64::from(*max_cycles) + 8,
        Request::Read { count, .. } => 2 * *count as u64 + 8,
        _ => 8,
    }
}

/// Idle cycles between two requests on the simulated line.
const GAP: usize = 7;

/// The link's top level on Verilator behind the line model. A session's requests go
/// out in one stimulus, each after the latest its previous reply can end; a lone
/// exchange replays the whole session's line from reset (the simulator runs a fixed
/// stimulus), so the memories loaded earlier are there.
pub struct SimulatedAccelBoard {
    design: VerilatedDesign,
    divisor: u16,
    line: Vec<bool>,
    replies: usize,
}

impl SimulatedAccelBoard {
    /// Builds (or finds built) the link for `divisor`, `frac_bits` and `beaver_lanes`
    /// (1 or 2).
    pub fn new(divisor: u16, frac_bits: u32, beaver_lanes: usize) -> Result<Self, LinkError> {
        let v = accel_link::verilog(divisor, frac_bits, beaver_lanes).ok_or_else(|| {
            LinkError::Program {
                link: "the simulated accelerator link".into(),
                message: format!(
                    "no link for f = {frac_bits} with {beaver_lanes} Beaver lanes (1 or 2, \
                     f below 16)"
                ),
            }
        })?;
        let name = format!("accel_link_d{divisor}_f{frac_bits}_b{beaver_lanes}");
        let design = VerilatedDesign::build(&name, &v)?;
        Ok(SimulatedAccelBoard {
            design,
            divisor,
            line: vec![true; GAP],
            replies: 0,
        })
    }

    /// The cycles the session's line has run so far.
    pub fn cycles(&self) -> usize {
        self.line.len()
    }
}

impl Transport for SimulatedAccelBoard {
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let mut r = self.exchange_all(&[(request.to_vec(), expected, 8)])?;
        Ok(r.pop().unwrap_or_default())
    }

    fn exchange_all(
        &mut self,
        requests: &[(Vec<u8>, usize, u64)],
    ) -> Result<Vec<Vec<u8>>, LinkError> {
        let byte = uart::tx_cycles(self.divisor) as usize;
        for (bytes, expected, work) in requests {
            self.line.extend(uart::encode(bytes, self.divisor, 0));
            let budget =
                uart::rx_latency(self.divisor) as usize + *work as usize + (expected + 1) * byte;
            self.line.extend(std::iter::repeat_n(true, budget + GAP));
        }
        let rx = self.design.port("rx").unwrap_or(0);
        let tx = self.design.port("tx").unwrap_or(0);
        let inputs = self.design.inputs().len();
        let cycles: Vec<Vec<u128>> = self
            .line
            .iter()
            .map(|&b| {
                let mut c = vec![0u128; inputs];
                c[rx] = u128::from(b);
                c
            })
            .collect();
        let out = self.design.run(&cycles, None)?;
        let tx_line: Vec<bool> = out.iter().map(|o| o[tx] == 1).collect();
        let bytes = uart::decode(&tx_line, self.divisor)?;
        let mut new = bytes.get(self.replies..).unwrap_or_default();
        self.replies = bytes.len();
        let mut replies = Vec::with_capacity(requests.len());
        for (_, expected, _) in requests {
            let n = match new.first() {
                Some(&(accel_link::STATUS_BAD | accel_link::STATUS_UNKNOWN)) => 1,
                _ => *expected,
            };
            if new.len() < n {
                return Err(LinkError::Timeout {
                    link: self.describe(),
                    waited: format!("{} cycles", self.line.len()),
                    got: new.len(),
                    expected: n,
                });
            }
            replies.push(new[..n].to_vec());
            new = &new[n..];
        }
        Ok(replies)
    }

    fn describe(&self) -> String {
        format!("{} on Verilator", self.design.name())
    }
}
