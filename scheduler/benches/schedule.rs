//! Schedules against their lower bound on every example network (the standard
//! configuration of each device, over a LAN and a WAN): the makespan over the bound,
//! and how long scheduling took.
//!
//! `cargo bench -p scheduler --bench schedule`

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use perf_model::{AcceleratorConfig, CheckedSpec, Device, NetworkProfile};
use scheduler::schedule::{schedule, ScheduleOptions};
use scheduler::TwoPcGraph;
use std::path::Path;
use std::time::Instant;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    println!(
        "{:<22} {:<8} {:<5} {:>7} {:>12} {:>12} {:>12} {:>7} {:>9}",
        "network",
        "device",
        "link",
        "tasks",
        "makespan ms",
        "bound ms",
        "serial ms",
        "ratio",
        "time ms"
    );
    let mut worst: f64 = 0.0;
    for path in names {
        let spec = CheckedSpec::load(&path).unwrap();
        let g = TwoPcGraph::build(&spec);
        for dev in ["zcu102", "u250"] {
            let d = Device::find(dev).unwrap();
            let c = AcceleratorConfig::for_device(&d, g.fixed_point());
            for net in ["lan", "wan"] {
                let link = NetworkProfile::find(net).unwrap();
                let t0 = Instant::now();
                let s = schedule(&g, &c, &d, &link, ScheduleOptions::default()).unwrap();
                let took = t0.elapsed();
                let model = perf_model::CostModel::new(d.clone(), c, link.clone()).unwrap();
                let serial = model
                    .network_estimate(g.name(), g.fixed_point(), &g.workloads())
                    .unwrap()
                    .online
                    .total_s;
                worst = worst.max(s.ratio());
                println!(
                    "{:<22} {:<8} {:<5} {:>7} {:>12.3} {:>12.3} {:>12.3} {:>7.3} {:>9.1}",
                    g.name(),
                    dev,
                    net,
                    s.tasks.len(),
                    1e3 * s.seconds(s.makespan),
                    1e3 * s.seconds(s.lower_bound),
                    1e3 * serial,
                    s.ratio(),
                    took.as_secs_f64() * 1e3
                );
            }
        }
    }
    println!("worst makespan / lower bound: {worst:.3} (target at most 1.10)");
}
