//! Schedules: on random networks (convolutions, every activation (sites gated per
//! channel too), max pooling,
//! residual adds, dense layers; every ring; random links, devices and tile limits) no
//! task overlaps another on its unit, no operator starts before its operands, no tile
//! step before the previous one, no tile over the buffer, and the lower bound holds;
//! on the examples the schedule comes within 10% of the bound and beats the serial
//! estimate; the Gantt chart and table show it; a buffer too small is a clear error.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::accel::{AcceleratorConfig, Sbox};
use perf_model::spec::ModelSpec;
use perf_model::{CheckedSpec, CostModel, Device, FixedPoint, NetworkProfile};
use proptest::prelude::*;
use scheduler::schedule::{schedule, ScheduleError, ScheduleOptions};
use scheduler::TwoPcGraph;
use std::path::Path;

/// A random network as spec YAML: blocks of a shape-keeping convolution, an optional
/// batch norm, an activation and sometimes a residual add or a max pool.
fn spec_yaml(ring: u32, channels: usize, side: usize, blocks: &[(u8, bool, bool)]) -> String {
    let mut y = format!(
        "name: random\ninput: [{channels}, {side}, {side}]\nfixed_point: {{ ring_bits: {ring}, frac_bits: {} }}\nlayers:\n",
        if ring == 16 { 7 } else { 12 }
    );
    let mut side = side;
    let mut prev_side = 0;
    for (k, &(act, add, pool)) in blocks.iter().enumerate() {
        y += &format!(
            "  - conv2d: {{ out_channels: {channels}, kernel: 3, padding: 1 }}\n    name: b{k}\n"
        );
        if act % 2 == 0 {
            y += "  - batchnorm\n";
        }
        y += match act % 4 {
            0 => "  - relu\n",
            1 => "  - poly\n",
            // Gated per channel: channel 0 on ReLU, the others polynomial.
            3 if channels > 1 => "  - poly: { relu_channels: [0] }\n",
            _ => "  - circa: { truncated_bits: 4 }\n",
        };
        // A residual add with the previous block's convolution, where no pool came
        // between.
        if add && k > 0 && prev_side == side {
            y += &format!("  - add: {{ with: b{} }}\n", k - 1);
        }
        prev_side = side;
        if pool && side >= 4 {
            y += "  - maxpool: { kernel: 2 }\n";
            side /= 2;
        }
    }
    y += "  - flatten\n  - dense: { out_features: 10 }\n";
    y
}

fn graph_of(yaml: &str) -> TwoPcGraph {
    let spec = ModelSpec::from_yaml(yaml, Path::new("random.yaml")).unwrap();
    TwoPcGraph::build(&CheckedSpec::new(spec, Path::new("random.yaml")).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_graphs_get_valid_schedules(
        ring in prop::sample::select(vec![16u32, 32, 64]),
        channels in 1usize..6,
        side in 4usize..12,
        blocks in prop::collection::vec((0u8..8, any::<bool>(), any::<bool>()), 1..5),
        dev in prop::sample::select(vec!["pynq-z2", "zcu102", "u250"]),
        scale in prop::sample::select(vec![1u32, 2, 4, 16]),
        mbps in 10.0f64..10000.0,
        rtt in 0.0f64..80.0,
        max_tiles in 1u32..64,
    ) {
        let g = graph_of(&spec_yaml(ring, channels, side, &blocks));
        let d = Device::find(dev).unwrap();
        let c = AcceleratorConfig::at_scale(scale, FixedPoint { ring_bits: ring, frac_bits: g.fixed_point().frac_bits }, Sbox::Lut, &d);
        let link = NetworkProfile::find(&format!("{mbps}:{rtt}")).unwrap();
        let s = schedule(&g, &c, &d, &link, ScheduleOptions { max_tiles }).unwrap();
        let v = s.violations(&g);
        prop_assert!(v.is_empty(), "{v:?}");
        prop_assert!(s.makespan >= s.lower_bound);
        prop_assert_eq!(s.nodes.len(), g.graph().node_count());
    }
}

fn example(name: &str) -> TwoPcGraph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.yaml"));
    TwoPcGraph::build(&CheckedSpec::load(&path).unwrap())
}

#[test]
fn examples_come_within_ten_percent_of_the_bound_and_beat_the_serial_estimate() {
    for name in ["mlp", "lenet5", "vgg11", "resnet20"] {
        let g = example(name);
        for dev in ["zcu102", "u250"] {
            let d = Device::find(dev).unwrap();
            let c = AcceleratorConfig::for_device(&d, g.fixed_point());
            for net in ["lan", "wan"] {
                let link = NetworkProfile::find(net).unwrap();
                let s = schedule(&g, &c, &d, &link, ScheduleOptions::default()).unwrap();
                assert!(s.violations(&g).is_empty(), "{name} {dev} {net}");
                assert!(s.ratio() <= 1.10, "{name} {dev} {net}: {}", s.ratio());
                let serial = CostModel::new(d.clone(), c, link.clone())
                    .unwrap()
                    .network_estimate(g.name(), g.fixed_point(), &g.workloads())
                    .unwrap()
                    .online
                    .total_s;
                assert!(
                    s.seconds(s.makespan) <= serial * 1.0001,
                    "{name} {dev} {net}: {} > {serial}",
                    s.seconds(s.makespan)
                );
            }
        }
    }
}

/// LeNet on the ZCU102 over a LAN, scheduled on its standard configuration changed by
/// `edit`.
fn lenet(
    edit: impl FnOnce(&mut AcceleratorConfig),
) -> Result<scheduler::schedule::Schedule, ScheduleError> {
    let g = example("lenet5");
    let d = Device::find("zcu102").unwrap();
    let mut c = AcceleratorConfig::for_device(&d, g.fixed_point());
    edit(&mut c);
    let lan = NetworkProfile::find("lan").unwrap();
    schedule(&g, &c, &d, &lan, ScheduleOptions::default())
}

#[test]
fn gantt_chart_and_table_show_every_unit_and_operator() {
    let s = lenet(|_| {}).unwrap();
    let svg = s.gantt_svg();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<rect").count(), s.tasks.len() + s.nodes.len());
    let table = s.to_table();
    for n in &s.nodes {
        assert!(table.contains(&n.label), "{}", n.label);
    }
    assert!(table.contains("lower bound") && table.contains("client gc"));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["tasks"].as_array().unwrap().len(), s.tasks.len());
}

#[test]
fn a_buffer_too_small_for_one_element_is_named() {
    let e = lenet(|c| c.buffers.activation_kib = 0).unwrap_err();
    assert!(matches!(e, ScheduleError::Buffer { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("activation buffer") && msg.contains("0-byte"),
        "{msg}"
    );
    let e = lenet(|c| c.ring_bits = 32).unwrap_err().to_string();
    assert!(e.contains("32-bit") && e.contains("64-bit"), "{e}");
}
