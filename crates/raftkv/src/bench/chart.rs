//! `--chart FILE`: a hand-written SVG of latency percentiles per second (log scale) and
//! of requests completed per second below it.

use super::report::Second;
use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 150.0; // room for the legend
const LATENCY_TOP: f64 = 50.0;
const LATENCY_BOTTOM: f64 = 330.0;
const THROUGHPUT_TOP: f64 = 370.0;
const THROUGHPUT_BOTTOM: f64 = 470.0;
const HEIGHT: f64 = 510.0;

/// A series drawn: name, colour, and how to pick its value (µs) from a second.
type Series = (&'static str, &'static str, fn(&Second) -> u64);

const SERIES: [Series; 5] = [
    ("p50", "#1f77b4", |s| s.latency.p50),
    ("p90", "#2ca02c", |s| s.latency.p90),
    ("p99", "#ff7f0e", |s| s.latency.p99),
    ("p99.9", "#d62728", |s| s.latency.p999),
    ("max", "#7f7f7f", |s| s.latency.max),
];

/// Renders the chart; `title` goes on top (escaped).
pub fn render(timeline: &[Second], title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="25" font-size="15">{}</text>"#,
        escape(title)
    );
    let seconds = timeline.len().max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x_of = |second: f64| LEFT + plot_width * (second + 0.5) / seconds as f64;
    let measured: Vec<&Second> = timeline.iter().filter(|s| s.latency.count > 0).collect();

    // Latency panel, log scale over whole decades.
    let lowest = measured
        .iter()
        .map(|s| s.latency.p50)
        .min()
        .unwrap_or(1)
        .max(1);
    let highest = measured
        .iter()
        .map(|s| s.latency.max)
        .max()
        .unwrap_or(10)
        .max(lowest + 1);
    let (low_decade, high_decade) = (
        (lowest as f64).log10().floor(),
        (highest as f64)
            .log10()
            .ceil()
            .max((lowest as f64).log10().floor() + 1.0),
    );
    let y_of = |us: u64| {
        let fraction = ((us.max(1) as f64).log10() - low_decade) / (high_decade - low_decade);
        LATENCY_BOTTOM - fraction * (LATENCY_BOTTOM - LATENCY_TOP)
    };
    for decade in low_decade as i32..=high_decade as i32 {
        let us = 10f64.powi(decade) as u64;
        let y = y_of(us);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            latency_label(us)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="15" y="{:.1}" transform="rotate(-90 15 {:.1})" text-anchor="middle">latency (log scale)</text>"#,
        (LATENCY_TOP + LATENCY_BOTTOM) / 2.0,
        (LATENCY_TOP + LATENCY_BOTTOM) / 2.0
    );
    for (index, (name, colour, value)) in SERIES.iter().enumerate() {
        let points: Vec<String> = measured
            .iter()
            .map(|s| format!("{:.1},{:.1}", x_of(s.second as f64), y_of(value(s))))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                svg,
                r#"<polyline class="{}" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                name.replace('.', "_"),
                points.join(" ")
            );
        }
        let legend_y = LATENCY_TOP + 10.0 + 20.0 * index as f64;
        let legend_x = WIDTH - RIGHT + 20.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{:.1}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            legend_x + 25.0,
            legend_x + 32.0,
            legend_y + 4.0
        );
    }

    // Throughput panel: requests completed per second, as bars.
    let most = timeline
        .iter()
        .map(|s| s.latency.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_width = (plot_width / seconds as f64 * 0.8).max(1.0);
    for s in timeline {
        let height = (THROUGHPUT_BOTTOM - THROUGHPUT_TOP) * s.latency.count as f64 / most as f64;
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{bar_width:.1}" height="{height:.1}" fill="#9ecae1"><title>second {}: {} requests</title></rect>"##,
            x_of(s.second as f64) - bar_width / 2.0,
            THROUGHPUT_BOTTOM - height,
            s.second,
            s.latency.count
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{most}/s</text><text x="{:.1}" y="{THROUGHPUT_BOTTOM}" text-anchor="end">0</text><text x="{:.1}" y="{:.1}">requests per second</text>"#,
        LEFT - 6.0,
        THROUGHPUT_TOP + 4.0,
        LEFT - 6.0,
        WIDTH - RIGHT + 20.0,
        THROUGHPUT_TOP + 10.0
    );

    // The time axis, labelled about ten times.
    let step = seconds.div_ceil(10).max(1);
    for second in (0..seconds).step_by(step) {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{second}</text>"#,
            x_of(second as f64),
            THROUGHPUT_BOTTOM + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds after the warm-up</text>"#,
        LEFT + plot_width / 2.0,
        THROUGHPUT_BOTTOM + 34.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn latency_label(us: u64) -> String {
    match us {
        0..=999 => format!("{} ms", us as f64 / 1000.0),
        _ if us < 1_000_000 => format!("{} ms", us / 1000),
        _ => format!("{} s", us / 1_000_000),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Percentiles;

    fn second(second: usize, p50: u64, max: u64, count: u64) -> Second {
        Second {
            second,
            latency: Percentiles {
                count,
                mean: p50 as f64,
                p50,
                p90: p50 * 2,
                p99: p50 * 4,
                p999: p50 * 8,
                max,
            },
        }
    }

    #[test]
    fn one_polyline_per_percentile_with_a_point_per_measured_second() {
        let timeline = [
            second(0, 100, 5_000, 1000),
            second(1, 120, 9_000, 900),
            second(2, 0, 0, 0), // nothing completed: no point, an empty bar
            second(3, 150, 20_000, 1100),
        ];
        let svg = render(&timeline, "a <test> & more");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;test&gt; &amp; more"));
        for class in ["p50", "p90", "p99", "p99_9", "max"] {
            let start = svg
                .find(&format!("class=\"{class}\""))
                .unwrap_or_else(|| panic!("{class} missing"));
            let line = &svg[start..svg[start..].find('\n').unwrap() + start];
            let points = line.split("points=\"").nth(1).unwrap();
            assert_eq!(points.split(' ').count(), 3, "{line}");
        }
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert!(svg.contains("1100 requests"));
        // The decades from 0.1 ms (below p50 = 100 µs) to 100 ms (above max = 20 ms).
        for label in ["0.1 ms", "1 ms", "10 ms", "100 ms"] {
            assert!(svg.contains(&format!(">{label}<")), "{label}");
        }
    }

    #[test]
    fn higher_latencies_are_drawn_higher() {
        let timeline = [second(0, 100, 1_000, 10)];
        let svg = render(&timeline, "t");
        let y_of_class = |class: &str| -> f64 {
            let start = svg.find(&format!("class=\"{class}\"")).unwrap();
            let points = svg[start..].split("points=\"").nth(1).unwrap();
            let point = points.split('"').next().unwrap();
            point.split(',').nth(1).unwrap().parse().unwrap()
        };
        assert!(y_of_class("p50") > y_of_class("p99"));
        assert!(y_of_class("p99") > y_of_class("max"));
    }

    #[test]
    fn an_empty_run_still_renders_a_valid_document() {
        let svg = render(&[], "nothing");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
