//! Test vectors of a real private inference: both parties' shares of every node add up
//! to the plaintext reference's value; the vectors survive their files; and the
//! Verilated hardware blocks, fed the protocol's own numbers, give the protocol's own
//! results: the Beaver lanes its polynomials, the Beaver multipliers Circa's products,
//! the MAC lanes the server's dense layers with their truncation, and the ReLU engine
//! the server's garbled tables.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{random_weights, Lcg};
use hdl::accel::Size;
use hdl::beaver::PolyInput;
use hdl::beaver_mul::MulInput;
use hdl::blocks::BlockKind;
use perf_model::circuit::library;
use perf_model::circuit::program::compile;
use perf_model::{CheckedSpec, FixedPoint};
use sim::blocks;
use sim::gc;
use sim::twopc::model::{reference, NodeKind};
use sim::twopc::party::Options;
use sim::twopc::vectors::{self, TestVectors, VectorMeta, VectorSet};
use sim::twopc::{run_local, Network, Role, Weights};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One private inference of a random image with random weights, vectors on: the
/// network, its weights, the input, both parties' vectors and the reference values
/// given the run's truncation shares.
struct Run {
    net: Network,
    w: Weights,
    server: TestVectors,
    client: TestVectors,
    values: Vec<Vec<u64>>,
    output: Vec<u64>,
}

fn run(spec: &str, seed: u64) -> Run {
    run_checked(CheckedSpec::load(&root().join(spec)).unwrap(), seed)
}

fn run_checked(spec: CheckedSpec, seed: u64) -> Run {
    let net = Network::new(spec);
    let bytes = random_weights(&net.spec, seed);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = Weights::from_safetensors(&net, &st, Path::new("random.safetensors")).unwrap();
    let mut rng = Lcg(seed ^ 0x55);
    let px: Vec<u8> = (0..net.input_elements())
        .map(|_| (rng.next() * 256.0) as u8)
        .collect();
    let input = net.encode_image(&px).unwrap();
    let opts = Options {
        dealer_seed: u128::from(seed),
        seed: u128::from(seed) * 7 + 1,
        trace: true,
        vectors: true,
        first: 0,
    };
    let (mut s, mut c) = run_local(
        &net,
        &w,
        std::slice::from_ref(&input),
        opts,
        Duration::from_secs(60),
    )
    .unwrap();
    let inf = c.inferences.remove(0);
    let mut split = |site, _: &[u64]| inf.trace[&site].clone();
    let values = reference(&net, &w, &input, &mut split);
    Run {
        server: s.inferences.remove(0).vectors,
        client: inf.vectors,
        output: inf.output,
        net,
        w,
        values,
    }
}

fn tiny() -> Run {
    run("sim/tests/data/tiny.yaml", 21)
}

fn mlp() -> Run {
    run("examples/mlp.yaml", 22)
}

fn ring(v: &TestVectors, node: usize, name: &str) -> Vec<u64> {
    v.get(Some(node), name)
        .unwrap_or_else(|| panic!("node {node} has no `{name}`"))
        .values
        .iter()
        .map(|&x| x as u64)
        .collect()
}

#[test]
fn every_nodes_shares_add_up_to_the_reference_value() {
    for r in [tiny(), mlp()] {
        let ring_ = r.net.ring;
        for (i, want) in r.values.iter().enumerate() {
            let (s, c) = (ring(&r.server, i, "y"), ring(&r.client, i, "y"));
            let got: Vec<u64> = s.iter().zip(&c).map(|(&a, &b)| ring_.add(a, b)).collect();
            assert_eq!(&got, want, "node {i} ({})", r.net.nodes[i].label);
            // Each share alone is not the value.
            assert_ne!(&s, want, "node {i}");
        }
        // The reveal: the server sends its share of the last node; the client's
        // output is the value.
        let last = r.values.len() - 1;
        let out = |v: &TestVectors| -> Vec<u64> {
            v.get(None, "y")
                .unwrap()
                .values
                .iter()
                .map(|&x| x as u64)
                .collect()
        };
        assert_eq!(out(&r.server), ring(&r.server, last, "y"));
        assert_eq!(out(&r.client), r.output);
        assert_eq!(&r.output, &r.values[last]);
    }
}

#[test]
fn vectors_round_trip_through_readmemh_files_and_bad_files_are_named() {
    let r = tiny();
    let dir = std::env::temp_dir().join(format!("polympc-vectors-{}", std::process::id()));
    let meta = VectorMeta {
        network: r.net.spec.spec().name.clone(),
        spec_hash: r
            .net
            .spec_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        ring_bits: r.net.ring.l,
        frac_bits: r.net.ring.f,
        dealer_seed: "21".into(),
        image: None,
        label: None,
        output: r.output.clone(),
    };
    vectors::write(&dir, &r.net, &meta, &r.server, &r.client).unwrap();
    // Written twice: the second replaces the first whole.
    vectors::write(&dir, &r.net, &meta, &r.server, &r.client).unwrap();
    let set = VectorSet::read(&dir).unwrap();
    assert_eq!(set.manifest.meta, meta);
    assert_eq!(
        set.manifest.arrays.len(),
        r.server.arrays.len() + r.client.arrays.len()
    );
    for (party, v) in [(Role::Server, &r.server), (Role::Client, &r.client)] {
        for a in &v.arrays {
            let got = set.get(party, a.node, a.name).unwrap();
            let want: Vec<u64> = a.values.iter().map(|&x| x as u64).collect();
            assert_eq!(got, want, "{} {:?} {}", party.name(), a.node, a.name);
        }
    }
    // Labels keep all 128 bits.
    let (e, labels) = set.arrays(Role::Server, "tables").next().unwrap();
    assert_eq!(e.bits, 128);
    assert!(labels.iter().any(|&l| l >> 64 != 0));
    // A damaged file is named, with its line.
    let file = dir.join(&e.file);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen('\n', "\nzz\n", 1)).unwrap();
    let err = VectorSet::read(&dir).unwrap_err().to_string();
    assert!(err.contains(&e.file) && err.contains("line 2"), "{err}");
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();
    let err = VectorSet::read(&dir).unwrap_err().to_string();
    assert!(err.contains("the manifest says"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The values a block gave, without their cycles.
fn outputs(run: Result<Vec<(usize, u64)>, sim::verilator::HarnessError>) -> Vec<u64> {
    run.unwrap().into_iter().map(|(_, y)| y).collect()
}

/// The nodes of one kind.
fn nodes(net: &Network, pick: fn(&NodeKind) -> bool) -> Vec<usize> {
    (0..net.nodes.len())
        .filter(|&i| pick(&net.nodes[i].kind))
        .collect()
}

#[test]
fn beaver_lanes_replay_the_protocols_polynomials() {
    let r = tiny();
    let (l, f) = (r.net.ring.l, r.net.ring.f);
    let d = blocks::design(BlockKind::BeaverLane, l, f).unwrap();
    let polys = nodes(&r.net, |k| matches!(k, NodeKind::Poly { .. }));
    assert!(!polys.is_empty());
    for &i in &polys {
        for (party, v) in [(0u8, &r.server), (1, &r.client)] {
            let f = |n| ring(v, i, n);
            let (x, a, c, dd, w2, w1, b) =
                (f("x"), f("a"), f("c"), f("d"), f("w2"), f("w1"), f("b"));
            let elems: Vec<PolyInput> = (0..x.len())
                .map(|k| PolyInput {
                    x: x[k],
                    a: a[k],
                    c: c[k],
                    d: dd[k],
                    w2: w2[k],
                    w1: w1[k],
                    b: b[k],
                })
                .collect();
            let got = outputs(blocks::drive_beaver(&d, &elems, party, None));
            assert_eq!(got, f("z"), "node {i}, party {party}");
        }
    }
}

#[test]
fn beaver_multipliers_replay_circa() {
    let r = tiny();
    let (l, f) = (r.net.ring.l, r.net.ring.f);
    let d = blocks::design(BlockKind::BeaverMul, l, f).unwrap();
    let circa = nodes(&r.net, |k| matches!(k, NodeKind::Circa { .. }));
    assert!(!circa.is_empty());
    for &i in &circa {
        for (party, v) in [(0u8, &r.server), (1, &r.client)] {
            let f = |n| ring(v, i, n);
            let (a, b, c, dd, e) = (f("a"), f("b"), f("c"), f("d"), f("e"));
            let elems: Vec<MulInput> = (0..a.len())
                .map(|k| MulInput {
                    a: a[k],
                    b: b[k],
                    c: c[k],
                    d: dd[k],
                    e: e[k],
                    truncate: false,
                })
                .collect();
            let got = outputs(blocks::drive_beaver_mul(&d, &elems, party, None));
            assert_eq!(got, f("z"), "node {i}, party {party}");
        }
    }
}

#[test]
fn mac_lanes_replay_the_dense_layers_and_their_truncation() {
    let r = mlp();
    let (l, f) = (r.net.ring.l, r.net.ring.f);
    let d = blocks::design(BlockKind::MacLane, l, f).unwrap();
    let truncs = nodes(&r.net, |k| matches!(k, NodeKind::Truncate));
    assert_eq!(truncs.len(), 3);
    for &t in &truncs {
        let dense = r.net.nodes[t].operands[0];
        assert!(matches!(r.net.nodes[dense].kind, NodeKind::Dense { .. }));
        let params = r.w.0[dense].as_ref().unwrap();
        // The server: W x + s, truncated as party 0, then the bias.
        let (x, s) = (
            ring(&r.server, dense, "x"),
            r.server.get(Some(dense), "mask"),
        );
        let s: Vec<u64> = s.unwrap().values.iter().map(|&v| v as u64).collect();
        let dots: Vec<Vec<(u64, u64)>> = (0..s.len())
            .map(|o| {
                let row = &params.w[o * x.len()..(o + 1) * x.len()];
                let mut dot: Vec<(u64, u64)> = x.iter().copied().zip(row.iter().copied()).collect();
                dot.push((s[o], 1));
                dot
            })
            .collect();
        let got: Vec<u64> = blocks::drive_mac(&d, &dots, 0, None)
            .unwrap()
            .into_iter()
            .zip(ring(&r.server, t, "bias"))
            .map(|((_, y), b)| r.net.ring.add(y, b))
            .collect();
        assert_eq!(got, ring(&r.server, t, "y"), "server, node {t}");
        // The client: its share of W r - s, truncated as party 1.
        let dots: Vec<Vec<(u64, u64)>> = ring(&r.client, t, "x")
            .into_iter()
            .map(|c| vec![(c, 1)])
            .collect();
        let got = outputs(blocks::drive_mac(&d, &dots, 1, None));
        assert_eq!(got, ring(&r.client, t, "y"), "client, node {t}");
    }
}

#[test]
fn relu_engine_replays_the_servers_garbling() {
    let r = tiny();
    let l = r.net.ring.l;
    let c = library::relu(l);
    let p = compile(&c).unwrap();
    let round_units = 10;
    let d = gc::relu_design(round_units, &p).unwrap();
    let relu = nodes(&r.net, |k| matches!(k, NodeKind::Relu))[0];
    let get = |n| r.server.get(Some(relu), n).unwrap().values.clone();
    let (deltas, labels, tables) = (get("delta"), get("labels"), get("tables"));
    let inputs = (c.garbler_inputs + c.evaluator_inputs) as usize;
    let ands = c.counts().and as usize;
    assert_eq!(labels.len(), inputs * deltas.len());
    // The first few instances, each garbled alone with the protocol's offset and labels.
    for k in 0..deltas.len().min(3) {
        let run = gc::drive_relu(
            &d,
            round_units,
            &p,
            1,
            &[labels[k * inputs..(k + 1) * inputs].to_vec()],
            gc::Role::Garble { delta: deltas[k] },
            None,
        )
        .unwrap();
        let got: Vec<u128> = run.tables.iter().flatten().copied().collect();
        assert_eq!(
            got,
            tables[2 * ands * k..2 * ands * (k + 1)],
            "instance {k}"
        );
    }
}

/// Runs the server's MAC-array and Beaver tasks of `nodes` (all when `None`) of a
/// schedule of `r`'s network (ZCU102, LAN, `lanes` MAC and `beaver` Beaver lanes) on the
/// accelerator's top level, its memories loaded from the protocol's vectors. Every
/// instruction issues at its task's start, the last result is written when the
/// schedule says the last task's result is ready, and every truncation's and
/// polynomial's output is the server's share the software run computed, in the golden
/// model and on Verilator.
fn server_on_the_accelerator(r: &Run, lanes: u32, beaver: u32, only: Option<&[usize]>) {
    use scheduler::schedule::Unit;
    let s = zcu102_schedule(r, lanes, beaver);
    let v = sim::accel::verify(&r.net, &r.w, &s, &r.server, only, Size::Full, None).unwrap();
    assert_eq!((v.lanes, v.beaver_lanes), (lanes, beaver));
    let on_mac = s
        .tasks
        .iter()
        .filter(|t| {
            matches!(t.unit, Unit::ServerMac | Unit::ServerBeaver)
                && only.is_none_or(|n| n.contains(&t.node))
        })
        .count();
    assert_eq!(v.tasks, on_mac, "one instruction per task");
    assert!(!v.late && !v.fault, "{v:?}");
    assert_eq!(
        v.on_time, v.tasks,
        "instructions issued at their tasks' starts"
    );
    assert_eq!(
        v.measured_ready, v.schedule_ready,
        "the last result's cycle"
    );
    let truncs = nodes(&r.net, |k| {
        matches!(k, NodeKind::Truncate | NodeKind::Poly { .. })
    });
    let compared: Vec<usize> = v
        .outputs
        .iter()
        .filter(|o| o.golden_vs_protocol.is_some())
        .map(|o| o.node)
        .collect();
    let want: Vec<usize> = truncs
        .into_iter()
        .filter(|t| only.is_none_or(|n| n.contains(t)))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        compared, want,
        "every truncation and polynomial compared with the protocol"
    );
    assert!(
        v.skipped.iter().all(|(label, _)| !label.starts_with('p')),
        "{v:?}"
    );
    for o in &v.outputs {
        assert_eq!(o.golden_vs_protocol.unwrap_or(0), 0, "golden model: {o:?}");
        assert_eq!(o.verilator_vs_golden, 0, "Verilator: {o:?}");
    }
    assert!(v.passed());
}

/// The MLP's whole server schedule on the accelerator (4 MAC lanes, 1 Beaver lane);
/// and a share that differs from the protocol's is caught.
#[test]
fn the_accelerator_runs_the_mlps_server_schedule() {
    use sim::accel::ServerShares;
    let r = mlp();
    // No convolution: any lane count the top level has.
    assert_eq!(sim::accel::lanes_for(&r.net, 64), Some(32));
    assert_eq!(sim::accel::lanes_for(&r.net, 12), Some(8));
    server_on_the_accelerator(&r, 4, 1, None);
    /// The run's shares, one truncation's first element off by one.
    struct Off<'a>(&'a TestVectors, usize);
    impl ServerShares for Off<'_> {
        fn share(&self, node: usize, name: &str) -> Option<Vec<u64>> {
            let mut v = self.0.share(node, name)?;
            if node == self.1 && name == "y" {
                v[0] = v[0].wrapping_add(1);
            }
            Some(v)
        }
    }
    let t = nodes(&r.net, |k| matches!(k, NodeKind::Truncate))[1];
    let s = zcu102_schedule(&r, 8, 2);
    let v =
        sim::accel::verify(&r.net, &r.w, &s, &Off(&r.server, t), None, Size::Full, None).unwrap();
    assert!(!v.passed());
    let bad: Vec<(usize, Option<usize>)> = v
        .outputs
        .iter()
        .filter(|o| o.golden_vs_protocol.unwrap_or(0) > 0)
        .map(|o| (o.node, o.golden_vs_protocol))
        .collect();
    assert_eq!(bad, vec![(t, Some(1))]);
    assert!(v.outputs.iter().all(|o| o.verilator_vs_golden == 0));
}

/// LeNet-5's convolutions with their truncations on the accelerator, at their
/// schedule's relative cycles: the input and conv1 (zero padding 2; 2 lanes across its
/// 6 output channels), and conv2 (4 lanes across 16).
#[test]
fn the_accelerator_runs_lenets_convolutions() {
    let r = run("examples/lenet5.yaml", 23);
    let id = |label: &str| {
        (0..r.net.nodes.len())
            .find(|&i| r.net.nodes[i].label == label)
            .unwrap()
    };
    // Lanes run across output channels: 2 is the most that divides both 6 and 16.
    assert_eq!(sim::accel::lanes_for(&r.net, 64), Some(2));
    assert_eq!(sim::accel::lanes_for(&r.net, 1), None);
    let conv1 = [id("input"), id("conv1"), id("conv1.trunc")];
    server_on_the_accelerator(&r, 2, 2, Some(&conv1));
    server_on_the_accelerator(&r, 4, 1, Some(&[id("conv2"), id("conv2.trunc")]));
}

/// Polynomials on the Beaver lanes, the whole network's schedule: after a convolution
/// (channels last), after max pooling (channels first, into a convolution) and after a
/// dense layer, each its `z` plus the client's re-share: on 2 MAC lanes with a Beaver
/// lane each, and on 4 MAC lanes with a single Beaver lane that takes a row in 4 cycles
/// (the last, partial row of a tile in fewer).
#[test]
fn the_accelerator_runs_polynomials_on_its_beaver_lanes() {
    let r = run("sim/tests/data/polys.yaml", 24);
    assert_eq!(
        nodes(&r.net, |k| matches!(k, NodeKind::Poly { .. })).len(),
        3
    );
    server_on_the_accelerator(&r, 2, 2, None);
    server_on_the_accelerator(&r, 4, 1, None);
}

/// The same network on the 16-bit ring: the top level generated for it, its lanes
/// truncating by the network's 7 fractional bits. The small-memory top level (an
/// iCE40's) refuses it by name: its activations need more than 256 rows a bank.
#[test]
fn the_16_bit_accelerator_runs_the_16_bit_network() {
    let path = root().join("sim/tests/data/polys.yaml");
    let mut spec = CheckedSpec::load(&path).unwrap().spec().clone();
    spec.fixed_point = FixedPoint {
        ring_bits: 16,
        frac_bits: 7,
    };
    let r = run_checked(CheckedSpec::new(spec, &path).unwrap(), 25);
    let fixed = r.net.graph.fixed_point();
    assert_eq!((fixed.ring_bits, fixed.frac_bits), (16, 7));
    server_on_the_accelerator(&r, 2, 1, None);
    let e = small_refusal(&r);
    assert!(
        e.contains("the activation memory needs")
            && e.contains("rows a bank; the small-memory top level's banks have 256"),
        "{e}"
    );
}

/// A schedule of `r`'s network on the ZCU102 over the LAN, with `lanes` MAC and
/// `beaver` Beaver lanes.
fn zcu102_schedule(r: &Run, lanes: u32, beaver: u32) -> scheduler::schedule::Schedule {
    use perf_model::{AcceleratorConfig, Device, NetworkProfile};
    use scheduler::schedule::{schedule, ScheduleOptions};
    let d = Device::find("zcu102").unwrap();
    let mut c = AcceleratorConfig::for_device(&d, r.net.graph.fixed_point());
    (c.mac_lanes, c.beaver_lanes) = (lanes, beaver);
    let link = NetworkProfile::find("lan").unwrap();
    schedule(&r.net.graph, &c, &d, &link, ScheduleOptions::default()).unwrap()
}

fn small_refusal(r: &Run) -> String {
    let s = zcu102_schedule(r, 2, 1);
    sim::accel::verify(&r.net, &r.w, &s, &r.server, None, Size::Small, None)
        .unwrap_err()
        .to_string()
}
