//! Design-space exploration: which accelerator configuration to build for a network on
//! a device and a network link.
//!
//! The space is every combination of MAC lanes, Beaver lanes, garbled-circuit engines,
//! AES cores per engine, round circuits per AES core and S-box style (powers of two for
//! the counts), with the device's board clock and the buffers of
//! [`AcceleratorConfig::at_scale`]. Each configuration that fits the device is scored
//! by perf_model's online latency of the network (the offline latency and the lower
//! bound are kept beside it); resources grow with every count, so each count stops
//! growing at the first size that no longer fits. The result is every fitting point,
//! the Pareto set of latency against resource use (the highest utilisation of any
//! resource), and the fastest configuration within a routing margin.

use crate::graph::TwoPcGraph;
use perf_model::accel::{AcceleratorConfig, FitReport, GcConfig, Sbox};
use perf_model::device::Device;
use perf_model::estimate::CostModel;
use perf_model::network::NetworkProfile;
use perf_model::spec::FixedPoint;
use serde::Serialize;
use std::fmt::Write as _;

/// How the exploration chooses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DseOptions {
    /// The highest utilisation of any resource the chosen configuration may have
    /// (room for routing), 0 to 1.
    pub max_utilisation: f64,
    /// The largest count tried for MAC lanes (Beaver lanes and engines stop lower).
    pub max_lanes: u32,
}

impl Default for DseOptions {
    fn default() -> DseOptions {
        DseOptions {
            max_utilisation: 0.8,
            max_lanes: 1 << 13,
        }
    }
}

/// One configuration evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The configuration.
    pub config: AcceleratorConfig,
    /// Highest utilisation of any resource, 0 to 1.
    pub utilisation: f64,
    /// LUTs, DSPs and block RAMs used.
    pub luts: u64,
    /// DSP slices used.
    pub dsps: u64,
    /// Block RAMs used.
    pub bram: u64,
    /// Modelled online latency of the network, seconds.
    pub online_s: f64,
    /// Its lower bound (every unit, the memory and the link at full rate).
    pub online_bound_s: f64,
    /// Modelled offline latency, seconds.
    pub offline_s: f64,
}

/// What the exploration found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exploration {
    /// The network.
    pub network: String,
    /// The device.
    pub device: String,
    /// The link.
    pub link: NetworkProfile,
    /// The margin used.
    pub max_utilisation: f64,
    /// Configurations tried (fitting or not).
    pub tried: usize,
    /// Every configuration that fits, fastest first.
    pub points: Vec<Point>,
    /// Indices into `points` of the Pareto set (no other point is both faster and
    /// smaller), smallest first.
    pub pareto: Vec<usize>,
    /// Index into `points` of the chosen configuration: the fastest within the margin
    /// (the smaller on a tie).
    pub chosen: usize,
}

/// Why no configuration can be chosen.
#[derive(Debug, thiserror::Error)]
pub enum DseError {
    /// Not even the smallest configuration fits.
    #[error(
        "no accelerator configuration for a {ring_bits}-bit ring fits {device}: the smallest \
         (1 MAC lane, 1 Beaver lane, 1 GC engine with one rolled AES core) needs {}",
        shortfalls.iter().map(|(r, need, have)| format!("{need} {r} of {have} (short by {})", need - have)).collect::<Vec<_>>().join(", ")
    )]
    NothingFits {
        /// The device.
        device: String,
        /// The ring.
        ring_bits: u32,
        /// Resource, needed, available.
        shortfalls: Vec<(&'static str, u64, u64)>,
        /// The smallest configuration's resources.
        report: Box<FitReport>,
    },
    /// Configurations fit, but none within the routing margin.
    #[error(
        "no accelerator configuration fits {device} within {:.0}% utilisation: the smallest \
         uses {:.0}% of its busiest resource",
        100.0 * margin, 100.0 * smallest
    )]
    OverMargin {
        /// The device.
        device: String,
        /// The margin.
        margin: f64,
        /// The smallest utilisation found.
        smallest: f64,
    },
    /// The cost model refused a configuration (a format mismatch).
    #[error("{0}")]
    Estimate(#[from] perf_model::estimate::EstimateError),
}

fn powers(max: u32) -> impl Iterator<Item = u32> {
    std::iter::successors(Some(1u32), |&x| x.checked_mul(2)).take_while(move |&x| x <= max)
}

/// The smallest configuration: one of every unit, one rolled AES core, S-boxes as `sbox`.
pub fn smallest(fixed: FixedPoint, sbox: Sbox, d: &Device) -> AcceleratorConfig {
    let mut c = AcceleratorConfig::at_scale(1, fixed, sbox, d);
    c.mac_lanes = 1;
    c.beaver_lanes = 1;
    c.gc = GcConfig {
        engines: 1,
        aes_cores: 1,
        aes_round_units: 1,
        ..c.gc
    };
    c
}

/// Explores the configurations for `graph` on `device` over `link`.
pub fn explore(
    graph: &TwoPcGraph,
    device: &Device,
    link: &NetworkProfile,
    opts: DseOptions,
) -> Result<Exploration, DseError> {
    let fixed = graph.fixed_point();
    let workloads = graph.workloads();
    // Protocol costs depend on the ring only: computed once for every configuration.
    let costs: Vec<_> = workloads
        .iter()
        .map(|w| w.operation.cost(w.elements, fixed.ring_bits))
        .collect();
    let mut points = Vec::new();
    let mut tried = 0;
    let mut score = |c: AcceleratorConfig, tried: &mut usize| -> Result<bool, DseError> {
        *tried += 1;
        let r = c.resources(device);
        if !r.fits() {
            return Ok(false);
        }
        let model = CostModel::new(device.clone(), c, link.clone())?;
        let (mut online_s, mut online_bound_s, mut offline_s) = (0.0, 0.0, 0.0);
        for (w, cost) in workloads.iter().zip(&costs) {
            let e = model.layer_with_cost(w, cost);
            online_s += e.online.total_s;
            online_bound_s += e.online.bound_s;
            offline_s += e.offline.total_s;
        }
        points.push(Point {
            config: c,
            utilisation: r.utilisation(),
            luts: r.total.luts,
            dsps: r.total.dsps,
            bram: r.total.bram,
            online_s,
            online_bound_s,
            offline_s,
        });
        Ok(true)
    };
    for sbox in [Sbox::Lut, Sbox::Ram] {
        let base = smallest(fixed, sbox, device);
        for round_units in [1, 2, 5, 10] {
            for aes_cores in 1..=4 {
                for engines in powers(64) {
                    let gc = GcConfig {
                        engines,
                        aes_cores,
                        aes_round_units: round_units,
                        ..base.gc
                    };
                    let mut any_b = false;
                    for beaver in powers(opts.max_lanes / 4) {
                        let mut any_m = false;
                        for mac in powers(opts.max_lanes) {
                            let c = AcceleratorConfig {
                                mac_lanes: mac,
                                beaver_lanes: beaver,
                                gc,
                                ..base
                            };
                            if !score(c, &mut tried)? {
                                break;
                            }
                            any_m = true;
                        }
                        if !any_m {
                            break;
                        }
                        any_b = true;
                    }
                    if !any_b {
                        break;
                    }
                }
            }
        }
    }
    if points.is_empty() {
        let report = [Sbox::Lut, Sbox::Ram]
            .map(|s| smallest(fixed, s, device).resources(device))
            .into_iter()
            .min_by(|a, b| a.utilisation().total_cmp(&b.utilisation()))
            .unwrap_or_else(|| smallest(fixed, Sbox::Lut, device).resources(device));
        return Err(DseError::NothingFits {
            device: device.name.clone(),
            ring_bits: fixed.ring_bits,
            shortfalls: report.shortfalls(),
            report: Box::new(report),
        });
    }
    points.sort_by(|a, b| {
        a.online_s
            .total_cmp(&b.online_s)
            .then(a.utilisation.total_cmp(&b.utilisation))
    });
    let pareto = pareto_front(&points);
    let chosen = points
        .iter()
        .position(|p| p.utilisation <= opts.max_utilisation)
        .ok_or_else(|| DseError::OverMargin {
            device: device.name.clone(),
            margin: opts.max_utilisation,
            smallest: points
                .iter()
                .map(|p| p.utilisation)
                .fold(f64::INFINITY, f64::min),
        })?;
    Ok(Exploration {
        network: graph.name().to_string(),
        device: device.name.clone(),
        link: link.clone(),
        max_utilisation: opts.max_utilisation,
        tried,
        points,
        pareto,
        chosen,
    })
}

/// The points no other point beats on both latency and utilisation, smallest first.
fn pareto_front(points: &[Point]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| {
        points[a]
            .utilisation
            .total_cmp(&points[b].utilisation)
            .then(points[a].online_s.total_cmp(&points[b].online_s))
    });
    let mut front = Vec::new();
    let mut best = f64::INFINITY;
    for i in idx {
        if points[i].online_s < best {
            best = points[i].online_s;
            front.push(i);
        }
    }
    front
}

impl Exploration {
    /// The chosen point.
    pub fn best(&self) -> &Point {
        &self.points[self.chosen]
    }

    /// The Pareto set and the choice as a table.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} on {} over {}: {} configurations tried, {} fit, {} on the Pareto front",
            self.network,
            self.device,
            self.link.name,
            self.tried,
            self.points.len(),
            self.pareto.len()
        );
        let _ = writeln!(
            s,
            "{:>6} {:>6} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7} {:>6} {:>6} {:>11} {:>11} {:>11}",
            "",
            "mac",
            "beaver",
            "gc",
            "aes",
            "round",
            "sbox",
            "util",
            "DSP",
            "BRAM",
            "online ms",
            "bound ms",
            "offline ms"
        );
        for &i in &self.pareto {
            let p = &self.points[i];
            let c = &p.config;
            let _ = writeln!(
                s,
                "{:>6} {:>6} {:>7} {:>5} {:>5} {:>5} {:>9} {:>6.1}% {:>6} {:>6} {:>11.3} {:>11.3} {:>11.3}",
                if i == self.chosen { "chosen" } else { "" },
                c.mac_lanes,
                c.beaver_lanes,
                c.gc.engines,
                c.gc.aes_cores,
                c.gc.aes_round_units,
                format!("{:?}", c.gc.sbox).to_lowercase(),
                100.0 * p.utilisation,
                p.dsps,
                p.bram,
                1e3 * p.online_s,
                1e3 * p.online_bound_s,
                1e3 * p.offline_s
            );
        }
        let b = self.best();
        let _ = writeln!(
            s,
            "chosen: the fastest within {:.0}% utilisation: {:.3} ms online ({:.1}% of its busiest resource)",
            100.0 * self.max_utilisation,
            1e3 * b.online_s,
            100.0 * b.utilisation
        );
        s
    }

    /// Every fitting point (grey), the Pareto front (a line) and the choice (ringed),
    /// latency against utilisation, as an SVG document.
    pub fn pareto_svg(&self) -> String {
        use perf_model::estimate::plot::{escape, format_tick, tick_step};
        let (w, h, left, right, top, bottom) = (800.0, 520.0, 80.0, 30.0, 60.0, 60.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let ms: Vec<f64> = self.points.iter().map(|p| 1e3 * p.online_s).collect();
        let (lo, hi) = ms
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        // Latency on a log axis: the space spans orders of magnitude.
        let (l0, l1) = (
            lo.max(1e-6).log10().floor(),
            hi.max(1e-6).log10().ceil().max(lo.log10().floor() + 1.0),
        );
        let x = |u: f64| left + pw * u.min(1.0);
        let y = |m: f64| top + ph * (1.0 - (m.max(1e-6).log10() - l0) / (l1 - l0));
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}: design space on {} ({} configurations)</text>"#,
            w / 2.0,
            escape(&self.network),
            escape(&self.device),
            self.points.len()
        );
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##
        );
        let step = tick_step(1.0);
        let mut t = 0.0;
        while t <= 1.0 + 1e-9 {
            let _ = writeln!(
                s,
                r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}%</text>"##,
                x(t),
                top,
                top + ph,
                top + ph + 16.0,
                format_tick(100.0 * t, 100.0 * step)
            );
            t += step;
        }
        let mut e = l0;
        while e <= l1 + 1e-9 {
            let m = 10f64.powf(e);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
                y(m),
                left + pw,
                left - 6.0,
                y(m) + 4.0,
                format_tick(m, m)
            );
            e += 1.0;
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">highest utilisation of any resource</text>"#,
            left + pw / 2.0,
            h - 16.0
        );
        let _ = writeln!(
            s,
            r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">modelled online latency (ms, log)</text>"#,
            top + ph / 2.0,
            top + ph / 2.0
        );
        let margin = x(self.max_utilisation);
        let _ = writeln!(
            s,
            r##"<line x1="{margin}" y1="{top}" x2="{margin}" y2="{}" stroke="#c33" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="#c33">margin</text>"##,
            top + ph,
            margin + 4.0,
            top + 14.0
        );
        for (p, &m) in self.points.iter().zip(&ms) {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2" fill="#bbb"/>"##,
                x(p.utilisation),
                y(m)
            );
        }
        let line: Vec<String> = self
            .pareto
            .iter()
            .map(|&i| format!("{:.1},{:.1}", x(self.points[i].utilisation), y(ms[i])))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#4c78a8" stroke-width="2"/>"##,
            line.join(" ")
        );
        for &i in &self.pareto {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#4c78a8"/>"##,
                x(self.points[i].utilisation),
                y(ms[i])
            );
        }
        let b = self.best();
        let _ = writeln!(
            s,
            r##"<circle cx="{0:.1}" cy="{1:.1}" r="8" fill="none" stroke="#c33" stroke-width="2"/><text x="{2:.1}" y="{3:.1}" fill="#c33">chosen: {4:.3} ms</text>"##,
            x(b.utilisation),
            y(1e3 * b.online_s),
            x(b.utilisation) + 10.0,
            y(1e3 * b.online_s) - 10.0,
            1e3 * b.online_s
        );
        s.push_str("</svg>\n");
        s
    }
}
