//! `labctl top`'s model: which dashboard panels each view shows, and their answers at one instant.
//!
//! The queries are the Grafana dashboards' own, not a copy: a [`PanelRef`] names a target by
//! dashboard uid, panel title and refId, looked up with [`dashboards::find_target`]. A
//! [`Snapshot`] runs each as an instant query through the datasource the panel names, with the
//! template variables set to every region (`.+`) and `$__rate_interval` as
//! [`dashboards::check`] sets it. [`grid`] turns a section and a snapshot into rows of text
//! (pure, tested below); [`draw`] renders them with ratatui, on a terminal or as plain text.

use std::collections::{BTreeMap, BTreeSet};

use crate::lab::dashboards::{self, Dashboard, Vars};
use crate::lab::endpoints::Endpoint;
use crate::lab::query::{Client, Labels};

pub mod draw;

const PIPELINE: &str = "rwlab-pipeline";
const MULTI_REGION: &str = "rwlab-multi-region";
const APPLICATION: &str = "rwlab-application";

/// One query of one dashboard panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PanelRef {
    pub dashboard: &'static str,
    pub panel: &'static str,
    pub ref_id: &'static str,
}

const fn panel(dashboard: &'static str, panel: &'static str, ref_id: &'static str) -> PanelRef {
    PanelRef {
        dashboard,
        panel,
        ref_id,
    }
}

/// How a value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    PerSecond,
    Bytes,
    Seconds,
    Ratio,
    Count,
}

/// Which labels of an answer name its row.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    Label(&'static str),
    /// Several labels, joined with " / ".
    Labels(&'static [&'static str]),
    /// The region of a `component="vmagent-<region>"` series.
    VmagentRegion,
}

impl Key {
    fn of(self, l: &Labels) -> Option<String> {
        match self {
            Key::Label(name) => l.get(name).cloned(),
            Key::Labels(names) => {
                let parts: Option<Vec<&str>> = names
                    .iter()
                    .map(|n| l.get(*n).map(String::as_str))
                    .collect();
                parts.map(|p| p.join(" / "))
            }
            Key::VmagentRegion => l
                .get("component")
                .and_then(|c| c.strip_prefix("vmagent-"))
                .map(str::to_string),
        }
    }
}

/// A column of a table: a panel query, its header, its unit and the labels that key its rows.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub query: PanelRef,
    pub unit: Unit,
    pub key: Key,
}

const fn col(header: &'static str, query: PanelRef, unit: Unit, key: Key) -> Column {
    Column {
        header,
        query,
        unit,
        key,
    }
}

/// What a view shows: tables joined on a key, or one query laid out as a matrix.
#[derive(Debug, Clone, Copy)]
pub enum Section {
    Table {
        title: &'static str,
        key_header: &'static str,
        columns: &'static [Column],
    },
    Matrix {
        title: &'static str,
        query: PanelRef,
        rows: &'static str,
        cols: &'static str,
        unit: Unit,
    },
}

impl Section {
    /// Every query the section runs.
    pub fn queries(&self) -> Vec<PanelRef> {
        match self {
            Section::Table { columns, .. } => columns.iter().map(|c| c.query).collect(),
            Section::Matrix { query, .. } => vec![*query],
        }
    }
}

/// A view: its name (also `--view`'s value) and its sections, top to bottom.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub name: &'static str,
    pub sections: &'static [Section],
}

const REGION: Key = Key::Label("region");
const COMPONENT: Key = Key::Label("component");
const REMOTE: Key = Key::Label("remote_name");

const SAMPLES_PUSHED: Column = col(
    "samples/s",
    panel(PIPELINE, "Samples pushed", "A"),
    Unit::PerSecond,
    Key::VmagentRegion,
);
const NEWEST_AGE: Column = col(
    "newest sample",
    panel(MULTI_REGION, "Newest sample age", "A"),
    Unit::Seconds,
    REGION,
);
const PENDING: Column = col(
    "pending",
    panel(PIPELINE, "Pending data", "A"),
    Unit::Bytes,
    Key::VmagentRegion,
);
const DISK_QUEUE: Column = col(
    "on-disk queue",
    panel(PIPELINE, "On-disk queue", "A"),
    Unit::Bytes,
    Key::VmagentRegion,
);

const REGIONS: Section = Section::Table {
    title: "Regions: ingestion, freshness, vmagent queues",
    key_header: "region",
    columns: &[SAMPLES_PUSHED, NEWEST_AGE, PENDING, DISK_QUEUE],
};

const WRITER: Section = Section::Table {
    title: "Prometheus writer: remote-write shards and lag",
    key_header: "remote",
    columns: &[
        col(
            "shards",
            panel(PIPELINE, "Shards", "A"),
            Unit::Count,
            REMOTE,
        ),
        col(
            "desired",
            panel(PIPELINE, "Shards", "B"),
            Unit::Count,
            REMOTE,
        ),
        col(
            "pending samples",
            panel(PIPELINE, "Pending samples", "A"),
            Unit::Count,
            REMOTE,
        ),
        col(
            "lag",
            panel(PIPELINE, "Lag behind the newest sample", "A"),
            Unit::Seconds,
            REMOTE,
        ),
    ],
};

const RED_BY_REGION: Section = Section::Table {
    title: "RED by region: rate, latency (errors by service: view red)",
    key_header: "region",
    columns: &[
        col(
            "req/s",
            panel(MULTI_REGION, "Request rate by region", "A"),
            Unit::PerSecond,
            REGION,
        ),
        col(
            "p50",
            panel(APPLICATION, "Latency percentiles", "A"),
            Unit::Seconds,
            REGION,
        ),
        col(
            "p99",
            panel(APPLICATION, "Latency percentiles", "C"),
            Unit::Seconds,
            REGION,
        ),
    ],
};

const VICTORIA: Section = Section::Table {
    title: "VictoriaMetrics: vminsert, vmstorage, vmselect, vmauth",
    key_header: "component",
    columns: &[
        col(
            "rows/s in",
            panel(PIPELINE, "Rows inserted (vminsert)", "A"),
            Unit::PerSecond,
            COMPONENT,
        ),
        col(
            "rows stored",
            panel(PIPELINE, "Rows in storage", "A"),
            Unit::Count,
            COMPONENT,
        ),
        col(
            "queries/s",
            panel(PIPELINE, "Query requests (vmselect)", "A"),
            Unit::PerSecond,
            COMPONENT,
        ),
        col(
            "requests/s",
            panel(PIPELINE, "Requests through vmauth", "A"),
            Unit::PerSecond,
            COMPONENT,
        ),
    ],
};

const QUEUES: Section = Section::Table {
    title: "vmagent queues",
    key_header: "region",
    columns: &[
        SAMPLES_PUSHED,
        PENDING,
        DISK_QUEUE,
        col(
            "dropped/s",
            panel(PIPELINE, "Dropped blocks", "A"),
            Unit::PerSecond,
            Key::VmagentRegion,
        ),
    ],
};

const fn matrix(title: &'static str, name: &'static str, unit: Unit) -> Section {
    Section::Matrix {
        title,
        query: panel(MULTI_REGION, name, "A"),
        rows: "source_region",
        cols: "target_region",
        unit,
    }
}

const SERVICES: Key = Key::Labels(&["region", "service"]);

/// Every view, in key order (1, 2, 3, 4).
pub const VIEWS: [View; 4] = [
    View {
        name: "overview",
        sections: &[REGIONS, RED_BY_REGION, WRITER],
    },
    View {
        name: "pipeline",
        sections: &[QUEUES, WRITER, VICTORIA],
    },
    View {
        name: "probes",
        sections: &[
            matrix(
                "Probe latency p50 (source rows, target columns)",
                "p50 latency",
                Unit::Seconds,
            ),
            matrix("Probe latency p99", "p99 latency", Unit::Seconds),
            matrix("Probe success ratio", "Success ratio", Unit::Ratio),
        ],
    },
    View {
        name: "red",
        sections: &[
            Section::Table {
                title: "Requests and errors by region and service",
                key_header: "region / service",
                columns: &[
                    col(
                        "req/s",
                        panel(APPLICATION, "Request rate by service", "A"),
                        Unit::PerSecond,
                        SERVICES,
                    ),
                    col(
                        "5xx",
                        panel(APPLICATION, "Error ratio (5xx)", "A"),
                        Unit::Ratio,
                        SERVICES,
                    ),
                ],
            },
            Section::Table {
                title: "Latency by region",
                key_header: "region",
                columns: &[
                    col(
                        "p50",
                        panel(APPLICATION, "Latency percentiles", "A"),
                        Unit::Seconds,
                        REGION,
                    ),
                    col(
                        "p95",
                        panel(APPLICATION, "Latency percentiles", "B"),
                        Unit::Seconds,
                        REGION,
                    ),
                    col(
                        "p99",
                        panel(APPLICATION, "Latency percentiles", "C"),
                        Unit::Seconds,
                        REGION,
                    ),
                ],
            },
        ],
    },
];

/// Every query of every view, once.
pub fn all_queries() -> Vec<PanelRef> {
    let set: BTreeSet<PanelRef> = VIEWS
        .iter()
        .flat_map(|v| v.sections.iter().flat_map(Section::queries))
        .collect();
    set.into_iter().collect()
}

/// One query's answer: each series' labels and value, or why there is none.
pub type Answer = Result<Vec<(Labels, f64)>, String>;

/// The answers to every query at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Unix seconds of the instant asked for.
    pub at: f64,
    pub answers: BTreeMap<PanelRef, Answer>,
}

/// What a snapshot needs: the dashboards, their datasources by uid, the variables.
pub struct Source {
    pub dashboards: Vec<Dashboard>,
    pub datasources: BTreeMap<String, Endpoint>,
    pub vars: Vars,
}

impl Source {
    /// Runs every query of `queries` at `at`.
    pub fn snapshot(&self, client: &Client, queries: &[PanelRef], at: f64) -> Snapshot {
        let answers = queries
            .iter()
            .map(|q| (*q, self.answer(client, q, at)))
            .collect();
        Snapshot { at, answers }
    }

    fn answer(&self, client: &Client, q: &PanelRef, at: f64) -> Answer {
        let t = dashboards::find_target(&self.dashboards, q.dashboard, q.panel, q.ref_id)
            .ok_or_else(|| {
                format!(
                    "dashboard {} has no panel {:?} with query {}",
                    q.dashboard, q.panel, q.ref_id
                )
            })?;
        let ds = self
            .datasources
            .get(&t.datasource)
            .ok_or_else(|| format!("unknown datasource uid {:?}", t.datasource))?;
        let expr = dashboards::substitute(&t.expr, &self.vars);
        let data = client
            .query(ds, &[("query", expr), ("time", format!("{at:.3}"))])
            .map_err(|e| format!("{}: {e:#}", q.panel))?;
        Ok(data
            .vector()
            .into_iter()
            .filter_map(|s| Some((s.metric, s.value.value()?)))
            .collect())
    }
}

/// Every region, as Grafana's "All" selects them (but only series that have a region).
pub fn all_regions(rate_interval: std::time::Duration, interval: std::time::Duration) -> Vars {
    Vars {
        region: ".+".into(),
        cluster: ".+".into(),
        environment: ".+".into(),
        rate_interval,
        interval,
    }
}

/// A section as text: a title, a header row, rows of cells, and the errors of its queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub errors: Vec<String>,
}

/// What a cell without a value shows.
pub const NO_VALUE: &str = "-";

/// A section laid out from a snapshot.
pub fn grid(section: &Section, snap: &Snapshot) -> Grid {
    match *section {
        Section::Table {
            title,
            key_header,
            columns,
        } => table(title, key_header, columns, snap),
        Section::Matrix {
            title,
            query,
            rows,
            cols,
            unit,
        } => matrix_grid(title, query, (rows, cols), unit, snap),
    }
}

fn answers<'a>(snap: &'a Snapshot, q: &PanelRef, errors: &mut Vec<String>) -> &'a [(Labels, f64)] {
    match snap.answers.get(q) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            if !errors.contains(e) {
                errors.push(e.clone());
            }
            &[]
        }
        None => &[],
    }
}

fn table(title: &str, key_header: &str, columns: &[Column], snap: &Snapshot) -> Grid {
    let mut errors = Vec::new();
    let mut cells: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (i, c) in columns.iter().enumerate() {
        for (labels, v) in answers(snap, &c.query, &mut errors) {
            if let Some(k) = c.key.of(labels) {
                cells.entry(k).or_insert_with(|| vec![None; columns.len()])[i] = Some(*v);
            }
        }
    }
    let rows = cells
        .into_iter()
        .map(|(k, vals)| {
            let mut row = vec![k];
            row.extend(vals.iter().zip(columns).map(|(v, c)| cell(*v, c.unit)));
            row
        })
        .collect();
    let mut header = vec![key_header.to_string()];
    header.extend(columns.iter().map(|c| c.header.to_string()));
    Grid {
        title: title.into(),
        header,
        rows,
        errors,
    }
}

fn matrix_grid(
    title: &str,
    query: PanelRef,
    (rows, cols): (&str, &str),
    unit: Unit,
    snap: &Snapshot,
) -> Grid {
    let mut errors = Vec::new();
    let mut values: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (labels, v) in answers(snap, &query, &mut errors) {
        if let (Some(r), Some(c)) = (labels.get(rows), labels.get(cols)) {
            values.insert((r.clone(), c.clone()), *v);
        }
    }
    let targets: BTreeSet<&String> = values.keys().map(|(_, c)| c).collect();
    let sources: BTreeSet<&String> = values.keys().map(|(r, _)| r).collect();
    let mut header = vec![format!("{rows} \\ {cols}")];
    header.extend(targets.iter().map(|t| t.to_string()));
    let grid_rows = sources
        .iter()
        .map(|s| {
            let mut row = vec![s.to_string()];
            row.extend(
                targets
                    .iter()
                    .map(|t| cell(values.get(&(s.to_string(), t.to_string())).copied(), unit)),
            );
            row
        })
        .collect();
    Grid {
        title: title.into(),
        header,
        rows: grid_rows,
        errors,
    }
}

fn cell(v: Option<f64>, unit: Unit) -> String {
    v.map_or_else(|| NO_VALUE.to_string(), |v| format(v, unit))
}

/// A value in its unit: `1.2k/s`, `3.4 MiB`, `250ms`, `99.50%`.
pub fn format(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return NO_VALUE.into();
    }
    match unit {
        Unit::PerSecond => format!("{}/s", si(v)),
        Unit::Count => si(v),
        Unit::Ratio => format!("{:.2}%", v * 100.0),
        Unit::Seconds if v.abs() < 1.0 => format!("{:.0}ms", v * 1000.0),
        Unit::Seconds => format!("{v:.1}s"),
        Unit::Bytes => {
            let (mut x, mut i) = (v, 0);
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            while x.abs() >= 1024.0 && i < UNITS.len() - 1 {
                x /= 1024.0;
                i += 1;
            }
            if i == 0 {
                format!("{x:.0} B")
            } else {
                format!("{x:.1} {}", UNITS[i])
            }
        }
    }
}

/// 950, 12.3k, 4.5M.
fn si(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.1}k", v / 1e3),
        a if a >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn snap(answers: Vec<(PanelRef, Answer)>) -> Snapshot {
        Snapshot {
            at: 0.0,
            answers: answers.into_iter().collect(),
        }
    }

    #[test]
    fn format_reads_each_unit() {
        assert_eq!(format(12345.0, Unit::PerSecond), "12.3k/s");
        assert_eq!(format(3.0 * 1024.0 * 1024.0, Unit::Bytes), "3.0 MiB");
        assert_eq!(format(0.0, Unit::Bytes), "0 B");
        assert_eq!(format(0.25, Unit::Seconds), "250ms");
        assert_eq!(format(2.04, Unit::Seconds), "2.0s");
        assert_eq!(format(0.995, Unit::Ratio), "99.50%");
        assert_eq!(format(2.0, Unit::Count), "2");
        assert_eq!(format(f64::NAN, Unit::Seconds), NO_VALUE);
    }

    #[test]
    fn grid_joins_columns_on_the_region_of_each_vmagent() {
        let s = snap(vec![
            (
                SAMPLES_PUSHED.query,
                Ok(vec![
                    (labels(&[("component", "vmagent-eu-west-1")]), 455.5),
                    (labels(&[("component", "vmagent-us-east-1")]), 455.5),
                ]),
            ),
            (
                NEWEST_AGE.query,
                Ok(vec![(labels(&[("region", "us-east-1")]), 1.25)]),
            ),
            (
                PENDING.query,
                Err("Pending data: connection refused".into()),
            ),
        ]);
        let g = grid(&REGIONS, &s);
        assert_eq!(
            g.header,
            [
                "region",
                "samples/s",
                "newest sample",
                "pending",
                "on-disk queue"
            ]
        );
        assert_eq!(
            g.rows,
            [
                ["eu-west-1", "456/s", "-", "-", "-"],
                ["us-east-1", "456/s", "1.2s", "-", "-"]
            ]
        );
        assert_eq!(g.errors, ["Pending data: connection refused"]);
    }

    #[test]
    fn grid_lays_the_probe_matrix_out_sources_by_targets() {
        let section = VIEWS[2].sections[1];
        let q = section.queries()[0];
        let at =
            |s: &str, t: &str, v: f64| (labels(&[("source_region", s), ("target_region", t)]), v);
        let s = snap(vec![(
            q,
            Ok(vec![
                at("a", "a", 0.001),
                at("a", "b", 0.08),
                at("b", "a", 0.081),
            ]),
        )]);
        let g = grid(&section, &s);
        assert_eq!(g.header, ["source_region \\ target_region", "a", "b"]);
        assert_eq!(g.rows, [["a", "1ms", "80ms"], ["b", "81ms", "-"]]);
    }

    #[test]
    fn every_view_query_names_a_panel_of_the_lab_dashboards() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
        let boards = dashboards::load(&dir).unwrap();
        for q in all_queries() {
            assert!(
                dashboards::find_target(&boards, q.dashboard, q.panel, q.ref_id).is_some(),
                "{q:?}"
            );
        }
    }
}
