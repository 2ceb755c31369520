//! Design-space exploration: the chosen configuration fits within the margin and is
//! the fastest there; the Pareto set is exactly the undominated points; it beats the
//! standard configuration; a network that fits no configuration gets an error naming
//! the short resource and by how much.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::accel::AcceleratorConfig;
use perf_model::device::Device;
use perf_model::estimate::CostModel;
use perf_model::network::NetworkProfile;
use perf_model::CheckedSpec;
use scheduler::dse::{explore, DseError, DseOptions};
use scheduler::TwoPcGraph;
use std::path::Path;

fn graph(name: &str) -> TwoPcGraph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.yaml"));
    TwoPcGraph::build(&CheckedSpec::load(&path).unwrap())
}

#[test]
fn the_choice_is_the_fastest_fitting_point_within_the_margin() {
    let g = graph("lenet5");
    let d = Device::find("zcu102").unwrap();
    let lan = NetworkProfile::find("lan").unwrap();
    let x = explore(&g, &d, &lan, DseOptions::default()).unwrap();
    assert!(x.points.len() > 50, "{} points", x.points.len());
    let best = x.best();
    let r = best.config.fit(&d).unwrap();
    assert!(r.utilisation() <= 0.8);
    for p in &x.points {
        assert!(p.config.fit(&d).is_ok());
        if p.utilisation <= 0.8 {
            assert!(p.online_s >= best.online_s);
        }
    }
    // The standard configuration for the device is in the space's reach and no faster.
    let std = AcceleratorConfig::for_device(&d, g.fixed_point());
    let m = CostModel::new(d.clone(), std, lan.clone()).unwrap();
    let e = m
        .network_estimate(g.name(), g.fixed_point(), &g.workloads())
        .unwrap();
    assert!(
        best.online_s <= e.online.total_s,
        "{} > {}",
        best.online_s,
        e.online.total_s
    );
    // The exploration is repeatable.
    assert_eq!(explore(&g, &d, &lan, DseOptions::default()).unwrap(), x);
    let table = x.to_table();
    assert!(table.contains("chosen"), "{table}");
    let svg = x.pareto_svg();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
}

#[test]
fn the_pareto_set_is_exactly_the_undominated_points() {
    let g = graph("mlp");
    let d = Device::find("pynq-z2").unwrap();
    let x = explore(
        &g,
        &d,
        &NetworkProfile::find("lan").unwrap(),
        DseOptions::default(),
    )
    .unwrap();
    let dominated = |i: usize| {
        let p = &x.points[i];
        x.points.iter().any(|q| {
            q.utilisation <= p.utilisation
                && q.online_s <= p.online_s
                && (q.utilisation < p.utilisation || q.online_s < p.online_s)
        })
    };
    // Front points are undominated; an undominated point off the front ties one on
    // it (the same utilisation and latency from another configuration).
    for i in 0..x.points.len() {
        let p = &x.points[i];
        if x.pareto.contains(&i) {
            assert!(!dominated(i), "point {i} on the front is dominated: {p:?}");
        } else if !dominated(i) {
            assert!(
                x.pareto
                    .iter()
                    .any(|&j| x.points[j].utilisation == p.utilisation
                        && x.points[j].online_s == p.online_s),
                "point {i} is undominated and off the front: {p:?}"
            );
        }
    }
    // Smallest first, faster and faster.
    for w in x.pareto.windows(2) {
        let (a, b) = (&x.points[w[0]], &x.points[w[1]]);
        assert!(a.utilisation < b.utilisation && a.online_s > b.online_s);
    }
}

#[test]
fn a_network_that_fits_no_configuration_names_the_short_resource() {
    let g = graph("lenet5");
    let d = Device::find("hx8k").unwrap();
    let e = explore(
        &g,
        &d,
        &NetworkProfile::find("lan").unwrap(),
        DseOptions::default(),
    )
    .unwrap_err();
    let DseError::NothingFits { shortfalls, .. } = &e else {
        panic!("{e}");
    };
    assert!(!shortfalls.is_empty());
    let msg = e.to_string();
    assert!(
        msg.contains("ice40hx8k") && msg.contains("short by"),
        "{msg}"
    );
    let (r, need, have) = shortfalls[0];
    assert!(
        msg.contains(&format!("{need} {r} of {have} (short by {})", need - have)),
        "{msg}"
    );
    // A margin no configuration meets is its own error.
    let e = explore(
        &g,
        &Device::find("pynq-z2").unwrap(),
        &NetworkProfile::find("lan").unwrap(),
        DseOptions {
            max_utilisation: 0.001,
            ..DseOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("within 0% utilisation"), "{e}");
}
