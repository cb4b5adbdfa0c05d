//! Time from `labctl up` to `labctl verify` green with a 2 s scrape interval, and the resident
//! memory of the whole lab once green, and the lab's footprint a minute after start, per
//! component, for the cluster and the single node, with upstream's defaults and with the lab's
//! memory settings; then the scale sweep ([`sweep`]).
//!
//!     cargo bench --bench lab                # both
//!     cargo bench --bench lab -- startup     # start-up, memory and footprint only
//!     cargo bench --bench lab -- sweep       # the scale sweep only
//!
//! Runs the cluster when vminsert, vmselect and vmstorage are on PATH, else single-node storage
//! only (and says so in the report). Writes the figures to docs/benchmarks.md.

mod common;
#[path = "lab/sweep.rs"]
mod sweep;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use remote_write_lab::lab::procstat::rss_kib;
use remote_write_lab::lab::render::{self, Kind};
use remote_write_lab::lab::supervise::Binaries;
use serde_json::Value;

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab.toml");

/// Resident memory of every process `labctl status` lists (and of the supervisor), in KiB.
fn rss_per_component(common: &[&str]) -> Vec<(String, u64)> {
    let st: Value =
        serde_json::from_slice(&labctl(&[&["status", "--json"][..], common].concat()).stdout)
            .unwrap();
    let mut per: Vec<(String, u64)> = st["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                rss_kib(c["pid"].as_u64().unwrap() as u32),
            )
        })
        .collect();
    per.push((
        "labctl (supervisor)".into(),
        rss_kib(st["supervisor_pid"].as_u64().unwrap() as u32),
    ));
    per
}

fn labctl(args: &[&str]) -> std::process::Output {
    Command::new(LABCTL)
        .args(args)
        .env("LABCTL_LAB", LAB)
        .output()
        .unwrap()
}

fn main() {
    let cluster = ["vminsert", "vmselect", "vmstorage"]
        .iter()
        .all(|p| remote_write_lab::lab::supervise::find_on_path(p).is_some());
    let storage = if cluster { "cluster" } else { "single" };
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |part: &str| only.is_empty() || only.iter().any(|a| a == part);
    if wants("startup") {
        startup(cluster, storage);
    }
    if wants("sweep") {
        sweep::run(storage);
    }
}

fn startup(cluster: bool, storage: &str) {
    let state = std::env::temp_dir().join(format!("rwlab-bench-{}", std::process::id()));
    let s = state.to_str().unwrap();
    let offset = "23000";
    let common = ["--state-dir", s, "--port-offset", offset];
    let runs = 3;
    let mut rows = Vec::new();
    let mut green = Vec::new();
    let mut rss = Vec::new();
    for run in 1..=runs {
        let t0 = Instant::now();
        let up = labctl(
            &[
                &["up", "--detach", "--fast", "--storage", storage][..],
                &common,
            ]
            .concat(),
        );
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let t_up = t0.elapsed().as_secs_f64();
        let v = labctl(
            &[
                &[
                    "verify",
                    "--wait",
                    "120s",
                    "--fast",
                    "--json",
                    "--storage",
                    storage,
                ][..],
                &common,
            ]
            .concat(),
        );
        let t_green = t0.elapsed().as_secs_f64();
        let report: Value = serde_json::from_slice(&v.stdout).unwrap();
        assert!(v.status.success(), "verify failed: {}", report["checks"]);
        let mut per = rss_per_component(&common);
        let total: u64 = per.iter().map(|(_, k)| k).sum();
        let _ = labctl(&[&["down"][..], &common].concat());
        println!(
            "run {run}: up returned {t_up:.1}s, verify green {t_green:.1}s, RSS {:.0} MiB",
            total as f64 / 1024.0
        );
        rows.push(format!(
            "| {run} | {t_up:.1} | {t_green:.1} | {:.0} |",
            total as f64 / 1024.0
        ));
        green.push(t_green);
        rss.push(total);
        if run == runs {
            per.sort_by_key(|p| std::cmp::Reverse(p.1));
            rows.push(String::new());
            rows.push("Resident memory per component (last run, once green):\n\n| component | RSS MiB |\n|---|---|".into());
            for (n, k) in per {
                rows.push(format!("| {n} | {:.1} |", k as f64 / 1024.0));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&state);
    let max_green = green.iter().cloned().fold(0.0, f64::max);
    let max_rss = *rss.iter().max().unwrap() as f64 / 1024.0;
    let body = format!(
        "## Lab start-up and memory\n\n\
         Produced by `cargo bench --bench lab` on {}, with `{storage}` storage{} and a 2 s scrape interval\n\
         (`labctl up --detach --fast`, then `labctl verify --wait 120s --fast`). Targets: green in 20 s\n\
         or less (worst run: {max_green:.1} s, {}); whole lab at most 1 GiB resident (worst run: {max_rss:.0} MiB, \
         {:.2}× the target, {}).\n\n\
         | run | `up` returned (s) | verify green (s) | lab RSS (MiB) |\n|---|---|---|---|\n{}\n",
        machine(),
        if cluster { "" } else { " (vminsert, vmselect and vmstorage are not on this machine)" },
        if max_green <= 20.0 { "met" } else { "missed" },
        max_rss / 1024.0,
        if max_rss <= 1024.0 { "met" } else { "missed" },
        rows.join("\n")
    );
    write_section("lab-bench", &body);
    footprint(cluster, &state, &common);
}

/// How long after `labctl up` returns the footprint is read ("a minute after start").
const SETTLE: Duration = Duration::from_secs(60);
/// The cluster lab's memory budget a minute after start, in MiB.
const FOOTPRINT_TARGET_MIB: f64 = 512.0;
/// The flag the lab adds to vmstorage for memory (src/lab/render.rs).
const VMSTORAGE_MEMORY_FLAG: &str = "-rpc.disableCompression";

/// Wrappers (`--bin NAME=PATH`) that run each Go program of the lab with upstream's defaults:
/// without the environment labctl gives it ([`render::GO_ENV`]) and without the flag the lab
/// adds for memory. A wrapper `exec`s the program, so `labctl status` lists the program's pid.
fn upstream_wrappers(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let bins = Binaries::default();
    let mut programs: Vec<&str> = ALL_KINDS
        .iter()
        .filter(|k| k.is_go())
        .map(|k| k.program())
        .collect();
    programs.dedup();
    let unset: String = render::GO_ENV
        .iter()
        .map(|(k, _)| format!("unset {k}\n"))
        .collect();
    let mut out = Vec::new();
    for p in programs {
        let Some(real) = bins.find(p) else { continue };
        let path = dir.join(p);
        let script = format!(
            "#!/bin/sh\n{unset}for a; do shift; [ \"$a\" = {VMSTORAGE_MEMORY_FLAG} ] || set -- \"$@\" \"$a\"; done\nexec '{}' \"$@\"\n",
            real.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        out.push(format!("{p}={}", path.display()));
    }
    out
}

const ALL_KINDS: [Kind; 12] = [
    Kind::MockExporter,
    Kind::Vmstorage,
    Kind::Vminsert,
    Kind::Vmselect,
    Kind::VictoriaMetrics,
    Kind::Vmauth,
    Kind::Vmagent,
    Kind::PrometheusReceiver,
    Kind::PrometheusWriter,
    Kind::Grafana,
    Kind::Vmalert,
    Kind::Alertmanager,
];

/// One lab: `up --detach` (the default 15 s scrape interval), resident memory per component
/// [`SETTLE`] after `up` returned, then `verify`; whether it was green.
fn settled(storage: &str, bins: &[String], common: &[&str]) -> (Vec<(String, u64)>, bool) {
    let mut args = vec!["up", "--detach", "--storage", storage];
    for b in bins {
        args.extend(["--bin", b.as_str()]);
    }
    args.extend(common);
    let up = labctl(&args);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    std::thread::sleep(SETTLE);
    let per = rss_per_component(common);
    let v = labctl(
        &[
            &["verify", "--wait", "120s", "--storage", storage][..],
            common,
        ]
        .concat(),
    );
    let _ = labctl(&[&["down"][..], common].concat());
    (per, v.status.success())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// How many labs of each kind the footprint is read from: a run's figure moves by ±5 % with
/// where each program's garbage collector stands at the moment of reading.
const FOOTPRINT_RUNS: usize = 3;

/// The median of `v` (the lower middle for an even count).
fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

/// One kind of lab read [`FOOTPRINT_RUNS`] times: per run, the resident memory per component
/// and whether `verify` was green.
struct Readings(Vec<(Vec<(String, u64)>, bool)>);

impl Readings {
    fn component(&self, name: &str) -> Option<u64> {
        let v: Vec<u64> = self
            .0
            .iter()
            .filter_map(|(per, _)| per.iter().find(|(n, _)| n == name).map(|p| p.1))
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    fn totals(&self) -> Vec<u64> {
        self.0
            .iter()
            .map(|(per, _)| per.iter().map(|p| p.1).sum())
            .collect()
    }

    fn green(&self) -> usize {
        self.0.iter().filter(|(_, g)| *g).count()
    }
}

/// The footprint table: each storage with upstream's defaults and with the lab's settings, the
/// two read in turn so that both meet the same machine.
fn footprint(cluster: bool, state: &Path, common: &[&str]) {
    let wrappers = upstream_wrappers(&state.with_extension("upstream"));
    let storages: &[&str] = if cluster {
        &["cluster", "single"]
    } else {
        &["single"]
    };
    // (storage, upstream, lab).
    let mut runs = Vec::new();
    for storage in storages {
        let (mut upstream, mut lab) = (Readings(Vec::new()), Readings(Vec::new()));
        for run in 1..=FOOTPRINT_RUNS {
            upstream.0.push(settled(storage, &wrappers, common));
            lab.0.push(settled(storage, &[], common));
            println!(
                "{storage} run {run}: {:.0} MiB with upstream's defaults, {:.0} MiB with the lab's settings",
                mib(*upstream.totals().last().unwrap()),
                mib(*lab.totals().last().unwrap())
            );
        }
        runs.push((*storage, upstream, lab));
    }
    let _ = std::fs::remove_dir_all(state);
    let _ = std::fs::remove_dir_all(state.with_extension("upstream"));
    // Rows: the components of the first storage's upstream lab, heaviest first, then the others'.
    let mut names: Vec<String> = Vec::new();
    for (_, up, _) in &runs {
        let mut these: Vec<(String, u64)> = up.0[0]
            .0
            .iter()
            .filter(|(n, _)| !names.contains(n))
            .map(|(n, _)| (n.clone(), up.component(n).unwrap_or(0)))
            .collect();
        these.sort_by_key(|p| std::cmp::Reverse(p.1));
        names.extend(these.into_iter().map(|p| p.0));
    }
    let ratio = |u: u64, l: u64| {
        if u == 0 {
            "–".to_string()
        } else {
            format!("{:.2}", l as f64 / u as f64)
        }
    };
    let mut header = "| component |".to_string();
    let mut rule = "|---|".to_string();
    for (s, _, _) in &runs {
        header += &format!(" {s}, upstream (MiB) | {s}, lab (MiB) | lab / upstream |");
        rule += "---|---|---|";
    }
    let mut rows = vec![header, rule];
    for n in &names {
        let mut row = format!("| {n} |");
        for (_, up, lab) in &runs {
            match (up.component(n), lab.component(n)) {
                (Some(u), Some(l)) => {
                    row += &format!(" {:.1} | {:.1} | {} |", mib(u), mib(l), ratio(u, l))
                }
                _ => row += " | | |",
            }
        }
        rows.push(row);
    }
    let mut total = "| **whole lab, median** |".to_string();
    let mut worst = "| whole lab, worst run |".to_string();
    let mut green = "| `labctl verify` green |".to_string();
    for (_, up, lab) in &runs {
        let (u, l) = (median(up.totals()), median(lab.totals()));
        total += &format!(
            " **{:.0}** | **{:.0}** | **{}** |",
            mib(u),
            mib(l),
            ratio(u, l)
        );
        let (u, l) = (
            *up.totals().iter().max().unwrap(),
            *lab.totals().iter().max().unwrap(),
        );
        worst += &format!(" {:.0} | {:.0} | {} |", mib(u), mib(l), ratio(u, l));
        green += &format!(
            " {}/{FOOTPRINT_RUNS} | {}/{FOOTPRINT_RUNS} | |",
            up.green(),
            lab.green()
        );
    }
    rows.extend([total, worst, green]);
    let verdict = match runs.iter().find(|r| r.0 == "cluster") {
        Some((_, _, lab)) => {
            let m = mib(median(lab.totals()));
            let w = mib(*lab.totals().iter().max().unwrap());
            let met = |x: f64| {
                if x <= FOOTPRINT_TARGET_MIB {
                    "met"
                } else {
                    "missed"
                }
            };
            format!(
                "Target: the cluster lab at most {FOOTPRINT_TARGET_MIB:.0} MiB a minute after start: \
                 median {m:.0} MiB, {:.2}× the target, {}; worst run {w:.0} MiB, {}.",
                m / FOOTPRINT_TARGET_MIB,
                met(m),
                met(w)
            )
        }
        None => format!(
            "Target: the cluster lab at most {FOOTPRINT_TARGET_MIB:.0} MiB a minute after start: \
             not measured (vminsert, vmselect and vmstorage are not on this machine)."
        ),
    };
    let body = format!(
        "## Lab footprint a minute after start\n\n\
         Produced by `cargo bench --bench lab` on {}: `labctl up --detach` (15 s scrape interval), \
         then the resident memory (VmRSS) of every process `labctl status` lists and of the \
         supervisor, {} s after `up` returned; then `labctl verify --wait 120s`. *upstream*: every \
         Go program with its own defaults (wrappers drop `GOGC` and vmstorage's \
         `{VMSTORAGE_MEMORY_FLAG}`); *lab*: as labctl runs them. {FOOTPRINT_RUNS} runs of each, \
         upstream and lab in turn; per component the median. {verdict}\n\n{}\n",
        machine(),
        SETTLE.as_secs(),
        rows.join("\n")
    );
    write_section("lab-footprint", &body);
}
