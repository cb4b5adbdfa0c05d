//! The lab rendered from its topology: every component's command line and config files.
//!
//! Pure functions of a [`Topology`] and [`Options`]: no I/O, byte-stable output. Config files are
//! JSON (which Prometheus and VictoriaMetrics read as YAML) with keys sorted, the same bytes the
//! Nix functions in `nix/lib.nix` produce with `builtins.toJSON`, so the two renderings can be
//! compared. [`crate::lab::supervise`] writes the files and runs the commands.
//!
//! One constructor per component kind ([`plan`] calls them in start order); a [`Kind`] knows
//! its program and its readiness path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::lab::topology::{Named, Port, Region, Topology, Vmstorage, RECEIVER};
use crate::lab::victoria::Storage;

/// What a component is; decides its program, its readiness path and what `verify` asks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    MockExporter,
    Vmstorage,
    Vminsert,
    Vmselect,
    VictoriaMetrics,
    Vmauth,
    Vmagent,
    PrometheusReceiver,
    PrometheusWriter,
    Grafana,
    Vmalert,
    Alertmanager,
}

impl Kind {
    /// The executable, looked up on PATH (or overridden with `--bin NAME=PATH`); also the `kind`
    /// label of the component's own metrics in the receiver.
    pub fn program(self) -> &'static str {
        match self {
            Kind::MockExporter => "mock-exporter",
            Kind::Vmstorage => "vmstorage",
            Kind::Vminsert => "vminsert",
            Kind::Vmselect => "vmselect",
            Kind::VictoriaMetrics => "victoria-metrics",
            Kind::Vmauth => "vmauth",
            Kind::Vmagent => "vmagent",
            Kind::PrometheusReceiver | Kind::PrometheusWriter => "prometheus",
            Kind::Grafana => "grafana",
            Kind::Vmalert => "vmalert",
            Kind::Alertmanager => "alertmanager",
        }
    }

    /// Whether the program is written in Go (every one but the mock exporter): it then runs
    /// with [`GO_ENV`].
    pub fn is_go(self) -> bool {
        !matches!(self, Kind::MockExporter)
    }

    /// The path that answers 200 once the component is ready.
    pub fn ready_path(self) -> &'static str {
        match self {
            Kind::MockExporter => "/healthz",
            Kind::PrometheusReceiver | Kind::PrometheusWriter | Kind::Alertmanager => "/-/ready",
            Kind::Grafana => "/api/health",
            Kind::Vmstorage
            | Kind::Vminsert
            | Kind::Vmselect
            | Kind::VictoriaMetrics
            | Kind::Vmauth
            | Kind::Vmagent
            | Kind::Vmalert => "/health",
        }
    }
}

/// The environment of every Go program of the lab: the garbage collector runs when the heap has
/// grown by 30 % since the last collection instead of Go's 100 % (Prometheus 3: 75 %; vmstorage
/// sets 30 and vmagent 50 for themselves, which GOGC overrides). The lab's load is small, so the
/// extra collections cost little CPU, and each program holds less garbage (the figures:
/// docs/benchmarks.md). The NixOS modules set the same (`nixos-modules/common.nix`,
/// `goEnvironment`).
pub const GO_ENV: &[(&str, &str)] = &[("GOGC", "30")];

/// One process of the lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub kind: Kind,
    pub args: Vec<String>,
    /// Environment variables it runs with, on top of labctl's own ([`GO_ENV`] for Go programs).
    pub env: Vec<(String, String)>,
    /// Files to write before starting, with their contents.
    pub files: Vec<(PathBuf, String)>,
    /// Where its HTTP server answers: readiness probes and `/metrics`.
    pub http: SocketAddr,
    /// Every address it binds, the HTTP one first (vmstorage adds its RPC ports).
    pub listens: Vec<SocketAddr>,
}

impl Component {
    /// A component serving HTTP on `port` of the lab's address.
    fn new(
        t: &Topology,
        kind: Kind,
        name: impl Into<String>,
        port: Port,
        args: Vec<String>,
    ) -> Self {
        Component {
            name: name.into(),
            kind,
            args,
            env: env_of(kind),
            files: Vec::new(),
            http: t.connect(port),
            listens: vec![t.listen(port)],
        }
    }

    fn with_file(mut self, path: PathBuf, content: String) -> Self {
        self.files.push((path, content));
        self
    }

    pub fn program(&self) -> &'static str {
        self.kind.program()
    }

    /// The HTTP port.
    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// The URL that answers 200 once it is ready.
    pub fn ready_url(&self) -> String {
        format!("http://{}{}", self.http, self.kind.ready_path())
    }
}

/// The environment a component of `kind` runs with.
pub fn env_of(kind: Kind) -> Vec<(String, String)> {
    if !kind.is_go() {
        return Vec::new();
    }
    GO_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Rendering choices that are not part of the topology.
#[derive(Debug, Clone)]
pub struct Options {
    pub storage: Storage,
    pub scrape_interval: Duration,
    /// Root of every data directory and config file.
    pub state_dir: PathBuf,
    /// Whether vmauth understands `unauthorized_user` (v1.84 and later). Older versions only
    /// accept `users`, so the lab then requires basic auth for queries.
    pub vmauth_unauthorized_user: bool,
    /// Grafana's home path (its `public/` assets), when Grafana is to be started.
    pub grafana_home: Option<PathBuf>,
    /// Folder of dashboard JSON files for Grafana's file provider.
    pub dashboards_dir: PathBuf,
    /// Folder of rule files (`*.yml`, Prometheus format) both evaluators load.
    pub rules_dir: PathBuf,
}

impl Options {
    /// A component's data folder.
    fn data(&self, name: &str) -> PathBuf {
        self.state_dir.join("data").join(name)
    }

    /// A config file.
    fn config(&self, name: &str) -> PathBuf {
        self.state_dir.join("config").join(name)
    }
}

/// The label each evaluator adds to its alerts and recording results, so Alertmanager (and
/// `labctl alerts`) can tell vmalert's alerts from the Prometheus receiver's.
pub const EVALUATOR_LABEL: &str = "evaluator";
/// [`EVALUATOR_LABEL`]'s value on vmalert's alerts.
pub const VMALERT_EVALUATOR: &str = "vmalert";
/// [`EVALUATOR_LABEL`]'s value on the Prometheus receiver's alerts.
pub const RECEIVER_EVALUATOR: &str = "prometheus-receiver";

/// The rule files both evaluators load: every `*.yml` directly in `dir`.
pub fn rules_glob(dir: &Path) -> String {
    dir.join("*.yml").display().to_string()
}

/// Formats a duration the way Prometheus writes them (`2s`, `1500ms`).
pub fn prom_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Remote-write URL of a vminsert (or of the single node).
pub fn remote_write_url(t: &Topology, storage: Storage, vminsert: &str) -> String {
    let port = match storage {
        Storage::Cluster => t.vminsert_port(vminsert).expect("validated route"),
        Storage::Single => t.single.port,
    };
    t.http_url(port, &storage.write_path(t.tenant))
}

/// The Prometheus-compatible query URL, through vmauth.
pub fn query_url(t: &Topology, storage: Storage) -> String {
    t.http_url(t.vmauth.port, &storage.query_path(t.tenant))
}

pub fn exporter_url(t: &Topology) -> String {
    t.http_url(t.exporter.port, "/metrics")
}

fn global(interval: Duration, labels: Value) -> Value {
    let timeout = interval.min(Duration::from_secs(10));
    json!({
        "scrape_interval": prom_duration(interval),
        "scrape_timeout": prom_duration(timeout),
        "external_labels": labels,
    })
}

/// The scrape job of the exporter. Its series are stored with `job="mock-exporter"` (set by
/// relabelling), so the job's own name shows only on the scrapers' target pages: a selector
/// that asks for it finds nothing, which `labctl explain` diagnoses.
pub const EXPORTER_SCRAPE_JOB: &str = "exporter";

/// The `job` label the exporter's series are stored with.
pub const EXPORTER_JOB: &str = "mock-exporter";

/// Labels the lab adds or rewrites between the exporter's page and the storage: the scrapers'
/// `instance` and `job`, and each region's and the writer's external labels.
pub const ADDED_LABELS: [&str; 6] = [
    "availability_zone",
    "cluster",
    "environment",
    "instance",
    "job",
    "region",
];

fn exporter_job(t: &Topology, relabel: Vec<Value>) -> Value {
    json!({
        "job_name": EXPORTER_SCRAPE_JOB,
        "static_configs": [{ "targets": [t.connect(t.exporter.port).to_string()] }],
        "relabel_configs": relabel,
    })
}

/// A region's vmagent `-promscrape.config`: its external labels, relabelling of `job` and
/// `availability_zone` on the exporter's series, and `?region=` on the scrape, so that an
/// incident limited to the region shows on its page only.
pub fn vmagent_config(t: &Topology, r: &Region, interval: Duration) -> Value {
    let mut job = exporter_job(
        t,
        vec![
            json!({ "target_label": "job", "replacement": EXPORTER_JOB }),
            json!({ "target_label": "availability_zone", "replacement": r.availability_zone }),
        ],
    );
    job["params"] = json!({ "region": [r.name] });
    json!({
        "global": global(interval, json!({
            "cluster": r.cluster,
            "environment": r.environment,
            "region": r.name,
        })),
        "scrape_configs": [job],
    })
}

/// The writer sends a partly filled batch after this long (Prometheus' default is 5 s); verify's
/// delay budgets start from it.
pub const WRITER_BATCH_SEND_DEADLINE: Duration = Duration::from_secs(1);

/// vmagent sends buffered samples at least this often (`-remoteWrite.flushInterval`, upstream's
/// default, set explicitly because verify's delay budgets rest on it).
pub const VMAGENT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The label a query at the writer must select (`job="lab"`) to be read from the receiver.
pub const REMOTE_READ_JOB: &str = "lab";

/// The writer's way back (scenario 1 both ways): it reads from the receiver with remote read,
/// so a query at the writer also sees the lab's monitoring series, which only the receiver holds.
///
/// - `read_recent`: the receiver's series are recent; without it Prometheus skips remote read
///   for the time its own storage covers, which for a young lab is every query.
/// - `filter_external_labels: false`: else the writer would add its own external labels
///   (`cluster="staging-cluster"`) as matchers, which the receiver's own series never carry.
/// - `required_matchers`: only queries that select `job="lab"` go to the receiver. The others
///   stay local: the receiver also holds the writer's own series (labelled with the writer's
///   cluster), which would come back a second time beside the local ones.
pub fn writer_remote_read(t: &Topology) -> Value {
    json!([{
        "name": RECEIVER,
        "url": t.http_url(t.prometheus.receiver.port, "/api/v1/read"),
        "read_recent": true,
        "filter_external_labels": false,
        "required_matchers": { "job": REMOTE_READ_JOB },
    }])
}

/// The Prometheus writer's configuration: scrape the exporter, write to each target, read the
/// monitoring series back from the receiver ([`writer_remote_read`]).
pub fn writer_config(t: &Topology, storage: Storage, interval: Duration) -> Value {
    let w = &t.prometheus.writer;
    let remote: Vec<Value> = w
        .remote_write
        .iter()
        .map(|target| {
            let u = if target == RECEIVER {
                t.http_url(t.prometheus.receiver.port, "/api/v1/write")
            } else {
                remote_write_url(t, storage, target)
            };
            let deadline = format!("{}s", WRITER_BATCH_SEND_DEADLINE.as_secs());
            json!({ "name": target, "url": u, "queue_config": { "batch_send_deadline": deadline } })
        })
        .collect();
    json!({
        "global": global(interval, json!({ "cluster": w.cluster, "environment": w.environment })),
        "scrape_configs": [exporter_job(t, vec![
            json!({ "target_label": "job", "replacement": EXPORTER_JOB }),
        ])],
        "remote_write": remote,
        "remote_read": writer_remote_read(t),
    })
}

/// The components whose own metrics the receiver scrapes: (name, kind, HTTP port).
pub fn monitored(t: &Topology, storage: Storage) -> Vec<(String, Kind, Port)> {
    let mut out: Vec<(String, Kind, Port)> = t
        .region
        .iter()
        .map(|r| (vmagent_name(r), Kind::Vmagent, r.vmagent_port))
        .collect();
    match storage {
        Storage::Cluster => {
            let named = |kind, n: &Named| (n.name.clone(), kind, n.port);
            out.extend(t.vminsert.iter().map(|i| named(Kind::Vminsert, i)));
            out.extend(
                t.vmstorage
                    .iter()
                    .map(|s| (s.name.clone(), Kind::Vmstorage, s.http_port)),
            );
            out.extend(t.vmselect.iter().map(|s| named(Kind::Vmselect, s)));
        }
        Storage::Single => out.push((
            "victoria-metrics".into(),
            Kind::VictoriaMetrics,
            t.single.port,
        )),
    }
    out.push(("vmauth".into(), Kind::Vmauth, t.vmauth.port));
    out.push((
        "prometheus-writer".into(),
        Kind::PrometheusWriter,
        t.prometheus.writer.port,
    ));
    out.push((
        "prometheus-receiver".into(),
        Kind::PrometheusReceiver,
        t.prometheus.receiver.port,
    ));
    out.push(("vmalert".into(), Kind::Vmalert, t.vmalert.port));
    out.push((
        "alertmanager".into(),
        Kind::Alertmanager,
        t.alertmanager.port,
    ));
    out
}

/// The Prometheus receiver's configuration: it receives the writer's samples and, as the lab's
/// monitoring cluster, scrapes the pipeline's own components (job `lab`, labels `component` and
/// `kind`) for the remote-write dashboard.
pub fn receiver_config(t: &Topology, storage: Storage, interval: Duration, rules: &str) -> Value {
    let r = &t.prometheus.receiver;
    let targets: Vec<Value> = monitored(t, storage)
        .into_iter()
        .map(|(name, kind, port)| {
            json!({
                "targets": [t.connect(port).to_string()],
                "labels": { "component": name, "kind": kind.program() },
            })
        })
        .collect();
    let labels = json!({
        "cluster": r.cluster,
        "environment": r.environment,
        EVALUATOR_LABEL: RECEIVER_EVALUATOR,
    });
    let mut global = global(interval, labels);
    global["evaluation_interval"] = json!(prom_duration(interval));
    json!({
        "global": global,
        "scrape_configs": [{ "job_name": "lab", "static_configs": targets }],
        "rule_files": [rules],
        "alerting": { "alertmanagers": [{
            "static_configs": [{ "targets": [t.connect(t.alertmanager.port).to_string()] }],
        }] },
    })
}

/// Alertmanager's configuration: one route grouping by alert name and evaluator into one
/// receiver without integrations. The lab reads alerts through the API (`labctl alerts`), so
/// nothing is sent anywhere; short group timings let a test see an alert within seconds.
pub fn alertmanager_config() -> Value {
    json!({
        "route": {
            "receiver": "lab",
            "group_by": ["alertname", EVALUATOR_LABEL],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [{ "name": "lab" }],
    })
}

/// vmalert's flags, but for `-httpListenAddr`: rules from `rules`, queries and state restore
/// through vmauth (basic auth, the password read from `password_file`), results and alert
/// state written to its vminsert (or the single node), alerts to Alertmanager.
pub fn vmalert_flags(
    t: &Topology,
    storage: Storage,
    interval: Duration,
    rules: &str,
    password_file: &str,
) -> Vec<String> {
    let query = query_url(t, storage);
    let write = match storage {
        Storage::Cluster => {
            let port = t
                .vminsert_port(&t.vmalert.vminsert)
                .expect("validated route");
            t.http_url(port, &storage.write_prefix(t.tenant))
        }
        Storage::Single => t.http_url(t.single.port, &storage.write_prefix(t.tenant)),
    };
    let user = &t.vmauth.username;
    vec![
        arg("-rule", rules),
        arg("-evaluationInterval", prom_duration(interval)),
        arg("-datasource.url", &query),
        arg("-datasource.basicAuth.username", user),
        arg("-datasource.basicAuth.passwordFile", password_file),
        arg("-remoteRead.url", &query),
        arg("-remoteRead.basicAuth.username", user),
        arg("-remoteRead.basicAuth.passwordFile", password_file),
        arg("-remoteWrite.url", write),
        arg(
            "-remoteWrite.flushInterval",
            format!("{}s", VMAGENT_FLUSH_INTERVAL.as_secs()),
        ),
        arg("-notifier.url", t.http_url(t.alertmanager.port, "")),
        arg(
            "-external.label",
            format!("{EVALUATOR_LABEL}={VMALERT_EVALUATOR}"),
        ),
    ]
}

/// vmauth's `-auth.config`: queries balanced across the vmselects (or to the single node).
pub fn vmauth_config(t: &Topology, storage: Storage, unauthorized_user: bool) -> Value {
    let backends: Vec<String> = match storage {
        Storage::Cluster => t.vmselect.iter().map(|s| t.http_url(s.port, "")).collect(),
        Storage::Single => vec![t.http_url(t.single.port, "")],
    };
    let url_map = json!([{ "src_paths": storage.vmauth_src_paths(), "url_prefix": backends }]);
    let mut cfg = json!({
        "users": [{
            "username": t.vmauth.username,
            "password": t.vmauth.password,
            "url_map": url_map,
        }],
    });
    if unauthorized_user {
        cfg["unauthorized_user"] = json!({ "url_map": url_map });
    }
    cfg
}

/// Grafana's provisioned datasources, with fixed uids that dashboards refer to.
pub fn grafana_datasources(t: &Topology, storage: Storage) -> Value {
    json!({
        "apiVersion": 1,
        "datasources": [
            {
                "name": "VictoriaMetrics",
                "uid": "victoriametrics",
                "type": "prometheus",
                "access": "proxy",
                "url": query_url(t, storage),
                "isDefault": true,
                "basicAuth": true,
                "basicAuthUser": t.vmauth.username,
                "secureJsonData": { "basicAuthPassword": t.vmauth.password },
                "jsonData": { "httpMethod": "POST", "timeInterval": prom_duration(t.interval(false)) },
            },
            {
                "name": "Prometheus receiver",
                "uid": "prometheus-receiver",
                "type": "prometheus",
                "access": "proxy",
                "url": t.http_url(t.prometheus.receiver.port, ""),
                "isDefault": false,
                "jsonData": { "httpMethod": "POST", "timeInterval": prom_duration(t.interval(false)) },
            },
        ],
    })
}

/// Grafana's dashboard provider for the lab's dashboards in `dir`.
pub fn dashboards_provider(dir: &Path) -> Value {
    json!({
        "apiVersion": 1,
        "providers": [{
            "name": "remote-write-lab",
            "type": "file",
            "disableDeletion": true,
            "options": { "path": dir.display().to_string(), "foldersFromFilesStructure": false },
        }],
    })
}

/// Pretty JSON with a final newline: how config files are written.
pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values always serialise");
    s.push('\n');
    s
}

fn arg(flag: &str, value: impl std::fmt::Display) -> String {
    format!("{flag}={value}")
}

/// Every component of the lab, in start order.
pub fn plan(t: &Topology, o: &Options) -> Vec<Component> {
    let mut out = vec![mock_exporter(t)];
    match o.storage {
        Storage::Cluster => {
            out.extend(t.vmstorage.iter().map(|s| vmstorage(t, o, s)));
            out.extend(t.vminsert.iter().map(|i| vminsert(t, i)));
            out.extend(t.vmselect.iter().map(|s| vmselect(t, o, s)));
        }
        Storage::Single => out.push(single_node(t, o)),
    }
    out.push(vmauth(t, o));
    out.push(alertmanager(t, o));
    out.push(prometheus_receiver(t, o));
    out.extend(t.region.iter().map(|r| vmagent(t, o, r)));
    out.push(prometheus_writer(t, o));
    out.push(vmalert(t, o));
    if let Some(home) = &o.grafana_home {
        out.push(grafana(t, o, home));
    }
    out
}

fn mock_exporter(t: &Topology) -> Component {
    let port = t.exporter.port;
    let mut args = vec![
        "--listen".into(),
        t.listen(port).to_string(),
        "--seed".into(),
        t.exporter.seed.to_string(),
        "--scale".into(),
        t.exporter.scale.to_string(),
    ];
    if let Some(every) = t.exporter.churn_interval {
        args.extend([
            "--churn-interval".into(),
            format!("{}s", every.as_secs()),
            "--churn-fraction".into(),
            t.exporter.churn_fraction.to_string(),
        ]);
    }
    for inc in &t.exporter.incident {
        args.extend(["--incident".into(), inc.arg()]);
    }
    Component::new(t, Kind::MockExporter, "mock-exporter", port, args)
}

fn vmstorage(t: &Topology, o: &Options, s: &Vmstorage) -> Component {
    let args = vec![
        arg("-storageDataPath", o.data(&s.name).display()),
        arg("-httpListenAddr", t.listen(s.http_port)),
        arg("-vminsertAddr", t.listen(s.vminsert_port)),
        arg("-vmselectAddr", t.listen(s.vmselect_port)),
        arg("-retentionPeriod", &t.retention_period),
        // Answers go to the vmselects uncompressed: at the lab's load, on loopback or one private
        // network, compression saves no time, while each vmselect connection holds a zstd
        // stream whose window buffer took most of vmstorage's heap (docs/benchmarks.md).
        "-rpc.disableCompression".into(),
    ];
    let mut c = Component::new(t, Kind::Vmstorage, &s.name, s.http_port, args);
    c.listens
        .extend([t.listen(s.vminsert_port), t.listen(s.vmselect_port)]);
    c
}

/// `-storageNode`: every vmstorage's RPC address for vminsert or vmselect.
fn storage_nodes(t: &Topology, port: fn(&Vmstorage) -> Port) -> String {
    let nodes: Vec<String> = t
        .vmstorage
        .iter()
        .map(|s| t.connect(port(s)).to_string())
        .collect();
    nodes.join(",")
}

fn vminsert(t: &Topology, i: &Named) -> Component {
    let args = vec![
        arg("-httpListenAddr", t.listen(i.port)),
        arg("-storageNode", storage_nodes(t, |s| s.vminsert_port)),
        arg("-replicationFactor", t.replication_factor),
    ];
    Component::new(t, Kind::Vminsert, &i.name, i.port, args)
}

fn vmselect(t: &Topology, o: &Options, s: &Named) -> Component {
    let args = vec![
        arg("-httpListenAddr", t.listen(s.port)),
        arg("-storageNode", storage_nodes(t, |s| s.vmselect_port)),
        arg("-cacheDataPath", o.data(&s.name).display()),
        // Answers stay complete with up to replication_factor - 1 vmstorage nodes down.
        arg("-replicationFactor", t.replication_factor),
        // lab.toml's latency_offset: 1 s shows fresh samples at once (the default hides 30 s).
        arg("-search.latencyOffset", prom_duration(t.latency_offset)),
    ];
    Component::new(t, Kind::Vmselect, &s.name, s.port, args)
}

fn single_node(t: &Topology, o: &Options) -> Component {
    let args = vec![
        arg("-storageDataPath", o.data("victoria-metrics").display()),
        arg("-httpListenAddr", t.listen(t.single.port)),
        arg("-retentionPeriod", &t.retention_period),
        arg("-search.latencyOffset", prom_duration(t.latency_offset)),
    ];
    Component::new(
        t,
        Kind::VictoriaMetrics,
        "victoria-metrics",
        t.single.port,
        args,
    )
}

fn vmauth(t: &Topology, o: &Options) -> Component {
    let auth = o.config("vmauth.yml");
    let args = vec![
        arg("-httpListenAddr", t.listen(t.vmauth.port)),
        arg("-auth.config", auth.display()),
    ];
    let config = vmauth_config(t, o.storage, o.vmauth_unauthorized_user);
    Component::new(t, Kind::Vmauth, "vmauth", t.vmauth.port, args).with_file(auth, pretty(&config))
}

fn prometheus_receiver(t: &Topology, o: &Options) -> Component {
    let cfg = o.config("prometheus-receiver.yml");
    let port = t.prometheus.receiver.port;
    let args = vec![
        arg("--config.file", cfg.display()),
        arg(
            "--storage.tsdb.path",
            o.data("prometheus-receiver").display(),
        ),
        arg("--storage.tsdb.retention.time", &t.retention_period),
        arg("--web.listen-address", t.listen(port)),
        "--web.enable-remote-write-receiver".into(),
        // The first send of a firing alert can come before Alertmanager is discovered and is
        // then lost until the resend delay (1m by default) passes: keep it one interval.
        arg(
            "--rules.alert.resend-delay",
            prom_duration(o.scrape_interval),
        ),
    ];
    let config = receiver_config(t, o.storage, o.scrape_interval, &rules_glob(&o.rules_dir));
    Component::new(
        t,
        Kind::PrometheusReceiver,
        "prometheus-receiver",
        port,
        args,
    )
    .with_file(cfg, pretty(&config))
}

/// The component name of a region's vmagent.
pub fn vmagent_name(r: &Region) -> String {
    format!("vmagent-{}", r.name)
}

fn vmagent(t: &Topology, o: &Options, r: &Region) -> Component {
    let name = vmagent_name(r);
    let cfg = o.config(&format!("{name}.yml"));
    let args = vec![
        arg("-httpListenAddr", t.listen(r.vmagent_port)),
        arg("-promscrape.config", cfg.display()),
        arg(
            "-remoteWrite.url",
            remote_write_url(t, o.storage, &r.vminsert),
        ),
        arg("-remoteWrite.tmpDataPath", o.data(&name).display()),
        arg(
            "-remoteWrite.flushInterval",
            format!("{}s", VMAGENT_FLUSH_INTERVAL.as_secs()),
        ),
        // Label remote-write metrics with the real URL so `verify` can check routing.
        "-remoteWrite.showURL".into(),
    ];
    let config = vmagent_config(t, r, o.scrape_interval);
    Component::new(t, Kind::Vmagent, name, r.vmagent_port, args).with_file(cfg, pretty(&config))
}

fn prometheus_writer(t: &Topology, o: &Options) -> Component {
    let cfg = o.config("prometheus-writer.yml");
    let port = t.prometheus.writer.port;
    let args = vec![
        arg("--config.file", cfg.display()),
        arg("--storage.tsdb.path", o.data("prometheus-writer").display()),
        arg("--storage.tsdb.retention.time", &t.retention_period),
        arg("--web.listen-address", t.listen(port)),
    ];
    let config = writer_config(t, o.storage, o.scrape_interval);
    Component::new(t, Kind::PrometheusWriter, "prometheus-writer", port, args)
        .with_file(cfg, pretty(&config))
}

fn alertmanager(t: &Topology, o: &Options) -> Component {
    let cfg = o.config("alertmanager.yml");
    let port = t.alertmanager.port;
    let args = vec![
        arg("--config.file", cfg.display()),
        arg("--storage.path", o.data("alertmanager").display()),
        arg("--web.listen-address", t.listen(port)),
        // No peers: an empty address turns the gossip cluster (default :9094) off.
        "--cluster.listen-address=".into(),
    ];
    Component::new(t, Kind::Alertmanager, "alertmanager", port, args)
        .with_file(cfg, pretty(&alertmanager_config()))
}

fn vmalert(t: &Topology, o: &Options) -> Component {
    let password = o.config("vmalert-vmauth.password");
    let mut args = vec![arg("-httpListenAddr", t.listen(t.vmalert.port))];
    args.extend(vmalert_flags(
        t,
        o.storage,
        o.scrape_interval,
        &rules_glob(&o.rules_dir),
        &password.display().to_string(),
    ));
    Component::new(t, Kind::Vmalert, "vmalert", t.vmalert.port, args)
        .with_file(password, t.vmauth.password.clone())
}

fn grafana(t: &Topology, o: &Options, home: &Path) -> Component {
    let prov = o.config("grafana");
    let ini = o.config("grafana.ini");
    let args = vec![
        "server".into(),
        "--homepath".into(),
        home.display().to_string(),
        "--config".into(),
        ini.display().to_string(),
    ];
    Component::new(t, Kind::Grafana, "grafana", t.grafana.port, args)
        .with_file(ini, grafana_ini(t, &o.state_dir, &prov))
        .with_file(
            prov.join("datasources/lab.yml"),
            pretty(&grafana_datasources(t, o.storage)),
        )
        .with_file(
            prov.join("dashboards/lab.yml"),
            pretty(&dashboards_provider(&o.dashboards_dir)),
        )
        .with_file(prov.join("plugins/.keep"), String::new())
        .with_file(prov.join("alerting/.keep"), String::new())
}

fn grafana_ini(t: &Topology, state: &Path, prov: &Path) -> String {
    let data = state.join("data").join("grafana");
    format!(
        "[server]\nhttp_addr = {addr}\nhttp_port = {port}\n\n[paths]\ndata = {data}\nlogs = {logs}\nprovisioning = {prov}\n\n\
         [security]\nadmin_user = admin\nadmin_password = admin\n# A lab key: the lab stores no secrets worth encrypting.\nsecret_key = remote-write-lab\n\n\
         [auth.anonymous]\nenabled = {anonymous}\norg_role = Viewer\n\n[analytics]\nreporting_enabled = false\ncheck_for_updates = false\n",
        addr = t.listen_address,
        port = t.grafana.port,
        data = data.display(),
        logs = data.join("log").display(),
        prov = prov.display(),
        // Dashboards open without login on a loopback lab only; beyond it, admin logs in.
        anonymous = t.listen_address.is_loopback(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Topology {
        Topology::parse(include_str!("../../lab.toml")).unwrap()
    }

    fn opts(storage: Storage) -> Options {
        Options {
            storage,
            scrape_interval: Duration::from_secs(2),
            state_dir: "/state".into(),
            vmauth_unauthorized_user: true,
            grafana_home: None,
            dashboards_dir: "/dashboards".into(),
            rules_dir: "/rules".into(),
        }
    }

    #[test]
    fn render_exporter_passes_each_incident_as_a_flag() {
        let inc = "[[exporter.incident]]\nservice = \"auth\"\nroute = \"/auth/token\"\nstart = \"+2m\"\nduration = \"5m\"\nlatency = 4\n";
        let t = Topology::parse(&format!("{}\n{inc}", include_str!("../../lab.toml"))).unwrap();
        let p = plan(&t, &opts(Storage::Single));
        let exporter = p.iter().find(|c| c.name == "mock-exporter").unwrap();
        let flag = "service=auth,route=/auth/token,start=+2m,duration=5m,errors=1,latency=4";
        assert_eq!(
            exporter.args[6..],
            ["--incident".to_string(), flag.to_string()]
        );
        let plain = plan(&lab(), &opts(Storage::Single));
        assert!(!plain[0].args.contains(&"--incident".to_string()));
    }

    #[test]
    fn render_exporter_passes_scale_and_churn() {
        let plain = plan(&lab(), &opts(Storage::Single));
        assert_eq!(plain[0].args[4..], ["--scale", "1"]);
        let toml = include_str!("../../lab.toml")
            .replace("scale = 1 ", "scale = 20 ")
            .replace("churn_fraction = 0.1 ", "churn_fraction = 0.25 ")
            .replace("# churn_interval", "churn_interval");
        let p = plan(&Topology::parse(&toml).unwrap(), &opts(Storage::Single));
        assert_eq!(
            p[0].args[4..],
            [
                "--scale",
                "20",
                "--churn-interval",
                "600s",
                "--churn-fraction",
                "0.25"
            ]
        );
    }

    #[test]
    fn render_routes_us_east_to_vminsert_1() {
        let t = lab();
        let p = plan(&t, &opts(Storage::Cluster));
        let agent = p.iter().find(|c| c.name == "vmagent-us-east-1").unwrap();
        assert!(agent.args.contains(
            &"-remoteWrite.url=http://127.0.0.1:8480/insert/0/prometheus/api/v1/write".to_string()
        ));
        let eu = p.iter().find(|c| c.name == "vmagent-eu-west-1").unwrap();
        assert!(eu.args.contains(
            &"-remoteWrite.url=http://127.0.0.1:8490/insert/0/prometheus/api/v1/write".to_string()
        ));
    }

    #[test]
    fn render_cluster_plan_has_every_component_in_order() {
        let names: Vec<String> = plan(&lab(), &opts(Storage::Cluster))
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "mock-exporter",
                "vmstorage-1",
                "vmstorage-2",
                "vminsert-1",
                "vminsert-2",
                "vmselect-1",
                "vmselect-2",
                "vmauth",
                "alertmanager",
                "prometheus-receiver",
                "vmagent-us-east-1",
                "vmagent-eu-west-1",
                "vmagent-ap-southeast-1",
                "vmagent-sa-east-1",
                "prometheus-writer",
                "vmalert"
            ]
        );
    }

    #[test]
    fn render_single_plan_replaces_the_cluster_with_one_node() {
        let p = plan(&lab(), &opts(Storage::Single));
        assert!(p
            .iter()
            .all(|c| !matches!(c.kind, Kind::Vminsert | Kind::Vmselect | Kind::Vmstorage)));
        let agent = p.iter().find(|c| c.kind == Kind::Vmagent).unwrap();
        assert!(agent
            .args
            .contains(&"-remoteWrite.url=http://127.0.0.1:8428/api/v1/write".to_string()));
    }

    #[test]
    fn render_latency_offset_from_lab_toml_on_vmselect_and_the_single_node() {
        let mut t = lab();
        t.latency_offset = Duration::from_secs(30);
        let arg = |storage, name: &str| {
            let p = plan(&t, &opts(storage));
            let c = p.into_iter().find(|c| c.name == name).unwrap();
            c.args
                .into_iter()
                .find(|a| a.starts_with("-search.latencyOffset="))
        };
        let want = Some("-search.latencyOffset=30s".to_string());
        assert_eq!(arg(Storage::Cluster, "vmselect-2"), want);
        assert_eq!(arg(Storage::Single, "victoria-metrics"), want);
    }

    #[test]
    fn render_go_programs_run_with_gogc_30_and_vmstorage_without_rpc_compression() {
        for storage in [Storage::Cluster, Storage::Single] {
            let mut o = opts(storage);
            o.grafana_home = Some("/grafana".into());
            for c in plan(&lab(), &o) {
                let want: Vec<(String, String)> = if c.kind == Kind::MockExporter {
                    Vec::new()
                } else {
                    vec![("GOGC".into(), "30".into())]
                };
                assert_eq!(c.env, want, "{}", c.name);
                let uncompressed = c.args.contains(&"-rpc.disableCompression".to_string());
                assert_eq!(uncompressed, c.kind == Kind::Vmstorage, "{}", c.name);
            }
        }
    }

    #[test]
    fn render_vminsert_points_at_both_storages() {
        let p = plan(&lab(), &opts(Storage::Cluster));
        let ins = p.iter().find(|c| c.name == "vminsert-2").unwrap();
        assert!(ins
            .args
            .contains(&"-storageNode=127.0.0.1:8400,127.0.0.1:8410".to_string()));
        let sel = p.iter().find(|c| c.name == "vmselect-1").unwrap();
        assert!(sel
            .args
            .contains(&"-storageNode=127.0.0.1:8401,127.0.0.1:8411".to_string()));
    }

    #[test]
    fn render_vmagent_config_carries_external_labels_and_relabelling() {
        let t = lab();
        let v = vmagent_config(&t, &t.region[2], Duration::from_secs(15));
        assert_eq!(
            v["global"]["external_labels"],
            json!({"cluster": "prod-ap", "environment": "production", "region": "ap-southeast-1"})
        );
        assert_eq!(v["global"]["scrape_timeout"], "10s");
        assert_eq!(v["scrape_configs"][0]["job_name"], "exporter");
        assert_eq!(
            v["scrape_configs"][0]["relabel_configs"][0],
            json!({"target_label": "job", "replacement": "mock-exporter"})
        );
        assert_eq!(
            v["scrape_configs"][0]["relabel_configs"][1],
            json!({"target_label": "availability_zone", "replacement": "ap-southeast-1a"})
        );
        assert_eq!(
            v["scrape_configs"][0]["params"],
            json!({"region": ["ap-southeast-1"]})
        );
    }

    #[test]
    fn render_writer_writes_to_vminsert_1_and_the_receiver() {
        let t = lab();
        let v = writer_config(&t, Storage::Cluster, Duration::from_secs(2));
        let urls: Vec<&str> = v["remote_write"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8480/insert/0/prometheus/api/v1/write",
                "http://127.0.0.1:9091/api/v1/write"
            ]
        );
        assert_eq!(v["global"]["scrape_timeout"], "2s");
    }

    #[test]
    fn render_writer_reads_the_monitoring_series_from_the_receiver() {
        let v = writer_config(&lab(), Storage::Single, Duration::from_secs(15));
        assert_eq!(
            v["remote_read"],
            json!([{
                "name": "receiver",
                "url": "http://127.0.0.1:9091/api/v1/read",
                "read_recent": true,
                "filter_external_labels": false,
                "required_matchers": { "job": "lab" },
            }])
        );
    }

    #[test]
    fn render_vmauth_balances_both_vmselects() {
        let t = lab();
        let v = vmauth_config(&t, Storage::Cluster, false);
        assert_eq!(
            v["users"][0]["url_map"][0]["url_prefix"],
            json!(["http://127.0.0.1:8481", "http://127.0.0.1:8491"])
        );
        assert!(v.get("unauthorized_user").is_none());
        assert!(vmauth_config(&t, Storage::Cluster, true)
            .get("unauthorized_user")
            .is_some());
    }

    #[test]
    fn render_vmalert_reads_through_vmauth_and_writes_to_its_vminsert() {
        let t = lab();
        let f = vmalert_flags(
            &t,
            Storage::Cluster,
            Duration::from_secs(2),
            "/r/*.yml",
            "/pw",
        );
        for want in [
            "-datasource.url=http://127.0.0.1:8427/select/0/prometheus",
            "-remoteRead.url=http://127.0.0.1:8427/select/0/prometheus",
            "-remoteWrite.url=http://127.0.0.1:8480/insert/0/prometheus",
            "-notifier.url=http://127.0.0.1:9093",
            "-evaluationInterval=2s",
            "-external.label=evaluator=vmalert",
        ] {
            assert!(f.contains(&want.to_string()), "{want} not in {f:?}");
        }
        let s = vmalert_flags(
            &t,
            Storage::Single,
            Duration::from_secs(2),
            "/r/*.yml",
            "/pw",
        );
        assert!(s.contains(&"-remoteWrite.url=http://127.0.0.1:8428".to_string()));
        assert!(s.contains(&"-datasource.url=http://127.0.0.1:8427/prometheus".to_string()));
    }

    #[test]
    fn render_receiver_evaluates_the_rules_and_notifies_alertmanager() {
        let t = lab();
        let v = receiver_config(&t, Storage::Cluster, Duration::from_secs(2), "/r/*.yml");
        assert_eq!(v["rule_files"], json!(["/r/*.yml"]));
        assert_eq!(v["global"]["evaluation_interval"], "2s");
        assert_eq!(
            v["global"]["external_labels"]["evaluator"],
            "prometheus-receiver"
        );
        assert_eq!(
            v["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
            json!(["127.0.0.1:9093"])
        );
        let am = plan(&t, &opts(Storage::Single))
            .into_iter()
            .find(|c| c.kind == Kind::Alertmanager)
            .unwrap();
        assert!(am.args.contains(&"--cluster.listen-address=".to_string()));
    }

    #[test]
    fn render_is_byte_stable() {
        let t = lab();
        assert_eq!(
            plan(&t, &opts(Storage::Cluster)),
            plan(&t, &opts(Storage::Cluster))
        );
        let s = serde_json::to_string(&vmagent_config(&t, &t.region[0], Duration::from_secs(15)))
            .unwrap();
        assert!(
            s.starts_with("{\"global\":{\"external_labels\":{\"cluster\":\"prod-us\""),
            "{s}"
        );
    }
}
