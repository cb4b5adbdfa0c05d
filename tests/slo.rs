//! The SLO burn-rate alerts fire on a real fault: an exporter incident in a live single-node lab.
//!
//! The rules' windows (5 m to 3 d) are compressed 60 times for the test, so one hour is one
//! minute: [`scaled_rules`] rewrites every range selector of `rules/service.yml` (`[1h]` becomes
//! `[1m]`, `[3d]` becomes `[72m]`) and keeps the expressions and thresholds. The other rule files
//! are used as they are. What this proves and what it cannot is written in docs/runbooks.md
//! (HTTPErrorBudgetFastBurn, "Testing").

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

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

/// A detached single-node lab in a temporary folder, stopped when dropped.
struct Lab {
    _dir: tempfile::TempDir,
    lab: PathBuf,
    common: Vec<String>,
}

impl Lab {
    fn up(incident: &str) -> Lab {
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
        let common = vec![
            "--state-dir".to_string(),
            dir.path().join("state").display().to_string(),
            "--port-offset".to_string(),
            free_offset(&lab).to_string(),
        ];
        let l = Lab {
            _dir: dir,
            lab,
            common,
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

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

#[test]
fn checkout_incident_fires_the_fast_burn_alert() {
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
    // 40 times checkout's 1 % of server errors: 40 %, above the fast burn's 28.8 %; only on
    // eu-west-1's page (its vmagent scrapes with ?region=eu-west-1).
    let lab = Lab::up(
        "[[exporter.incident]]\nservice = \"checkout\"\nregion = \"eu-west-1\"\nstart = \"+0s\"\nduration = \"1h\"\nerrors = 40\n",
    );
    let started = Instant::now();
    // The scaled 1 h window is one minute: it fills with the incident within about a minute.
    let fast = lab.alerts(&[
        "wait",
        "HTTPErrorBudgetFastBurn",
        "--state",
        "firing",
        "--evaluator",
        "vmalert",
        "--timeout",
        "3m",
    ]);
    assert!(
        fast.status.success(),
        "fast burn did not fire:\n{}",
        text(&fast)
    );
    let after = started.elapsed();
    // Only the service and region with the incident burn their budget.
    let table = lab.alerts(&["--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&table.stdout)
        .unwrap_or_else(|e| panic!("labctl alerts --json: {e}\n{}", text(&table)));
    let burning: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["name"] == "HTTPErrorBudgetFastBurn")
        .map(|r| {
            let l = &r["labels"];
            (
                l["service"].as_str().unwrap_or(""),
                l["region"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(burning.contains(&("checkout", "eu-west-1")), "{rows:#?}");
    assert!(
        burning.iter().all(|b| *b == ("checkout", "eu-west-1")),
        "{burning:?}"
    );
    let slow = rows
        .iter()
        .filter(|r| r["name"] == "HTTPErrorBudgetSlowBurn")
        .map(|r| format!("{} at {}", r["state"], r["source"]))
        .collect::<Vec<_>>();
    // Not asserted: in a lab minutes old the long windows hold only those minutes (see the module
    // doc), so the slow burn follows the fast one. Reported for the record.
    eprintln!("HTTPErrorBudgetFastBurn firing {after:?} after labctl up; slow burn: {slow:?}");
}
