//! The only way the parties talk: framed messages over a byte stream (in-process pipes
//! for tests, TCP between processes), with a limit on message size, a timeout on every
//! read, and a log of every message for the traffic table.
//!
//! A frame is a 12-byte header (payload length `u32`, node `u32`, phase `u8`, a zero
//! byte, depth `u16`, little-endian) and the payload. The payload is what the protocol
//! sends and what the traffic table counts; headers are counted apart.
//!
//! Rounds are measured, not declared: every message carries its depth within its node
//! and phase, one more than the deepest message of that node and phase its sender had
//! received when it sent it. A node's rounds in a phase are the largest depth seen:
//! messages the parties send without waiting for each other share a round.

use super::SimError;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

/// Bytes of a frame header.
pub const HEADER_BYTES: usize = 12;

/// Phases of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The handshake: versions and spec hashes.
    Setup,
    /// Preprocessing, independent of the input.
    Offline,
    /// The inference itself.
    Online,
    /// Revealing the output to the client.
    Output,
}

impl Phase {
    fn code(self) -> u8 {
        match self {
            Phase::Setup => 0,
            Phase::Offline => 1,
            Phase::Online => 2,
            Phase::Output => 3,
        }
    }

    fn from_code(c: u8) -> Option<Phase> {
        [Phase::Setup, Phase::Offline, Phase::Online, Phase::Output]
            .into_iter()
            .find(|p| p.code() == c)
    }

    /// Name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Offline => "offline",
            Phase::Online => "online",
            Phase::Output => "output",
        }
    }
}

/// Which party a channel end belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Holds the weights, garbles.
    Server,
    /// Holds the input, evaluates.
    Client,
}

impl Role {
    /// The other party.
    pub fn peer(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }

    /// Name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// One message as a party saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    /// Graph node (`u32::MAX` for the handshake and the output).
    pub node: u32,
    /// Phase.
    pub phase: Phase,
    /// Whether this party sent it (else received it).
    pub sent: bool,
    /// Payload bytes.
    pub bytes: u64,
    /// Its depth within its node and phase.
    pub depth: u16,
}

/// A party's end of the connection.
pub struct Channel {
    role: Role,
    reader: Box<dyn Read + Send>,
    writer: Box<dyn Write + Send>,
    /// Largest payload accepted from the peer.
    pub max_message: usize,
    node: u32,
    phase: Phase,
    seen: u16,
    /// Every message sent and received, in order.
    pub log: Vec<Record>,
    /// Keep the payloads of received messages too (for tests of what a party sees).
    pub record_payloads: bool,
    /// The received payloads, with their phase and node, when recorded.
    pub payloads: Vec<(Phase, u32, Vec<u8>)>,
    /// The TCP writer thread, joined on drop so that what was sent reaches the peer
    /// even when this party stops right after (a refusal in the handshake).
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Closing the queue ends the writer thread once it has written the rest (or
        // its socket's write timeout has passed).
        self.writer = Box::new(io::sink());
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("role", &self.role)
            .field("messages", &self.log.len())
            .finish()
    }
}

/// The default limit on one message: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

fn io_error(role: Role, what: &str, e: io::Error) -> SimError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SimError::Timeout {
            role: role.name(),
            waiting_for: what.to_string(),
        },
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => SimError::Disconnected {
            role: role.name(),
            during: what.to_string(),
        },
        _ => SimError::Io {
            role: role.name(),
            message: format!("{what}: {e}"),
        },
    }
}

impl Channel {
    /// A channel end over any byte stream.
    pub fn new(role: Role, reader: Box<dyn Read + Send>, writer: Box<dyn Write + Send>) -> Self {
        Channel {
            role,
            reader,
            writer,
            max_message: DEFAULT_MAX_MESSAGE,
            node: u32::MAX,
            phase: Phase::Setup,
            seen: 0,
            log: Vec::new(),
            record_payloads: false,
            payloads: Vec::new(),
            flusher: None,
        }
    }

    /// Two connected ends in this process; reads time out after `timeout`.
    pub fn pair(timeout: Duration) -> (Channel, Channel) {
        let (a_tx, a_rx) = mpsc::channel();
        let (b_tx, b_rx) = mpsc::channel();
        let server = Channel::new(
            Role::Server,
            Box::new(PipeReader::new(b_rx, timeout)),
            Box::new(PipeWriter(a_tx)),
        );
        let client = Channel::new(
            Role::Client,
            Box::new(PipeReader::new(a_rx, timeout)),
            Box::new(PipeWriter(b_tx)),
        );
        (server, client)
    }

    /// A channel end over a TCP connection; reads time out after `timeout`. Writes go
    /// through a thread, so a party never blocks on a send while its peer sends too.
    pub fn tcp(role: Role, stream: TcpStream, timeout: Duration) -> Result<Channel, SimError> {
        let io = |e: io::Error| SimError::Io {
            role: role.name(),
            message: format!("setting up the connection: {e}"),
        };
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let mut out = stream.try_clone().map_err(io)?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let flusher = std::thread::spawn(move || {
            for chunk in rx {
                if out.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = out.shutdown(std::net::Shutdown::Write);
        });
        let mut ch = Channel::new(role, Box::new(stream), Box::new(PipeWriter(tx)));
        ch.flusher = Some(flusher);
        Ok(ch)
    }

    /// This end's party.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Starts the messages of `node` in `phase`.
    pub fn begin(&mut self, node: u32, phase: Phase) {
        self.node = node;
        self.phase = phase;
        self.seen = 0;
    }

    /// Sends one message of the current node and phase.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), SimError> {
        let depth = self.seen + 1;
        let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&self.node.to_le_bytes());
        frame.extend_from_slice(&[self.phase.code(), 0]);
        frame.extend_from_slice(&depth.to_le_bytes());
        frame.extend_from_slice(payload);
        self.writer
            .write_all(&frame)
            .and_then(|()| self.writer.flush())
            .map_err(|e| io_error(self.role, "sending", e))?;
        self.log.push(Record {
            node: self.node,
            phase: self.phase,
            sent: true,
            bytes: payload.len() as u64,
            depth,
        });
        Ok(())
    }

    /// Receives the next message, which must belong to the current node and phase and
    /// have `len` bytes.
    pub fn recv(&mut self, len: usize) -> Result<Vec<u8>, SimError> {
        let what = || format!("node {} ({})", self.node, self.phase.name());
        let mut head = [0u8; HEADER_BYTES];
        self.reader
            .read_exact(&mut head)
            .map_err(|e| io_error(self.role, &format!("a message of {}", what()), e))?;
        let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let node = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let phase = Phase::from_code(head[8]);
        let depth = u16::from_le_bytes([head[10], head[11]]);
        let peer = self.role.peer().name();
        if size > self.max_message {
            return Err(SimError::Protocol(format!(
                "the {peer} sent a message of {size} bytes, over the limit of {} bytes",
                self.max_message
            )));
        }
        if phase != Some(self.phase) || node != self.node {
            return Err(SimError::Protocol(format!(
                "out of step: expected a message of {}, the {peer} sent one of node {node} ({})",
                what(),
                phase.map_or("an unknown phase", Phase::name)
            )));
        }
        if size != len {
            return Err(SimError::Protocol(format!(
                "the {peer}'s message of {} has {size} bytes; the protocol expects {len}",
                what()
            )));
        }
        let mut payload = vec![0u8; size];
        let mut got = 0;
        while got < size {
            match self.reader.read(&mut payload[got..]) {
                Ok(0) => {
                    return Err(SimError::Protocol(format!(
                        "the {peer}'s message of {} was truncated: {got} of {size} bytes, then the connection closed",
                        what()
                    )))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(self.role, &what(), e)),
            }
        }
        self.seen = self.seen.max(depth);
        if self.record_payloads {
            self.payloads.push((self.phase, node, payload.clone()));
        }
        self.log.push(Record {
            node,
            phase: self.phase,
            sent: false,
            bytes: size as u64,
            depth,
        });
        Ok(payload)
    }

    /// The bytes received from the peer in `phase` (all nodes when `node` is `None`),
    /// concatenated.
    pub fn received(&self, phase: Phase, node: Option<u32>) -> Vec<u8> {
        self.payloads
            .iter()
            .filter(|(p, n, _)| *p == phase && node.is_none_or(|k| k == *n))
            .flat_map(|(_, _, b)| b.iter().copied())
            .collect()
    }

    /// Writes raw bytes, bypassing framing (for tests of malformed peers).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(|e| io_error(self.role, "sending", e))
    }
}

/// The writing half of an in-process pipe (or of the TCP writer thread's queue).
struct PipeWriter(mpsc::Sender<Vec<u8>>);

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the peer has gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading half of an in-process pipe, with a timeout.
struct PipeReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    timeout: Duration,
}

impl PipeReader {
    fn new(rx: mpsc::Receiver<Vec<u8>>, timeout: Duration) -> Self {
        PipeReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            timeout,
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            match self.rx.recv_timeout(self.timeout) {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no data"))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
