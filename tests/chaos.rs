//! `labctl stop|start|pause|resume` and `labctl chaos` against a real lab: each scenario's
//! promise holds, counted exactly, and bad input is refused with exit 2.
//!
//! The single-node scenarios always run (Debian's `prometheus` and `victoria-metrics` are
//! enough). The cluster ones run wherever vminsert, vmselect and vmstorage are on PATH and
//! otherwise print one line saying they were skipped and why.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab.toml");

fn labctl(lab: &Path, args: &[&str]) -> Output {
    Command::new(LABCTL)
        .args(args)
        .env("LABCTL_LAB", lab)
        .output()
        .expect("running labctl")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

fn on_path(program: &str) -> bool {
    remote_write_lab::lab::supervise::find_on_path(program).is_some()
}

/// A port offset at which every port of the lab is free.
fn free_offset(start: u16) -> u16 {
    let t = remote_write_lab::lab::topology::Topology::load(Path::new(LAB)).unwrap();
    (0..40)
        .map(|i| start + i * 1000 + (std::process::id() % 97) as u16)
        .find(|off| {
            t.ports()
                .iter()
                .all(|(_, p)| TcpListener::bind(("127.0.0.1", p + off)).is_ok())
        })
        .expect("no free port offset")
}

/// A detached lab, stopped when dropped (even when an assertion fails).
struct Lab {
    _dir: tempfile::TempDir,
    lab: PathBuf,
    common: Vec<String>,
}

impl Lab {
    fn up(storage: &str, start: u16, lab_toml: &str) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rwlab-chaos-{storage}-"))
            .tempdir()
            .unwrap();
        let lab = dir.path().join("lab.toml");
        std::fs::write(&lab, lab_toml).unwrap();
        // labctl reads the alerting rules beside lab.toml.
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
            dir.path().join("rules"),
        )
        .unwrap();
        let state = dir.path().join("state");
        let common = vec![
            "--state-dir".to_string(),
            state.display().to_string(),
            "--port-offset".to_string(),
            free_offset(start).to_string(),
        ];
        let l = Lab {
            _dir: dir,
            lab,
            common,
        };
        let up = l.run(&["up", "--detach", "--fast", "--storage", storage]);
        assert!(up.status.success(), "labctl up:\n{}", text(&up));
        let v = l.run(&["verify", "--wait", "90s", "--fast", "--storage", storage]);
        assert!(v.status.success(), "not green:\n{}", text(&v));
        l
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.common.iter().map(String::as_str));
        labctl(&self.lab, &all)
    }

    /// Runs a scenario and returns its JSON report.
    fn chaos(&self, scenario: &str, storage: &str, duration: &str) -> Value {
        let out = self.run(&[
            "chaos",
            "run",
            scenario,
            "--duration",
            duration,
            "--fast",
            "--storage",
            storage,
            "--json",
        ]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{scenario}: no JSON ({e}):\n{}", text(&out)));
        let _ = writeln!(
            std::io::stderr(),
            "chaos {scenario} ({storage}): {}",
            summary(&report)
        );
        report
    }

    fn component_status(&self, name: &str) -> String {
        let s = self.run(&["status", "--json"]);
        let st: Value = serde_json::from_slice(&s.stdout).unwrap();
        let c = st["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone();
        c["status"].as_str().unwrap().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

/// One line per path: expected/stored/lost, and the verdict.
fn summary(r: &Value) -> String {
    let paths: Vec<String> = r["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}/{} lost {}",
                p["path"].as_str().unwrap(),
                p["stored"],
                p["expected"],
                p["lost"]
            )
        })
        .collect();
    let alerts: Vec<String> = r["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let secs = |v: &Value| v.as_f64().map_or("-".to_string(), |s| format!("{s:.0}s"));
            format!(
                "{} fired after {} for {}, resolved {} after restore",
                a["alert"].as_str().unwrap_or("?"),
                secs(&a["fired_after_s"]),
                a["fired_for"],
                secs(&a["resolved_after_s"])
            )
        })
        .collect();
    format!(
        "{} [{}] alerts: [{}]",
        r["verdict"],
        paths.join("; "),
        alerts.join("; ")
    )
}

/// The report's `alert` fired during the fault (within `fault_s`), for exactly `fired_for`
/// (components or regions), and resolved after the restore within the run.
fn assert_fired_and_resolved(r: &Value, alert: &str, fired_for: &[&str], fault_s: f64) {
    let a = r["alerts"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["alert"] == alert))
        .unwrap_or_else(|| panic!("{alert} not watched: {r}"));
    let fired = a["fired_after_s"].as_f64();
    assert!(
        fired.is_some_and(|s| s < fault_s),
        "{alert} did not fire during the fault: {a}"
    );
    let mut want: Vec<&str> = fired_for.to_vec();
    want.sort_unstable();
    let got: Vec<&str> = a["fired_for"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(got, want, "{alert} fired for: {a}");
    assert!(
        a["resolved_after_s"].is_f64(),
        "{alert} did not resolve: {a}"
    );
}

fn assert_pass(r: &Value) {
    assert_eq!(
        r["verdict"],
        "pass",
        "{}",
        serde_json::to_string_pretty(r).unwrap()
    );
    for p in r["paths"].as_array().unwrap() {
        assert!(p["expected"].as_u64().unwrap() > 0, "{p}");
        assert_eq!(p["extra"], 0, "samples the witness never saw: {p}");
    }
}

#[test]
fn single_node_scenarios_keep_their_promises() {
    for p in ["prometheus", "vmagent", "vmauth", "victoria-metrics"] {
        assert!(on_path(p), "{p} not on PATH (.ci/run installs it)");
    }
    let lab = Lab::up("single", 21000, &std::fs::read_to_string(LAB).unwrap());

    // Control of one component: stopped stays stopped, unknown names are refused.
    let stop = lab.run(&["stop", "prometheus-receiver"]);
    assert!(stop.status.success(), "{}", text(&stop));
    assert_eq!(lab.component_status("prometheus-receiver"), "stopped");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        lab.component_status("prometheus-receiver"),
        "stopped",
        "the supervisor restarted a component stopped on purpose"
    );
    let start = lab.run(&["start", "prometheus-receiver"]);
    assert!(start.status.success(), "{}", text(&start));
    assert_eq!(lab.component_status("prometheus-receiver"), "running");
    let bad = lab.run(&["pause", "vminsert-9"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("known: mock-exporter, victoria-metrics"),
        "{}",
        text(&bad)
    );

    // Longer than the 4 queue workers × 2 s that each hold a block in memory: the rest goes to
    // disk; and than RemoteWriteFailingVmagent's `for: 20s` after its first failed write.
    let r = lab.chaos("vminsert-down", "single", "35s");
    assert_pass(&r);
    // The alert it must raise fires during the outage, for every vmagent (on a single node all
    // write to the one store), and resolves after the restore, within the run.
    let agents =
        ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"].map(|r| format!("vmagent-{r}"));
    let agents: Vec<&str> = agents.iter().map(String::as_str).collect();
    assert_fired_and_resolved(&r, "RemoteWriteFailingVmagent", &agents, 35.0);
    let notes = r["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("alert RemoteWriteFailingVmagent: ")),
        "{notes:?}"
    );
    for p in r["paths"].as_array().unwrap().iter().take(4) {
        assert!(p["queue_peak"].as_f64().unwrap() > 0.0, "no buffering: {p}");
    }
    assert_pass(&lab.chaos("receiver-restart", "single", "8s"));
    let r = lab.chaos("vmagent-kill", "single", "8s");
    assert_pass(&r);
    assert_eq!(lab.component_status("vmagent-us-east-1"), "running");
    assert_eq!(lab.component_status("victoria-metrics"), "running");
    let skip = lab.chaos("vmstorage-down", "single", "1s");
    assert_eq!(skip["verdict"], "skip", "{skip}");

    // Ctrl-C in the middle of a fault: the run restores what it paused before it exits.
    let mut args = vec![
        "chaos",
        "run",
        "vmagent-pause",
        "--duration",
        "120s",
        "--fast",
    ];
    args.extend(["--storage", "single"]);
    args.extend(lab.common.iter().map(String::as_str));
    let mut child = Command::new(LABCTL)
        .env("LABCTL_LAB", &lab.lab)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while lab.component_status("vmagent-us-east-1") != "paused" {
        assert!(
            std::time::Instant::now() < deadline,
            "vmagent-pause never paused the vmagent"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted run exited 0");
    assert_eq!(
        lab.component_status("vmagent-us-east-1"),
        "running",
        "Ctrl-C left the vmagent paused"
    );
}

#[test]
fn chaos_refuses_bad_input_with_exit_2() {
    let lab = Path::new(LAB);
    let out = labctl(lab, &["chaos", "run", "disk-full"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no scenario named \"disk-full\" (known: vminsert-down,"),
        "{}",
        text(&out)
    );
    let state = tempfile::tempdir().unwrap();
    let out = labctl(
        lab,
        &[
            "chaos",
            "run",
            "vminsert-down",
            "--storage",
            "single",
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no lab state at"), "{}", text(&out));
    let list = labctl(lab, &["chaos", "list"]);
    assert!(list.status.success());
    assert_eq!(
        text(&list)
            .lines()
            .filter(|l| l.contains("promise:"))
            .count(),
        7
    );
}

#[test]
fn cluster_scenarios_keep_their_promises() {
    let missing: Vec<&str> = ["vminsert", "vmselect", "vmstorage"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED cluster chaos test: {} not on PATH (VictoriaMetrics v1.150.0-cluster binaries; `nix develop` provides them)",
            missing.join(", ")
        );
        return;
    }
    let toml = std::fs::read_to_string(LAB).unwrap();
    let lab = Lab::up("cluster", 41000, &toml);
    assert_pass(&lab.chaos("vminsert-down", "cluster", "8s"));
    assert_pass(&lab.chaos("vmselect-down", "cluster", "8s"));
    // Longer than VmstorageUnreachableFromVminsert's `for: 10s`: both vminserts lose it.
    let r = lab.chaos("vmstorage-down", "cluster", "20s");
    assert_pass(&r);
    assert_fired_and_resolved(
        &r,
        "VmstorageUnreachableFromVminsert",
        &["vminsert-1", "vminsert-2"],
        20.0,
    );
    drop(lab);
    let rf2 = toml.replace("replication_factor = 1 ", "replication_factor = 2 ");
    assert_ne!(rf2, toml, "lab.toml sets replication_factor = 1");
    let lab = Lab::up("cluster", 41500, &rf2);
    let r = lab.chaos("vmstorage-down", "cluster", "8s");
    assert_pass(&r);
    assert_eq!(r["probe"]["queries_partial"], 0, "{r}");
}
