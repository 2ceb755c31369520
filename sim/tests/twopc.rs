//! The protocol simulator: private inference equals the plaintext fixed-point
//! reference bit for bit, its traffic equals perf_model's prediction node by node, its
//! messages look uniform and do not depend on the client's input, and a misbehaving
//! peer gets a clear error.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{random_weights, Lcg};
use perf_model::CheckedSpec;
use sim::twopc::channel::{Channel, Phase, Role};
use sim::twopc::model::reference;
use sim::twopc::model::NodeKind;
use sim::twopc::party::{infer, serve, Options};
use sim::twopc::{run_local, traffic, Network, Ring, SimError, Weights};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn network(path: &Path) -> Network {
    Network::new(CheckedSpec::load(path).unwrap())
}

fn weights(net: &Network, seed: u64) -> Weights {
    let bytes = random_weights(&net.spec, seed);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    Weights::from_safetensors(net, &st, Path::new("random.safetensors")).unwrap()
}

fn random_image(net: &Network, seed: u64) -> Vec<u64> {
    let mut rng = Lcg(seed);
    let px: Vec<u8> = (0..net.input_elements())
        .map(|_| (rng.next() * 256.0) as u8)
        .collect();
    net.encode_image(&px).unwrap()
}

fn opts(seed: u128) -> Options {
    Options {
        dealer_seed: seed,
        seed: seed.wrapping_mul(31) ^ 0xabc,
        trace: true,
        vectors: true,
        first: 0,
    }
}

fn tiny() -> Network {
    network(&root().join("sim/tests/data/tiny.yaml"))
}

fn mlp() -> Network {
    network(&root().join("examples/mlp.yaml"))
}

/// Two sites gated per channel: on feature maps and on dense features.
fn mixed() -> Network {
    network(&root().join("sim/tests/data/mixed.yaml"))
}

#[test]
fn private_inference_equals_the_reference_bit_for_bit() {
    for net in [tiny(), mlp(), mixed()] {
        let w = weights(&net, 11);
        let inputs: Vec<Vec<u64>> = (0..2).map(|k| random_image(&net, 100 + k)).collect();
        let (_, client) = run_local(&net, &w, &inputs, opts(5), TIMEOUT).unwrap();
        for (input, inf) in inputs.iter().zip(&client.inferences) {
            let mut split = |site, _: &[u64]| inf.trace[&site].clone();
            let vals = reference(&net, &w, input, &mut split);
            assert_eq!(
                &inf.output,
                vals.last().unwrap(),
                "{}",
                net.spec.spec().name
            );
            // The output is not trivial: not all zero, not all equal.
            assert!(inf.output.iter().any(|&v| v != inf.output[0]));
        }
    }
}

/// A site gated per channel: its `relu_channels` come out of the garbled ReLU exactly,
/// the others are the polynomial with those channels' coefficients (to within the
/// truncations' rounding), in the private run as in the reference.
#[test]
fn a_site_gated_per_channel_runs_relu_and_the_polynomial_on_its_channels() {
    let net = mixed();
    let r = net.ring;
    let w = weights(&net, 4);
    let input = random_image(&net, 9);
    let (_, client) = run_local(&net, &w, std::slice::from_ref(&input), opts(2), TIMEOUT).unwrap();
    let inf = &client.inferences[0];
    let mut split = |site, _: &[u64]| inf.trace[&site].clone();
    let vals = reference(&net, &w, &input, &mut split);
    assert_eq!(&inf.output, vals.last().unwrap());
    // The coefficients of mixed.yaml's sites per channel: w2, w1, b.
    let coef = |label: &str, c: usize| -> [f64; 3] {
        match label {
            "site1" => [[0.1, -0.2, 0.05, 0.3][c], [1.0, 0.9, 1.1, 1.0][c], 0.05],
            _ => [0.1, 1.0, 0.0],
        }
    };
    let sites: [(&str, &[usize]); 2] = [("site1", &[0, 2]), ("site2", &[1, 3, 4])];
    for (label, relu) in sites {
        let m = net.nodes.iter().position(|n| n.label == label).unwrap();
        assert!(
            matches!(net.nodes[m].kind, NodeKind::Gather { .. }),
            "{label}"
        );
        let kinds: Vec<&str> = net
            .nodes
            .iter()
            .filter(|n| n.label.starts_with(&format!("{label}.")))
            .map(|n| match n.kind {
                NodeKind::Relu => "relu",
                NodeKind::Poly { .. } => "poly",
                NodeKind::Gather { .. } => "select",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["select", "relu", "select", "poly"], "{label}");
        // The site's input: the selections' operand.
        let select = net.nodes[m - 4].operands[0];
        let (x, y) = (&vals[select], &vals[m]);
        let per = x.len() / net.nodes[m].channels;
        let (mut relus, mut polys) = (0, 0);
        for (i, (&x, &y)) in x.iter().zip(y).enumerate() {
            let c = i / per;
            if relu.contains(&c) {
                assert_eq!(y, if r.non_negative(x) { x } else { 0 }, "{label} [{i}]");
                relus += 1;
            } else {
                let [w2, w1, b] = coef(label, c);
                let v = r.decode(x);
                let want = w2 * v * v + w1 * v + b;
                assert!(
                    (r.decode(y) - want).abs() <= 4.0 / 256.0 * (1.0 + v.abs()),
                    "{label} [{i}]: {} for {want}",
                    r.decode(y)
                );
                polys += 1;
            }
        }
        assert_eq!(
            (relus, polys),
            (relu.len() * per, x.len() - relu.len() * per)
        );
    }
}

#[test]
fn each_inference_of_a_session_draws_fresh_masks_and_triples() {
    // The same image twice in one session: a repeated mask would show the server the
    // same masked input (and the difference of two inputs in general).
    let net = tiny();
    let w = weights(&net, 12);
    let image = random_image(&net, 7);
    let (server, client) =
        run_local(&net, &w, &[image.clone(), image.clone()], opts(3), TIMEOUT).unwrap();
    let seen = |k: usize, node: usize, name: &str| {
        server.inferences[k]
            .vectors
            .get(Some(node), name)
            .unwrap()
            .values
            .clone()
    };
    let poly = (0..net.nodes.len())
        .find(|&i| matches!(net.nodes[i].kind, NodeKind::Poly { .. }))
        .unwrap();
    assert_ne!(seen(0, 0, "y"), seen(1, 0, "y"), "masked input");
    assert_ne!(seen(0, poly, "a"), seen(1, poly, "a"), "triples");
    assert_ne!(seen(0, poly, "d"), seen(1, poly, "d"), "openings");
    // Inference 1 of the session is a session of one that starts at index 1.
    let alone = Options {
        first: 1,
        ..opts(3)
    };
    let (s1, c1) = run_local(&net, &w, &[image], alone, TIMEOUT).unwrap();
    assert_eq!(c1.inferences[0].output, client.inferences[1].output);
    assert_eq!(s1.inferences[0].vectors, server.inferences[1].vectors);
}

#[test]
fn measured_traffic_equals_perf_models_prediction_node_by_node() {
    for net in [tiny(), mlp(), mixed()] {
        let w = weights(&net, 3);
        let (server, client) =
            run_local(&net, &w, &[random_image(&net, 1)], opts(9), TIMEOUT).unwrap();
        let rows = traffic::table(&net, Role::Client, &client.inferences[0].log);
        let from_server = traffic::table(&net, Role::Server, &server.inferences[0].log);
        for (r, s) in rows.iter().zip(&from_server) {
            assert_eq!(r.measured, s.measured, "both parties see the same messages");
            if let Some(p) = r.predicted {
                assert!(
                    p.agrees(&r.measured),
                    "{} {:?}: measured {:?}, predicted {p:?}",
                    r.label,
                    r.phase,
                    r.measured
                );
            }
        }
        // Every interactive operator sent something in both phases.
        let kinds: Vec<&str> = rows
            .iter()
            .filter(|r| r.measured.rounds > 0)
            .map(|r| r.kind.as_str())
            .collect();
        for k in ["input", "gc-relu"] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
        let text = traffic::render(&rows);
        assert!(
            text.contains("equal") && !text.contains("predicts"),
            "{text}"
        );
    }
}

#[test]
fn local_truncation_errors_occur_at_the_documented_rate() {
    // Off by more than one only when the shares wrap: probability |x| / 2^l for x of
    // the ring's positive half.
    let r = Ring { l: 32, f: 8 };
    let x = r.from_i64(1 << 24); // |x| / 2^l = 1/256
    let mut seed = Lcg(77);
    let trials = 200_000;
    let mut large = 0;
    for _ in 0..trials {
        let c = r.wrap((seed.next() * 2f64.powi(32)) as u64);
        let got = r.signed(r.trunc_split(x, c));
        let want = r.signed(r.trunc_exact(x));
        assert!(
            (got - want).abs() <= 1 || (got - want).abs() >= 1 << 22,
            "only small or wrap errors"
        );
        if (got - want).abs() > 1 {
            large += 1;
        }
    }
    let expected = trials as f64 / 256.0;
    let sd = expected.sqrt();
    assert!(
        (f64::from(large) - expected).abs() < 5.0 * sd,
        "{large} large errors, expected {expected:.0}"
    );
}

/// Pearson's chi-square statistic of byte counts against the uniform distribution.
fn chi_square(bytes: &[u8]) -> f64 {
    let mut counts = [0f64; 256];
    for &b in bytes {
        counts[b as usize] += 1.0;
    }
    let e = bytes.len() as f64 / 256.0;
    counts.iter().map(|c| (c - e) * (c - e) / e).sum()
}

/// The critical value of chi-square with 255 degrees of freedom at p = 0.001.
const CHI2_255_P001: f64 = 330.5;

/// Runs one inference with both channel ends recording what they receive.
fn tapped(net: &Network, w: &Weights, input: &[u64], seed: u128) -> (Channel, Channel) {
    let (mut s, mut c) = Channel::pair(TIMEOUT);
    s.record_payloads = true;
    c.record_payloads = true;
    let (n2, w2) = (net.clone(), w.clone());
    let server = std::thread::spawn(move || {
        serve(&n2, &w2, &mut s, opts(seed ^ 0x77)).unwrap();
        s
    });
    infer(net, &[input.to_vec()], &mut c, opts(seed)).unwrap();
    (server.join().unwrap(), c)
}

#[test]
fn shares_on_the_wire_are_uniform() {
    let net = mlp();
    let w = weights(&net, 4);
    let input = random_image(&net, 5);
    let (s, c) = tapped(&net, &w, &input, 7);
    // The client's masked input as the server gets it, and the first dense layer's
    // correlation as the client gets it.
    let masked_input = s.received(Phase::Online, Some(0));
    let dense = net
        .nodes
        .iter()
        .position(|n| matches!(n.kind, NodeKind::Dense { .. }))
        .unwrap();
    let correlation = c.received(Phase::Offline, Some(dense as u32));
    assert_eq!(masked_input.len(), 784 * 8);
    assert_eq!(correlation.len(), 128 * 8);
    for (what, bytes) in [
        ("masked input", &masked_input),
        ("dense correlation", &correlation),
    ] {
        let x2 = chi_square(bytes);
        assert!(x2 < CHI2_255_P001, "{what}: chi-square {x2:.1}");
    }
    // The test can fail: the unmasked input is far from uniform.
    let plain = Ring { l: 64, f: 12 }.pack(&input);
    assert!(chi_square(&plain) > CHI2_255_P001);
}

/// Two-sample chi-square statistic of two byte samples of equal size.
fn chi_square_two(a: &[u8], b: &[u8]) -> f64 {
    let (mut ca, mut cb) = ([0f64; 256], [0f64; 256]);
    a.iter().for_each(|&x| ca[x as usize] += 1.0);
    b.iter().for_each(|&x| cb[x as usize] += 1.0);
    (0..256)
        .filter(|&i| ca[i] + cb[i] > 0.0)
        .map(|i| (ca[i] - cb[i]).powi(2) / (ca[i] + cb[i]))
        .sum()
}

#[test]
fn the_servers_view_does_not_depend_on_the_clients_input() {
    let net = mlp();
    let w = weights(&net, 6);
    let dark = net.encode_image(&vec![0u8; 784]).unwrap();
    let bright = net.encode_image(&vec![255u8; 784]).unwrap();
    let view = |input: &[u64], seed: u128| {
        let (s, _) = tapped(&net, &w, input, seed);
        let mut v = s.received(Phase::Offline, None);
        v.extend(s.received(Phase::Online, None));
        v
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for t in 0..6u128 {
        a.extend(view(&dark, 1000 + t));
        b.extend(view(&bright, 2000 + t));
    }
    assert_eq!(
        a.len(),
        b.len(),
        "the view's size does not depend on the input"
    );
    let x2 = chi_square_two(&a, &b);
    assert!(
        x2 < CHI2_255_P001,
        "the distinguisher tells the views apart: {x2:.1}"
    );
    // The distinguisher works: on what a leaky protocol would show (the inputs
    // themselves) it separates them at once.
    let r = Ring { l: 64, f: 12 };
    assert!(chi_square_two(&r.pack(&dark), &r.pack(&bright)) > CHI2_255_P001);
}

/// Runs a server against a client end driven by `peer`, and gives the server's error.
fn server_error(peer: impl FnOnce(&mut Channel) + Send + 'static, timeout: Duration) -> SimError {
    let net = mlp();
    let w = weights(&net, 1);
    let (mut s, mut c) = Channel::pair(timeout);
    let t = std::thread::spawn(move || {
        peer(&mut c);
        // Keep the client's end open a moment, so the server sees what was sent first.
        std::thread::sleep(Duration::from_millis(50));
    });
    let err = serve(&net, &w, &mut s, opts(1)).unwrap_err();
    t.join().unwrap();
    err
}

fn client_hello(c: &mut Channel, net: &Network, count: u32) {
    c.begin(u32::MAX, Phase::Setup);
    let mut m = b"polympc\x01".to_vec();
    m.extend_from_slice(&net.spec_hash());
    m.extend_from_slice(&5u128.to_le_bytes());
    m.extend_from_slice(&count.to_le_bytes());
    c.send(&m).unwrap();
}

#[test]
fn a_misbehaving_peer_gets_a_clear_error() {
    // Disconnects after the handshake.
    let e = server_error(
        |c| {
            client_hello(c, &mlp(), 1);
        },
        TIMEOUT,
    );
    assert!(matches!(e, SimError::Disconnected { .. }), "{e}");
    assert!(e.to_string().contains("disconnected"), "{e}");

    // Sends a truncated message: a header for 100 bytes, then 10 bytes.
    let e = server_error(
        |c| {
            client_hello(c, &mlp(), 1);
            // The first message the server waits for: the OT request of the first ReLU
            // (node 4: input, flatten, dense, truncate, relu), 16 bytes per OT.
            let mut frame = (16u32 * 128 * 128).to_le_bytes().to_vec();
            frame.extend_from_slice(&4u32.to_le_bytes());
            frame.extend_from_slice(&[1, 0, 1, 0]);
            frame.extend_from_slice(&[0; 10]);
            c.send_raw(&frame).unwrap();
        },
        TIMEOUT,
    );
    assert!(
        e.to_string().contains("truncated: 10 of 262144 bytes"),
        "{e}"
    );

    // Sends an oversized message.
    let e = server_error(
        |c| {
            client_hello(c, &mlp(), 1);
            let mut frame = u32::MAX.to_le_bytes().to_vec();
            frame.extend_from_slice(&2u32.to_le_bytes());
            frame.extend_from_slice(&[1, 0, 1, 0]);
            c.send_raw(&frame).unwrap();
        },
        TIMEOUT,
    );
    assert!(e.to_string().contains("over the limit"), "{e}");

    // Runs another network.
    let e = server_error(|c| client_hello(c, &tiny(), 1), TIMEOUT);
    assert!(matches!(e, SimError::SpecMismatch { .. }), "{e}");
    assert!(e.to_string().contains("different network"), "{e}");

    // Says nothing: the server times out instead of hanging.
    let e = server_error(
        |_| std::thread::sleep(Duration::from_millis(600)),
        Duration::from_millis(200),
    );
    assert!(matches!(e, SimError::Timeout { .. }), "{e}");
}

#[test]
fn two_processes_over_tcp_give_the_in_process_result() {
    let net = mlp();
    let w = weights(&net, 2);
    let input = random_image(&net, 3);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (n2, w2) = (net.clone(), w.clone());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ch = Channel::tcp(Role::Server, stream, TIMEOUT).unwrap();
        serve(&n2, &w2, &mut ch, opts(4)).unwrap()
    });
    let stream = std::net::TcpStream::connect(addr).unwrap();
    let mut ch = Channel::tcp(Role::Client, stream, TIMEOUT).unwrap();
    let client = infer(&net, std::slice::from_ref(&input), &mut ch, opts(4)).unwrap();
    server.join().unwrap();
    let (_, local) = run_local(&net, &w, &[input], opts(4), TIMEOUT).unwrap();
    assert_eq!(client.inferences[0].output, local.inferences[0].output);
}
