//! labctl end to end: start the lab from real binaries, verify it, stop it, leave nothing behind.
//!
//! The single-node variant always runs (Debian's `prometheus` and `victoria-metrics` packages
//! are enough). The cluster variant runs wherever vminsert, vmselect and vmstorage are on PATH
//! and otherwise prints one line saying it was skipped and why.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab.toml");

fn labctl(args: &[&str]) -> Output {
    Command::new(LABCTL)
        .args(args)
        .env("LABCTL_LAB", LAB)
        .output()
        .expect("running labctl")
}

/// Runs labctl until it succeeds or `secs` have passed; returns the last run.
fn labctl_until_success(args: &[&str], secs: u64) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let out = labctl(args);
        if out.status.success() || std::time::Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// The JSON a labctl command printed; `what` names it when there is none.
fn json_of(o: &Output, what: &str) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}):\n{}", text(o)))
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

/// Stops the lab even when an assertion fails halfway.
struct Lab {
    state: PathBuf,
    offset: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = labctl(&[
            "down",
            "--state-dir",
            self.state.to_str().unwrap(),
            "--port-offset",
            &self.offset,
        ]);
    }
}

fn end_to_end(storage: &str, start: u16) {
    let tmp = tempdir(storage);
    let dir = tmp.path();
    let state = dir.join("state");
    let offset = free_offset(start).to_string();
    let lab = Lab {
        state: state.clone(),
        offset: offset.clone(),
    };
    let s = state.to_str().unwrap();
    let common = ["--state-dir", s, "--port-offset", &offset];

    let up = labctl(
        &[
            &["up", "--detach", "--fast", "--storage", storage][..],
            &common,
        ]
        .concat(),
    );
    assert!(up.status.success(), "labctl up failed:\n{}", text(&up));
    assert!(text(&up).contains("lab ready in"), "{}", text(&up));

    let status = labctl(&[&["status", "--json"][..], &common].concat());
    assert!(status.status.success(), "status:\n{}", text(&status));
    let st: Value = serde_json::from_slice(&status.stdout).unwrap();
    let pids: Vec<u32> = st["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pid"].as_u64().unwrap() as u32)
        .collect();
    let expected = if storage == "cluster" { 14 } else { 9 };
    assert!(pids.len() >= expected, "{} components", pids.len());

    let verify = labctl(
        &[
            &[
                "verify",
                "--wait",
                "90s",
                "--fast",
                "--json",
                "--storage",
                storage,
            ][..],
            &common,
        ]
        .concat(),
    );
    let report: Value = json_of(&verify, "verify");
    let table = serde_json::to_string_pretty(&report["checks"]).unwrap();
    assert!(verify.status.success(), "verify failed:\n{table}");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 8);
    for c in checks {
        let id = c["id"].as_u64().unwrap();
        let status = c["status"].as_str().unwrap();
        if storage == "single" && id == 5 {
            // The cluster-only check says it was skipped and why; nothing else may skip.
            assert_eq!(status, "skip", "{table}");
            assert!(
                c["detail"].as_str().unwrap().contains("single-node"),
                "{table}"
            );
        } else {
            assert_eq!(status, "pass", "check {id}:\n{table}");
        }
    }
    let _ = std::io::stderr().write_all(
        format!(
            "lab e2e ({storage}): green {:.1}s after `labctl up` returned\n",
            report["seconds"].as_f64().unwrap_or(0.0)
        )
        .as_bytes(),
    );

    backfill(storage, &common);
    r16_verify_does_not_flap_and_catches_a_paused_vmagent(storage, &common, &st);
    dashboards_and_queries(storage, &common, dir);
    top_once(storage, &common);
    top_in_tmux(storage, &common);
    load_ramp(storage, &common);

    let down = labctl(&[&["down"][..], &common].concat());
    assert!(down.status.success(), "{}", text(&down));
    for pid in pids {
        assert!(
            !remote_write_lab::lab::supervise::alive(pid),
            "process {pid} survived labctl down"
        );
    }
    assert!(!state.join("state.json").exists());
    drop(lab);
}

/// VictoriaMetrics' query endpoint (through vmauth) of the lab `common` (`--state-dir S
/// --port-offset N`) runs with `storage`.
fn vm_query(storage: &str, common: &[&str]) -> remote_write_lab::lab::endpoints::Endpoint {
    let t = remote_write_lab::lab::topology::Topology::load(Path::new(LAB)).unwrap();
    let t = t.with_port_offset(common[3].parse().unwrap()).unwrap();
    let st = if storage == "cluster" {
        remote_write_lab::lab::victoria::Storage::Cluster
    } else {
        remote_write_lab::lab::victoria::Storage::Single
    };
    remote_write_lab::lab::endpoints::Endpoints::from_topology(&t, st, t.interval(true)).query
}

/// `labctl backfill` gives every region ten minutes of history before its first live sample:
/// each series starts that much earlier, with no counter reset where the history meets the live
/// scrapes, and no series more than before (the labels are the vmagent's own). Verify, which runs
/// again afterwards (r16), still finds every series once per region.
fn backfill(storage: &str, common: &[&str]) {
    let vm = vm_query(storage, common);
    let client = remote_write_lab::lab::query::Client::new();
    let one = |q: String| -> Vec<f64> {
        client
            .query(&vm, &[("query", q.clone())])
            .unwrap_or_else(|e| panic!("{q}: {e:#}"))
            .vector()
            .iter()
            .map(|s| s.value.value().unwrap())
            .collect()
    };
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"];
    // Every series the store holds for the region, live or not: a backfill with other labels
    // would add series.
    let series = |r: &str| {
        one(format!(
            "count(last_over_time(http_requests_total{{region=\"{r}\"}}[31d]))"
        ))
    };
    let before: Vec<Vec<f64>> = regions.iter().map(|r| series(r)).collect();
    let out = labctl(
        &[
            &[
                "backfill",
                "--fast",
                "--storage",
                storage,
                "--since",
                "10m",
                "--step",
                "10s",
            ][..],
            common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "labctl backfill:\n{}", text(&out));
    for (r, before) in regions.iter().zip(before) {
        let live = one(format!("tfirst_over_time(up{{region=\"{r}\"}}[31d])"));
        let history = one(format!(
            "min(tfirst_over_time(http_requests_total{{region=\"{r}\"}}[31d]))"
        ));
        assert!(
            live.len() == 1 && history.len() == 1 && live[0] - history[0] > 590.0,
            "{r}: live from {live:?}, history from {history:?}\n{}",
            text(&out)
        );
        assert_eq!(series(r), before, "{r}: series before and after");
        let resets = one(format!(
            "sum(resets(http_requests_total{{region=\"{r}\"}}[15m]))"
        ));
        assert_eq!(
            resets,
            [0.0],
            "{r}: counters reset where history meets the live scrapes"
        );
    }
    let _ = std::io::stderr().write_all(
        format!(
            "lab e2e ({storage}): backfill: {}\n",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains(" wrote "))
                .collect::<Vec<_>>()
                .join("; ")
        )
        .as_bytes(),
    );
}

/// `labctl load` pushes into every writer of the lab and reads what each storage node stored:
/// two short steps of 18,668 and 37,336 series per writer, far below any ceiling and far above
/// what the lab's own scrapes store (measured first, and subtracted).
fn load_ramp(storage: &str, common: &[&str]) {
    let out = labctl(
        &[
            &[
                "load",
                "--start-scale",
                "20",
                "--max-steps",
                "2",
                "--hold",
                "8s",
                "--json",
            ][..],
            common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "labctl load:\n{}", text(&out));
    let report: Value = json_of(&out, "labctl load");
    let steps = report["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{report:#}");
    let first = &steps[0];
    assert!(
        first["over"].is_null(),
        "20 hosts over the ceiling: {first:#}"
    );
    let writers = if storage == "cluster" { 2 } else { 1 };
    assert_eq!(
        first["sent"].as_array().unwrap().len(),
        writers,
        "{first:#}"
    );
    assert_eq!(
        first["stored"].as_array().unwrap().len(),
        writers,
        "{first:#}"
    );
    let offered = first["offered"].as_f64().unwrap();
    let stored: f64 = first["stored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[1].as_f64().unwrap())
        .sum();
    // The lab's own scrapes are stored too: at least what was pushed.
    assert!(
        stored >= 0.95 * offered,
        "stored {stored}/s of {offered}/s: {first:#}"
    );
    assert!(
        report["ceiling"].as_str().unwrap().starts_with("ceiling: "),
        "{report:#}"
    );
}

/// Issue 16: one-shot `verify` on a healthy lab passes every time (the freshness limit is the
/// path's delay budget, not a flat two intervals), and still fails check 3, naming the region,
/// while that region's vmagent is hung (SIGSTOP) for longer than the budget.
fn r16_verify_does_not_flap_and_catches_a_paused_vmagent(
    storage: &str,
    common: &[&str],
    status: &Value,
) {
    const RUNS: usize = 15;
    let once = [
        &["verify", "--fast", "--json", "--storage", storage][..],
        common,
    ]
    .concat();
    let mut failures = Vec::new();
    for i in 0..RUNS {
        let v = labctl(&once);
        if !v.status.success() {
            failures.push(format!("run {i}: {}", text(&v)));
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} one-shot verify runs failed on a healthy {storage} lab:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let region = "eu-west-1";
    let pid = status["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == format!("vmagent-{region}"))
        .and_then(|c| c["pid"].as_u64())
        .expect("vmagent pid in labctl status") as i32;
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // Longer than the cluster's budget at the 2 s interval (7.22 s), then verify once.
    std::thread::sleep(Duration::from_secs(10));
    let v = labctl(&once);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(
        !v.status.success(),
        "verify passed with {region}'s vmagent paused"
    );
    let report: Value = serde_json::from_slice(&v.stdout).unwrap();
    let check3 = &report["checks"][2];
    assert_eq!(check3["status"], "fail", "{check3}");
    let detail = check3["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("stale: {region};")), "{detail}");
    let _ = std::io::stderr().write_all(
        format!("lab e2e ({storage}): {RUNS}/{RUNS} one-shot verify runs passed; paused vmagent caught: {detail}\n")
            .as_bytes(),
    );
    // Back to green once the vmagent has caught up.
    let wait = [
        &["verify", "--wait", "60s", "--fast", "--storage", storage][..],
        common,
    ]
    .concat();
    let v = labctl(&wait);
    assert!(
        v.status.success(),
        "not green again after SIGCONT:\n{}",
        text(&v)
    );
}

/// On the green lab: every dashboard query returns data (and a broken one is caught), the
/// comparison runs, and every example query of the docs returns data.
fn dashboards_and_queries(storage: &str, common: &[&str], dir: &Path) {
    // Panels over rates and summaries need a few scrapes of history, which a just-green lab may
    // lack: up to 60 s for it.
    let check = labctl_until_success(
        &[
            &[
                "dashboards",
                "check",
                "--fast",
                "--json",
                "--storage",
                storage,
            ][..],
            common,
        ]
        .concat(),
        60,
    );
    let report: Value = json_of(&check, "dashboards check");
    let failed: Vec<&Value> = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["skipped"] != true && (!o["error"].is_null() || o["series"] == 0))
        .collect();
    assert!(
        check.status.success() && failed.is_empty(),
        "dashboard queries without data: {failed:#?}"
    );
    // Only the cluster-only panels skip, and only on the single-node lab.
    let skipped = report["skipped"].as_u64().unwrap();
    if storage == "single" {
        assert_eq!(
            skipped, 2,
            "the two (cluster only) panels of the pipeline dashboard"
        );
    } else {
        assert_eq!(skipped, 0);
    }
    assert_eq!(report["dashboards"], 4);
    assert!(
        report["queries"].as_u64().unwrap() >= 100,
        "{}",
        report["queries"]
    );

    // A panel whose query returns nothing must fail the check.
    let bad = dir.join("bad-dashboards");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("bad.json"),
        r#"{"uid": "bad", "title": "Bad", "panels": [{"type": "timeseries", "title": "nothing",
            "datasource": {"type": "prometheus", "uid": "victoriametrics"},
            "targets": [{"refId": "A", "expr": "no_such_metric{region=\"$region\"}"}]}]}"#,
    )
    .unwrap();
    let check = labctl(
        &[
            &[
                "dashboards",
                "check",
                "--fast",
                "--storage",
                storage,
                "--dir",
                bad.to_str().unwrap(),
            ][..],
            common,
        ]
        .concat(),
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("4 queries, 4 failed"),
        "{}",
        text(&check)
    );

    // compare reads a range ending two scrape intervals ago, so `rate` needs a few intervals of
    // history: the young lab gets up to 60 s to have them.
    let compare = labctl_until_success(
        &[
            &[
                "compare",
                "--fast",
                "--json",
                "--repeat",
                "3",
                "--range",
                "1m",
                "--storage",
                storage,
            ][..],
            common,
        ]
        .concat(),
        60,
    );
    let report: Value = json_of(&compare, "compare");
    assert!(compare.status.success(), "compare failed: {report:#}");
    for r in report["results"].as_array().unwrap() {
        assert!(r["matched"].as_u64().unwrap() > 0, "{r:#}");
        for l in r["latency"].as_array().unwrap() {
            assert!(l["p50_ms"].as_f64().unwrap() > 0.0, "{r:#}");
        }
        // Raw samples are the same samples in both stores.
        if !r["expr"].as_str().unwrap().contains('(') {
            assert_eq!(r["differing"], 0, "raw samples differ: {r:#}");
            assert!(r["points"].as_u64().unwrap() > 0, "{r:#}");
        }
    }

    // Both evaluators hold the always-firing Watchdog; compare --alerts pairs them.
    let sided = labctl_until_success(
        &[
            &[
                "compare",
                "--alerts",
                "--json",
                "--fast",
                "--storage",
                storage,
            ][..],
            common,
        ]
        .concat(),
        30,
    );
    let sided: Value = json_of(&sided, "compare --alerts");
    let watchdog = sided
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Watchdog")
        .unwrap_or_else(|| panic!("no Watchdog: {sided:#}"));
    assert_eq!(watchdog["vmalert"]["state"], "firing", "{watchdog:#}");
    assert_eq!(watchdog["receiver"]["state"], "firing", "{watchdog:#}");
    assert!(
        watchdog["receiver_minus_vmalert_seconds"].is_f64(),
        "{watchdog:#}"
    );

    // Every example query of the docs returns data from VictoriaMetrics.
    let vm = vm_query(storage, common);
    let md = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/queries.md"
    ))
    .unwrap();
    let client = remote_write_lab::lab::query::Client::new();
    for q in remote_write_lab::lab::compare::parse_queries(&md) {
        let n = client
            .query(&vm, &[("query", q.expr.clone())])
            .unwrap_or_else(|e| panic!("{}: {e:#}", q.name))
            .series();
        assert!(
            n > 0,
            "docs/examples/queries.md: {:?} returned no series:\n{}",
            q.name,
            q.expr
        );
    }
}

/// `labctl top --once` prints one frame of each view from the live lab: every region's row in
/// the overview, the 4×4 probe matrix, the pipeline's components.
fn top_once(storage: &str, common: &[&str]) {
    let once = |view: &str| {
        let args = [
            &[
                "top",
                "--once",
                "--fast",
                "--storage",
                storage,
                "--view",
                view,
            ][..],
            common,
        ]
        .concat();
        // Rates need a few scrapes of history; the lab is past `dashboards check` by now.
        let out = labctl_until_success(&args, 30);
        assert!(
            out.status.success(),
            "top --once --view {view}:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"];
    let overview = once("overview");
    assert!(
        overview.contains("┌ Regions: ingestion, freshness, vmagent queues"),
        "{overview}"
    );
    for r in regions {
        let row = overview
            .lines()
            .find(|l| l.starts_with(&format!("│{r} ")))
            .unwrap_or_else(|| panic!("no row for {r}:\n{overview}"));
        // samples/s, the newest sample's age, both queues: a value in every column.
        assert!(!row.contains(" - "), "{row}");
        assert!(row.contains("/s"), "{row}");
    }
    assert!(overview.contains("│receiver "), "{overview}");
    let probes = once("probes");
    let matrix_rows = probes
        .lines()
        .filter(|l| regions.iter().any(|r| l.starts_with(&format!("│{r} "))))
        .count();
    assert_eq!(matrix_rows, 3 * 4, "{probes}");
    let pipeline = once("pipeline");
    assert!(pipeline.contains("│vmauth "), "{pipeline}");
    let bad = labctl(&[&["top", "--once", "--view", "nope"][..], common].concat());
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let _ = std::io::stderr().write_all(
        format!(
            "lab e2e ({storage}): labctl top --once, first lines:\n{}\n",
            overview.lines().take(8).collect::<Vec<_>>().join("\n")
        )
        .as_bytes(),
    );
}

/// A tmux server of its own (`-L`), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// Captures the pane until `want` shows, for up to `secs`; returns the last capture.
    fn wait_for(&self, want: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let pane =
                String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout)
                    .to_string();
            if pane.contains(want) || std::time::Instant::now() > deadline {
                return pane;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The live view in a real terminal: it draws, switches views on a key, and quits on `q`.
fn top_in_tmux(storage: &str, common: &[&str]) {
    if !on_path("tmux") {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED labctl top in tmux: tmux not on PATH (.ci/run installs it)"
        );
        return;
    }
    let tmux = Tmux {
        socket: format!("rwlab-test-{}", std::process::id()),
    };
    let mut command = vec![LABCTL, "top", "--lab", LAB, "--fast", "--storage", storage];
    command.extend_from_slice(common);
    let started = tmux.run(
        &[
            &["new-session", "-d", "-s", "top", "-x", "150", "-y", "50"][..],
            &command,
        ]
        .concat(),
    );
    assert!(started.status.success(), "tmux: {}", text(&started));
    let pane = tmux.wait_for("│us-east-1 ", 20);
    assert!(
        pane.contains("1:overview") && pane.contains("┌ Regions: ingestion"),
        "{pane}"
    );
    tmux.run(&["send-keys", "-t", "top", "3"]);
    let pane = tmux.wait_for("Probe latency p99", 10);
    assert!(pane.contains("┌ Probe latency p99"), "{pane}");
    tmux.run(&["send-keys", "-t", "top", "q"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tmux.run(&["has-session", "-t", "top"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "labctl top did not quit on q:\n{}",
            tmux.wait_for("", 0)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh folder, deleted when the value is dropped.
fn tempdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("rwlab-test-{tag}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn single_node_lab_comes_up_verifies_and_goes_down() {
    for p in ["prometheus", "vmagent", "vmauth", "victoria-metrics"] {
        assert!(
            on_path(p),
            "{p} not on PATH: install Debian's `prometheus` and `victoria-metrics` (.ci/run does)"
        );
    }
    end_to_end("single", 20000);
}

#[test]
fn cluster_lab_comes_up_verifies_and_goes_down() {
    let missing: Vec<&str> = ["vminsert", "vmselect", "vmstorage"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        // Written to stderr directly, so it shows even though the test harness captures output.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED cluster end-to-end test: {} not on PATH (VictoriaMetrics v1.150.0-cluster binaries; `nix develop` provides them)",
            missing.join(", ")
        );
        return;
    }
    end_to_end("cluster", 40000);
}

#[test]
fn up_without_cluster_binaries_lists_each_and_how_to_get_it() {
    // A PATH with everything but the cluster binaries.
    let path = tempdir("path");
    let bin = path.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for p in ["prometheus", "vmagent", "vmauth", "victoria-metrics"] {
        if let Some(real) = remote_write_lab::lab::supervise::find_on_path(p) {
            std::os::unix::fs::symlink(real, bin.join(p)).unwrap();
        }
    }
    let state = tempdir("missing");
    let state = state.path();
    let out = Command::new(LABCTL)
        .args([
            "up",
            "--storage",
            "cluster",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .env("LABCTL_LAB", LAB)
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("not found on PATH: vmstorage, vminsert, vmselect"),
        "{err}"
    );
    assert!(
        err.contains("--storage single")
            && err.contains("nix run")
            && err.contains("--bin NAME=PATH"),
        "{err}"
    );
}

#[test]
fn rendered_configs_pass_promtool_and_vmagent_dry_run() {
    for storage in ["cluster", "single"] {
        for fast in [false, true] {
            let tmp = tempdir(&format!("render-{storage}-{fast}"));
            let out = tmp.path();
            let mut args = vec![
                "render",
                "--storage",
                storage,
                "--legacy-vmauth",
                "--out",
                out.to_str().unwrap(),
            ];
            if fast {
                args.push("--fast");
            }
            let r = labctl(&args);
            assert!(r.status.success(), "{}", text(&r));
            let conf = out.join("config");
            for f in ["prometheus-writer.yml", "prometheus-receiver.yml"] {
                let c = Command::new("promtool")
                    .args(["check", "config"])
                    .arg(conf.join(f))
                    .output()
                    .unwrap();
                assert!(
                    c.status.success(),
                    "promtool check config {f}:\n{}",
                    text(&c)
                );
            }
            for region in ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"] {
                let f = conf.join(format!("vmagent-{region}.yml"));
                let c = Command::new("vmagent")
                    .arg("-dryRun")
                    .arg(format!("-promscrape.config={}", f.display()))
                    .output()
                    .unwrap();
                assert!(
                    c.status.success(),
                    "vmagent -dryRun {}:\n{}",
                    f.display(),
                    text(&c)
                );
            }
            check_vmauth_config(&conf.join("vmauth.yml"));
        }
    }
}

/// vmauth -dryRun where this vmauth has it; otherwise start it with the config and ask /health.
fn check_vmauth_config(path: &Path) {
    let help = Command::new("vmauth").arg("-help").output().unwrap();
    if text(&help).contains("-dryRun") {
        let c = Command::new("vmauth")
            .arg("-dryRun")
            .arg(format!("-auth.config={}", path.display()))
            .output()
            .unwrap();
        assert!(c.status.success(), "vmauth -dryRun:\n{}", text(&c));
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("vmauth")
        .arg(format!("-auth.config={}", path.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            panic!("vmauth rejected {} ({status}):\n{err}", path.display());
        }
        if ureq::get(&format!("http://127.0.0.1:{port}/health"))
            .call()
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "vmauth never became healthy"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_lab_file_fails_with_the_field_named() {
    let tmp = tempdir("bad");
    let dir = tmp.path();
    let good = std::fs::read_to_string(LAB).unwrap();
    for (bad, want) in [
        (
            good.replacen("vminsert = \"vminsert-2\"", "vminsert = \"vminsert-7\"", 1),
            "region[1].vminsert",
        ),
        (
            good.replace("port = 9091", "port = 9092"),
            "prometheus.receiver.port",
        ),
        (good.replace("seed = 1\n", ""), "missing field `seed`"),
        (
            good.replace("\"15s\"", "\"0s\""),
            "scrape_interval: \"0s\" must be above zero",
        ),
        (
            good.replace("\"127.0.0.1\"", "\"not an ip\""),
            "listen_address: \"not an ip\": ",
        ),
    ] {
        let f = dir.join("lab.toml");
        std::fs::write(&f, bad).unwrap();
        let out = Command::new(LABCTL)
            .args([
                "render",
                "--lab",
                f.to_str().unwrap(),
                "--out",
                dir.join("out").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("labctl: ") && err.contains(want), "{err}");
    }
}

/// Readiness is asked at the address the lab listens on, not at 127.0.0.1.
#[test]
fn r9_a_component_on_127_0_0_2_becomes_ready() {
    use remote_write_lab::lab::{render, supervise, topology, victoria};
    let text = std::fs::read_to_string(LAB)
        .unwrap()
        .replace("\"127.0.0.1\"", "\"127.0.0.2\"");
    let mut t = topology::Topology::parse(&text).unwrap();
    let free = TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    t.exporter.port = std::num::NonZeroU16::new(free).unwrap();
    let tmp = tempdir("listen");
    let options = render::Options {
        storage: victoria::Storage::Single,
        scrape_interval: t.interval(true),
        state_dir: tmp.path().to_path_buf(),
        vmauth_unauthorized_user: true,
        grafana_home: None,
        dashboards_dir: tmp.path().join("dashboards"),
        rules_dir: tmp.path().join("rules"),
    };
    let exporter = render::plan(&t, &options).remove(0);
    assert_eq!(
        exporter.ready_url(),
        format!("http://127.0.0.2:{free}/healthz")
    );
    let program = PathBuf::from(env!("CARGO_BIN_EXE_mock-exporter"));
    let mut sup = supervise::Supervisor::new(
        tmp.path(),
        vec![(exporter, program)],
        victoria::Storage::Single,
        Vec::new(),
    )
    .unwrap();
    sup.ready_timeout = std::time::Duration::from_secs(20);
    sup.start_all(&mut |_| {}).unwrap();
    sup.stop_all();
}

#[test]
fn r9_a_missing_lab_file_says_its_cause_once() {
    let out = labctl(&[
        "render",
        "--lab",
        "/nonexistent.toml",
        "--out",
        "/nonexistent-out",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "labctl: cannot read /nonexistent.toml: No such file or directory (os error 2)"
    );
}

#[test]
fn verify_against_nothing_fails_fast_with_exit_1() {
    let out = labctl(&["verify", "--storage", "single", "--port-offset", "50001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("0 passed, 7 failed, 1 skipped"),
        "{}",
        text(&out)
    );
}

#[test]
fn load_refuses_bad_input_and_a_missing_lab_with_exit_2() {
    let out = labctl(&["load", "--factor", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("above 1"), "{}", text(&out));
    let out = labctl(&["load", "--interval", "500ms"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let tmp = tempdir("load");
    let out = labctl(&["load", "--state-dir", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no lab state"), "{}", text(&out));
}

#[test]
fn backfill_refuses_bad_input_and_a_missing_lab_with_exit_2() {
    let out = labctl(&["backfill", "--storage", "single", "--step", "500ms"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("whole seconds"), "{}", text(&out));
    let out = labctl(&["backfill", "--storage", "single", "--region", "mars-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("known: us-east-1"), "{}", text(&out));
    // Nothing listens 40000 ports up.
    let out = labctl(&[
        "backfill",
        "--storage",
        "single",
        "--wait",
        "0s",
        "--port-offset",
        "40000",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("eu-west-1") || text(&out).contains("us-east-1"),
        "{}",
        text(&out)
    );
}

#[test]
fn bin_override_to_a_missing_file_is_refused() {
    let state = tempdir("binover");
    let state = state.path();
    let out = labctl(&[
        "up",
        "--storage",
        "single",
        "--bin",
        "vmagent=/nonexistent/vmagent",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--bin vmagent=/nonexistent/vmagent: no such file"),
        "{}",
        text(&out)
    );
}
