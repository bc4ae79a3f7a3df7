//! Renders the graphs `logsieve dashboard` defines from a simulated hour of demo traffic, to
//! `docs/dashboard.png` for the README: what a user will see in CloudWatch, drawn locally.
//!
//! Every minute, generated batches for the demo's three log groups (a Lambda function, a JSON
//! API, an nginx access log; traffic follows a slow wave) run through one warm pipeline with
//! `examples/logsieve.toml`; the datums it emits are folded per minute into the same statistics
//! the dashboard asks CloudWatch for.
//!
//! cargo run -p logsieve-cli --example render_dashboard [-- OUT.png [FONT.ttf]]
//! The font defaults to DejaVu Sans (Debian's fonts-dejavu-core). The image is written with a
//! 256-colour palette (the chart has few colours; anti-aliased edges snap to the nearest one),
//! which keeps the committed PNG small.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use logsieve::config::CheckedConfig;
use logsieve::metrics::MetricDatum;
use logsieve::pipeline::Pipeline;
use logsieve::record::{Batch, LogEvent, Source};
use logsieve_testkit::generate::{events, Mix, BASE_TS};

const MINUTES: usize = 60;
const WIDTH: u32 = 1600;
const HEIGHT: u32 = 1500;
/// The simulated hour starts on a minute boundary, so each point holds exactly one minute.
const START: i64 = BASE_TS - BASE_TS.rem_euclid(60_000);
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// (log group, mix, events per minute at the wave's midpoint).
const GROUPS: &[(&str, Mix, f64)] = &[
    ("/aws/lambda/checkout", Mix::Lambda, 240.0),
    ("/ecs/orders-api", Mix::JsonApp, 300.0),
    ("/nginx/access", Mix::Access, 200.0),
];

/// Weighted samples per minute of one series: (value, count).
type Samples = Vec<Vec<(f64, f64)>>;
/// A labelled line of a graph: one value per minute.
type Line = (String, Vec<f64>);

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("docs/dashboard.png"));
    let font_path = args.next().unwrap_or_else(|| DEFAULT_FONT.to_string());
    let font = std::fs::read(&font_path)
        .map_err(|e| format!("{font_path}: {e} (install fonts-dejavu-core or pass a .ttf)"))?;
    // plotters keeps the font for the life of the process.
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| format!("{font_path}: not a usable font"))?;

    let text = std::fs::read_to_string(root.join("examples/logsieve.toml"))?;
    let config = CheckedConfig::from_toml(&text)?;
    let mut pipeline = Pipeline::new(config).with_records(false);
    let mut series: BTreeMap<String, Samples> = BTreeMap::new();
    for minute in 0..MINUTES {
        let wave = 1.0 + 0.5 * (minute as f64 / MINUTES as f64 * std::f64::consts::TAU).sin();
        for (g, &(group, mix, per_minute)) in GROUPS.iter().enumerate() {
            let n = (per_minute * wave) as usize;
            let seed = (minute * GROUPS.len() + g) as u64 + 1;
            let start = START + (minute as i64) * 60_000;
            let evs = events(mix, n, seed);
            let first = evs.first().map_or(0, |e| e.timestamp);
            let batch = Batch {
                source: Arc::new(Source {
                    log_group: group.into(),
                    log_stream: "demo".into(),
                    ..Source::default()
                }),
                events: evs
                    .into_iter()
                    .map(|e| LogEvent {
                        id: e.id,
                        // Spread the batch over its minute, keeping the generator's order.
                        timestamp: start + (e.timestamp - first).rem_euclid(60_000),
                        message: e.message,
                        extracted_fields: None,
                    })
                    .collect(),
            };
            for d in pipeline.process(batch).metrics {
                add(&mut series, &d);
            }
        }
    }

    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        area.fill(&WHITE)?;
        let (title, body) = area.split_vertically(50);
        title.draw(&Text::new(
            "logsieve dashboard: one simulated hour of examples/logsieve.toml (1-minute points)",
            (20, 14),
            ("sans-serif", 24).into_font().color(&BLACK),
        ))?;
        let panels = body.split_evenly((4, 2));
        let f = "FunctionName=checkout";
        let stat = |name: &str, s: Stat| -> Vec<f64> {
            series
                .get(name)
                .map(|m| m.iter().map(|v| s.apply(v)).collect())
                .unwrap_or_else(|| vec![0.0; MINUTES])
        };
        let by_prefix = |prefix: &str, s: Stat| -> Vec<Line> {
            series
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, m)| {
                    let label = k.trim_start_matches(prefix).trim_start_matches(' ');
                    (label.to_string(), m.iter().map(|v| s.apply(v)).collect())
                })
                .collect()
        };
        let graphs: Vec<(&str, &str, Vec<Line>)> = vec![
            (
                "Duration p50 / p90 / p99",
                "ms",
                vec![
                    ("p50".into(), stat(&format!("Duration {f}"), Stat::P(50.0))),
                    ("p90".into(), stat(&format!("Duration {f}"), Stat::P(90.0))),
                    ("p99".into(), stat(&format!("Duration {f}"), Stat::P(99.0))),
                ],
            ),
            (
                "Invocations and cold starts",
                "count / min",
                vec![
                    (
                        "Invocations".into(),
                        stat(&format!("Invocations {f}"), Stat::Sum),
                    ),
                    (
                        "ColdStarts".into(),
                        stat(&format!("ColdStarts {f}"), Stat::Sum),
                    ),
                ],
            ),
            (
                "Memory: max used vs. size",
                "MB",
                vec![
                    (
                        "MaxMemoryUsed".into(),
                        stat(&format!("MaxMemoryUsed {f}"), Stat::Max),
                    ),
                    (
                        "MemorySize".into(),
                        stat(&format!("MemorySize {f}"), Stat::Max),
                    ),
                ],
            ),
            (
                "Errors, timeouts, out of memory",
                "count / min",
                vec![
                    ("Errors".into(), stat(&format!("Errors {f}"), Stat::Sum)),
                    ("Timeouts".into(), stat(&format!("Timeouts {f}"), Stat::Sum)),
                    (
                        "OutOfMemory".into(),
                        stat(&format!("OutOfMemory {f}"), Stat::Sum),
                    ),
                ],
            ),
            (
                "Estimated cost",
                "USD / min",
                vec![(
                    "EstimatedCost".into(),
                    stat(&format!("EstimatedCost {f}"), Stat::Sum),
                )],
            ),
            (
                "Latency p99 by Service, Method (rule)",
                "ms",
                by_prefix("Latency ", Stat::P(99.0)),
            ),
            (
                "ServerErrors by Service (rule)",
                "count / min",
                by_prefix("ServerErrors ", Stat::Sum),
            ),
            (
                "ClientErrors by StatusCode (rule)",
                "count / min",
                by_prefix("ClientErrors ", Stat::Sum),
            ),
        ];
        for (panel, (title, unit, lines)) in panels.iter().zip(graphs) {
            draw(panel, title, unit, &lines)?;
        }
        area.present()?;
    }
    write_indexed_png(&out, &pixels)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Files a datum under "MetricName Dim=value,…" per minute.
fn add(series: &mut BTreeMap<String, Samples>, d: &MetricDatum) {
    let dims: Vec<String> = d
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let key = format!("{} {}", d.metric_name, dims.join(","));
    let minute = ((d.timestamp - START) / 60_000).clamp(0, MINUTES as i64 - 1) as usize;
    let per_minute = series
        .entry(key)
        .or_insert_with(|| vec![Vec::new(); MINUTES]);
    if let Some(slot) = per_minute.get_mut(minute) {
        slot.extend(d.values.iter().copied().zip(d.counts.iter().copied()));
    }
}

#[derive(Clone, Copy)]
enum Stat {
    Sum,
    Max,
    /// Percentile, 0–100, as CloudWatch computes from values and counts (nearest rank).
    P(f64),
}

impl Stat {
    fn apply(self, samples: &[(f64, f64)]) -> f64 {
        match self {
            Stat::Sum => samples.iter().map(|(v, c)| v * c).sum(),
            Stat::Max => samples.iter().map(|(v, _)| *v).fold(0.0, f64::max),
            Stat::P(p) => {
                let mut s = samples.to_vec();
                s.sort_by(|a, b| a.0.total_cmp(&b.0));
                let total: f64 = s.iter().map(|(_, c)| c).sum();
                let rank = (p / 100.0 * total).ceil().max(1.0);
                let mut seen = 0.0;
                for (v, c) in s {
                    seen += c;
                    if seen >= rank {
                        return v;
                    }
                }
                0.0
            }
        }
    }
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    lines: &[Line],
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let top = lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max);
    // Head room for the legend, one row per line.
    let shown = lines.len().min(COLORS.len()) as f64;
    let top = if top > 0.0 {
        top * (1.15 + 0.1 * shown)
    } else {
        1.0
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..(MINUTES - 1) as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("minute")
        .y_desc(unit)
        .x_labels(7)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(5)
        .y_label_formatter(&|v| {
            if top < 0.01 {
                format!("{v:.1e}")
            } else if top < 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            }
        })
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 13))
        .draw()?;
    // Only the busiest lines get a legend entry; CloudWatch shows at most a handful as well.
    let mut ranked: Vec<&Line> = lines.iter().collect();
    ranked.sort_by(|a, b| {
        let s = |v: &Vec<f64>| v.iter().sum::<f64>();
        s(&b.1).total_cmp(&s(&a.1))
    });
    for (i, (label, values)) in ranked.iter().take(COLORS.len()).enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                values.iter().enumerate().map(|(x, y)| (x as f64, *y)),
                color.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// Writes RGB pixels as a palette PNG: the 256 most frequent colours, every other pixel mapped
/// to the nearest of them.
fn write_indexed_png(path: &std::path::Path, rgb: &[u8]) -> Result<(), Box<dyn Error>> {
    let mut freq: HashMap<[u8; 3], u64> = HashMap::new();
    for p in rgb.chunks_exact(3) {
        *freq.entry([p[0], p[1], p[2]]).or_default() += 1;
    }
    let mut by_freq: Vec<([u8; 3], u64)> = freq.into_iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_freq.iter().take(256).map(|(c, _)| *c).collect();
    let mut index: HashMap<[u8; 3], u8> = HashMap::new();
    let mut indices = Vec::with_capacity(rgb.len() / 3);
    for p in rgb.chunks_exact(3) {
        let c = [p[0], p[1], p[2]];
        let i = *index.entry(c).or_insert_with(|| {
            let dist = |q: &[u8; 3]| -> i32 {
                (0..3)
                    .map(|k| (i32::from(c[k]) - i32::from(q[k])).pow(2))
                    .sum()
            };
            palette
                .iter()
                .enumerate()
                .min_by_key(|(_, q)| dist(q))
                .map_or(0, |(i, _)| i as u8)
        });
        indices.push(i);
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.concat());
    enc.set_compression(png::Compression::Best);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&indices)?;
    Ok(())
}
