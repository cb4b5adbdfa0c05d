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

fn rust(t: &Topology, storage: Storage, interval: Duration) -> Value {
    json!({
        "vmagents": t.region.iter().map(|r| render::vmagent_config(t, r, interval)).collect::<Vec<_>>(),
        "writer": render::writer_config(t, storage, interval),
        "receiver": render::receiver_config(t, storage, interval),
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
          receiver = l.receiverConfig {{ inherit lab storage interval; }};
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
    let plan = render::plan(
        &t,
        &render::Options {
            storage: Storage::Cluster,
            scrape_interval: t.interval(false),
            state_dir: "/s".into(),
            vmauth_unauthorized_user: true,
            grafana_home: None,
            dashboards_dir: "/d".into(),
        },
    );
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
        let o = render::Options {
            storage,
            scrape_interval: t.interval(false),
            state_dir: "/s".into(),
            vmauth_unauthorized_user: true,
            grafana_home: None,
            dashboards_dir: "/d".into(),
        };
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
