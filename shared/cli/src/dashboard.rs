//! `logsieve dashboard`: a CloudWatch dashboard body (the JSON `PutDashboard` takes) with the
//! built-in Lambda metrics and one graph per rule, for the infra templates to deploy.
//!
//! Without function names every graph uses SEARCH expressions, so functions subscribed later
//! appear by themselves; with names, each function gets explicit metrics (usable in alarms and
//! cheaper to render). A SEARCH schema `{Namespace,Dim…}` matches only metrics with exactly those
//! dimensions, which keeps `Errors` by `FunctionName` apart from `Errors` by `ErrorType`.

use serde_json::{json, Value};

use logsieve::config::Config;
use logsieve::config_error::ConfigError;
use logsieve::metrics::packs::{cis_cloudtrail_controls, Control, PackRef};
use logsieve::metrics::{check_dimension_value, RuleConfig};

/// Widgets one dashboard may hold (CloudWatch quota).
pub const MAX_WIDGETS: usize = 500;
/// Explicit function names accepted: three percentile lines each stay within the 500 metrics a
/// graph may show.
pub const MAX_FUNCTIONS: usize = 100;
/// Graph period in seconds.
pub const DEFAULT_PERIOD: u32 = 300;
/// Dashboard grid width (CloudWatch's) and the size of one graph.
const GRID_WIDTH: u32 = 24;
const WIDGET_WIDTH: u32 = 12;
const WIDGET_HEIGHT: u32 = 6;

/// What the dashboard is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardOptions {
    /// AWS Region of the metrics (`us-east-1`).
    pub region: String,
    /// `FunctionName` values to graph explicitly; empty: SEARCH for every function.
    pub functions: Vec<String>,
    /// Seconds per data point (60, 300, …).
    pub period: u32,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            region: "us-east-1".into(),
            functions: Vec::new(),
            period: DEFAULT_PERIOD,
        }
    }
}

/// Why no dashboard could be built.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("region {0:?} is not a Region name like us-east-1")]
    Region(String),
    #[error("function name {name:?}: {reason}")]
    Function { name: String, reason: String },
    #[error("{0} functions; at most {MAX_FUNCTIONS} can be listed (omit them to use SEARCH)")]
    TooManyFunctions(usize),
    #[error("{0} graphs; a dashboard holds at most {MAX_WIDGETS}")]
    TooManyWidgets(usize),
    #[error("period {0} is not 60 or a multiple of 60 up to 86400")]
    Period(u32),
}

/// The dashboard body for `config` (validated first).
pub fn dashboard(config: &Config, opts: &DashboardOptions) -> Result<Value, DashboardError> {
    config.validate()?;
    let region_ok = (1..=32).contains(&opts.region.len())
        && opts
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && opts.region.contains('-');
    if !region_ok {
        return Err(DashboardError::Region(opts.region.clone()));
    }
    if opts.functions.len() > MAX_FUNCTIONS {
        return Err(DashboardError::TooManyFunctions(opts.functions.len()));
    }
    for f in &opts.functions {
        check_dimension_value(f).map_err(|e| DashboardError::Function {
            name: f.clone(),
            reason: e.to_string(),
        })?;
    }
    if opts.period == 0 || !opts.period.is_multiple_of(60) || opts.period > 86_400 {
        return Err(DashboardError::Period(opts.period));
    }
    let m = &config.metrics;
    let mut graphs: Vec<Graph> = Vec::new();
    if m.lambda_platform {
        graphs.extend(lambda_graphs(&m.namespace, &opts.functions));
    }
    for rule in &m.rules {
        graphs.push(rule_graph(rule, &m.namespace));
    }
    for rule in &m.pack_rules()? {
        let mut g = rule_graph(rule, &m.namespace);
        if let Some(c) = pack_control(&rule.metric_name) {
            g.title = format!("{} {}: {}", c.id, c.title, g.title);
        }
        graphs.push(g);
    }
    if graphs.len() > MAX_WIDGETS {
        return Err(DashboardError::TooManyWidgets(graphs.len()));
    }
    let per_row = (GRID_WIDTH / WIDGET_WIDTH) as usize;
    let widgets: Vec<Value> = graphs
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let x = (i % per_row) as u32 * WIDGET_WIDTH;
            let y = (i / per_row) as u32 * WIDGET_HEIGHT;
            widget(g, x, y, opts)
        })
        .collect();
    Ok(json!({
        "start": "-PT3H",
        "periodOverride": "inherit",
        "widgets": widgets,
    }))
}

/// `config` reduced to one pack's metrics (its options as configured, if it is), for
/// `logsieve dashboard --pack`: the security dashboard without the Lambda graphs and rules.
pub fn pack_only(config: &Config, pack: &str) -> Config {
    let mut c = config.clone();
    let entry = config
        .metrics
        .packs
        .iter()
        .find(|p| p.name() == pack)
        .cloned()
        .unwrap_or_else(|| PackRef::Name(pack.to_string()));
    c.metrics.rules.clear();
    c.metrics.lambda_platform = false;
    c.metrics.packs = vec![entry];
    c
}

fn pack_control(metric: &str) -> Option<&'static Control> {
    cis_cloudtrail_controls()
        .ok()?
        .iter()
        .find(|c| c.metric_name == metric)
}

/// One line of a graph: a metric (or a SEARCH for it) and a statistic.
#[derive(Debug, Clone)]
struct Line {
    namespace: String,
    metric: String,
    /// Dimension names and, for literal dimensions, their value.
    dimensions: Vec<(String, Option<String>)>,
    stat: &'static str,
    label: String,
}

#[derive(Debug, Clone)]
struct Graph {
    title: String,
    lines: Vec<Line>,
    /// Left Y-axis label.
    unit: String,
}

fn lambda_graphs(namespace: &str, functions: &[String]) -> Vec<Graph> {
    let line = |metric: &str, stat: &'static str, label: &str| Line {
        namespace: namespace.to_string(),
        metric: metric.to_string(),
        dimensions: vec![("FunctionName".into(), None)],
        stat,
        label: label.to_string(),
    };
    let graph = |title: &str, unit: &str, lines: Vec<Line>| Graph {
        title: title.to_string(),
        unit: unit.to_string(),
        lines: expand_functions(lines, functions),
    };
    vec![
        graph(
            "Duration p50 / p90 / p99",
            "Milliseconds",
            vec![
                line("Duration", "p50", "p50"),
                line("Duration", "p90", "p90"),
                line("Duration", "p99", "p99"),
            ],
        ),
        graph(
            "Invocations and cold starts",
            "Count",
            vec![
                line("Invocations", "Sum", "Invocations"),
                line("ColdStarts", "Sum", "ColdStarts"),
            ],
        ),
        graph(
            "Memory: max used vs. size",
            "Megabytes",
            vec![
                line("MaxMemoryUsed", "Maximum", "MaxMemoryUsed"),
                line("MemorySize", "Maximum", "MemorySize"),
            ],
        ),
        graph(
            "Errors, timeouts, out of memory",
            "Count",
            vec![
                line("Errors", "Sum", "Errors"),
                line("Timeouts", "Sum", "Timeouts"),
                line("OutOfMemory", "Sum", "OutOfMemory"),
            ],
        ),
        graph(
            "Estimated cost (USD)",
            "USD",
            vec![line("EstimatedCost", "Sum", "EstimatedCost")],
        ),
    ]
}

/// With explicit functions, one line per function per original line.
fn expand_functions(lines: Vec<Line>, functions: &[String]) -> Vec<Line> {
    if functions.is_empty() {
        return lines;
    }
    let mut out = Vec::with_capacity(lines.len() * functions.len());
    for l in lines {
        for f in functions {
            let mut l = l.clone();
            l.dimensions = vec![("FunctionName".into(), Some(f.clone()))];
            l.label = format!("{f} {}", l.label);
            out.push(l);
        }
    }
    out
}

fn rule_graph(rule: &RuleConfig, namespace: &str) -> Graph {
    let namespace = rule.metric_namespace.as_deref().unwrap_or(namespace);
    let dimensions: Vec<(String, Option<String>)> = rule
        .dimensions
        .iter()
        .map(|(name, source)| {
            let literal = match source.strip_prefix("$$") {
                Some(rest) => Some(format!("${rest}")),
                None if source.starts_with('$') => None,
                None => Some(source.clone()),
            };
            (name.clone(), literal)
        })
        .collect();
    let stats: &[&'static str] = match rule.unit.as_str() {
        "Seconds" | "Milliseconds" | "Microseconds" => &["p50", "p99"],
        "Percent" => &["Average"],
        _ => &["Sum"],
    };
    let lines = stats
        .iter()
        .map(|&stat| Line {
            namespace: namespace.to_string(),
            metric: rule.metric_name.clone(),
            dimensions: dimensions.clone(),
            stat,
            label: stat.to_string(),
        })
        .collect();
    let by: Vec<&str> = rule
        .dimensions
        .iter()
        .filter(|(_, s)| s.starts_with('$') && !s.starts_with("$$"))
        .map(|(n, _)| n.as_str())
        .collect();
    let title = if by.is_empty() {
        rule.metric_name.clone()
    } else {
        format!("{} by {}", rule.metric_name, by.join(", "))
    };
    Graph {
        title,
        lines,
        unit: rule.unit.clone(),
    }
}

fn widget(g: &Graph, x: u32, y: u32, opts: &DashboardOptions) -> Value {
    let metrics: Vec<Value> = g
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| metric_row(l, i, opts.period))
        .collect();
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": g.title,
            "region": opts.region,
            "view": "timeSeries",
            "stacked": false,
            "period": opts.period,
            "metrics": metrics,
            "yAxis": {"left": {"label": g.unit, "showUnits": false}},
        },
    })
}

/// An explicit metric row when every dimension is known, else a SEARCH expression.
fn metric_row(l: &Line, index: usize, period: u32) -> Value {
    if l.dimensions.iter().all(|(_, v)| v.is_some()) {
        let mut row = vec![json!(l.namespace), json!(l.metric)];
        for (name, value) in &l.dimensions {
            row.push(json!(name));
            row.push(json!(value.as_deref().unwrap_or_default()));
        }
        row.push(json!({"stat": l.stat, "label": l.label}));
        return Value::Array(row);
    }
    json!([{
        "expression": search_expression(l, period),
        "id": format!("e{}", index + 1),
        "label": l.label,
        "period": period,
    }])
}

/// `SEARCH('{"Namespace","Dim"} MetricName="X" "literal"', 'stat', period)`.
pub fn search_expression_for(
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, Option<&str>)],
    stat: &str,
    period: u32,
) -> String {
    let mut schema = vec![quote(namespace)];
    schema.extend(dimensions.iter().map(|(n, _)| quote(n)));
    let mut query = format!("{{{}}} MetricName={}", schema.join(","), quote(metric));
    for (_, v) in dimensions {
        if let Some(v) = v {
            query.push(' ');
            query.push_str(&quote(v));
        }
    }
    format!(
        "SEARCH('{}', '{stat}', {period})",
        query.replace('\'', "\\'")
    )
}

fn search_expression(l: &Line, period: u32) -> String {
    let dims: Vec<(&str, Option<&str>)> = l
        .dimensions
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    search_expression_for(&l.namespace, &l.metric, &dims, l.stat, period)
}

/// Double-quotes a name for a SEARCH query (needed for `/`, spaces and punctuation; harmless
/// otherwise).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Config {
        Config::from_toml(
            r#"
            [metrics]
            namespace = "Logsieve/Demo"
            [[metrics.rule]]
            metric_name = "Latency"
            metric_value = "$.latency"
            unit = "Milliseconds"
            dimensions = { Service = "$.service", Env = "prod" }
            [[metrics.rule]]
            metric_name = "Rate"
            metric_value = "1"
            unit = "Count"
            dimensions = { Service = "orders-api" }
            "#,
        )
        .unwrap()
    }

    fn titles(v: &Value) -> Vec<String> {
        v["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn lambda_graphs_then_one_per_rule_on_a_two_column_grid() {
        let v = dashboard(&demo(), &DashboardOptions::default()).unwrap();
        assert_eq!(
            titles(&v),
            vec![
                "Duration p50 / p90 / p99",
                "Invocations and cold starts",
                "Memory: max used vs. size",
                "Errors, timeouts, out of memory",
                "Estimated cost (USD)",
                "Latency by Service",
                "Rate",
            ]
        );
        let w = &v["widgets"];
        assert_eq!((w[0]["x"].as_u64(), w[0]["y"].as_u64()), (Some(0), Some(0)));
        assert_eq!(
            (w[1]["x"].as_u64(), w[1]["y"].as_u64()),
            (Some(12), Some(0))
        );
        assert_eq!((w[2]["x"].as_u64(), w[2]["y"].as_u64()), (Some(0), Some(6)));
        for w in w.as_array().unwrap() {
            assert_eq!(w["properties"]["region"], "us-east-1");
        }
    }

    #[test]
    fn search_expressions_without_functions() {
        let v = dashboard(&demo(), &DashboardOptions::default()).unwrap();
        let p99 = &v["widgets"][0]["properties"]["metrics"][2][0];
        assert_eq!(
            p99["expression"],
            "SEARCH('{\"Logsieve/Demo\",\"FunctionName\"} MetricName=\"Duration\"', 'p99', 300)"
        );
        assert_eq!(p99["id"], "e3");
        // The Latency rule mixes a field and a literal dimension: SEARCH, pinned to the literal.
        let latency = &v["widgets"][5]["properties"]["metrics"][0][0]["expression"];
        assert_eq!(
            latency,
            "SEARCH('{\"Logsieve/Demo\",\"Env\",\"Service\"} MetricName=\"Latency\" \"prod\"', 'p50', 300)"
        );
        // All-literal dimensions need no search.
        let rate = &v["widgets"][6]["properties"]["metrics"][0];
        assert_eq!(
            rate,
            &json!(["Logsieve/Demo", "Rate", "Service", "orders-api", {"stat": "Sum", "label": "Sum"}])
        );
    }

    #[test]
    fn explicit_functions_and_region() {
        let opts = DashboardOptions {
            region: "eu-west-1".into(),
            functions: vec!["orders".into(), "payments".into()],
            period: 60,
        };
        let v = dashboard(&demo(), &opts).unwrap();
        let rows = v["widgets"][0]["properties"]["metrics"].as_array().unwrap();
        // 3 percentiles × 2 functions.
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows[0],
            json!(["Logsieve/Demo", "Duration", "FunctionName", "orders", {"stat": "p50", "label": "orders p50"}])
        );
        assert_eq!(v["widgets"][0]["properties"]["region"], "eu-west-1");
        assert_eq!(v["widgets"][0]["properties"]["period"], 60);
    }

    #[test]
    fn the_security_dashboard_graphs_each_control_bare_and_by_its_dimensions() {
        let c = Config::from_toml("[metrics]\nnamespace = \"Sec\"\n").unwrap();
        let v = dashboard(
            &pack_only(&c, "cis-cloudtrail"),
            &DashboardOptions::default(),
        )
        .unwrap();
        let t = titles(&v);
        assert_eq!(t.len(), 28, "{t:?}");
        assert_eq!(
            t[0],
            "CloudWatch.1 Usage of the root user: RootAccountUsage"
        );
        assert_eq!(
            t[27],
            "CloudWatch.14 VPC changes: VPCChanges by EventName, Region, UserType"
        );
        let bare = &v["widgets"][0]["properties"]["metrics"][0];
        assert_eq!(
            bare,
            &json!(["Sec", "RootAccountUsage", {"stat": "Sum", "label": "Sum"}])
        );
        let by = v["widgets"][1]["properties"]["metrics"][0][0]["expression"]
            .as_str()
            .unwrap();
        assert_eq!(
            by,
            r#"SEARCH('{"Sec","EventName","Region","UserType"} MetricName="RootAccountUsage"', 'Sum', 300)"#
        );
        let e = dashboard(&pack_only(&c, "nope"), &DashboardOptions::default()).unwrap_err();
        assert!(e.to_string().contains("unknown pack"), "{e}");
    }

    #[test]
    fn bad_options_are_errors() {
        let cfg = demo();
        let with = |f: &dyn Fn(&mut DashboardOptions)| {
            let mut o = DashboardOptions::default();
            f(&mut o);
            dashboard(&cfg, &o)
        };
        assert!(matches!(
            with(&|o| o.region = "US EAST".into()),
            Err(DashboardError::Region(_))
        ));
        assert!(matches!(
            with(&|o| o.functions = vec!["é".into()]),
            Err(DashboardError::Function { .. })
        ));
        assert!(matches!(
            with(&|o| o.functions = vec!["f".into(); 101]),
            Err(DashboardError::TooManyFunctions(101))
        ));
        assert!(matches!(
            with(&|o| o.period = 90),
            Err(DashboardError::Period(90))
        ));
    }

    #[test]
    fn quoting_in_search() {
        let e = search_expression_for("A\"B", "it's", &[("D", Some("x\\y"))], "Sum", 60);
        assert_eq!(
            e,
            "SEARCH('{\"A\\\"B\",\"D\"} MetricName=\"it\\'s\" \"x\\\\y\"', 'Sum', 60)"
        );
    }
}
