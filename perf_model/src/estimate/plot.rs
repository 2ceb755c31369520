//! The per-layer latency breakdown as an SVG chart: one horizontal bar per operator,
//! split into compute (or memory, whichever bounds it), transfer and round latency, with
//! the lower bound marked.

use super::NetworkEstimate;
use std::fmt::Write as _;

const PARTS: [(&str, &str); 3] = [
    ("compute / memory", "#4c78a8"),
    ("transfer", "#f58518"),
    ("round latency", "#54a24b"),
];

/// Escapes text for SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for an axis spanning `max`: 1, 2 or 5 times a power of ten.
pub fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// A horizontal axis under a plot area `(left, width, top, bottom)`: a grid line and a
/// label every `step` from 0 to `max`, placed by `x`, and the axis's name below.
pub fn x_axis(
    s: &mut String,
    (left, width, top, bottom): (f64, f64, f64, f64),
    (max, step): (f64, f64),
    x: impl Fn(f64) -> f64,
    name: &str,
) {
    let mut t = 0.0;
    while t <= max + step * 1e-9 {
        let xt = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xt:.1}" y1="{top}" x2="{xt:.1}" y2="{bottom}" stroke="#ddd"/><text x="{xt:.1}" y="{}" text-anchor="middle">{}</text>"##,
            bottom + 14.0,
            format_tick(t, step)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + width / 2.0,
        bottom + 34.0,
        escape(name)
    );
}

/// The online latency of every operator that takes any time, as an SVG document.
pub fn online_breakdown_svg(e: &NetworkEstimate) -> String {
    let rows: Vec<_> = e.layers.iter().filter(|l| l.online.total_s > 0.0).collect();
    let (left, right, top, row_h) = (230.0, 40.0, 70.0, 18.0);
    let width = 1000.0;
    let plot_w = width - left - right;
    let height = top + row_h * rows.len().max(1) as f64 + 70.0;
    let max_ms = rows
        .iter()
        .map(|l| l.online.total_s * 1e3)
        .fold(0.0, f64::max)
        .max(1e-6);
    let step = tick_step(max_ms);
    let axis_max = (max_ms / step).ceil() * step;
    let x = |v_ms: f64| left + plot_w * v_ms / axis_max;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}: online latency per operator on {} over {} (total {:.3} ms, bound {:.3} ms)</text>"#,
        width / 2.0,
        escape(&e.name),
        escape(&e.device),
        escape(&e.network.name),
        e.online.total_s * 1e3,
        e.online.bound_s * 1e3
    );
    // Legend.
    let mut lx = left;
    for (name, colour) in PARTS {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="36" width="12" height="12" fill="{colour}"/><text x="{}" y="46">{name}</text>"#,
            lx + 16.0
        );
        lx += 150.0;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{lx}" y1="42" x2="{}" y2="42" stroke="black" stroke-dasharray="3,2"/><text x="{}" y="46">lower bound</text>"#,
        lx + 14.0,
        lx + 18.0
    );
    // Grid and axis.
    let bottom = top + row_h * rows.len().max(1) as f64;
    x_axis(
        &mut s,
        (left, plot_w, top, bottom),
        (axis_max, step),
        x,
        "online latency (ms)",
    );
    for (i, l) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let o = &l.online;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{} ({})</text>"#,
            left - 6.0,
            y + row_h * 0.7,
            escape(&l.workload.label),
            escape(&l.workload.kind)
        );
        let mut x0 = 0.0;
        for ((_, colour), secs) in
            PARTS
                .iter()
                .zip([o.compute_s.max(o.memory_s), o.transfer_s, o.latency_s])
        {
            let w_ms = secs * 1e3;
            if w_ms > 0.0 {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{colour}"><title>{:.4} ms</title></rect>"#,
                    x(x0),
                    y + 2.0,
                    x(x0 + w_ms) - x(x0),
                    row_h - 4.0,
                    w_ms
                );
            }
            x0 += w_ms;
        }
        let xb = x(o.bound_s * 1e3);
        let _ = writeln!(
            s,
            r#"<line x1="{xb:.2}" y1="{:.1}" x2="{xb:.2}" y2="{:.1}" stroke="black" stroke-dasharray="3,2"/>"#,
            y + 1.0,
            y + row_h - 1.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// A tick label with as many decimals as the step needs.
pub fn format_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(tick_step(0.7), 0.2);
        assert_eq!(tick_step(260.0), 100.0);
        assert_eq!(format_tick(0.4, 0.2), "0.4");
    }
}
