//! Activation sites become the operators their kind says, with their element counts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::spec::{Circa, Coeffs, LayerOp, Poly};
use perf_model::{AcceleratorConfig, CheckedSpec, Device, NetworkProfile};
use scheduler::schedule::{schedule, ScheduleOptions, Unit, Work};
use scheduler::{Operator, TwoPcGraph};
use std::path::Path;

/// LeNet-5 with per-channel polynomials at its convolutional sites and Circa ReLU (8
/// dropped bits) at its dense ones.
fn lenet_sites() -> TwoPcGraph {
    let path = format!("{}/../examples/lenet5.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut spec = CheckedSpec::load(Path::new(&path)).unwrap().spec().clone();
    let mut site = 0;
    for layer in &mut spec.layers {
        if layer.op == LayerOp::Relu {
            layer.op = match site {
                0 => LayerOp::Poly(Poly {
                    w2: Coeffs::Channel(vec![0.1; 6]),
                    ..Poly::default()
                }),
                1 => LayerOp::Poly(Poly {
                    w2: Coeffs::Channel(vec![0.1; 16]),
                    ..Poly::default()
                }),
                _ => LayerOp::Circa(Circa { truncated_bits: 8 }),
            };
            site += 1;
        }
    }
    TwoPcGraph::build(&CheckedSpec::new(spec, Path::new(&path)).unwrap())
}

#[test]
fn lenet_with_polynomial_and_circa_sites() {
    let g = lenet_sites();
    let t = g.totals();
    assert_eq!(
        (t.relu_elements, t.poly_elements, t.circa_elements),
        (0, 6 * 28 * 28 + 16 * 10 * 10, 120 + 84)
    );
    // Per-channel coefficients are parameters: 3 per channel.
    assert_eq!(t.params, 62_158 + 3 * (6 + 16));
    let kinds: Vec<&Operator> = g
        .nodes()
        .map(|(_, n)| &n.op)
        .filter(|op| op.is_interactive())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|op| matches!(op, Operator::BeaverPoly { per_channel: true }))
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|op| matches!(op, Operator::CircaRelu { truncated_bits: 8 }))
            .count(),
        2
    );
    assert!(g.to_table().contains("beaver-poly") && g.to_table().contains("circa-relu"));
}

/// The server adds the client's re-share into its own share (a polynomial's, Circa's)
/// only once the message has arrived: in every tile, the last step is that addition,
/// on the MAC arrays, and starts no earlier than the client's flight is ready.
#[test]
fn a_reshare_is_added_only_after_it_has_arrived() {
    let g = lenet_sites();
    let d = Device::find("zcu102").unwrap();
    let c = AcceleratorConfig::for_device(&d, g.fixed_point());
    let lan = NetworkProfile::find("lan").unwrap();
    let s = schedule(&g, &c, &d, &lan, ScheduleOptions::default()).unwrap();
    let mut checked = 0;
    for (i, node) in g.nodes() {
        if !matches!(
            node.op,
            Operator::BeaverPoly { .. } | Operator::CircaRelu { .. }
        ) {
            continue;
        }
        let tasks: Vec<_> = s.tasks.iter().filter(|t| t.node == i.index()).collect();
        let tiles = tasks.iter().map(|t| t.tile).max().unwrap() + 1;
        for tile in 0..tiles {
            let of_tile: Vec<_> = tasks.iter().filter(|t| t.tile == tile).collect();
            if of_tile.is_empty() {
                continue;
            }
            let last = of_tile.iter().map(|t| t.step).max().unwrap();
            let add: Vec<_> = of_tile.iter().filter(|t| t.step == last).collect();
            assert!(
                add.iter()
                    .all(|t| matches!(t.unit, Unit::ServerMac | Unit::ClientMac)),
                "{}: {add:?}",
                node.label
            );
            let sent = of_tile
                .iter()
                .filter(|t| t.step == last - 1 && t.unit == Unit::LinkC2s)
                .map(|t| t.ready)
                .max()
                .unwrap_or_else(|| panic!("{}: no re-share before the addition", node.label));
            assert!(add.iter().all(|t| t.start >= sent), "{}", node.label);
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} tiles checked");
    // And each tile adds exactly the elements its own flight carried.
    let bytes = u64::from(g.fixed_point().ring_bits / 8);
    let mut cut_alike = 0;
    for ns in s.nodes.iter().filter(|n| n.steps.len() >= 2) {
        let [.., sent, add] = &ns.steps[..] else {
            unreachable!()
        };
        let (Some(sent), [Work::Elementwise { .. }]) = (
            sent.iter().find(|w| matches!(w, Work::SendC2s { .. })),
            &add[..],
        ) else {
            continue;
        };
        let cut = ns.cut(c.mac_lanes);
        for k in 0..ns.tiles {
            let (first, len) = add[0].tile_range(k, ns.tiles, cut);
            assert_eq!(
                sent.tile_range(k, ns.tiles, cut),
                (first * bytes, len * bytes),
                "{} tile {k} of {}",
                ns.label,
                ns.tiles
            );
        }
        cut_alike += 1;
    }
    assert_eq!(cut_alike, 4, "two polynomials and two Circa ReLUs");
}

/// A site gated per channel: its ReLU channels become a garbled ReLU and the others a
/// Beaver polynomial, each over its own channels, side by side (neither waits for the
/// other); picking and merging the channels is free. Its modelled latency lies between
/// the all-polynomial and the all-ReLU site's.
#[test]
fn a_site_gated_per_channel_splits_into_relu_and_polynomial() {
    let path = format!("{}/../examples/lenet5.yaml", env!("CARGO_MANIFEST_DIR"));
    let base = CheckedSpec::load(Path::new(&path)).unwrap().spec().clone();
    let first = base
        .layers
        .iter()
        .position(|l| l.op == LayerOp::Relu)
        .unwrap();
    let with = |op: LayerOp| {
        let mut spec = base.clone();
        spec.layers[first].op = op;
        TwoPcGraph::build(&CheckedSpec::new(spec, Path::new(&path)).unwrap())
    };
    let mixed = with(LayerOp::Poly(Poly {
        w2: Coeffs::Channel(vec![0.1; 6]),
        relu_channels: vec![1, 4],
        ..Poly::default()
    }));
    let (relu, poly) = (with(LayerOp::Relu), with(LayerOp::Poly(Poly::default())));
    let per = 28 * 28;
    let t = mixed.totals();
    assert_eq!(
        (t.relu_elements, t.poly_elements),
        (relu.totals().relu_elements - 4 * per, 4 * per)
    );
    // Coefficients count once, on the polynomial's node.
    assert_eq!(t.params, 62_158 + 3 * 6);
    let site: Vec<_> = mixed
        .nodes()
        .filter(|(_, n)| n.layers == [first])
        .map(|(i, n)| (i, n.label.clone(), n.op.name(), n.elements))
        .collect();
    let names: Vec<(&str, &str, u64)> = site
        .iter()
        .map(|(_, l, k, e)| (l.as_str(), *k, *e))
        .collect();
    // The merge carries the layer's own name.
    let name = site[4].1.clone();
    let label = |s: &str| format!("{name}{s}");
    let (ri, rr, pi, pp) = (
        label(".relu.in"),
        label(".relu"),
        label(".poly.in"),
        label(".poly"),
    );
    assert_eq!(
        names,
        [
            (ri.as_str(), "select", 2 * per),
            (rr.as_str(), "gc-relu", 2 * per),
            (pi.as_str(), "select", 4 * per),
            (pp.as_str(), "beaver-poly", 4 * per),
            (name.as_str(), "merge", 6 * per),
        ]
    );
    // The merge reads both parts; each part reads only its selection.
    assert_eq!(mixed.operands(site[4].0), [site[1].0, site[3].0]);
    assert_eq!(mixed.operands(site[3].0), [site[2].0]);
    // Modelled on ZCU102 over LAN: the parts overlap, so the site costs less than both
    // parts one after the other, and the network sits between the two uniform ones.
    let d = Device::find("zcu102").unwrap();
    let lan = NetworkProfile::find("lan").unwrap();
    let c = AcceleratorConfig::for_device(&d, mixed.fixed_point());
    let end = |g: &TwoPcGraph| {
        schedule(g, &c, &d, &lan, ScheduleOptions::default())
            .unwrap()
            .makespan
    };
    let (m, r, p) = (end(&mixed), end(&relu), end(&poly));
    assert!(p < m && m < r, "poly {p} < mixed {m} < relu {r}");
    let s = schedule(&mixed, &c, &d, &lan, ScheduleOptions::default()).unwrap();
    let span = |n: petgraph::graph::NodeIndex| {
        let ts = s.tasks.iter().filter(|t| t.node == n.index());
        let start = ts.clone().map(|t| t.start).min().unwrap();
        (start, ts.map(|t| t.end).max().unwrap())
    };
    let (rs, re) = span(site[1].0);
    let (ps, pe) = span(site[3].0);
    assert!(
        rs < pe && ps < re,
        "relu {rs}..{re} and poly {ps}..{pe} overlap"
    );
}
