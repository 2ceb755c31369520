//! The two parties' programs. Each walks the 2PC graph in topological order, once for
//! the offline phase and once for the online phase, talking to the other only through
//! its [`Channel`].
//!
//! The data flow is Delphi's, as perf_model's protocol profile states it. The client's
//! share of every value is known before the input exists (its masks, the linear layers'
//! correlations, their local truncations and sums); the server's share is the input
//! minus the client's mask, pushed through the layers:
//!
//! - input: the client sends `x - r`;
//! - linear: the server computes `W x_S + s` online; the client received `W r - s`
//!   offline; truncation is local (SecureML), then the server adds the bias;
//! - ReLU and max pool: a garbled circuit, the client's input labels (its share and
//!   `-r'`, its next mask) by OT offline, the server's labels online; the client returns
//!   the output labels' colour bits and the server decodes `y - r'`;
//! - polynomial: one Beaver square opening `x - a` each way, local scaling and
//!   truncations, then the client re-shares to its next mask (one element to the
//!   server);
//! - Circa: a garbled sign test on the top `l - k` bits giving shares of the sign bit,
//!   a Beaver product with `x`, then the client re-shares.
//!
//! At the end the server sends its share of the output and the client adds its own.

use super::channel::{Channel, Phase, Record};
use super::dealer::{BeaverShares, Dealer, Sealed};
use super::model::{NodeKind, Site, Weights};
use super::ot::{OtReceiver, OtSender};
use super::ring::{pack_bits, unpack_bits, Ring};
use super::vectors::TestVectors;
use super::{Network, SimError};
use hdl::beaver::{square_share, PolyInput};
use hdl::beaver_mul::{product_share, MulInput};
use hdl::mac::truncate_share;
use perf_model::circuit::garble::{
    self, Delta, GarbledCircuit, GarblerState, Hasher, Label, LabelRng,
};
use perf_model::circuit::{from_bits, library, to_bits, Circuit};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MAGIC: &[u8; 8] = b"polympc\x01";
const HELLO_BYTES: usize = 8 + 32 + 16 + 4;
const NO_NODE: u32 = u32::MAX;

/// Seconds each phase of one inference took at a party.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Offline phase.
    pub offline: Duration,
    /// Online phase, output reveal included.
    pub online: Duration,
}

/// The client's shares at every truncation and sign test of a run, by site.
pub type Trace = HashMap<Site, Vec<u64>>;

/// One private inference as the client saw it.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The output, in the ring.
    pub output: Vec<u64>,
    /// The client's shares at the truncations (when asked for).
    pub trace: Trace,
    /// How long the phases took.
    pub timing: Timing,
    /// The messages of this inference.
    pub log: Vec<Record>,
    /// The client's test vectors (when asked for).
    pub vectors: TestVectors,
}

/// One inference as the server saw it.
#[derive(Debug, Clone)]
pub struct Served {
    /// The messages of this inference.
    pub log: Vec<Record>,
    /// How long the phases took.
    pub timing: Timing,
    /// The server's test vectors (when asked for).
    pub vectors: TestVectors,
}

/// What the server did.
#[derive(Debug, Clone, Default)]
pub struct ServerReport {
    /// The handshake's messages.
    pub setup: Vec<Record>,
    /// The inferences.
    pub inferences: Vec<Served>,
}

/// What the client did.
#[derive(Debug, Clone, Default)]
pub struct ClientReport {
    /// The handshake's messages.
    pub setup: Vec<Record>,
    /// The inferences.
    pub inferences: Vec<Inference>,
}

/// The garbled circuit of a garbled node.
pub fn circuit_of(net: &Network, node: usize) -> Option<Circuit> {
    let l = net.ring.l;
    match &net.nodes[node].kind {
        NodeKind::Relu => Some(library::relu(l)),
        NodeKind::Circa { k } => Some(library::circa_sign(l, *k)),
        NodeKind::MaxPool { windows } => Some(library::max(l, windows[0].len() as u32)),
        _ => None,
    }
}

/// The input bits of one party for instance `i` of a garbled node: the garbler's from
/// its share, the evaluator's from its share and then `neg_r`.
fn input_bits(
    net: &Network,
    node: usize,
    i: usize,
    share: &[u64],
    neg_r: Option<u64>,
) -> Vec<bool> {
    let r = net.ring;
    let mut bits = match &net.nodes[node].kind {
        NodeKind::Relu => to_bits(share[i], r.l),
        NodeKind::Circa { k } => to_bits(share[i] >> k, r.l - k),
        NodeKind::MaxPool { windows } => windows[i]
            .iter()
            .flat_map(|&j| to_bits(share[j], r.l))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(v) = neg_r {
        bits.extend(to_bits(v, r.l));
    }
    bits
}

fn hello(hash: &[u8; 32], dealer_seed: u128, count: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(HELLO_BYTES);
    m.extend_from_slice(MAGIC);
    m.extend_from_slice(hash);
    m.extend_from_slice(&dealer_seed.to_le_bytes());
    m.extend_from_slice(&count.to_le_bytes());
    m
}

fn hex(b: &[u8]) -> String {
    b.iter().take(6).map(|x| format!("{x:02x}")).collect()
}

/// Exchanges hellos; gives the peer's dealer seed and inference count.
fn handshake(
    ch: &mut Channel,
    net: &Network,
    seed: u128,
    count: u32,
) -> Result<(u128, u32), SimError> {
    let hash = net.spec_hash();
    ch.begin(NO_NODE, Phase::Setup);
    ch.send(&hello(&hash, seed, count))?;
    let peer = ch.recv(HELLO_BYTES)?;
    let other = ch.role().peer().name();
    if &peer[..8] != MAGIC {
        return Err(SimError::Protocol(format!(
            "the {other} does not speak this protocol (its greeting starts {})",
            hex(&peer[..8])
        )));
    }
    if peer[8..40] != hash {
        return Err(SimError::SpecMismatch {
            ours: hex(&hash),
            theirs: hex(&peer[8..40]),
            other,
        });
    }
    let seed = u128::from_le_bytes(peer[40..56].try_into().unwrap_or([0; 16]));
    let count = u32::from_le_bytes(peer[56..60].try_into().unwrap_or([0; 4]));
    Ok((seed, count))
}

/// Options of a run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The dealer's seed (the client's is used).
    pub dealer_seed: u128,
    /// The server's own randomness (its linear masks, labels and offsets); the client
    /// draws all of its randomness from the dealer.
    pub seed: u128,
    /// Keep the client's shares at truncations.
    pub trace: bool,
    /// Keep both parties' test vectors.
    pub vectors: bool,
    /// The index of the session's first inference. Masks, triples and the server's
    /// randomness are drawn per inference index, so inference `k` of a session equals
    /// a session of one whose `first` is `k` (both parties must agree on it).
    pub first: u32,
}

/// The server's randomness (linear masks, labels, offsets) of inference `k`.
fn server_rng(seed: u128, k: u32) -> LabelRng {
    LabelRng::new(Hasher::default().aes(seed ^ (u128::from(k) << 96)))
}

struct Garbled {
    states: Vec<GarblerState>,
}

/// The server: runs as many inferences as the client asks for.
pub fn serve(
    net: &Network,
    weights: &Weights,
    ch: &mut Channel,
    opts: Options,
) -> Result<ServerReport, SimError> {
    let (dealer_seed, count) = handshake(ch, net, 0, 0)?;
    let mut report = ServerReport {
        setup: std::mem::take(&mut ch.log),
        ..ServerReport::default()
    };
    let dealer = Dealer::new(dealer_seed, net.ring);
    let (mut ot, _) = dealer.base_ots();
    let h = Hasher::default();
    for k in 0..count {
        let index = opts.first.wrapping_add(k);
        let dealer = dealer.inference(index);
        let mut rng = server_rng(opts.seed, index);
        let mut rec = TestVectors::new(opts.vectors);
        let t0 = Instant::now();
        let off = server_offline(net, weights, ch, &dealer, &mut ot, &mut rng, &h, &mut rec)?;
        let t1 = Instant::now();
        server_online(net, weights, ch, &dealer, off, &mut rec)?;
        report.inferences.push(Served {
            log: std::mem::take(&mut ch.log),
            timing: Timing {
                offline: t1 - t0,
                online: t1.elapsed(),
            },
            vectors: rec,
        });
    }
    Ok(report)
}

struct ServerOffline {
    masks: Vec<Vec<u64>>,
    garbled: Vec<Option<Garbled>>,
}

#[allow(clippy::too_many_arguments)]
fn server_offline(
    net: &Network,
    weights: &Weights,
    ch: &mut Channel,
    dealer: &Dealer,
    ot: &mut OtSender,
    rng: &mut LabelRng,
    h: &Hasher,
    rec: &mut TestVectors,
) -> Result<ServerOffline, SimError> {
    let r = net.ring;
    let mut sealed: Vec<Sealed> = Vec::with_capacity(net.nodes.len());
    let mut masks = vec![Vec::new(); net.nodes.len()];
    let mut garbled: Vec<Option<Garbled>> = (0..net.nodes.len()).map(|_| None).collect();
    for (i, node) in net.nodes.iter().enumerate() {
        ch.begin(i as u32, Phase::Offline);
        let n = node.elements;
        let input = node.operands.first().map(|&o| &sealed[o]);
        let c = match &node.kind {
            NodeKind::Input => Sealed::new(dealer.mask(i, n)),
            NodeKind::Conv { .. } | NodeKind::Dense { .. } | NodeKind::Scale { .. } => {
                let s: Vec<u64> = (0..n).map(|_| r.wrap(rng.next_label() as u64)).collect();
                let corr = input
                    .map(|x| x.open_masked(|v| weights.apply(net, i, v), &s, r))
                    .unwrap_or_default();
                ch.send(&r.pack(&corr))?;
                rec.add(Some(i), Phase::Offline, "mask", r.l, &s);
                masks[i] = s;
                Sealed::new(corr)
            }
            NodeKind::Truncate => input
                .map(|x| x.map(|v| v.iter().map(|&x| r.trunc_client(x)).collect()))
                .unwrap_or_default(),
            NodeKind::Flatten
            | NodeKind::Gather { .. }
            | NodeKind::Add { .. }
            | NodeKind::AvgPool { .. } => {
                let parts: Vec<&Sealed> = node.operands.iter().map(|&o| &sealed[o]).collect();
                Sealed::combine(&parts, |v| net.local(i, v).unwrap_or_default())
            }
            NodeKind::Relu | NodeKind::MaxPool { .. } | NodeKind::Circa { .. } => {
                let circ =
                    circuit_of(net, i).ok_or_else(|| SimError::Protocol("no circuit".into()))?;
                let (g, e) = (circ.garbler_inputs as usize, circ.evaluator_inputs as usize);
                let ands = circ.counts().and as usize;
                let request = ch.recv(16 * n * e)?;
                let mut msg = Vec::with_capacity(32 * n * (ands + e));
                let mut pairs = Vec::with_capacity(n * e);
                let mut states = Vec::with_capacity(n);
                let (mut deltas, mut zeros, mut tables) =
                    (Vec::<u128>::new(), Vec::new(), Vec::<u128>::new());
                for _ in 0..n {
                    let delta = Delta::new(rng.next_label());
                    let labels = rng.labels(g + e);
                    let (gc, st) = garble::garble(&circ, delta, &labels, h)?;
                    for [tg, te] in &gc.tables {
                        msg.extend_from_slice(&tg.to_le_bytes());
                        msg.extend_from_slice(&te.to_le_bytes());
                    }
                    pairs.extend(labels[g..].iter().map(|&l| (l, l ^ delta.get())));
                    states.push(st);
                    if rec.enabled() {
                        deltas.push(delta.get());
                        zeros.extend_from_slice(&labels);
                        tables.extend(gc.tables.iter().flatten());
                    }
                }
                rec.add(Some(i), Phase::Offline, "delta", 128, &deltas);
                rec.add(Some(i), Phase::Offline, "labels", 128, &zeros);
                rec.add(Some(i), Phase::Offline, "tables", 128, &tables);
                msg.extend(ot.answer(&request, &pairs, h));
                ch.send(&msg)?;
                garbled[i] = Some(Garbled { states });
                Sealed::new(dealer.mask(i, n))
            }
            NodeKind::Poly { .. } => Sealed::new(dealer.mask(i, n)),
        };
        sealed.push(c);
    }
    Ok(ServerOffline { masks, garbled })
}

/// The server's side of a garbled node online: its labels out, colour bits back, the
/// decoded outputs.
fn server_gc(
    net: &Network,
    ch: &mut Channel,
    i: usize,
    g: &Garbled,
    x: &[u64],
) -> Result<Vec<u64>, SimError> {
    let n = net.nodes[i].elements;
    let mut msg = Vec::new();
    for (k, st) in g.states.iter().enumerate() {
        for (w, b) in input_bits(net, i, k, x, None).into_iter().enumerate() {
            msg.extend_from_slice(&st.input_label(w, b).to_le_bytes());
        }
    }
    ch.send(&msg)?;
    let outs = g.states.first().map_or(0, |s| s.output_labels.len());
    let colours = unpack_bits(&ch.recv((n * outs).div_ceil(8))?, n * outs);
    Ok(g.states
        .iter()
        .enumerate()
        .map(|(k, st)| {
            let bits: Vec<bool> = (0..outs)
                .map(|o| colours[k * outs + o] ^ (st.output_labels[o] & 1 == 1))
                .collect();
            net.ring.wrap(from_bits(&bits))
        })
        .collect())
}

/// Opens Beaver differences: this party's `x - a` (and `y - b`) sent, the peer's
/// received, the sums returned.
fn open(ch: &mut Channel, r: Ring, mine: &[u64]) -> Result<Vec<u64>, SimError> {
    ch.send(&r.pack(mine))?;
    add_received(ch, r, mine)
}

fn server_online(
    net: &Network,
    weights: &Weights,
    ch: &mut Channel,
    dealer: &Dealer,
    off: ServerOffline,
    rec: &mut TestVectors,
) -> Result<(), SimError> {
    let r = net.ring;
    let mut vals: Vec<Vec<u64>> = Vec::with_capacity(net.nodes.len());
    for (i, node) in net.nodes.iter().enumerate() {
        ch.begin(i as u32, Phase::Online);
        let n = node.elements;
        let x: &[u64] = node.operands.first().map_or(&[], |&o| &vals[o]);
        let y = match &node.kind {
            NodeKind::Input => r.unpack(&ch.recv(n * r.bytes())?),
            NodeKind::Conv { .. } | NodeKind::Dense { .. } | NodeKind::Scale { .. } => weights
                .apply(net, i, x)
                .iter()
                .zip(&off.masks[i])
                .map(|(&v, &s)| r.add(v, s))
                .collect(),
            NodeKind::Truncate => {
                let src = node.operands[0];
                x.iter()
                    .enumerate()
                    .map(|(k, &v)| r.add(r.trunc_server(v), weights.bias(net, src, k)))
                    .collect()
            }
            NodeKind::Flatten
            | NodeKind::Gather { .. }
            | NodeKind::Add { .. }
            | NodeKind::AvgPool { .. } => {
                let ins: Vec<&[u64]> = node.operands.iter().map(|&o| &vals[o][..]).collect();
                net.local(i, &ins).unwrap_or_default()
            }
            NodeKind::Relu | NodeKind::MaxPool { .. } => {
                let g = off.garbled[i]
                    .as_ref()
                    .ok_or_else(|| SimError::Protocol("not garbled".into()))?;
                server_gc(net, ch, i, g, x)?
            }
            NodeKind::Circa { .. } => {
                let g = off.garbled[i]
                    .as_ref()
                    .ok_or_else(|| SimError::Protocol("not garbled".into()))?;
                let bit = server_gc(net, ch, i, g, x)?;
                rec.ring(net, i, "bit", &bit);
                let (t, _) = dealer.beaver(i, n, false);
                let z = beaver_product(ch, r, (i, x), &bit, &t, 0, rec)?;
                add_received(ch, r, &z)?
            }
            NodeKind::Poly { w2, w1, b } => {
                let (t, _) = dealer.beaver(i, n, true);
                let y = poly_share(ch, r, (i, node), x, &t, (w2, w1, b), 0, None, rec)?;
                add_received(ch, r, &y)?
            }
        };
        if !node.operands.is_empty() {
            rec.ring(net, i, "x", x);
        }
        if matches!(node.kind, NodeKind::Truncate) {
            let src = node.operands[0];
            let bias: Vec<u64> = (0..n).map(|k| weights.bias(net, src, k)).collect();
            rec.ring(net, i, "bias", &bias);
        }
        rec.ring(net, i, "y", &y);
        vals.push(y);
    }
    let out = vals.last().cloned().unwrap_or_default();
    rec.add(None, Phase::Output, "y", r.l, &out);
    ch.begin(NO_NODE, Phase::Output);
    ch.send(&r.pack(&out))
}

/// This party's values plus as many ring elements received from the peer: the
/// server's share plus the client's re-shared `y_C - r'`, an opening, the output.
fn add_received(ch: &mut Channel, r: Ring, mine: &[u64]) -> Result<Vec<u64>, SimError> {
    let theirs = r.unpack(&ch.recv(mine.len() * r.bytes())?);
    Ok(mine
        .iter()
        .zip(&theirs)
        .map(|(&a, &b)| r.add(a, b))
        .collect())
}

/// Party `party`'s share of `x y` by a Beaver triple: the Beaver multiply unit's
/// golden model after the opening (no truncation: Circa multiplies by a bit).
/// With vectors on, the unit's inputs `a`, `b`, `c`, `d`, `e` and its output `z` go
/// into them.
fn beaver_product(
    ch: &mut Channel,
    r: Ring,
    (i, x): (usize, &[u64]),
    y: &[u64],
    t: &BeaverShares,
    party: u8,
    rec: &mut TestVectors,
) -> Result<Vec<u64>, SimError> {
    let n = x.len();
    let mut mine: Vec<u64> = (0..n).map(|k| r.sub(x[k], t.a[k])).collect();
    mine.extend((0..n).map(|k| r.sub(y[k], t.b[k])));
    let de = open(ch, r, &mine)?;
    let z: Vec<u64> = (0..n)
        .map(|k| {
            let input = MulInput {
                a: t.a[k],
                b: t.b[k],
                c: t.c[k],
                d: de[k],
                e: de[n + k],
                truncate: false,
            };
            product_share(&input, r.f, party, r.l)
        })
        .collect();
    if rec.enabled() {
        let at = |name, v: &[u64]| (name, v.to_vec());
        for (name, v) in [
            at("a", &t.a),
            at("b", &t.b),
            at("c", &t.c),
            at("d", &de[..n]),
            at("e", &de[n..]),
            at("z", &z),
        ] {
            rec.add(Some(i), Phase::Online, name, r.l, &v);
        }
    }
    Ok(z)
}

/// Party `party`'s share of the polynomial after a Beaver square: the Beaver lane's
/// golden model after the opening. With a trace, the client's shares at the lane's two
/// truncations (the square, the scaled sum) go into it as sites `(node, 0)` and
/// `(node, 1)`; with vectors on, the lane's inputs per element (`x`, `a`, `c`, `d`,
/// `w2`, `w1`, `b`) and its output `z`.
#[allow(clippy::too_many_arguments)]
fn poly_share(
    ch: &mut Channel,
    r: Ring,
    (i, node): (usize, &super::model::NetNode),
    x: &[u64],
    t: &BeaverShares,
    (w2, w1, b): (&[u64], &[u64], &[u64]),
    party: u8,
    trace: Option<&mut Trace>,
    rec: &mut TestVectors,
) -> Result<Vec<u64>, SimError> {
    let n = x.len();
    let mine: Vec<u64> = (0..n).map(|k| r.sub(x[k], t.a[k])).collect();
    let d = open(ch, r, &mine)?;
    if let Some(trace) = trace {
        let sq: Vec<u64> = (0..n)
            .map(|k| square_share(t.a[k], t.c[k], d[k], party, r.l))
            .collect();
        let s = (0..n)
            .map(|k| {
                let c = node.channel_of(k);
                let sq = truncate_share(sq[k], r.f, party, r.l);
                r.add(r.mul(w2[c], sq), r.mul(w1[c], x[k]))
            })
            .collect();
        trace.insert((i, 0), sq);
        trace.insert((i, 1), s);
    }
    let inputs: Vec<PolyInput> = (0..n)
        .map(|k| {
            let c = node.channel_of(k);
            PolyInput {
                x: x[k],
                a: t.a[k],
                c: t.c[k],
                d: d[k],
                w2: w2[c],
                w1: w1[c],
                b: b[c],
            }
        })
        .collect();
    let z: Vec<u64> = inputs
        .iter()
        .map(|input| hdl::beaver::poly_share(input, r.f, party, r.l))
        .collect();
    if rec.enabled() {
        let field = |f: fn(&PolyInput) -> u64| inputs.iter().map(f).collect::<Vec<u64>>();
        for (name, v) in [
            ("a", field(|p| p.a)),
            ("c", field(|p| p.c)),
            ("d", field(|p| p.d)),
            ("w2", field(|p| p.w2)),
            ("w1", field(|p| p.w1)),
            ("b", field(|p| p.b)),
            ("z", z.clone()),
        ] {
            rec.add(Some(i), Phase::Online, name, r.l, &v);
        }
    }
    Ok(z)
}

struct ClientGc {
    tables: Vec<GarbledCircuit>,
    labels: Vec<Label>,
}

struct ClientOffline {
    shares: Vec<Vec<u64>>,
    gc: Vec<Option<ClientGc>>,
}

/// The client: runs one private inference per input (each already encoded).
pub fn infer(
    net: &Network,
    inputs: &[Vec<u64>],
    ch: &mut Channel,
    opts: Options,
) -> Result<ClientReport, SimError> {
    handshake(ch, net, opts.dealer_seed, inputs.len() as u32)?;
    let mut report = ClientReport {
        setup: std::mem::take(&mut ch.log),
        ..ClientReport::default()
    };
    let session = Dealer::new(opts.dealer_seed, net.ring);
    let (_, mut ot) = session.base_ots();
    let h = Hasher::default();
    for (k, input) in inputs.iter().enumerate() {
        let dealer = session.inference(opts.first.wrapping_add(k as u32));
        if input.len() != net.input_elements() {
            return Err(SimError::Input(format!(
                "input {k} has {} values; the network takes {}",
                input.len(),
                net.input_elements()
            )));
        }
        let mut trace = Trace::new();
        let mut rec = TestVectors::new(opts.vectors);
        let t0 = Instant::now();
        let off = client_offline(
            net,
            ch,
            &dealer,
            &mut ot,
            &h,
            opts.trace.then_some(&mut trace),
            &mut rec,
        )?;
        let t1 = Instant::now();
        let output = client_online(
            net,
            ch,
            &dealer,
            off,
            input,
            &h,
            opts.trace.then_some(&mut trace),
            &mut rec,
        )?;
        report.inferences.push(Inference {
            output,
            trace,
            vectors: rec,
            timing: Timing {
                offline: t1 - t0,
                online: t1.elapsed(),
            },
            log: std::mem::take(&mut ch.log),
        });
    }
    Ok(report)
}

fn client_offline(
    net: &Network,
    ch: &mut Channel,
    dealer: &Dealer,
    ot: &mut OtReceiver,
    h: &Hasher,
    mut trace: Option<&mut Trace>,
    rec: &mut TestVectors,
) -> Result<ClientOffline, SimError> {
    let r = net.ring;
    let mut shares: Vec<Vec<u64>> = Vec::with_capacity(net.nodes.len());
    let mut gcs: Vec<Option<ClientGc>> = (0..net.nodes.len()).map(|_| None).collect();
    for (i, node) in net.nodes.iter().enumerate() {
        ch.begin(i as u32, Phase::Offline);
        let n = node.elements;
        let x: &[u64] = node.operands.first().map_or(&[], |&o| &shares[o]);
        let c = match &node.kind {
            NodeKind::Input | NodeKind::Poly { .. } => dealer.mask(i, n),
            NodeKind::Conv { .. } | NodeKind::Dense { .. } | NodeKind::Scale { .. } => {
                r.unpack(&ch.recv(n * r.bytes())?)
            }
            NodeKind::Truncate => {
                if let Some(t) = trace.as_deref_mut() {
                    t.insert((i, 0), x.to_vec());
                }
                x.iter().map(|&v| r.trunc_client(v)).collect()
            }
            NodeKind::Flatten
            | NodeKind::Gather { .. }
            | NodeKind::Add { .. }
            | NodeKind::AvgPool { .. } => {
                let ins: Vec<&[u64]> = node.operands.iter().map(|&o| &shares[o][..]).collect();
                net.local(i, &ins).unwrap_or_default()
            }
            NodeKind::Relu | NodeKind::MaxPool { .. } | NodeKind::Circa { .. } => {
                let circ =
                    circuit_of(net, i).ok_or_else(|| SimError::Protocol("no circuit".into()))?;
                let e = circ.evaluator_inputs as usize;
                let ands = circ.counts().and as usize;
                // Relu and max pool output `y - r'`; Circa's sign circuit `[x >= 0] - r_b`.
                let out_mask = dealer.mask(i, n);
                let gc_mask = if matches!(node.kind, NodeKind::Circa { .. }) {
                    if let Some(t) = trace.as_deref_mut() {
                        t.insert((i, 0), x.to_vec());
                    }
                    dealer.sign_mask(i, n)
                } else {
                    out_mask.clone()
                };
                let choices: Vec<bool> = (0..n)
                    .flat_map(|k| input_bits(net, i, k, x, Some(r.neg(gc_mask[k]))))
                    .collect();
                let (req, pending) = ot.request(&choices);
                ch.send(&req)?;
                let answer = ch.recv(32 * n * (ands + e))?;
                let (tab, pairs) = answer.split_at(32 * n * ands);
                let word = |b: &[u8]| u128::from_le_bytes(b.try_into().unwrap_or([0; 16]));
                let tables = tab
                    .chunks(32 * ands.max(1))
                    .take(n)
                    .map(|c| GarbledCircuit {
                        tables: c
                            .chunks(32)
                            .take(ands)
                            .map(|t| [word(&t[..16]), word(&t[16..])])
                            .collect(),
                        decode: Vec::new(),
                    })
                    .collect();
                let labels = OtReceiver::finish(pending, pairs, h);
                rec.add(Some(i), Phase::Offline, "labels", 128, &labels);
                gcs[i] = Some(ClientGc { tables, labels });
                out_mask
            }
        };
        shares.push(c);
    }
    Ok(ClientOffline { shares, gc: gcs })
}

/// The client's side of a garbled node online: evaluate on the server's labels and its
/// own, send the colour bits.
fn client_gc(
    net: &Network,
    ch: &mut Channel,
    i: usize,
    g: &ClientGc,
    h: &Hasher,
) -> Result<(), SimError> {
    let Some(circ) = circuit_of(net, i) else {
        return Ok(());
    };
    let n = net.nodes[i].elements;
    let (gi, e) = (circ.garbler_inputs as usize, circ.evaluator_inputs as usize);
    let msg = ch.recv(16 * n * gi)?;
    let mut colours = Vec::with_capacity(n * circ.outputs.len());
    for k in 0..n {
        let mut inputs: Vec<Label> = msg[16 * k * gi..16 * (k + 1) * gi]
            .chunks(16)
            .map(|b| u128::from_le_bytes(b.try_into().unwrap_or([0; 16])))
            .collect();
        inputs.extend_from_slice(&g.labels[k * e..(k + 1) * e]);
        let out = garble::evaluate(&circ, &g.tables[k], &inputs, h)?;
        colours.extend(out.iter().map(|l| l & 1 == 1));
    }
    ch.send(&pack_bits(&colours))
}

#[allow(clippy::too_many_arguments)]
fn client_online(
    net: &Network,
    ch: &mut Channel,
    dealer: &Dealer,
    off: ClientOffline,
    input: &[u64],
    h: &Hasher,
    mut trace: Option<&mut Trace>,
    rec: &mut TestVectors,
) -> Result<Vec<u64>, SimError> {
    let r = net.ring;
    for (i, node) in net.nodes.iter().enumerate() {
        ch.begin(i as u32, Phase::Online);
        let n = node.elements;
        let x: &[u64] = node.operands.first().map_or(&[], |&o| &off.shares[o]);
        // What the client sends as a node's last message: its value minus its mask of
        // the node's output (the masked input, or a re-share).
        let masked = match &node.kind {
            NodeKind::Input => Some(input.to_vec()),
            NodeKind::Relu | NodeKind::MaxPool { .. } => {
                let g = off.gc[i]
                    .as_ref()
                    .ok_or_else(|| SimError::Protocol("no garbled circuit".into()))?;
                client_gc(net, ch, i, g, h)?;
                None
            }
            NodeKind::Circa { .. } => {
                let g = off.gc[i]
                    .as_ref()
                    .ok_or_else(|| SimError::Protocol("no garbled circuit".into()))?;
                client_gc(net, ch, i, g, h)?;
                let (_, t) = dealer.beaver(i, n, false);
                let bit = dealer.sign_mask(i, n);
                rec.ring(net, i, "bit", &bit);
                Some(beaver_product(ch, r, (i, x), &bit, &t, 1, rec)?)
            }
            NodeKind::Poly { w2, w1, b } => {
                let (_, t) = dealer.beaver(i, n, true);
                let coeffs = (&w2[..], &w1[..], &b[..]);
                Some(poly_share(
                    ch,
                    r,
                    (i, node),
                    x,
                    &t,
                    coeffs,
                    1,
                    trace.as_deref_mut(),
                    rec,
                )?)
            }
            _ => None,
        };
        if !node.operands.is_empty() {
            rec.ring(net, i, "x", x);
        }
        rec.ring(net, i, "y", &off.shares[i]);
        if let Some(v) = masked {
            let out: Vec<u64> = v
                .iter()
                .zip(&off.shares[i])
                .map(|(&a, &m)| r.sub(a, m))
                .collect();
            ch.send(&r.pack(&out))?;
        }
    }
    let mine = off.shares.last().cloned().unwrap_or_default();
    ch.begin(NO_NODE, Phase::Output);
    let out = add_received(ch, r, &mine)?;
    rec.add(None, Phase::Output, "y", r.l, &out);
    Ok(out)
}
