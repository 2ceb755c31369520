//! The host driver of the accelerator's link ([`hdl::accel_link`]): it loads a compiled
//! program's memories into the board, runs it and reads the activations back, over a
//! serial port to a real board, over the line model to the UART link simulated on
//! Verilator, or over AXI-Stream to the full-size link simulated on Verilator.

use crate::host::{run_line, split_replies, LinkError, Transport};
use hdl::accel::{self, Instr, Memories};
use hdl::accel_link::{self, decode_reply_in, Format, Reply, Request, RunReport};
use hdl::uart;
use sim::verilator::VerilatedDesign;

/// The driver: typed requests over a transport, in the link's wire format.
pub struct AccelDriver<T: Transport> {
    link: T,
    format: Format,
}

/// What a program's run on the board gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRun {
    /// The run's report.
    pub report: RunReport,
    /// The activation rows read back, bank by bank.
    pub act: Vec<Vec<u64>>,
    /// Requests sent, the run's included.
    pub requests: usize,
    /// Bytes sent to the board.
    pub bytes_out: usize,
}

impl<T: Transport> AccelDriver<T> {
    /// A driver over `link` to the small link ([`Format::SMALL`]).
    pub fn new(link: T) -> Self {
        Self::with_format(link, Format::SMALL)
    }

    /// A driver over `link` to a link in wire format `format`.
    pub fn with_format(link: T, format: Format) -> Self {
        AccelDriver { link, format }
    }

    /// The transport.
    pub fn link(&self) -> &T {
        &self.link
    }

    fn parse(&self, r: &Request, bytes: &[u8]) -> Result<Reply, LinkError> {
        decode_reply_in(r, &self.format, bytes).map_err(|source| LinkError::Reply {
            link: self.link.describe(),
            source,
        })
    }

    /// Sends `r` and parses the reply.
    pub fn request(&mut self, r: &Request) -> Result<Reply, LinkError> {
        let fmt = &self.format;
        let bytes = self
            .link
            .exchange(&r.encode_in(fmt), 1 + r.result_len_in(fmt))?;
        self.parse(r, &bytes)
    }

    /// Sends every request of `rs`, each after the previous reply, and parses the
    /// replies.
    pub fn session(&mut self, rs: &[Request]) -> Result<Vec<Reply>, LinkError> {
        let wire: Vec<(Vec<u8>, usize, u64)> = rs
            .iter()
            .map(|r| {
                let f = &self.format;
                (r.encode_in(f), 1 + r.result_len_in(f), work_cycles(r))
            })
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
    /// `mem` must be sized for the link's top level (its format).
    pub fn run_program(
        &mut self,
        program: &[Instr],
        mem: &Memories,
        used: [u64; 5],
        max_cycles: u32,
    ) -> Result<BoardRun, LinkError> {
        let program_err = |message| LinkError::Program {
            link: self.link.describe(),
            message,
        };
        let fmt = Format::of(mem.size, mem.ring_bits, mem.lanes);
        if fmt != self.format {
            return Err(program_err(format!(
                "the memories are sized for a link of format {fmt:?}, the board's is {:?}",
                self.format
            )));
        }
        let mut rs = accel_link::load_requests(mem, program, used).map_err(program_err)?;
        rs.push(Request::Run { max_cycles });
        let rows = used[0] as usize;
        let max = fmt.max_words();
        for lane in 0..fmt.lanes {
            for first in (0..rows).step_by(max) {
                rs.push(Request::Read {
                    lane: lane as u8,
                    row: first as u16,
                    count: (rows - first).min(max),
                });
            }
        }
        let bytes_out = rs.iter().map(|r| r.encode_in(&fmt).len()).sum();
        let replies = self.session(&rs)?;
        let mut report = None;
        let mut act = vec![Vec::new(); fmt.lanes];
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
    timing: Vec<(u64, Option<u64>)>,
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
            timing: Vec::new(),
        })
    }

    /// The cycles the session's line has run so far.
    pub fn cycles(&self) -> usize {
        self.line.len()
    }

    /// Of each request of the last exchange: the cycle its first start bit went out
    /// and the cycle its reply's first start bit came back, if one did.
    pub fn last_timing(&self) -> &[(u64, Option<u64>)] {
        &self.timing
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
        let mut sent = Vec::with_capacity(requests.len());
        for (bytes, expected, work) in requests {
            sent.push(self.line.len());
            self.line.extend(uart::encode(bytes, self.divisor, 0));
            let budget =
                uart::rx_latency(self.divisor) as usize + *work as usize + (expected + 1) * byte;
            self.line.extend(std::iter::repeat_n(true, budget + GAP));
        }
        let (tx_line, bytes) = run_line(&self.design, &self.line, self.divisor)?;
        // A reply's first start bit: the first falling edge of `tx` after its request
        // began (each reply ends before the next request is sent).
        self.timing = sent
            .iter()
            .map(|&s| {
                let start = (s..tx_line.len()).find(|&t| !tx_line[t]);
                (s as u64, start.map(|t| t as u64))
            })
            .collect();
        let new = bytes.get(self.replies..).unwrap_or_default();
        self.replies = bytes.len();
        let waited = format!("{} cycles", self.line.len());
        let alone = [accel_link::STATUS_BAD, accel_link::STATUS_UNKNOWN];
        split_replies(new, requests, &alone, || (self.describe(), waited))
    }

    fn describe(&self) -> String {
        format!("{} on Verilator", self.design.name())
    }
}

/// The AXI-Stream link (`AccelAxisLink`, [`accel_link::axis_verilog`]) on Verilator:
/// request bytes go in on `s_axis_*`, one every other cycle, and replies come out on
/// `m_axis_*`, split at `tlast`: taken every cycle, or with [`stall`](Self::stall)
/// `k` not on every `k`-th cycle (`m_axis_tready` low). Every byte offered must find
/// `tready` high (else [`LinkError::Dropped`]). As [`SimulatedAccelBoard`], a session runs as one
/// stimulus, each request after the latest its previous reply can end, and a lone
/// exchange replays the session from reset.
pub struct SimulatedAxisBoard {
    design: VerilatedDesign,
    format: Format,
    /// Each cycle's `(tdata, tvalid)` on the request stream.
    stream: Vec<(u8, bool)>,
    replies: usize,
    stall: usize,
}

impl SimulatedAxisBoard {
    /// Builds (or finds built) the AXI-Stream link around the accelerator of
    /// [`accel::verilog`]'s arguments.
    pub fn new(
        ring_bits: u32,
        frac_bits: u32,
        lanes: u32,
        beaver_lanes: u32,
        size: accel::Size,
    ) -> Result<Self, LinkError> {
        let v = accel_link::axis_verilog(ring_bits, frac_bits, lanes, beaver_lanes, size)
            .ok_or_else(|| LinkError::Program {
                link: "the simulated AXI-Stream link".into(),
                message: format!(
                    "no {size:?}-size top level for the {ring_bits}-bit ring, f = {frac_bits}, \
                     {lanes} MAC lanes and {beaver_lanes} Beaver lanes"
                ),
            })?;
        let name = format!(
            "accel_axis_l{ring_bits}_f{frac_bits}_m{lanes}_b{beaver_lanes}{}",
            size.suffix()
        );
        let design = VerilatedDesign::build(&name, &v)?;
        Ok(SimulatedAxisBoard {
            design,
            format: Format::of(size, ring_bits, lanes as usize),
            stream: vec![(0, false); GAP],
            replies: 0,
            stall: 0,
        })
    }

    /// Holds `m_axis_tready` low every `k`-th cycle of the session (0: never), so the
    /// link must hold each reply byte until it is taken.
    pub fn stall(mut self, k: usize) -> Self {
        self.stall = k;
        self
    }

    /// The link's wire format.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl Transport for SimulatedAxisBoard {
    fn exchange(&mut self, request: &[u8], expected: usize) -> Result<Vec<u8>, LinkError> {
        let mut r = self.exchange_all(&[(request.to_vec(), expected, 8)])?;
        Ok(r.pop().unwrap_or_default())
    }

    fn exchange_all(
        &mut self,
        requests: &[(Vec<u8>, usize, u64)],
    ) -> Result<Vec<Vec<u8>>, LinkError> {
        for (bytes, expected, work) in requests {
            for &b in bytes {
                self.stream.extend([(b, true), (0, false)]);
            }
            // A reply byte a cycle (two with stalls), and a read's two cycles before
            // each element.
            let budget = *work as usize + (2 + usize::from(self.stall > 0)) * expected + GAP;
            self.stream.extend(std::iter::repeat_n((0, false), budget));
        }
        let port = |name: &str| self.design.port(name).unwrap_or(0);
        let (tdata, tvalid, m_ready) = (
            port("s_axis_tdata"),
            port("s_axis_tvalid"),
            port("m_axis_tready"),
        );
        let (s_ready, m_data, m_valid, m_last) = (
            port("s_axis_tready"),
            port("m_axis_tdata"),
            port("m_axis_tvalid"),
            port("m_axis_tlast"),
        );
        let inputs = self.design.inputs().len();
        let ready = |t: usize| self.stall == 0 || (t + 1) % self.stall != 0;
        let cycles: Vec<Vec<u128>> = self
            .stream
            .iter()
            .enumerate()
            .map(|(t, &(b, v))| {
                let mut c = vec![0u128; inputs];
                c[tdata] = u128::from(b);
                c[tvalid] = u128::from(v);
                c[m_ready] = u128::from(ready(t));
                c
            })
            .collect();
        let out = self.design.run(&cycles, None)?;
        let mut offered = 0;
        let mut replies: Vec<Vec<u8>> = vec![Vec::new()];
        for (t, (o, &(_, valid))) in out.iter().zip(&self.stream).enumerate() {
            if valid {
                if o[s_ready] != 1 {
                    return Err(LinkError::Dropped {
                        link: self.describe(),
                        byte: offered,
                        cycle: t,
                    });
                }
                offered += 1;
            }
            if o[m_valid] == 1 && ready(t) {
                let last = replies.len() - 1;
                replies[last].push(o[m_data] as u8);
                if o[m_last] == 1 {
                    replies.push(Vec::new());
                }
            }
        }
        let partial = replies.pop().unwrap_or_default();
        let new: Vec<Vec<u8>> = replies.into_iter().skip(self.replies).collect();
        self.replies += new.len();
        if new.len() < requests.len() {
            let (_, expected, _) = &requests[new.len()];
            return Err(LinkError::Timeout {
                link: self.describe(),
                waited: format!("{} cycles", self.stream.len()),
                got: partial.len(),
                expected: *expected,
            });
        }
        Ok(new)
    }

    fn describe(&self) -> String {
        format!("{} on Verilator", self.design.name())
    }
}

/// What a self-test of a board running the accelerator's link found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccelSelfTest {
    /// The identify reply.
    pub identity: [u8; 8],
    /// The program's instructions (the array's and the Beaver lanes').
    pub instructions: usize,
    /// Activation rows read back and compared, over both banks.
    pub rows: usize,
    /// The board's cycle count when it answered the run.
    pub cycles: u32,
    /// The golden model's last write.
    pub last_write: u64,
    /// Instructions, writes, `POLY`s and Beaver writes the board counted.
    pub counts: [u16; 4],
    /// Requests of the session, and bytes sent.
    pub requests: usize,
    /// Bytes sent to the board.
    pub bytes_out: usize,
    /// Wall-clock seconds of the session.
    pub seconds: f64,
    /// What differs from the golden model, described.
    pub mismatches: Vec<String>,
}

impl AccelSelfTest {
    /// Whether the board agreed with the golden model everywhere.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Activation rows, aux rows, weight words, Beaver rows and coefficient words the
/// self-test's program uses.
pub const SELF_TEST_USED: [u64; 5] = [90, 60, 40, 30, 8];

/// The self-test's program on the small link's top level: [`self_test_program_on`] the
/// 16-bit ring with small memories.
pub fn self_test_program(frac_bits: u32, beaver_lanes: usize, seed: u64) -> (Vec<Instr>, Memories) {
    self_test_program_on(
        accel_link::RING_BITS,
        accel::Size::Small,
        frac_bits,
        beaver_lanes,
        seed,
    )
}

/// The self-test's program on 2 MAC lanes and `beaver_lanes` Beaver lanes, on the
/// `ring_bits`-bit ring truncating by `frac_bits`, with random data from `seed`: a
/// dense layer (5 rows of 7, the last group half full), a `POLY` of 20 elements with
/// per-channel coefficients beside an `ADD` on the array, then the re-share's `ADD`
/// from the Beaver results. Gives the program and its memories, of `size`.
pub fn self_test_program_on(
    ring_bits: u32,
    size: accel::Size,
    frac_bits: u32,
    beaver_lanes: usize,
    seed: u64,
) -> (Vec<Instr>, Memories) {
    use hdl::accel::{CoefWalk, Op};
    let l = ring_bits;
    let mut rng = crate::host::SplitMix(seed);
    let mut mem = Memories::new(accel_link::LANES, beaver_lanes).ring(l, frac_bits);
    let ring = hdl::ring::mask(l);
    let mut vec = |n: usize| (0..n).map(|_| rng.next() & ring).collect::<Vec<u64>>();
    let (x, wd, masks) = (vec(7), vec(5 * 7), vec(5));
    Memories::put(&mut mem.act, 0, &x);
    Memories::put(&mut mem.aux, 0, &masks);
    mem.put_weights(0, &wd, 7);
    let (xp, a, c, d, recv) = (vec(20), vec(20), vec(20), vec(20), vec(20));
    Memories::put(&mut mem.act, 20, &xp);
    for (bank, v) in mem.pairs.iter_mut().zip([&a, &c, &d]) {
        Memories::put(bank, 5, v);
    }
    Memories::put(&mut mem.aux, 30, &recv);
    let (p, q) = (vec(6), vec(6));
    Memories::put(&mut mem.act, 50, &p);
    Memories::put(&mut mem.aux, 50, &q);
    // Channels last, 4 channels: lane j's word 3 + k holds channel 2k + j.
    let walk = CoefWalk {
        base: 3,
        rep: 1,
        period: 2,
    };
    let (w2, w1, b) = (vec(4), vec(4), vec(4));
    for ch in 0..4 {
        for (bank, v) in mem.coef.iter_mut().zip([&w2, &w1, &b]) {
            bank[ch % 2][3 + ch / 2] = v[ch];
        }
    }
    let instr = |start: u32, op: Op, count: u16, depth: u16, a: u16, b: u16, o: u16| Instr {
        start,
        op,
        count,
        depth,
        a,
        b,
        o,
        w: 0,
        raw: 0,
    };
    // The dense layer: 3 groups of 8 cycles from cycle 3.
    let t0 = 3 + 3 * 8 + 1;
    let ready = t0 + 20u32.div_ceil(beaver_lanes as u32) + accel::beaver_delay(l) as u32;
    let prog = vec![
        instr(3, Op::Dot, 5, 7, 0, 0, 10),
        Instr::setup(walk.setup(0)),
        Instr::poly(t0, 20, 20, 5),
        instr(t0, Op::Add, 6, 0, 50, 50, 60),
        instr(ready, Op::Add, 20, 1, 5, 30, 70),
    ];
    (prog, mem.sized(size))
}

/// Identifies the board, runs [`self_test_program_on`] its ring and memory size, with
/// its fractional bits and Beaver lanes, through the link, and compares every
/// activation row read back with the golden model, the run's flags, and its cycle count
/// with the golden model's last write. The board must have 2 MAC lanes and speak the
/// driver's wire format.
pub fn accel_self_test<T: Transport>(
    d: &mut AccelDriver<T>,
    seed: u64,
) -> Result<AccelSelfTest, LinkError> {
    let start = std::time::Instant::now();
    let identity = d.identify()?;
    let mut t = AccelSelfTest {
        identity,
        ..Default::default()
    };
    let (f, bl) = (u32::from(identity[5]), usize::from(identity[7]));
    let fmt = d.format;
    let ours = Format::from_identity(&identity) == Some(fmt)
        && fmt.lanes == accel_link::LANES
        && matches!(bl, 1 | 2);
    let Some(size) = fmt.size().filter(|_| ours) else {
        t.mismatches.push(format!(
            "identify: {identity:02x?} is not a polympc accelerator link of protocol version \
             {} ({}-bit ring, {} MAC lanes, 1 or 2 Beaver lanes)",
            fmt.addr_bytes,
            fmt.ring_bits,
            accel_link::LANES
        ));
        return Ok(t);
    };
    let (prog, mem) = self_test_program_on(fmt.ring_bits, size, f, bl, seed);
    let mut golden = mem.clone();
    let link = d.link.describe();
    let program_err = |e: accel::AccelError| LinkError::Program {
        link: link.clone(),
        message: e.to_string(),
    };
    let times =
        accel::check(&prog, accel_link::LANES, bl, fmt.ring_bits, mem.size).map_err(program_err)?;
    accel::run(&prog, &mut golden).map_err(program_err)?;
    t.last_write = times.iter().map(|w| w.2).max().unwrap_or(0);
    t.instructions = prog.len();
    let limit = (t.last_write + 1000) as u32;
    let run = d.run_program(&prog, &mem, SELF_TEST_USED, limit)?;
    let r = run.report;
    (t.cycles, t.requests, t.bytes_out) = (r.now, run.requests, run.bytes_out);
    t.counts = [r.issues, r.writes, r.beaver_issues, r.beaver_writes];
    if !r.halted || r.late || r.fault {
        t.mismatches.push(format!(
            "run: halted {}, late {}, fault {} (the model: halted, neither late nor faulted)",
            r.halted, r.late, r.fault
        ));
    }
    let answer = t.last_write + accel_link::drain(fmt.ring_bits);
    if u64::from(r.now) <= t.last_write || u64::from(r.now) > answer + 2 {
        t.mismatches.push(format!(
            "run: answered at cycle {}, the model's last write is at {} (answer by {})",
            r.now,
            t.last_write,
            answer + 2
        ));
    }
    for (j, bank) in run.act.iter().enumerate() {
        for (row, &got) in bank.iter().enumerate() {
            t.rows += 1;
            let want = golden.act[j].get(row).copied().unwrap_or(0);
            if got != want && t.mismatches.len() < 16 {
                t.mismatches.push(format!(
                    "bank {j} row {row}: the board gave {got:#06x}, the model {want:#06x}"
                ));
            }
        }
    }
    t.seconds = start.elapsed().as_secs_f64();
    Ok(t)
}
