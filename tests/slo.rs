//! The SLO burn-rate alerts fire on a real fault: an exporter incident in a live single-node lab.
//!
//! The rules' windows (5 m to 3 d) are compressed 60 times for the test, so one hour is one
//! minute: [`scaled_rules`] rewrites every range selector of `rules/service.yml` (`[1h]` becomes
//! `[1m]`, `[3d]` becomes `[72m]`) and keeps the expressions and thresholds. The other rule files
//! are used as they are. `labctl backfill` gives the region 75 (scaled) minutes of history
//! before the lab started, so the long windows hold what they would in a lab that had run for
//! days. What this proves is written in docs/runbooks.md (HTTPErrorBudgetFastBurn, "Testing").

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use remote_write_lab::exporter::catalog::Fam;
use remote_write_lab::exporter::fleet::{Model, Sink, Value};
use remote_write_lab::lab::endpoints::Endpoints;
use remote_write_lab::lab::query::Client;
use remote_write_lab::lab::topology::Topology;
use remote_write_lab::lab::victoria::Storage;

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// `rules/service.yml` with every range selector 60 times shorter.
fn scaled_rules(yaml: &str) -> String {
    let windows = [
        ("[5m]", "[5s]"),
        ("[30m]", "[30s]"),
        ("[1h]", "[1m]"),
        ("[2h]", "[2m]"),
        ("[6h]", "[6m]"),
        ("[1d]", "[24m]"),
        ("[3d]", "[72m]"),
    ];
    windows
        .iter()
        .fold(yaml.to_string(), |y, (from, to)| y.replace(from, to))
}

#[test]
fn scaled_rules_shorten_every_window() {
    let y =
        scaled_rules(&std::fs::read_to_string(Path::new(ROOT).join("rules/service.yml")).unwrap());
    for w in ["[5m]", "[30m]", "[1h]", "[2h]", "[6h]", "[1d]", "[3d]"] {
        assert!(!y.contains(w), "{w} left unscaled");
    }
    assert!(y.contains("[72m]") && y.contains("(14.4 * 0.02)"));
}

/// A port offset at which every port of the lab is free.
fn free_offset(lab: &Path) -> u16 {
    let t = remote_write_lab::lab::topology::Topology::load(lab).unwrap();
    (0..40)
        .map(|i| 25000 + i * 700 + (std::process::id() % 89) as u16)
        .find(|off| {
            t.ports()
                .iter()
                .all(|(_, p)| TcpListener::bind(("127.0.0.1", p + off)).is_ok())
        })
        .expect("no free port offset")
}

/// One lab at a time: two would share the machine's two cores and could pick the same ports.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for this test's turn to run a lab.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A detached single-node lab in a temporary folder, stopped when dropped.
struct Lab {
    _turn: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    lab: PathBuf,
    common: Vec<String>,
    /// Where the running lab answers.
    endpoints: Endpoints,
}

impl Lab {
    /// Starts the lab once it is `turn`'s go, with `incident` appended to lab.toml.
    fn up(turn: std::sync::MutexGuard<'static, ()>, incident: &str) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("rwlab-slo-")
            .tempdir()
            .unwrap();
        let lab = dir.path().join("lab.toml");
        let toml = std::fs::read_to_string(Path::new(ROOT).join("lab.toml")).unwrap();
        std::fs::write(&lab, format!("{toml}\n{incident}")).unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        for f in ["pipeline.yml", "watchdog.yml"] {
            std::os::unix::fs::symlink(Path::new(ROOT).join("rules").join(f), rules.join(f))
                .unwrap();
        }
        let service = std::fs::read_to_string(Path::new(ROOT).join("rules/service.yml")).unwrap();
        std::fs::write(rules.join("service.yml"), scaled_rules(&service)).unwrap();
        let offset = free_offset(&lab);
        let common = vec![
            "--state-dir".to_string(),
            dir.path().join("state").display().to_string(),
            "--port-offset".to_string(),
            offset.to_string(),
        ];
        let t = Topology::load(&lab)
            .unwrap()
            .with_port_offset(offset)
            .unwrap();
        let endpoints = Endpoints::from_topology(&t, Storage::Single, t.interval(true));
        let l = Lab {
            _turn: turn,
            _dir: dir,
            lab,
            common,
            endpoints,
        };
        let up = l.run(&["up", "--detach", "--fast", "--storage", "single"]);
        assert!(up.status.success(), "labctl up:\n{}", text(&up));
        l
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(LABCTL)
            .args(args)
            .args(&self.common)
            .env("LABCTL_LAB", &self.lab)
            .output()
            .expect("running labctl")
    }

    /// `labctl alerts` with the lab's flags before the `wait` subcommand, which takes none.
    fn alerts(&self, rest: &[&str]) -> Output {
        Command::new(LABCTL)
            .arg("alerts")
            .args(&self.common)
            .args(rest)
            .env("LABCTL_LAB", &self.lab)
            .output()
            .expect("running labctl alerts")
    }
}

impl Lab {
    /// `labctl alerts wait HTTPErrorBudgetFastBurn --state STATE --evaluator vmalert`, until
    /// Unix time `until`.
    fn fast_burn_at_vmalert(&self, state: &str, until: f64) -> Output {
        let timeout = format!("{}s", (until - unix_now()).ceil() as u64);
        self.alerts(&[
            "wait",
            "HTTPErrorBudgetFastBurn",
            "--state",
            state,
            "--evaluator",
            "vmalert",
            "--timeout",
            &timeout,
        ])
    }

    /// The values of an instant query at VictoriaMetrics (through vmauth), by `service`/`region`.
    fn values(&self, query: &str) -> Vec<(String, f64)> {
        Client::new()
            .query(&self.endpoints.query, &[("query", query.to_string())])
            .unwrap_or_else(|e| panic!("{query}: {e:#}"))
            .vector()
            .into_iter()
            .map(|s| {
                let at = |k: &str| s.metric.get(k).cloned().unwrap_or_default();
                (
                    format!("{}/{}", at("service"), at("region")),
                    s.value.value().unwrap_or(f64::NAN),
                )
            })
            .collect()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

#[test]
fn short_incident_pages_with_the_fast_burn_and_not_the_slow_burn() {
    for p in [
        "prometheus",
        "vmagent",
        "vmauth",
        "victoria-metrics",
        "vmalert",
    ] {
        assert!(
            remote_write_lab::lab::supervise::find_on_path(p).is_some(),
            "{p} not on PATH (.ci/run installs it)"
        );
    }
    // catalog answers 0.2 % of its requests with 5xx at average load; 450 times that is 79-93 %
    // of them over the day, above the fast burn's 28.8 %. Only on eu-west-1's page (its vmagent
    // scrapes with ?region=eu-west-1). How long the incident may last so that the fast burn fires
    // and the slow burn does not depends on the time of day (errors grow with the load squared):
    // the exporter's model says, and the incident lasts halfway between the two.
    let turn = turn();
    let incident = unix_now() as u64 + 50;
    let timing = Timing::predict(incident);
    let end = incident + timing.duration;
    let lab = Lab::up(
        turn,
        &format!(
        "[[exporter.incident]]\nservice = \"catalog\"\nregion = \"eu-west-1\"\nstart = \"{incident}\"\nduration = \"{}s\"\nerrors = {ERRORS}\n",
        timing.duration
    ));
    let backfill = lab.run(&[
        "backfill",
        "--fast",
        "--storage",
        "single",
        "--since",
        "75m",
        "--step",
        "10s",
    ]);
    assert!(
        backfill.status.success(),
        "labctl backfill:\n{}",
        text(&backfill)
    );
    let ready = unix_now();
    assert!(
        ready + 5.0 < incident as f64,
        "the lab and its backfill took until {:.0}s before the incident; it must start after both",
        incident as f64 - ready
    );
    // The fast burn must fire while the incident lasts.
    let fast = lab.fast_burn_at_vmalert("firing", end as f64 + 4.0);
    assert!(
        fast.status.success(),
        "fast burn did not fire during the incident:\n{}",
        text(&fast)
    );
    let rows = alerts_json(&lab);
    let burning: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["name"] == "HTTPErrorBudgetFastBurn" && r["source"] == "vmalert")
        .map(|r| {
            let l = &r["labels"];
            (
                l["service"].as_str().unwrap_or(""),
                l["region"].as_str().unwrap_or(""),
                r["since"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // Only the service and region with the incident burn their budget.
    assert!(
        burning
            .iter()
            .all(|b| (b.0, b.1) == ("catalog", "eu-west-1")),
        "{burning:?}"
    );
    let since = humantime::parse_rfc3339_weak(burning[0].2.trim_end_matches('Z'))
        .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64())
        .unwrap_or_else(|e| panic!("{:?}: {e}", burning[0].2));
    // Then it clears: its short windows (5 s and 30 s here) empty within 30 s of the end.
    let resolved = lab.fast_burn_at_vmalert("resolved", end as f64 + 60.0);
    assert!(
        resolved.status.success(),
        "fast burn did not clear after the incident:\n{}",
        text(&resolved)
    );
    let cleared = unix_now();
    // vmalert writes every pending and firing alert back as ALERTS: the fast burn is there, and
    // the slow burn never was, for any service in any region, from the incident's start to now.
    // (Before the backfill every window held seconds, and a burn alert could fire on the noise
    // of a few requests; the writer's series, without a region, have no history at all, as
    // Prometheus takes no backfill.)
    let window = format!("{}s", (cleared - incident as f64).floor() as u64);
    let ever = |alert: &str| {
        lab.values(&format!(
            "max by (service, region) (max_over_time(ALERTS{{alertname=\"{alert}\", evaluator=\"vmalert\", region!=\"\"}}[{window}]))"
        ))
    };
    let fast_written = ever("HTTPErrorBudgetFastBurn");
    assert_eq!(
        fast_written,
        [("catalog/eu-west-1".to_string(), 1.0)],
        "ALERTS of the fast burn"
    );
    assert_eq!(ever("HTTPErrorBudgetSlowBurn"), [], "the slow burn fired");
    // The long windows read the history: their highest value during the incident, from the
    // recording rules vmalert wrote.
    let peak = |rule: &str| {
        let v = lab.values(&format!(
            "max_over_time(service:http_errors_per_request:{rule}{{service=\"catalog\", region=\"eu-west-1\"}}[{window}])"
        ));
        assert_eq!(v.len(), 1, "{rule}: {v:?}");
        v[0].1
    };
    let (rate3d, rate1d, rate1h) = (
        peak("ratio_rate3d"),
        peak("ratio_rate1d"),
        peak("ratio_rate1h"),
    );
    assert!(rate1h > 0.288, "1 h window peaked at {rate1h}");
    assert!(
        rate3d > 0.0 && rate3d < 0.02,
        "3 d window peaked at {rate3d}"
    );
    assert!(rate1d < 0.06, "1 d window peaked at {rate1d}");
    eprintln!(
        "incident of {}s (model: fast burn at {:.0}s, slow burn at {:.0}s); \
         HTTPErrorBudgetFastBurn firing {:.0}s into the incident, resolved {:.0}s after its end; \
         peaks: 1 h {:.1} %, 1 d {:.2} %, 3 d {:.2} % (slow burn at 6 % and 2 %)",
        timing.duration,
        timing.fast,
        timing.slow,
        since - incident as f64,
        cleared - end as f64,
        rate1h * 100.0,
        rate1d * 100.0,
        rate3d * 100.0
    );
    assert!(
        since < end as f64,
        "the fast burn fired {:.0}s after the incident ended",
        since - end as f64
    );
}

/// An incident on every page reaches the writer's series too, which both evaluators hold: each
/// fires the fast burn for them, and `labctl compare --alerts` puts the two side by side.
#[test]
fn both_evaluators_page_on_the_writers_series_and_compare_shows_when() {
    // auth answers 0.3 % of its requests with 5xx; 300 times that is 79-93 % over the day.
    let lab = Lab::up(
        turn(),
        "[[exporter.incident]]\nservice = \"auth\"\nstart = \"+20s\"\nduration = \"10m\"\nerrors = 300\n",
    );
    // Poll until both evaluators fire it for the writer's series (each may be first).
    let started = std::time::Instant::now();
    let (sided, writer) = loop {
        let out = lab.run(&[
            "compare",
            "--alerts",
            "--json",
            "--fast",
            "--storage",
            "single",
        ]);
        assert!(out.status.success(), "compare --alerts:\n{}", text(&out));
        let sided: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("compare --alerts --json: {e}\n{}", text(&out)));
        let writer = sided
            .iter()
            .find(|a| {
                a["name"] == "HTTPErrorBudgetFastBurn"
                    && a["labels"]["service"] == "auth"
                    && a["labels"]["cluster"] == "staging-cluster"
            })
            .cloned();
        let both = writer.as_ref().is_some_and(|w| {
            w["vmalert"]["state"] == "firing" && w["receiver"]["state"] == "firing"
        });
        if both || started.elapsed() > std::time::Duration::from_secs(180) {
            break (sided, writer);
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    let writer = writer.unwrap_or_else(|| panic!("no fast burn for the writer's auth: {sided:#?}"));
    assert_eq!(writer["vmalert"]["state"], "firing", "{writer:#}");
    assert_eq!(writer["receiver"]["state"], "firing", "{writer:#}");
    let lag = writer["receiver_minus_vmalert_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no difference: {writer:#}"));
    // Both evaluate every 2 s over the same samples, one written straight to the receiver and
    // one through VictoriaMetrics' storage path: seconds apart, not minutes.
    assert!(lag.abs() < 20.0, "{writer:#}");
    // The regions' series reach VictoriaMetrics only: their alerts are vmalert's alone.
    assert!(
        sided
            .iter()
            .filter(|a| a["labels"]["region"].is_string())
            .all(|a| a["receiver"].is_null() && !a["vmalert"].is_null()),
        "{sided:#?}"
    );
    eprintln!(
        "fast burn on the writer's auth: the receiver's activeAt less vmalert's = {lag:+.1}s"
    );
}

/// The incident's error factor on catalog in eu-west-1.
const ERRORS: f64 = 450.0;

/// Time the pipeline adds between a sample's instant and a firing alert: the scrape interval,
/// vmagent's flush, the storage's, vmalert's evaluation interval and a margin.
const PIPELINE_SECS: f64 = 10.0;

/// When each burn alert would fire into the incident, from the exporter's model at today's load.
#[derive(Debug)]
struct Timing {
    /// Seconds into the incident at which the 1 h (here 1 m) window crosses 14.4 × 2 %.
    fast: f64,
    /// Seconds into the incident at which the 1 d or 3 d window (24 m, 72 m) crosses 3 × 2 % or 2 %.
    slow: f64,
    /// The incident's length: halfway between the two, the fast one given the pipeline's delay.
    duration: u64,
}

impl Timing {
    fn predict(incident: u64) -> Timing {
        let lab = Path::new(ROOT).join("lab.toml");
        let mut t = Topology::load(&lab).unwrap();
        // An incident long enough to measure its rates.
        t.exporter.incident = vec![remote_write_lab::lab::topology::ExporterIncident {
            service: "catalog".into(),
            route: None,
            region: Some("eu-west-1".into()),
            start: incident.to_string(),
            duration: "10m".into(),
            errors: ERRORS,
            latency: 1.0,
        }];
        let model = remote_write_lab::lab::backfill::exporter_model(&t.exporter, incident).unwrap();
        // Per second, before (over the 3 d window, here 72 m) and during the incident.
        let (e_n, t_n) = catalog_rates(&model, incident - 4320, incident);
        let (e_i, t_i) = catalog_rates(&model, incident + 1, incident + 121);
        // A window of `w` seconds, `l` of them in the incident, crosses `share` when
        // (l·e_i + (w−l)·e_n) / (l·t_i + (w−l)·t_n) = share.
        let crossing =
            |w: f64, share: f64| w * (share * t_n - e_n) / (e_i - e_n - share * (t_i - t_n));
        let fast = crossing(60.0, 14.4 * 0.02);
        let slow = crossing(1440.0, 3.0 * 0.02).min(crossing(4320.0, 0.02));
        assert!(
            fast + PIPELINE_SECS < 0.8 * slow,
            "at this hour's load the model leaves no room between the two alerts: fast at {fast:.0}s, slow at {slow:.0}s"
        );
        let duration = ((fast + PIPELINE_SECS + slow) / 2.0).round() as u64;
        Timing {
            fast,
            slow,
            duration,
        }
    }
}

/// catalog's 5xx and all requests per second in eu-west-1 between two instants, from the model.
fn catalog_rates(model: &Model, from: u64, to: u64) -> (f64, f64) {
    let totals = |at: u64| {
        let mut sum = CatalogRequests::default();
        model.emit_for(at, Some("eu-west-1"), &mut sum);
        (sum.errors, sum.all)
    };
    let ((e0, a0), (e1, a1)) = (totals(from), totals(to));
    let secs = (to - from) as f64;
    ((e1 - e0) / secs, (a1 - a0) / secs)
}

/// Sums catalog's `http_requests_total`, all and 5xx.
#[derive(Default)]
struct CatalogRequests {
    errors: f64,
    all: f64,
}

impl Sink for CatalogRequests {
    fn series(&mut self, family: Fam, labels: &[(&str, &str)], value: Value) {
        let has = |k: &str, v: &str| labels.contains(&(k, v));
        if let (Fam::HttpRequests, Value::Counter(n)) = (family, value) {
            if has("service", "catalog") {
                self.all += n;
                if labels
                    .iter()
                    .any(|(k, v)| *k == "code" && v.starts_with('5'))
                {
                    self.errors += n;
                }
            }
        }
    }
}

/// `labctl alerts --json`, parsed.
fn alerts_json(lab: &Lab) -> Vec<serde_json::Value> {
    let table = lab.alerts(&["--json"]);
    serde_json::from_slice(&table.stdout)
        .unwrap_or_else(|e| panic!("labctl alerts --json: {e}\n{}", text(&table)))
}
