//! The lab rendered from its topology: every component's command line and config files.
//!
//! Pure functions of a [`Topology`] and [`Options`]: no I/O, byte-stable output. Config files are
//! JSON (which Prometheus and VictoriaMetrics read as YAML) with keys sorted, the same bytes the
//! Nix functions in `nix/lib.nix` produce with `builtins.toJSON`, so the two renderings can be
//! compared. [`crate::lab::supervise`] writes the files and runs the commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::lab::topology::{Region, Topology, RECEIVER};

/// Where the samples are stored.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// vmstorage, vminsert and vmselect (two of each) behind vmauth.
    Cluster,
    /// One `victoria-metrics` single node behind vmauth.
    Single,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Cluster => "cluster",
            Storage::Single => "single",
        }
    }
}

/// What a component is; decides its readiness path and what `verify` asks of it.
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
}

/// One process of the lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub kind: Kind,
    /// Executable name, looked up on PATH (or overridden with `--bin NAME=PATH`).
    pub program: String,
    pub args: Vec<String>,
    /// Files to write before starting, with their contents.
    pub files: Vec<(PathBuf, String)>,
    /// The HTTP port that answers readiness probes.
    pub port: u16,
    /// Path that answers 200 once the component is ready.
    pub ready_path: &'static str,
    /// Other ports it listens on (vmstorage's RPC ports).
    pub extra_ports: Vec<u16>,
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
}

/// Formats a duration the way Prometheus writes them (`2s`, `1500ms`).
pub fn prom_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The address clients use for a listener bound to `listen_address`.
pub fn connect_host(t: &Topology) -> &str {
    match t.listen_address.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    }
}

fn url(t: &Topology, port: u16, path: &str) -> String {
    let host = connect_host(t);
    if host.contains(':') {
        format!("http://[{host}]:{port}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    }
}

fn listen(t: &Topology, port: u16) -> String {
    if t.listen_address.contains(':') {
        format!("[{}]:{port}", t.listen_address)
    } else {
        format!("{}:{port}", t.listen_address)
    }
}

/// Remote-write URL of a vminsert (or of the single node).
pub fn remote_write_url(t: &Topology, storage: Storage, vminsert: &str) -> String {
    match storage {
        Storage::Cluster => {
            let port = t.vminsert_port(vminsert).expect("validated route");
            url(
                t,
                port,
                &format!("/insert/{}/prometheus/api/v1/write", t.tenant),
            )
        }
        Storage::Single => url(t, t.single.port, "/api/v1/write"),
    }
}

/// The Prometheus-compatible query URL, through vmauth.
pub fn query_url(t: &Topology, storage: Storage) -> String {
    match storage {
        Storage::Cluster => url(
            t,
            t.vmauth.port,
            &format!("/select/{}/prometheus", t.tenant),
        ),
        Storage::Single => url(t, t.vmauth.port, "/prometheus"),
    }
}

pub fn receiver_url(t: &Topology) -> String {
    url(t, t.prometheus.receiver.port, "")
}

pub fn writer_url(t: &Topology) -> String {
    url(t, t.prometheus.writer.port, "")
}

pub fn exporter_url(t: &Topology) -> String {
    url(t, t.exporter.port, "/metrics")
}

pub fn vmagent_url(t: &Topology, r: &Region) -> String {
    url(t, r.vmagent_port, "")
}

/// Base URL of a component's own HTTP server.
pub fn http_url(t: &Topology, port: u16) -> String {
    url(t, port, "")
}

fn global(interval: Duration, labels: Value) -> Value {
    let timeout = interval.min(Duration::from_secs(10));
    json!({
        "scrape_interval": prom_duration(interval),
        "scrape_timeout": prom_duration(timeout),
        "external_labels": labels,
    })
}

fn exporter_job(t: &Topology, relabel: Vec<Value>) -> Value {
    json!({
        "job_name": "mock-exporter",
        "static_configs": [{ "targets": [listen_target(t)] }],
        "relabel_configs": relabel,
    })
}

fn listen_target(t: &Topology) -> String {
    let host = connect_host(t);
    if host.contains(':') {
        format!("[{host}]:{}", t.exporter.port)
    } else {
        format!("{host}:{}", t.exporter.port)
    }
}

/// A region's vmagent `-promscrape.config`: its external labels, and relabelling of `job` and
/// `availability_zone` on the exporter's series.
pub fn vmagent_config(t: &Topology, r: &Region, interval: Duration) -> Value {
    json!({
        "global": global(interval, json!({
            "cluster": r.cluster,
            "environment": r.environment,
            "region": r.name,
        })),
        "scrape_configs": [exporter_job(t, vec![
            json!({ "target_label": "job", "replacement": "mock-exporter" }),
            json!({ "target_label": "availability_zone", "replacement": r.availability_zone }),
        ])],
    })
}

/// The Prometheus writer's configuration: scrape the exporter, write to each target.
pub fn writer_config(t: &Topology, storage: Storage, interval: Duration) -> Value {
    let w = &t.prometheus.writer;
    let remote: Vec<Value> = w
        .remote_write
        .iter()
        .map(|target| {
            let u = if target == RECEIVER {
                url(t, t.prometheus.receiver.port, "/api/v1/write")
            } else {
                remote_write_url(t, storage, target)
            };
            json!({ "name": target, "url": u, "queue_config": { "batch_send_deadline": "1s" } })
        })
        .collect();
    json!({
        "global": global(interval, json!({ "cluster": w.cluster, "environment": w.environment })),
        "scrape_configs": [exporter_job(t, vec![
            json!({ "target_label": "job", "replacement": "mock-exporter" }),
        ])],
        "remote_write": remote,
    })
}

/// The components whose own metrics the receiver scrapes: (name, kind, HTTP port).
pub fn monitored(t: &Topology, storage: Storage) -> Vec<(String, &'static str, u16)> {
    let mut out: Vec<(String, &'static str, u16)> = t
        .region
        .iter()
        .map(|r| (format!("vmagent-{}", r.name), "vmagent", r.vmagent_port))
        .collect();
    match storage {
        Storage::Cluster => {
            out.extend(
                t.vminsert
                    .iter()
                    .map(|i| (i.name.clone(), "vminsert", i.port)),
            );
            out.extend(
                t.vmstorage
                    .iter()
                    .map(|s| (s.name.clone(), "vmstorage", s.http_port)),
            );
            out.extend(
                t.vmselect
                    .iter()
                    .map(|s| (s.name.clone(), "vmselect", s.port)),
            );
        }
        Storage::Single => out.push(("victoria-metrics".into(), "victoria-metrics", t.single.port)),
    }
    out.push(("vmauth".into(), "vmauth", t.vmauth.port));
    out.push((
        "prometheus-writer".into(),
        "prometheus",
        t.prometheus.writer.port,
    ));
    out.push((
        "prometheus-receiver".into(),
        "prometheus",
        t.prometheus.receiver.port,
    ));
    out
}

/// The Prometheus receiver's configuration: it receives the writer's samples and, as the lab's
/// monitoring cluster, scrapes the pipeline's own components (job `lab`, labels `component` and
/// `kind`) for the remote-write dashboard.
pub fn receiver_config(t: &Topology, storage: Storage, interval: Duration) -> Value {
    let r = &t.prometheus.receiver;
    let targets: Vec<Value> = monitored(t, storage)
        .into_iter()
        .map(|(name, kind, port)| {
            json!({
                "targets": [listen_target_port(t, port)],
                "labels": { "component": name, "kind": kind },
            })
        })
        .collect();
    json!({
        "global": global(interval, json!({ "cluster": r.cluster, "environment": r.environment })),
        "scrape_configs": [{ "job_name": "lab", "static_configs": targets }],
    })
}

/// vmauth's `-auth.config`: queries balanced across the vmselects (or to the single node).
pub fn vmauth_config(t: &Topology, storage: Storage, unauthorized_user: bool) -> Value {
    let (paths, backends): (Vec<&str>, Vec<String>) = match storage {
        Storage::Cluster => (
            vec!["/select/.+"],
            t.vmselect.iter().map(|s| http_url(t, s.port)).collect(),
        ),
        Storage::Single => (
            vec!["/prometheus/.+", "/api/v1/.+"],
            vec![http_url(t, t.single.port)],
        ),
    };
    let url_map = json!([{ "src_paths": paths, "url_prefix": backends }]);
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
                "url": receiver_url(t),
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
    let dir = |name: &str| o.state_dir.join("data").join(name);
    let conf = |name: &str| o.state_dir.join("config").join(name);
    let retention = &t.retention_period;
    let mut out = vec![Component {
        name: "mock-exporter".into(),
        kind: Kind::MockExporter,
        program: "mock-exporter".into(),
        args: vec![
            "--listen".into(),
            listen(t, t.exporter.port),
            "--seed".into(),
            t.exporter.seed.to_string(),
        ],
        files: vec![],
        port: t.exporter.port,
        ready_path: "/healthz",
        extra_ports: vec![],
    }];
    match o.storage {
        Storage::Cluster => {
            for s in &t.vmstorage {
                out.push(Component {
                    name: s.name.clone(),
                    kind: Kind::Vmstorage,
                    program: "vmstorage".into(),
                    args: vec![
                        arg("-storageDataPath", dir(&s.name).display()),
                        arg("-httpListenAddr", listen(t, s.http_port)),
                        arg("-vminsertAddr", listen(t, s.vminsert_port)),
                        arg("-vmselectAddr", listen(t, s.vmselect_port)),
                        arg("-retentionPeriod", retention),
                    ],
                    files: vec![],
                    port: s.http_port,
                    ready_path: "/health",
                    extra_ports: vec![s.vminsert_port, s.vmselect_port],
                });
            }
            let nodes = |f: fn(&crate::lab::topology::Vmstorage) -> u16| {
                t.vmstorage
                    .iter()
                    .map(|s| listen_target_port(t, f(s)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            for i in &t.vminsert {
                out.push(Component {
                    name: i.name.clone(),
                    kind: Kind::Vminsert,
                    program: "vminsert".into(),
                    args: vec![
                        arg("-httpListenAddr", listen(t, i.port)),
                        arg("-storageNode", nodes(|s| s.vminsert_port)),
                    ],
                    files: vec![],
                    port: i.port,
                    ready_path: "/health",
                    extra_ports: vec![],
                });
            }
            for s in &t.vmselect {
                out.push(Component {
                    name: s.name.clone(),
                    kind: Kind::Vmselect,
                    program: "vmselect".into(),
                    args: vec![
                        arg("-httpListenAddr", listen(t, s.port)),
                        arg("-storageNode", nodes(|s| s.vmselect_port)),
                        arg("-cacheDataPath", dir(&s.name).display()),
                        // Fresh samples are visible at once (the default hides the last 30 s).
                        arg("-search.latencyOffset", "1s"),
                    ],
                    files: vec![],
                    port: s.port,
                    ready_path: "/health",
                    extra_ports: vec![],
                });
            }
        }
        Storage::Single => out.push(Component {
            name: "victoria-metrics".into(),
            kind: Kind::VictoriaMetrics,
            program: "victoria-metrics".into(),
            args: vec![
                arg("-storageDataPath", dir("victoria-metrics").display()),
                arg("-httpListenAddr", listen(t, t.single.port)),
                arg("-retentionPeriod", retention),
                arg("-search.latencyOffset", "1s"),
            ],
            files: vec![],
            port: t.single.port,
            ready_path: "/health",
            extra_ports: vec![],
        }),
    }
    let auth = conf("vmauth.yml");
    out.push(Component {
        name: "vmauth".into(),
        kind: Kind::Vmauth,
        program: "vmauth".into(),
        args: vec![
            arg("-httpListenAddr", listen(t, t.vmauth.port)),
            arg("-auth.config", auth.display()),
        ],
        files: vec![(
            auth,
            pretty(&vmauth_config(t, o.storage, o.vmauth_unauthorized_user)),
        )],
        port: t.vmauth.port,
        ready_path: "/health",
        extra_ports: vec![],
    });
    let receiver_cfg = conf("prometheus-receiver.yml");
    let r = &t.prometheus.receiver;
    out.push(Component {
        name: "prometheus-receiver".into(),
        kind: Kind::PrometheusReceiver,
        program: "prometheus".into(),
        args: vec![
            arg("--config.file", receiver_cfg.display()),
            arg("--storage.tsdb.path", dir("prometheus-receiver").display()),
            arg("--storage.tsdb.retention.time", retention),
            arg("--web.listen-address", listen(t, r.port)),
            "--web.enable-remote-write-receiver".into(),
        ],
        files: vec![(
            receiver_cfg,
            pretty(&receiver_config(t, o.storage, o.scrape_interval)),
        )],
        port: r.port,
        ready_path: "/-/ready",
        extra_ports: vec![],
    });
    for region in &t.region {
        let name = format!("vmagent-{}", region.name);
        let cfg = conf(&format!("{name}.yml"));
        out.push(Component {
            name: name.clone(),
            kind: Kind::Vmagent,
            program: "vmagent".into(),
            args: vec![
                arg("-httpListenAddr", listen(t, region.vmagent_port)),
                arg("-promscrape.config", cfg.display()),
                arg(
                    "-remoteWrite.url",
                    remote_write_url(t, o.storage, &region.vminsert),
                ),
                arg("-remoteWrite.tmpDataPath", dir(&name).display()),
                // Label remote-write metrics with the real URL so `verify` can check routing.
                "-remoteWrite.showURL".into(),
            ],
            files: vec![(cfg, pretty(&vmagent_config(t, region, o.scrape_interval)))],
            port: region.vmagent_port,
            ready_path: "/health",
            extra_ports: vec![],
        });
    }
    let writer_cfg = conf("prometheus-writer.yml");
    out.push(Component {
        name: "prometheus-writer".into(),
        kind: Kind::PrometheusWriter,
        program: "prometheus".into(),
        args: vec![
            arg("--config.file", writer_cfg.display()),
            arg("--storage.tsdb.path", dir("prometheus-writer").display()),
            arg("--storage.tsdb.retention.time", retention),
            arg("--web.listen-address", listen(t, t.prometheus.writer.port)),
        ],
        files: vec![(
            writer_cfg,
            pretty(&writer_config(t, o.storage, o.scrape_interval)),
        )],
        port: t.prometheus.writer.port,
        ready_path: "/-/ready",
        extra_ports: vec![],
    });
    if let Some(home) = &o.grafana_home {
        let prov = o.state_dir.join("config").join("grafana");
        let ini = conf("grafana.ini");
        out.push(Component {
            name: "grafana".into(),
            kind: Kind::Grafana,
            program: "grafana".into(),
            args: vec![
                "server".into(),
                "--homepath".into(),
                home.display().to_string(),
                "--config".into(),
                ini.display().to_string(),
            ],
            files: vec![
                (ini, grafana_ini(t, &o.state_dir, &prov)),
                (
                    prov.join("datasources/lab.yml"),
                    pretty(&grafana_datasources(t, o.storage)),
                ),
                (
                    prov.join("dashboards/lab.yml"),
                    pretty(&dashboards_provider(&o.dashboards_dir)),
                ),
                (prov.join("plugins/.keep"), String::new()),
                (prov.join("alerting/.keep"), String::new()),
            ],
            port: t.grafana.port,
            ready_path: "/api/health",
            extra_ports: vec![],
        });
    }
    out
}

fn listen_target_port(t: &Topology, port: u16) -> String {
    let host = connect_host(t);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn grafana_ini(t: &Topology, state: &Path, prov: &Path) -> String {
    let data = state.join("data").join("grafana");
    format!(
        "[server]\nhttp_addr = {addr}\nhttp_port = {port}\n\n[paths]\ndata = {data}\nlogs = {logs}\nprovisioning = {prov}\n\n\
         [security]\nadmin_user = admin\nadmin_password = admin\n# A lab key: the lab stores no secrets worth encrypting.\nsecret_key = remote-write-lab\n\n\
         [auth.anonymous]\nenabled = true\norg_role = Viewer\n\n[analytics]\nreporting_enabled = false\ncheck_for_updates = false\n",
        addr = t.listen_address,
        port = t.grafana.port,
        data = data.display(),
        logs = data.join("log").display(),
        prov = prov.display(),
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
        }
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
                "prometheus-receiver",
                "vmagent-us-east-1",
                "vmagent-eu-west-1",
                "vmagent-ap-southeast-1",
                "vmagent-sa-east-1",
                "prometheus-writer"
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
        assert_eq!(
            v["scrape_configs"][0]["relabel_configs"][1],
            json!({"target_label": "availability_zone", "replacement": "ap-southeast-1a"})
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
