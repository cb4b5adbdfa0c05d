//! Remote-write receivers started for one experiment, on free loopback ports, in a temporary
//! folder, stopped (SIGTERM, then SIGKILL) when dropped; and reading back what they stored.
//!
//! - [`Kind::VictoriaMetrics`]: `victoria-metrics`, written at `/api/v1/write`;
//! - [`Kind::Prometheus`]: `prometheus --web.enable-remote-write-receiver`, at `/api/v1/write`;
//! - [`Kind::Vmagent`]: `vmagent` at `/api/v1/write`, forwarding to a `victoria-metrics`;
//! - [`Kind::VmCluster`]: one `vmstorage`, `vminsert` (`/insert/0/prometheus/api/v1/write`) and
//!   `vmselect`.
//!
//! Programs come from PATH. [`Stored`] maps each series (`name{labels}`, as
//! [`crate::scrape::series_id`] writes it) to its samples.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A receiver this module can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VictoriaMetrics,
    Prometheus,
    Vmagent,
    VmCluster,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::VictoriaMetrics,
        Kind::Prometheus,
        Kind::Vmagent,
        Kind::VmCluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::VictoriaMetrics => "VictoriaMetrics single node",
            Kind::Prometheus => "Prometheus receiver",
            Kind::Vmagent => "vmagent → VictoriaMetrics",
            Kind::VmCluster => "VictoriaMetrics cluster (vminsert)",
        }
    }

    /// Programs that must be on PATH.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            Kind::VictoriaMetrics => &["victoria-metrics"],
            Kind::Prometheus => &["prometheus"],
            Kind::Vmagent => &["vmagent", "victoria-metrics"],
            Kind::VmCluster => &["vmstorage", "vminsert", "vmselect"],
        }
    }

    /// The first program missing from PATH, if any.
    pub fn missing(self) -> Option<&'static str> {
        self.programs()
            .iter()
            .copied()
            .find(|p| which::which(p).is_err())
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the OS may reuse it later).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One started program.
struct Proc {
    name: String,
    child: Child,
}

/// A running receiver.
pub struct Receiver {
    pub kind: Kind,
    /// Where to post remote-write requests.
    pub write_url: String,
    /// Base of the Prometheus-compatible read API (`…/api/v1/query`, `…/api/v1/export`).
    read_base: String,
    /// Where `/internal/force_flush` makes fresh data searchable (VictoriaMetrics only).
    flush_urls: Vec<String>,
    /// Program versions, as they print them.
    pub version: String,
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            stop(&mut p.child);
        }
    }
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Receiver {
    /// Starts `kind` and waits until it answers its readiness endpoint.
    pub fn start(kind: Kind) -> anyhow::Result<Receiver> {
        if let Some(p) = kind.missing() {
            bail!("{p} is not on PATH");
        }
        let mut r = Receiver {
            kind,
            write_url: String::new(),
            read_base: String::new(),
            flush_urls: Vec::new(),
            version: String::new(),
            procs: Vec::new(),
            dir: tempfile::Builder::new()
                .prefix("rwlab-receiver-")
                .tempdir()?,
        };
        match kind {
            Kind::VictoriaMetrics => {
                let (w, f) = r.victoria_metrics("victoria-metrics")?;
                r.read_base = w.clone();
                r.write_url = format!("{w}/api/v1/write");
                r.flush_urls.push(f);
            }
            Kind::Prometheus => r.prometheus()?,
            Kind::Vmagent => r.vmagent()?,
            Kind::VmCluster => r.cluster()?,
        }
        r.version = kind
            .programs()
            .iter()
            .map(|p| version(p))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(r)
    }

    fn spawn(&mut self, name: &str, program: &str, args: &[String]) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log")))?;
        let child = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
        });
        Ok(())
    }

    fn wait_ready(&mut self, url: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(url).call() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            let exited = self
                .procs
                .iter_mut()
                .position(|p| matches!(p.child.try_wait(), Ok(Some(_))));
            if let Some(i) = exited {
                let p = &self.procs[i];
                let log = std::fs::read_to_string(self.dir.path().join(format!("{}.log", p.name)))
                    .unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                bail!("{} exited before {url} answered: {tail}", p.name);
            }
            if Instant::now() > deadline {
                bail!("{url} did not answer within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a `victoria-metrics`; returns its base URL and force-flush URL.
    fn victoria_metrics(&mut self, name: &str) -> anyhow::Result<(String, String)> {
        let port = free_port()?;
        let data = self.dir.path().join(format!("{name}-data"));
        self.spawn(
            name,
            "victoria-metrics",
            &[
                format!("-httpListenAddr=127.0.0.1:{port}"),
                format!("-storageDataPath={}", data.display()),
                "-search.latencyOffset=0s".into(),
                "-retentionPeriod=100y".into(),
            ],
        )?;
        let base = format!("http://127.0.0.1:{port}");
        self.wait_ready(&format!("{base}/health"))?;
        Ok((base.clone(), format!("{base}/internal/force_flush")))
    }

    fn prometheus(&mut self) -> anyhow::Result<()> {
        let port = free_port()?;
        let config = self.dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n")?;
        self.spawn(
            "prometheus",
            "prometheus",
            &[
                format!("--config.file={}", config.display()),
                format!(
                    "--storage.tsdb.path={}",
                    self.dir.path().join("prom-data").display()
                ),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.enable-remote-write-receiver".into(),
            ],
        )?;
        let base = format!("http://127.0.0.1:{port}");
        self.wait_ready(&format!("{base}/-/ready"))?;
        self.write_url = format!("{base}/api/v1/write");
        self.read_base = base;
        Ok(())
    }

    fn vmagent(&mut self) -> anyhow::Result<()> {
        let (vm, flush) = self.victoria_metrics("victoria-metrics")?;
        let port = free_port()?;
        self.spawn(
            "vmagent",
            "vmagent",
            &[
                format!("-httpListenAddr=127.0.0.1:{port}"),
                format!("-remoteWrite.url={vm}/api/v1/write"),
                format!(
                    "-remoteWrite.tmpDataPath={}",
                    self.dir.path().join("vmagent-queue").display()
                ),
            ],
        )?;
        let base = format!("http://127.0.0.1:{port}");
        self.wait_ready(&format!("{base}/health"))?;
        self.write_url = format!("{base}/api/v1/write");
        self.read_base = vm;
        self.flush_urls.push(flush);
        Ok(())
    }

    fn cluster(&mut self) -> anyhow::Result<()> {
        let [http, ins, sel] = [free_port()?, free_port()?, free_port()?];
        self.spawn(
            "vmstorage",
            "vmstorage",
            &[
                format!("-httpListenAddr=127.0.0.1:{http}"),
                format!("-vminsertAddr=127.0.0.1:{ins}"),
                format!("-vmselectAddr=127.0.0.1:{sel}"),
                format!(
                    "-storageDataPath={}",
                    self.dir.path().join("vmstorage-data").display()
                ),
                "-retentionPeriod=100y".into(),
            ],
        )?;
        self.wait_ready(&format!("http://127.0.0.1:{http}/health"))?;
        let (pi, ps) = (free_port()?, free_port()?);
        let node = |p: u16| format!("-storageNode=127.0.0.1:{p}");
        self.spawn(
            "vminsert",
            "vminsert",
            &[format!("-httpListenAddr=127.0.0.1:{pi}"), node(ins)],
        )?;
        self.spawn(
            "vmselect",
            "vmselect",
            &[
                format!("-httpListenAddr=127.0.0.1:{ps}"),
                node(sel),
                "-search.latencyOffset=0s".into(),
            ],
        )?;
        self.wait_ready(&format!("http://127.0.0.1:{pi}/health"))?;
        self.wait_ready(&format!("http://127.0.0.1:{ps}/health"))?;
        self.write_url = format!("http://127.0.0.1:{pi}/insert/0/prometheus/api/v1/write");
        self.read_base = format!("http://127.0.0.1:{ps}/select/0/prometheus");
        self.flush_urls
            .push(format!("http://127.0.0.1:{http}/internal/force_flush"));
        Ok(())
    }

    /// Every stored series with its samples, read once.
    pub fn stored(&self) -> anyhow::Result<Stored> {
        for f in &self.flush_urls {
            let _ = ureq::get(f).call();
        }
        match self.kind {
            Kind::Prometheus => read_prometheus(&self.read_base),
            _ => read_export(&self.read_base),
        }
    }

    /// Reads until `done` holds on what is stored or `within` passes (vmagent batches for a
    /// second, and new series take seconds to become searchable in a cluster).
    pub fn stored_when(
        &self,
        within: Duration,
        done: impl Fn(&Stored) -> bool,
    ) -> anyhow::Result<Stored> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.stored()?;
            if done(&s) || Instant::now() > deadline {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// `program -version` (VictoriaMetrics) or `--version` (Prometheus), first line.
fn version(program: &str) -> String {
    let flag = if program == "prometheus" {
        "--version"
    } else {
        "-version"
    };
    Command::new(program)
        .arg(flag)
        .output()
        .map(|o| {
            let text = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{program} (prints no version)"))
}

/// Stored samples per series: (timestamp ms, value), in time order.
pub type Stored = BTreeMap<String, Vec<(i64, f64)>>;

/// Total samples in `s`.
pub fn total(s: &Stored) -> usize {
    s.values().map(Vec::len).sum()
}

fn series_key(metric: &serde_json::Map<String, serde_json::Value>) -> String {
    let name = metric
        .get("__name__")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let labels: BTreeMap<String, String> = metric
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    crate::scrape::series_id(name, &labels)
}

/// VictoriaMetrics' `/api/v1/export`: one JSON object per line.
fn read_export(base: &str) -> anyhow::Result<Stored> {
    let body = ureq::post(&format!("{base}/api/v1/export"))
        .send_form([("match[]", "{__name__!=\"\"}"), ("start", "0")])
        .with_context(|| format!("reading {base}/api/v1/export"))?
        .into_body()
        .read_to_string()?;
    let mut out = Stored::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).context("an export line")?;
        let key = series_key(v["metric"].as_object().context("metric")?);
        let ts = v["timestamps"].as_array().context("timestamps")?;
        let vals = v["values"].as_array().context("values")?;
        let e = out.entry(key).or_default();
        for (t, x) in ts.iter().zip(vals) {
            e.push((t.as_i64().unwrap_or(0), x.as_f64().unwrap_or(f64::NAN)));
        }
        e.sort_by_key(|p| p.0);
    }
    Ok(out)
}

/// Prometheus: a range selector over everything as an instant query returns every sample.
fn read_prometheus(base: &str) -> anyhow::Result<Stored> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 60;
    let body: serde_json::Value = ureq::get(&format!("{base}/api/v1/query"))
        .query("query", "{__name__=~\".+\"}[100d]")
        .query("time", now.to_string())
        .call()
        .with_context(|| format!("querying {base}"))?
        .into_body()
        .read_json()?;
    let mut out = Stored::new();
    for s in body["data"]["result"].as_array().context("result")? {
        let key = series_key(s["metric"].as_object().context("metric")?);
        let e = out.entry(key).or_default();
        for p in s["values"].as_array().context("values")? {
            let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            let v = p[1]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN);
            e.push((t, v));
        }
    }
    Ok(out)
}
