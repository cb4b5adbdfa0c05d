//! `labctl compare`: the example queries against the receiver and VictoriaMetrics, side by side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;

use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::lab::alerts;
use crate::lab::compare::{self, Backend, Comparison, Range};
use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;
use crate::lab::verify::delays::Budget;

/// Run the query set against the Prometheus receiver and VictoriaMetrics over the same range.
///
/// The queries are the `promql compare` blocks of docs/examples/queries.md: the writer's series,
/// which both stores hold. Per query it prints the series each backend returned and matched, the
/// points whose values differ beyond --tolerance (relative), and query latency p50/p95 per
/// backend over --repeat runs. The range ends as long ago as the writer's samples take to reach both
/// stores (its batch deadline and VictoriaMetrics' storage path, as `verify` check 6), so both
/// have every point.
/// Exit code 1 when a query failed on a backend or matched no series.
///
/// With --alerts it compares the two rule evaluators instead, which load the same rules/*.yml:
/// every alert vmalert (over VictoriaMetrics) and the Prometheus receiver (over its own TSDB)
/// hold, paired by name and labels (less `alertgroup` and `evaluator`, which only one of them
/// adds), with its state and `activeAt` at each and the receiver's less vmalert's. Both see the
/// writer's series (`cluster="staging-cluster"`); the regions' series only reach
/// VictoriaMetrics, so their alerts show at vmalert alone. `activeAt` is when an alert became
/// pending, which for a rule without `for` is when it fired. It exits 0 once both evaluators
/// answered, whatever they hold, and 2 when one cannot be read.
///
///   $ labctl compare
///   $ labctl compare --range 15m --repeat 20 --json
///   $ labctl compare --alerts
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    #[command(flatten)]
    lab: LabArgs,

    #[command(flatten)]
    endpoints: EndpointArgs,

    /// Markdown file of queries (default: docs/examples/queries.md beside lab.toml).
    #[arg(long, value_name = "FILE", help_heading = "Queries")]
    queries: Option<PathBuf>,

    /// How far back the range goes.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, help_heading = "Queries")]
    range: Duration,

    /// Runs per query and backend, for the latency figures.
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Queries")]
    repeat: usize,

    /// Relative difference above which two values count as different.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1e-9,
        help_heading = "Queries"
    )]
    tolerance: f64,

    /// Compare the alerts of the two rule evaluators instead of the query results.
    #[arg(long, help_heading = "Alerts", conflicts_with_all = ["queries", "range", "repeat", "tolerance"])]
    alerts: bool,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    json: bool,
}

pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let (_, e) = args.endpoints.resolve(&args.lab)?;
    if args.alerts {
        return compare_alerts(&e, args.json);
    }
    let file = args
        .queries
        .clone()
        .unwrap_or_else(|| args.lab.beside("docs/examples/queries.md"));
    let queries = read_queries(&file)?;
    let backends = [
        Backend {
            name: "VictoriaMetrics".into(),
            endpoint: e.query.clone(),
        },
        Backend {
            name: "receiver".into(),
            endpoint: e.receiver.clone(),
        },
    ];
    let arrival = Budget::writer_arrival(e.storage).total();
    let range = range_ending_when_both_stores_agree(e.scrape_interval, arrival, args.range);
    let results: Vec<Comparison> = queries
        .iter()
        .map(|q| compare::compare(q, &backends, range, args.repeat, args.tolerance))
        .collect();
    let bad = results
        .iter()
        .filter(|r| r.error.is_some() || r.matched == 0)
        .count();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "start": range.start, "end": range.end, "step_seconds": range.step.as_secs(),
                "tolerance": args.tolerance, "results": results,
            }))?
        );
    } else {
        println!(
            "{} queries over {}s ending {:.0}, step {}s; VictoriaMetrics = {}, receiver = {}",
            results.len(),
            args.range.as_secs(),
            range.end,
            range.step.as_secs(),
            backends[0].endpoint.url,
            backends[1].endpoint.url
        );
        results.iter().for_each(|r| print_comparison(r, range.step));
    }
    let _ = std::io::stdout().flush();
    Ok(if bad == 0 {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// vmalert's and the receiver's alerts, side by side.
fn compare_alerts(e: &Endpoints, json: bool) -> anyhow::Result<Outcome> {
    let rows = super::alerts::read(&Client::new(), e)?;
    let sided = alerts::side_by_side(&rows);
    if json {
        println!("{}", serde_json::to_string_pretty(&sided)?);
        return Ok(Outcome::Ok);
    }
    let held = |h: &Option<alerts::Held>| {
        h.as_ref().map_or("-".to_string(), |h| {
            format!("{} since {}", h.state, h.since)
        })
    };
    let mut rows = vec![[
        "ALERT".to_string(),
        "LABELS".into(),
        "VMALERT".into(),
        "RECEIVER".into(),
        "RECEIVER − VMALERT".into(),
    ]];
    for s in &sided {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push([
            s.name.clone(),
            labels.join(","),
            held(&s.vmalert),
            held(&s.receiver),
            s.receiver_minus_vmalert_seconds
                .map_or("-".to_string(), |d| format!("{d:+.1}s")),
        ]);
    }
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3)];
    for r in &rows {
        let cells: Vec<String> = (0..4)
            .map(|i| format!("{:<w$}", r[i], w = widths[i]))
            .collect();
        println!("{}  {}", cells.join("  "), r[4]);
    }
    if sided.is_empty() {
        println!("(neither evaluator holds an alert)");
    }
    let _ = std::io::stdout().flush();
    Ok(Outcome::Ok)
}

/// The `promql compare` blocks of a Markdown file; none is an error.
fn read_queries(file: &Path) -> anyhow::Result<Vec<compare::Query>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let queries: Vec<compare::Query> = compare::parse_queries(&text)
        .into_iter()
        .filter(|q| q.compare)
        .collect();
    if queries.is_empty() {
        bail!("{} has no `promql compare` blocks", file.display());
    }
    Ok(queries)
}

/// `length` long, aligned to the step, ending at least `arrival` ago: both stores have every point.
fn range_ending_when_both_stores_agree(
    scrape_interval: Duration,
    arrival: Duration,
    length: Duration,
) -> Range {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let step = scrape_interval.max(Duration::from_secs(1));
    let end = ((now - arrival.as_secs_f64()) / step.as_secs_f64()).floor() * step.as_secs_f64();
    Range {
        start: end - length.as_secs_f64(),
        end,
        step,
    }
}

fn print_comparison(r: &Comparison, step: Duration) {
    println!("\n{}\n  {}", r.name, r.expr.replace('\n', " "));
    println!(
        "  series: VictoriaMetrics {}, receiver {}, matched {}; points compared {}, differing {} (max relative difference {:.2e})",
        r.series[0], r.series[1], r.matched, r.points, r.differing, r.max_relative_difference
    );
    for l in &r.latency {
        println!(
            "  latency {:<16} p50 {:>7.2} ms  p95 {:>7.2} ms",
            l.backend, l.p50_ms, l.p95_ms
        );
    }
    if let Some(err) = &r.error {
        println!("  ERROR {err}");
    } else if r.series == [0, 0] {
        println!(
            "  no series in either store: the range ends {}s ago, so a lab younger than the query's \
             window plus that has nothing to compare yet; try again in a minute, or widen --range",
            2 * step.as_secs()
        );
    } else if r.matched == 0 {
        println!("  no series in common: the two stores hold different label sets for this query");
    }
}
