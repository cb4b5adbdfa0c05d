//! The Nix functions in nix/lib.nix and the Rust renderer produce the same configs from the same
//! lab.toml, so the NixOS modules and labctl cannot drift apart.

use std::process::Command;
use std::time::Duration;

use remote_write_lab::lab::render;
use remote_write_lab::lab::topology::Topology;
use remote_write_lab::lab::victoria::Storage;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn nix_eval(expr: &str) -> Value {
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr", expr])
        .current_dir(ROOT)
        .output()
        .expect("nix-instantiate not found: install Debian's `nix-bin` (.ci/run does)");
    assert!(
        out.status.success(),
        "nix-instantiate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How labctl renders the lab for these comparisons: lab.toml's 15 s interval, folders of no
/// consequence.
fn options(storage: Storage) -> render::Options {
    render::Options {
        storage,
        scrape_interval: Duration::from_secs(15),
        state_dir: "/s".into(),
        vmauth_unauthorized_user: true,
        grafana_home: None,
        dashboards_dir: "/d".into(),
        rules_dir: "/r".into(),
    }
}

fn rust(t: &Topology, storage: Storage, interval: Duration) -> Value {
    json!({
        "vmagents": t.region.iter().map(|r| render::vmagent_config(t, r, interval)).collect::<Vec<_>>(),
        "writer": render::writer_config(t, storage, interval),
        "receiver": render::receiver_config(t, storage, interval, "/r/*.yml"),
        "alertmanager": render::alertmanager_config(),
        "vmalert": render::vmalert_flags(t, storage, interval, "/r/*.yml", "/pw"),
        "vmauth": render::vmauth_config(t, storage, true),
        "vmauthLegacy": render::vmauth_config(t, storage, false),
        "datasources": render::grafana_datasources(t, storage),
        "remoteWrite": t.region.iter().map(|r| render::remote_write_url(t, storage, &r.vminsert)).collect::<Vec<_>>(),
        "query": render::query_url(t, storage),
    })
}

fn nix(storage: &str, interval: &str) -> Value {
    nix_eval(&format!(
        r#"let
          l = import ./nix/lib.nix;
          lab = l.defaultLab;
          storage = "{storage}";
          interval = "{interval}";
        in {{
          vmagents = map (l.vmagentConfig {{ inherit lab interval; }}) lab.region;
          writer = l.writerConfig {{ inherit lab storage interval; }};
          receiver = l.receiverConfig {{ inherit lab storage interval; rules = "/r/*.yml"; }};
          alertmanager = l.alertmanagerConfig;
          vmalert = l.vmalertFlags {{ inherit lab storage interval; rules = "/r/*.yml"; passwordFile = "/pw"; }};
          vmauth = l.vmauthConfig {{ inherit lab storage; }};
          vmauthLegacy = l.vmauthConfig {{ inherit lab storage; unauthorizedUser = false; }};
          datasources = l.grafanaDatasources {{ inherit lab storage; }};
          remoteWrite = map (r: l.remoteWriteUrl {{ inherit lab storage; }} r.vminsert) lab.region;
          query = l.queryUrl {{ inherit lab storage; }};
        }}"#
    ))
}

#[test]
fn nix_and_rust_render_the_same_lab() {
    let t = Topology::load(&std::path::Path::new(ROOT).join("lab.toml")).unwrap();
    for (storage, name) in [(Storage::Cluster, "cluster"), (Storage::Single, "single")] {
        for fast in [false, true] {
            let interval_text = &render::prom_duration(t.interval(fast));
            let r = rust(&t, storage, t.interval(fast));
            let n = nix(name, interval_text);
            // Compared as JSON text with sorted keys: the bytes the two write.
            assert_eq!(
                serde_json::to_string_pretty(&n).unwrap(),
                serde_json::to_string_pretty(&r).unwrap(),
                "{name} storage, interval {interval_text}"
            );
        }
    }
}

#[test]
fn nix_storage_nodes_match_the_rust_command_lines() {
    let t = Topology::load(&std::path::Path::new(ROOT).join("lab.toml")).unwrap();
    let n = nix_eval(
        r#"let l = import ./nix/lib.nix; lab = l.defaultLab; in
           [ (l.storageNodes { inherit lab; } "vminsert_port") (l.storageNodes { inherit lab; } "vmselect_port") ]"#,
    );
    let plan = render::plan(&t, &options(Storage::Cluster));
    let arg = |name: &str| {
        plan.iter()
            .find(|c| c.name == name)
            .unwrap()
            .args
            .iter()
            .find_map(|a| a.strip_prefix("-storageNode=").map(str::to_string))
            .unwrap()
    };
    assert_eq!(n, json!([arg("vminsert-1"), arg("vmselect-1")]));
}

/// `replication_factor` of lab.toml reaches vminsert's and vmselect's `-replicationFactor` the
/// same way in labctl's rendering and in the NixOS units (their command lines, not configs).
#[test]
fn replication_factor_reaches_vminsert_and_vmselect_in_both() {
    let text = std::fs::read_to_string(format!("{ROOT}/lab.toml"))
        .unwrap()
        .replace("replication_factor = 1 ", "replication_factor = 2 ");
    let t = Topology::parse(&text).unwrap();
    assert_eq!(t.replication_factor, 2);
    let o = options(Storage::Cluster);
    let flag = |args: &[String]| -> Vec<String> {
        args.iter()
            .filter(|a| a.starts_with("-replicationFactor="))
            .cloned()
            .collect()
    };
    let rust: Vec<(String, Vec<String>)> = render::plan(&t, &o)
        .into_iter()
        .filter(|c| c.name.starts_with("vminsert") || c.name.starts_with("vmselect"))
        .map(|c| (c.name.clone(), flag(&c.args)))
        .collect();
    assert_eq!(rust.len(), 4, "{rust:?}");
    let units = nix_eval("(import ./nix/eval/checks.nix {}).replicated");
    for (name, flags) in &rust {
        assert_eq!(
            flags,
            &["-replicationFactor=2".to_string()],
            "labctl's {name}"
        );
        let exec = units[format!("rwlab-{name}")].as_str().unwrap();
        assert!(
            exec.contains("\"-replicationFactor=2\""),
            "the NixOS unit rwlab-{name}: {exec}"
        );
    }
}

#[test]
fn nix_latency_offset_matches_the_rust_command_lines() {
    let t = Topology::load(&std::path::Path::new(ROOT).join("lab.toml")).unwrap();
    let mut slow = t.clone();
    slow.latency_offset = Duration::from_secs(30);
    let n = nix_eval(
        r#"let l = import ./nix/lib.nix; lab = l.defaultLab; in
           [ (l.latencyOffset lab) (l.latencyOffset (lab // { latency_offset = "30s"; }))
             (l.latencyOffset (removeAttrs lab ["latency_offset"])) ]"#,
    );
    let arg = |t: &Topology, storage, name: &str| {
        let o = options(storage);
        render::plan(t, &o)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
            .args
            .iter()
            .find_map(|a| a.strip_prefix("-search.latencyOffset=").map(str::to_string))
            .unwrap()
    };
    assert_eq!(
        n,
        json!([
            arg(&t, Storage::Cluster, "vmselect-1"),
            arg(&slow, Storage::Single, "victoria-metrics"),
            render::prom_duration(remote_write_lab::lab::topology::DEFAULT_LATENCY_OFFSET),
        ])
    );
}

/// `[exporter] scale` and the churn knobs reach mock-exporter's command line in labctl's
/// rendering and in the NixOS unit alike (the same values; Nix passes the duration as written).
#[test]
fn exporter_scale_and_churn_reach_mock_exporter_in_both() {
    let text = std::fs::read_to_string(format!("{ROOT}/lab.toml"))
        .unwrap()
        .replace("scale = 1 ", "scale = 112 ")
        .replace("churn_fraction = 0.1 ", "churn_fraction = 0.2 ")
        .replace("# churn_interval", "churn_interval");
    let t = Topology::parse(&text).unwrap();
    let o = options(Storage::Single);
    let plan = render::plan(&t, &o);
    let exporter = plan.iter().find(|c| c.name == "mock-exporter").unwrap();
    let exec = nix_eval("(import ./nix/eval/checks.nix {}).scaled.exporter");
    let nix: Vec<String> = exec
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    let value = |args: &[String], flag: &str| -> String {
        let i = args.iter().position(|a| a == flag);
        i.map(|i| args[i + 1].clone())
            .unwrap_or_else(|| panic!("{flag} missing in {args:?}"))
    };
    for args in [&exporter.args, &nix] {
        assert_eq!(value(args, "--scale"), "112", "{args:?}");
        let every = humantime::parse_duration(&value(args, "--churn-interval")).unwrap();
        assert_eq!(every, Duration::from_secs(600), "{args:?}");
        let f: f64 = value(args, "--churn-fraction").parse().unwrap();
        assert!((f - 0.2).abs() < 1e-9, "{args:?}");
    }
}

/// The receiver resends firing alerts after one interval in both, not Prometheus' 1m: an alert
/// first sent before Alertmanager was discovered would otherwise be missing for a minute.
#[test]
fn receiver_resends_alerts_after_one_interval_in_both() {
    let t = Topology::load(std::path::Path::new(&format!("{ROOT}/lab.toml"))).unwrap();
    let o = options(Storage::Single);
    let plan = render::plan(&t, &o);
    let receiver = plan
        .iter()
        .find(|c| c.name == "prometheus-receiver")
        .unwrap();
    assert!(
        receiver
            .args
            .contains(&"--rules.alert.resend-delay=15s".to_string()),
        "{:?}",
        receiver.args
    );
    let exec = nix_eval("(import ./nix/eval/checks.nix {}).scaled.receiver");
    assert!(
        exec.as_str()
            .unwrap()
            .contains("\"--rules.alert.resend-delay=15s\""),
        "{exec}"
    );
}

/// lab.toml's retention_period reaches every store, labctl's and the NixOS units alike.
#[test]
fn retention_reaches_every_store_in_both() {
    let t = Topology::load(&std::path::Path::new(ROOT).join("lab.toml")).unwrap();
    let r = &t.retention_period;
    let flag = |program: &str| {
        if program == "prometheus" {
            format!("--storage.tsdb.retention.time={r}")
        } else {
            format!("-retentionPeriod={r}")
        }
    };
    for (storage, attr) in [
        (Storage::Cluster, "footprintCluster"),
        (Storage::Single, "footprintSingle"),
    ] {
        let plan = render::plan(&t, &options(storage));
        let units = nix_eval(&format!("(import ./nix/eval/checks.nix {{}}).{attr}"));
        let stores: Vec<_> = plan
            .iter()
            .filter(|c| matches!(c.program(), "prometheus" | "vmstorage" | "victoria-metrics"))
            .collect();
        assert_eq!(
            stores.len(),
            if storage == Storage::Cluster { 4 } else { 3 }
        );
        for c in stores {
            let want = flag(c.program());
            assert!(c.args.contains(&want), "labctl {}: {:?}", c.name, c.args);
            let exec = units[format!("rwlab-{}", c.name)]["exec"]
                .as_str()
                .unwrap_or_else(|| panic!("no unit rwlab-{} in {units}", c.name));
            assert!(exec.contains(&want), "NixOS rwlab-{}: {exec}", c.name);
        }
    }
}

/// The settings that keep the lab's memory small reach labctl's processes and the NixOS units
/// alike: every Go program's environment (`GOGC`) and vmstorage's `-rpc.disableCompression`.
#[test]
fn memory_settings_match_the_nixos_units() {
    let t = Topology::load(&std::path::Path::new(ROOT).join("lab.toml")).unwrap();
    for (storage, attr) in [
        (Storage::Cluster, "footprintCluster"),
        (Storage::Single, "footprintSingle"),
    ] {
        let units = nix_eval(&format!("(import ./nix/eval/checks.nix {{}}).{attr}"));
        let o = render::Options {
            grafana_home: Some("/g".into()),
            ..options(storage)
        };
        let plan = render::plan(&t, &o);
        assert!(plan.iter().any(|c| c.kind == render::Kind::Grafana));
        for c in plan {
            let unit = if c.kind == render::Kind::Grafana {
                "grafana".to_string()
            } else {
                format!("rwlab-{}", c.name)
            };
            let u = &units[&unit];
            assert!(u.is_object(), "{attr}: no unit {unit}");
            let nix_env = u["environment"].as_object().unwrap();
            for (k, v) in &c.env {
                assert_eq!(nix_env.get(k), Some(&json!(v)), "{attr}: {unit} {k}");
            }
            for k in render::GO_ENV.iter().map(|(k, _)| k) {
                assert_eq!(
                    nix_env.contains_key(*k),
                    c.env.iter().any(|(n, _)| n == k),
                    "{attr}: {unit} {k}"
                );
            }
            let flag = "-rpc.disableCompression";
            let exec = u["exec"].as_str().unwrap();
            assert_eq!(
                exec.contains(&format!("\"{flag}\"")),
                c.args.iter().any(|a| a == flag),
                "{attr}: {unit}: {exec}"
            );
        }
    }
}
