//! Time from `labctl up` to `labctl verify` green with a 2 s scrape interval, and the resident
//! memory of the whole lab once green; then the scale sweep ([`sweep`]).
//!
//!     cargo bench --bench lab                # both
//!     cargo bench --bench lab -- startup     # start-up and memory only
//!     cargo bench --bench lab -- sweep       # the scale sweep only
//!
//! Runs the cluster when vminsert, vmselect and vmstorage are on PATH, else single-node storage
//! (and says so in the report). Writes the figures to docs/benchmarks.md.

mod common;
#[path = "lab/sweep.rs"]
mod sweep;

use std::process::Command;
use std::time::Instant;

use common::*;
use serde_json::Value;

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab.toml");

fn rss_kib(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
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
        let st: Value =
            serde_json::from_slice(&labctl(&[&["status", "--json"][..], &common].concat()).stdout)
                .unwrap();
        let mut per: Vec<(String, u64)> = st["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    rss_kib(c["pid"].as_u64().unwrap()),
                )
            })
            .collect();
        per.push((
            "labctl (supervisor)".into(),
            rss_kib(st["supervisor_pid"].as_u64().unwrap()),
        ));
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
}
