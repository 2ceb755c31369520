//! Training plots as SVG: loss, accuracy and modelled latency per epoch, and the
//! accuracy-latency Pareto front of a sweep.

use crate::train::EpochLog;
use perf_model::estimate::plot::{escape, format_tick, tick_step};
use std::fmt::Write as _;

/// A named series of points drawn in one colour.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Stroke colour.
    pub color: &'a str,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Join the points with a line (else markers only).
    pub line: bool,
}

fn axis(lo: f64, hi: f64) -> (f64, f64, f64) {
    let span = (hi - lo).abs().max(1e-9);
    let step = tick_step(span);
    let a = (lo / step).floor() * step;
    let b = (hi / step).ceil() * step;
    (a, if b > a { b } else { a + step }, step)
}

/// One chart panel at `(x0, y0)` of `w` by `h` pixels.
fn panel(
    s: &mut String,
    (x0, y0, w, h): (f64, f64, f64, f64),
    title: &str,
    (xlabel, ylabel): (&str, &str),
    series: &[Series],
) {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (xmin, xmax) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (xmin, xmax) = if all.is_empty() {
        (0.0, 1.0)
    } else {
        (xmin, xmax)
    };
    let (ymin, ymax) = if all.is_empty() {
        (0.0, 1.0)
    } else {
        (ymin, ymax)
    };
    let (xa, xb, xs) = axis(xmin, xmax);
    let (ya, yb, ys) = axis(ymin, ymax);
    let px = |v: f64| x0 + w * (v - xa) / (xb - xa);
    let py = |v: f64| y0 + h - h * (v - ya) / (yb - ya);
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"##,
        x0 + w / 2.0,
        y0 - 10.0,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>"##
    );
    let mut v = ya;
    while v <= yb + ys * 1e-6 {
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            x0 + w,
            x0 - 4.0,
            y + 4.0,
            format_tick(v, ys)
        );
        v += ys;
    }
    let mut v = xa;
    while v <= xb + xs * 1e-6 {
        let x = px(v);
        let _ = writeln!(
            s,
            r##"<text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            y0 + h + 14.0,
            format_tick(v, xs)
        );
        v += xs;
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        x0 + w / 2.0,
        y0 + h + 30.0,
        escape(xlabel)
    );
    let _ = writeln!(
        s,
        r##"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        x0 - 42.0,
        y0 + h / 2.0,
        escape(ylabel)
    );
    for (k, ser) in series.iter().enumerate() {
        let pts: Vec<String> = ser
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if ser.line && pts.len() > 1 {
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"##,
                pts.join(" "),
                ser.color
            );
        }
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                s,
                r##"<circle cx="{x}" cy="{y}" r="3.5" fill="{}"><title>{}</title></circle>"##,
                ser.color,
                escape(ser.name)
            );
        }
        let ly = y0 + 14.0 + 15.0 * k as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"##,
            x0 + w + 10.0,
            ly - 9.0,
            ser.color,
            x0 + w + 24.0,
            ly,
            escape(ser.name)
        );
    }
}

fn document(width: f64, height: f64, title: &str, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n{body}</svg>\n",
        width / 2.0,
        escape(title)
    )
}

/// Loss, accuracy and modelled latency per epoch, three panels side by side.
pub fn curves_svg(network: &str, method: &str, history: &[EpochLog]) -> String {
    let pts = |f: &dyn Fn(&EpochLog) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|h| (h.epoch as f64, f(h))).collect()
    };
    let mut body = String::new();
    let (w, h, top) = (300.0, 230.0, 60.0);
    panel(
        &mut body,
        (70.0, top, w, h),
        "training loss",
        ("epoch", "loss"),
        &[
            Series {
                name: "loss",
                color: "#4c78a8",
                points: pts(&|h| h.loss),
                line: true,
            },
            Series {
                name: "cross-entropy",
                color: "#f58518",
                points: pts(&|h| h.cross_entropy),
                line: true,
            },
        ],
    );
    panel(
        &mut body,
        (530.0, top, w, h),
        "accuracy",
        ("epoch", "%"),
        &[
            Series {
                name: "train",
                color: "#4c78a8",
                points: pts(&|h| h.train_accuracy),
                line: true,
            },
            Series {
                name: "test",
                color: "#e45756",
                points: pts(&|h| h.test_accuracy),
                line: true,
            },
        ],
    );
    panel(
        &mut body,
        (990.0, top, w, h),
        "modelled online latency",
        ("epoch", "ms"),
        &[Series {
            name: "latency",
            color: "#54a24b",
            points: pts(&|h| h.latency_ms),
            line: true,
        }],
    );
    document(
        1420.0,
        top + h + 60.0,
        &format!("{network}: {method}"),
        &body,
    )
}

/// A point of a sweep: one trained network.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepPoint {
    /// The method's family (`polympc`, `delphi`, `autorep`, `all-relu`, `all-poly`).
    pub family: String,
    /// The run's name.
    pub run: String,
    /// Modelled online latency (ms).
    pub latency_ms: f64,
    /// Float test accuracy (%).
    pub float_accuracy: f64,
    /// Ring test accuracy (%).
    pub fixed_accuracy: f64,
}

/// The points no other point beats in both latency and accuracy, by latency.
pub fn pareto_front(points: &[&SweepPoint]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.latency_ms, p.fixed_accuracy))
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for q in p {
        if front.last().is_none_or(|l| q.1 > l.1) {
            front.push(q);
        }
    }
    front
}

/// Accuracy against modelled latency, each family's points and Pareto front.
pub fn pareto_svg(network: &str, target: &str, points: &[SweepPoint]) -> String {
    const COLORS: [(&str, &str); 5] = [
        ("polympc", "#e45756"),
        ("delphi", "#4c78a8"),
        ("autorep", "#f58518"),
        ("all-relu", "#54a24b"),
        ("all-poly", "#b279a2"),
    ];
    let mut series = Vec::new();
    for (family, color) in COLORS {
        let mine: Vec<&SweepPoint> = points.iter().filter(|p| p.family == family).collect();
        if mine.is_empty() {
            continue;
        }
        series.push(Series {
            name: family,
            color,
            points: pareto_front(&mine),
            line: true,
        });
    }
    let mut body = String::new();
    panel(
        &mut body,
        (80.0, 60.0, 640.0, 400.0),
        "accuracy in the ring against modelled online latency (Pareto fronts)",
        ("modelled online latency (ms)", "test accuracy (%)"),
        &series,
    );
    document(900.0, 520.0, &format!("{network} on {target}"), &body)
}
