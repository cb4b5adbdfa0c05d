//! The provisioning files committed in grafana/provisioning are what labctl renders for lab.toml,
//! so a Grafana of your own gets exactly the lab's datasources.

use std::path::Path;

use remote_write_lab::lab::render;
use remote_write_lab::lab::topology::Topology;
use remote_write_lab::lab::victoria::Storage;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Where the committed dashboard provider expects the dashboards.
const DASHBOARDS: &str = "/var/lib/grafana/dashboards/remote-write-lab";

fn expected() -> [(String, String); 2] {
    let t = Topology::load(&Path::new(ROOT).join("lab.toml")).unwrap();
    [
        (
            "grafana/provisioning/datasources/remote-write-lab.yaml".into(),
            render::pretty(&render::grafana_datasources(&t, Storage::Cluster)),
        ),
        (
            "grafana/provisioning/dashboards/remote-write-lab.yaml".into(),
            render::pretty(&render::dashboards_provider(Path::new(DASHBOARDS))),
        ),
    ]
}

#[test]
fn committed_provisioning_matches_the_rendering() {
    if std::env::var_os("RWLAB_WRITE_PROVISIONING").is_some() {
        for (path, text) in expected() {
            std::fs::write(Path::new(ROOT).join(path), text).unwrap();
        }
    }
    for (path, text) in expected() {
        let committed = std::fs::read_to_string(Path::new(ROOT).join(&path)).unwrap_or_default();
        assert_eq!(
            committed, text,
            "{path} is stale: regenerate with `RWLAB_WRITE_PROVISIONING=1 cargo test --test grafana`"
        );
    }
}
