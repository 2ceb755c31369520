//! `polympc accel`: the server's half of a schedule on the accelerator's top level,
//! simulated on Verilator from a private inference's test vectors
//! (`polympc private-infer --vectors`): every MAC-array and Beaver-lane task as an
//! instruction at its start cycle, outputs against the golden model and the
//! protocol's shares, cycles against the schedule. The schedule is made for the top
//! level's MAC and Beaver lanes: the configuration's, scaled down to the lanes asked
//! for.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use perf_model::{AcceleratorConfig, CheckedSpec, Device, NetworkProfile};
use scheduler::schedule::{schedule, ScheduleOptions};
use sim::twopc::vectors::VectorSet;
use sim::twopc::Network;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct AccelArgs {
    /// The model spec (YAML) the vectors were recorded with.
    spec: PathBuf,
    /// One image's test vectors (a folder with `manifest.json`, as
    /// `polympc private-infer --vectors DIR` writes under `DIR/image-N`).
    #[arg(long)]
    vectors: PathBuf,
    /// The weights (`.safetensors`); by default the spec's `weights:`.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// The FPGA the schedule is for.
    #[arg(long, default_value = "zcu102")]
    fpga: String,
    /// The network between the parties.
    #[arg(long, default_value = "lan")]
    net: String,
    /// The accelerator configuration (YAML, as `polympc explore --out` writes it); by
    /// default the FPGA's standard one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// MAC lanes of the accelerator (2, 4, 8, 16 or 32) [default: the most, up to the
    /// configuration's, that divide every convolution's output channels].
    #[arg(long)]
    lanes: Option<u32>,
    /// Beaver lanes of the accelerator: the MAC lanes, a quarter of them, or 1
    /// [default: the configuration's share of the MAC lanes, down to one of these].
    #[arg(long)]
    beaver_lanes: Option<u32>,
    /// Only these layers' tasks (labels, comma-separated, as `polympc graph` prints
    /// them), at their schedule's relative cycles; by default every MAC-array and
    /// Beaver task.
    #[arg(long, value_delimiter = ',')]
    layers: Vec<String>,
    /// Run on the small-memory top level (256-row banks, 8-word coefficient banks: the
    /// one an iCE40 holds; 16-bit ring, 2 MAC lanes).
    #[arg(long)]
    small: bool,
    /// Write a VCD trace of the run here.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn accel(a: &AccelArgs) -> Result<()> {
    let net = Network::new(CheckedSpec::load(&a.spec)?);
    let w = crate::private_cmd::load_weights(&net, &a.spec, a.weights.as_deref())?;
    let v = VectorSet::read(&a.vectors)?;
    let hash: String = net.spec_hash().iter().map(|b| format!("{b:02x}")).collect();
    if v.manifest.meta.spec_hash != hash {
        bail!(
            "{}: these vectors are of another network (`{}`) than {}",
            a.vectors.display(),
            v.manifest.meta.network,
            a.spec.display()
        );
    }
    let device = Device::find(&a.fpga)?;
    let link = NetworkProfile::find(&a.net)?;
    let (mut config, origin) = match &a.config {
        Some(path) => (AcceleratorConfig::load(path)?, path.display().to_string()),
        None => (
            AcceleratorConfig::for_device(&device, net.graph.fixed_point()),
            format!("{}'s standard configuration", a.fpga),
        ),
    };
    let fixed = net.graph.fixed_point();
    if (config.ring_bits, config.frac_bits) != (fixed.ring_bits, fixed.frac_bits) {
        bail!(
            "{origin}: the configuration's ring (l = {}, f = {}) is not {}'s (l = {}, f = {})",
            config.ring_bits,
            config.frac_bits,
            a.spec.display(),
            fixed.ring_bits,
            fixed.frac_bits
        );
    }
    let lanes = match a.lanes {
        Some(l) => l,
        None => sim::accel::lanes_for(&net, config.mac_lanes).with_context(|| {
            format!(
                "{}: no lane count of the top level (2, 4, 8, 16, 32; at most {}'s {}) \
                 divides every convolution's output channels; give --lanes",
                a.spec.display(),
                origin,
                config.mac_lanes
            )
        })?,
    };
    let counts = hdl::accel::beaver_lane_counts(lanes);
    if counts.is_empty() {
        bail!("--lanes: the top level is generated for 2, 4, 8, 16 or 32 MAC lanes, not {lanes}");
    }
    let beaver_lanes = match a.beaver_lanes {
        Some(b) if counts.contains(&b) => b,
        Some(b) => bail!(
            "--beaver-lanes: the top level with {lanes} MAC lanes is generated for {} \
             Beaver lanes, not {b}",
            counts
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => {
            hdl::accel::beaver_lanes_for(lanes, config.mac_lanes, config.beaver_lanes).unwrap_or(1)
        }
    };
    let (config_lanes, config_beaver) = (config.mac_lanes, config.beaver_lanes);
    (config.mac_lanes, config.beaver_lanes) = (lanes, beaver_lanes);
    let s = schedule(
        &net.graph,
        &config,
        &device,
        &link,
        ScheduleOptions::default(),
    )
    .with_context(|| format!("scheduling {} on {}", a.spec.display(), a.fpga))?;
    let only: Option<Vec<usize>> = if a.layers.is_empty() {
        None
    } else {
        let mut ids = Vec::new();
        for l in &a.layers {
            match net.nodes.iter().position(|n| &n.label == l) {
                Some(i) => ids.push(i),
                None => bail!(
                    "--layers: no layer `{l}` in {}; it has {}",
                    a.spec.display(),
                    net.nodes
                        .iter()
                        .map(|n| n.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        Some(ids)
    };
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template"),
    );
    if !a.json {
        if (lanes, beaver_lanes) != (config_lanes, config_beaver) {
            eprintln!(
                "{lanes} MAC lanes and {} ({origin} has {config_lanes} and {config_beaver})",
                beaver_count(beaver_lanes)
            );
        }
        bar.set_message(format!(
            "building the accelerator ({lanes} MAC lanes, {}) and running it on Verilator",
            beaver_count(beaver_lanes)
        ));
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    let t0 = Instant::now();
    let size = if a.small {
        hdl::accel::Size::Small
    } else {
        hdl::accel::Size::Full
    };
    let r = sim::accel::verify(&net, &w, &s, &v, only.as_deref(), size, a.vcd.as_deref())
        .with_context(|| {
            format!(
                "{} on the {}-lane {} accelerator",
                a.spec.display(),
                lanes,
                size
            )
        })?;
    bar.finish_and_clear();
    if a.json {
        let mut j = serde_json::to_value(&r)?;
        j["passed"] = r.passed().into();
        j["configuration_lanes"] = config_lanes.into();
        j["configuration_beaver_lanes"] = config_beaver.into();
        j["small"] = a.small.into();
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        println!(
            "{:<16} {:>9} {:>22} {:>20}",
            "layer", "elements", "golden vs protocol", "Verilator vs golden"
        );
        for o in &r.outputs {
            println!(
                "{:<16} {:>9} {:>22} {:>20}",
                o.label,
                o.elements,
                o.golden_vs_protocol
                    .map_or("-".to_string(), |m| format!("{m} differ")),
                format!("{} differ", o.verilator_vs_golden)
            );
        }
        println!(
            "{} instructions for {} tasks ({} MAC lanes, {}, {} on {}): {} issued at their \
             start; last result at cycle {} (schedule: {}){}; {:.1} s",
            r.instructions,
            r.tasks,
            r.lanes,
            beaver_count(r.beaver_lanes),
            a.fpga,
            a.net,
            r.on_time,
            r.measured_ready,
            r.schedule_ready,
            if r.offset > 0 {
                format!(", counted from the schedule's cycle {}", r.offset)
            } else {
                String::new()
            },
            t0.elapsed().as_secs_f64()
        );
    }
    if !a.json && !r.skipped.is_empty() {
        println!(
            "not run (the element-wise steps of GC operators and Circa's ReLUs have no \
             instruction yet): {}",
            r.skipped
                .iter()
                .map(|(l, k)| format!("{l} ({k} tasks)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !r.passed() {
        bail!("the accelerator's run differs from the protocol or the schedule (above)");
    }
    if !a.json {
        println!("passed: bit-exact and cycle-exact");
    }
    Ok(())
}

/// `n Beaver lane(s)`.
pub fn beaver_count(n: u32) -> String {
    format!("{n} Beaver lane{}", if n == 1 { "" } else { "s" })
}
