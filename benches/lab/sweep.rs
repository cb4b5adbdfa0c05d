//! The lab's cost against its work: `labctl up --scale N` for a range of scales, at the 15 s
//! and the 2 s scrape interval, each step measured once green (or once given up on).
//!
//!     cargo bench --bench lab -- sweep
//!     RWLAB_SWEEP_SCALES=1,10 cargo bench --bench lab -- sweep    # other scales
//!
//! Per step: time from `up` to `verify` green, resident memory and CPU per component (CPU over
//! a settle window after green), each scraper's scrape duration and samples written per second,
//! and the storage's disk bytes per stored sample at the end of the window. Writes a table and
//! an SVG plot (memory and CPU against series per scraper) to docs/.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use remote_write_lab::lab::endpoints::Endpoint;
use remote_write_lab::lab::load;
use remote_write_lab::lab::procstat::{cpu_ticks, rss_kib, ticks_per_second};
use remote_write_lab::lab::query::Client;
use remote_write_lab::lab::render::{self, EXPORTER_JOB};
use remote_write_lab::lab::topology::Topology;
use remote_write_lab::lab::victoria::Storage;

use super::labctl;
use crate::common::{machine, write_section};

/// Scales swept (hosts of about 930 series each) and how long a step may take to go green.
const SCALES: [u32; 4] = [1, 10, 50, 112];
const GREEN_TIMEOUT: &str = "150s";
/// After green: the window CPU is averaged over, and after which memory and disk are read.
const SETTLE: Duration = Duration::from_secs(45);
const OFFSET: u16 = 24000;
const PLOT: &str = "docs/images/lab-scale.svg";

struct Step {
    scale: u32,
    interval: &'static str,
    series: usize,
    green: Result<f64, String>,
    /// (component, RSS MiB, CPU cores)
    parts: Vec<(String, f64, f64)>,
    /// (scraper, scrape seconds, samples/s written)
    scrapers: Vec<(String, f64, f64)>,
    disk_bytes_per_sample: Option<f64>,
}

impl Step {
    fn rss(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }
    fn cpu(&self) -> f64 {
        self.parts.iter().map(|p| p.2).sum()
    }
    fn busiest(&self) -> String {
        let top = self.parts.iter().max_by(|a, b| a.2.total_cmp(&b.2));
        top.map(|p| format!("{} ({:.2} cores)", p.0, p.2))
            .unwrap_or_default()
    }
}

/// The scales to sweep: `RWLAB_SWEEP_SCALES` (comma-separated) or [`SCALES`].
fn scales() -> Vec<u32> {
    match std::env::var("RWLAB_SWEEP_SCALES") {
        Ok(list) => list
            .split(',')
            .map(|v| {
                v.trim()
                    .parse()
                    .expect("RWLAB_SWEEP_SCALES: comma-separated numbers")
            })
            .collect(),
        Err(_) => SCALES.to_vec(),
    }
}

pub fn run(storage: &str) {
    let mut steps = Vec::new();
    for (interval, fast) in [("15s", false), ("2s", true)] {
        for scale in scales() {
            let step = measure(storage, scale, interval, fast);
            println!(
                "scale {scale} ({} series) every {interval}: {} · {:.0} MiB · {:.2} cores",
                step.series,
                match &step.green {
                    Ok(t) => format!("green in {t:.1}s"),
                    Err(e) => format!("NOT green: {e}"),
                },
                step.rss(),
                step.cpu()
            );
            steps.push(step);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("docs/images")).unwrap();
    std::fs::write(root.join(PLOT), plot(&steps)).unwrap();
    write_section("lab-scale-bench", &report(storage, &steps));
}

fn measure(storage: &str, scale: u32, interval: &'static str, fast: bool) -> Step {
    let state = std::env::temp_dir().join(format!("rwlab-sweep-{}", std::process::id()));
    let s = state.to_str().unwrap().to_string();
    let off = OFFSET.to_string();
    let mut base = vec![
        "--state-dir",
        &s,
        "--port-offset",
        &off,
        "--storage",
        storage,
    ];
    if fast {
        base.push("--fast");
    }
    let scale_arg = scale.to_string();
    let t0 = Instant::now();
    let up = labctl(&[&["up", "--detach", "--scale", &scale_arg][..], &base].concat());
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let v = labctl(&[&["verify", "--json", "--wait", GREEN_TIMEOUT][..], &base].concat());
    let green = if v.status.success() {
        Ok(t0.elapsed().as_secs_f64())
    } else {
        Err(first_failure(&v.stdout))
    };
    let status = |args: &[&str]| labctl(&[args, &base[..4]].concat());
    let st: Value = serde_json::from_slice(&status(&["status", "--json"]).stdout).unwrap();
    let pids = pids(&st);
    let cpu0: Vec<u64> = pids.iter().map(|p| cpu_ticks(p.1)).collect();
    let w0 = Instant::now();
    std::thread::sleep(SETTLE);
    let secs = w0.elapsed().as_secs_f64();
    let ticks = ticks_per_second();
    let parts = pids
        .iter()
        .zip(cpu0)
        .map(|((name, pid), c0)| {
            let cores = (cpu_ticks(*pid).saturating_sub(c0)) as f64 / ticks / secs;
            (name.clone(), rss_kib(*pid) as f64 / 1024.0, cores)
        })
        .collect();
    let t = lab();
    let storage_kind = if storage == "cluster" {
        Storage::Cluster
    } else {
        Storage::Single
    };
    let scrapers = scrapers(&t, storage_kind, interval);
    let disk_bytes_per_sample = disk_per_sample(&t, &state, storage_kind);
    let series = exporter_series(&render::exporter_url(&t));
    let _ = status(&["down"]);
    let _ = std::fs::remove_dir_all(&state);
    Step {
        scale,
        interval,
        series,
        green,
        parts,
        scrapers,
        disk_bytes_per_sample,
    }
}

/// "check N: name" of the first failing check in a `verify --json` report.
/// lab.toml with the sweep's port offset: where each component of the lab under test listens.
fn lab() -> Topology {
    Topology::load(Path::new(super::LAB))
        .and_then(|t| t.with_port_offset(OFFSET))
        .unwrap()
}

fn first_failure(stdout: &[u8]) -> String {
    let report: Value = serde_json::from_slice(stdout).unwrap_or(Value::Null);
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    checks
        .iter()
        .find(|c| c["status"] == "fail")
        .map(|c| {
            // The evidence without the URLs it names (a query's URL is longer than its error).
            let detail = c["detail"].as_str().unwrap_or("");
            let words: Vec<&str> = detail
                .split_whitespace()
                .filter(|w| !w.starts_with("http://") && !w.starts_with("/prometheus/"))
                .collect();
            let text: String = words.join(" ").chars().take(160).collect();
            format!("check {}: {}", c["id"], text.replace('|', "/"))
        })
        .unwrap_or_else(|| "verify gave no report".into())
}

fn pids(st: &Value) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = st["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["pid"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    out.push((
        "labctl (supervisor)".into(),
        st["supervisor_pid"].as_u64().unwrap() as u32,
    ));
    out
}

/// Each scraper of the exporter (a region's vmagent, or the writer by its cluster): its last
/// scrape's duration, and samples scraped per scrape interval.
fn scrapers(t: &Topology, storage: Storage, interval: &str) -> Vec<(String, f64, f64)> {
    let secs = humantime::parse_duration(interval).unwrap().as_secs_f64();
    // Straight to a node that answers queries, not through vmauth (which may want a user).
    let port = match storage {
        Storage::Cluster => t.vmselect[0].port,
        Storage::Single => t.single.port,
    };
    let query = Endpoint::new(t.http_url(port, &storage.query_path(t.tenant)));
    let by = |metric: &str| -> BTreeMap<String, f64> {
        let q = format!("max by (region, cluster) ({metric}{{job=\"{EXPORTER_JOB}\"}})");
        let answer = Client::new().query(&query, &[("query", q), ("nocache", "1".into())]);
        answer
            .map(|a| a.vector())
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let who = s.metric.get("region").or(s.metric.get("cluster"));
                let who = who.cloned().unwrap_or_else(|| "?".into());
                (who, s.value.value().unwrap_or(f64::NAN))
            })
            .collect()
    };
    let duration = by("scrape_duration_seconds");
    let samples = by("scrape_samples_scraped");
    duration
        .into_iter()
        .map(|(who, d)| {
            let n = samples.get(&who).copied().unwrap_or(f64::NAN);
            (who, d, n / secs)
        })
        .collect()
}

/// Bytes under the storage's data folders per sample it added to storage.
fn disk_per_sample(t: &Topology, state: &Path, storage: Storage) -> Option<f64> {
    let nodes = load::storage_nodes(t, storage);
    let bytes: u64 = nodes
        .iter()
        .map(|(name, _)| du(&state.join("data").join(name)))
        .sum();
    let rows: f64 = nodes.iter().map(|(_, e)| load::rows_added(e)).sum();
    (rows > 0.0).then(|| bytes as f64 / rows)
}

fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn exporter_series(url: &str) -> usize {
    let Ok(mut r) = ureq::get(url).call() else {
        return 0;
    };
    let text = r
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn report(storage: &str, steps: &[Step]) -> String {
    let mut s = format!(
        "## The lab at scale\n\n\
         Produced by `cargo bench --bench lab -- sweep` on {}, `{storage}` storage. Each step:\n\
         `labctl up --detach --scale N` (plus `--fast` for 2 s), `labctl verify --wait {GREEN_TIMEOUT}`, then\n\
         a {}-second window over which CPU is averaged; memory, scrape figures and disk are read at\n\
         its end. Five scrapers (four vmagents, the Prometheus writer) read the exporter's page;\n\
         samples/s is what each scraper writes (samples per scrape over the interval). Disk is the\n\
         storage's data folders over `vm_rows_added_to_storage_total` a minute or two after start,\n\
         before background merges compact it further.\n\n\
         ![memory and CPU against series per scraper]({})\n\n\
         | interval | scale | series per scraper | green after | lab RSS MiB | lab CPU cores | busiest | scrape s (max) | samples/s per scraper | disk B/sample |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        machine(),
        SETTLE.as_secs(),
        PLOT.trim_start_matches("docs/"),
    );
    for st in steps {
        let scrape = st.scrapers.iter().map(|x| x.1).fold(0.0, f64::max);
        let rate = st.scrapers.first().map(|x| x.2).unwrap_or(f64::NAN);
        s += &format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {} | {:.3} | {:.0} | {} |\n",
            st.interval,
            st.scale,
            st.series,
            match &st.green {
                Ok(t) => format!("{t:.1} s"),
                Err(e) => format!("not in {GREEN_TIMEOUT}: {e}"),
            },
            st.rss(),
            st.cpu(),
            st.busiest(),
            scrape,
            rate,
            st.disk_bytes_per_sample
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "–".into()),
        );
    }
    s += &breaking_points(steps);
    s += &components(steps);
    s
}

/// The largest scale green at each interval, and the first that was not.
fn breaking_points(steps: &[Step]) -> String {
    let mut s = String::from("\n");
    for interval in ["15s", "2s"] {
        let at: Vec<&Step> = steps.iter().filter(|x| x.interval == interval).collect();
        let last_green = at.iter().filter(|x| x.green.is_ok()).map(|x| x.scale).max();
        let first_red = at.iter().find(|x| x.green.is_err());
        s += &format!(
            "- Every {interval}: green up to scale {} ({} series per scraper); ",
            last_green
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none".into()),
            at.iter()
                .filter(|x| Some(x.scale) == last_green)
                .map(|x| x.series)
                .next()
                .unwrap_or(0)
        );
        s += &match first_red {
            Some(r) => format!(
                "not green at scale {}: {}; the busiest component was {}, the lab used {:.2} cores in all.\n",
                r.scale,
                r.green.as_ref().err().unwrap(),
                r.busiest(),
                r.cpu()
            ),
            None => "every step swept was green.\n".into(),
        };
    }
    s
}

/// Memory and CPU per component at the largest scale of each interval.
fn components(steps: &[Step]) -> String {
    let mut s = String::new();
    for interval in ["15s", "2s"] {
        let Some(top) = steps
            .iter()
            .filter(|x| x.interval == interval)
            .max_by_key(|x| x.scale)
        else {
            continue;
        };
        s += &format!(
            "\nPer component at scale {} every {interval}:\n\n| component | RSS MiB | CPU cores |\n|---|---|---|\n",
            top.scale
        );
        let mut parts = top.parts.clone();
        parts.sort_by(|a, b| b.2.total_cmp(&a.2));
        for (n, r, c) in parts {
            s += &format!("| {n} | {r:.1} | {c:.2} |\n");
        }
    }
    s
}

/// One figure of a step, plotted against its series.
type Measure = fn(&Step) -> f64;

/// Two panels side by side: lab RSS (MiB) and lab CPU (cores) against series per scraper, one
/// line per interval; red points were not green.
fn plot(steps: &[Step]) -> String {
    let (w, h, pad) = (900.0, 360.0, 60.0);
    let panel_w = (w - 3.0 * pad) / 2.0;
    let max_x = steps.iter().map(|s| s.series as f64).fold(1.0, f64::max);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let panels: [(&str, Measure); 2] = [
        ("lab resident memory (MiB)", Step::rss),
        ("lab CPU (cores)", Step::cpu),
    ];
    for (i, (title, value)) in panels.iter().enumerate() {
        let x0 = pad + i as f64 * (panel_w + pad);
        let (y0, ph) = (pad, h - 2.0 * pad);
        let max_y = steps.iter().map(value).fold(0.0, f64::max).max(1e-9) * 1.1;
        let px = |x: f64| x0 + x / max_x * panel_w;
        let py = |y: f64| y0 + ph - y / max_y * ph;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{title}</text>\n\
             <line x1=\"{x0}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">series per scraper</text>\n\
             <text x=\"{x0}\" y=\"{:.1}\" text-anchor=\"start\">0</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{max_x:.0}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.1}</text>\n",
            x0 + panel_w / 2.0,
            y0 - 20.0,
            y0 + ph,
            x0 + panel_w,
            y0 + ph,
            y0 + ph,
            x0 + panel_w / 2.0,
            y0 + ph + 35.0,
            y0 + ph + 15.0,
            x0 + panel_w,
            y0 + ph + 15.0,
            x0 - 5.0,
            y0 + 4.0,
            max_y
        );
        for (interval, colour) in [("15s", "#1f77b4"), ("2s", "#ff7f0e")] {
            let pts: Vec<&Step> = steps.iter().filter(|s| s.interval == interval).collect();
            let line: Vec<String> = pts
                .iter()
                .map(|s| format!("{:.1},{:.1}", px(s.series as f64), py(value(s))))
                .collect();
            svg += &format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
                line.join(" ")
            );
            for s in &pts {
                let fill = if s.green.is_ok() { colour } else { "red" };
                svg += &format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{fill}\"><title>scale {} every {interval}: {:.2}</title></circle>\n",
                    px(s.series as f64),
                    py(value(s)),
                    s.scale,
                    value(s)
                );
            }
        }
    }
    svg += &format!(
        "<text x=\"{pad}\" y=\"{:.1}\" fill=\"#1f77b4\">— every 15 s</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#ff7f0e\">— every 2 s</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"red\">● not green</text>\n</svg>\n",
        h - 8.0,
        pad + 120.0,
        h - 8.0,
        pad + 230.0,
        h - 8.0
    );
    svg
}
