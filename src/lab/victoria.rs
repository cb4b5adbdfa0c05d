//! VictoriaMetrics' URL layout, written once: where remote write goes in and where queries come
//! out, per tenant, for the cluster (vminsert, vmselect behind vmauth) and for the single node.
//!
//! The cluster puts the tenant in the path (`/insert/0/…`, `/select/0/…`); the single node has
//! one tenant and no prefix. Addresses are [`crate::lab::topology`]'s; this module only knows paths.

use serde::{Deserialize, Serialize};

/// Where the samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// vmstorage, vminsert and vmselect (two of each) behind vmauth.
    Cluster,
    /// One `victoria-metrics` single node behind vmauth.
    Single,
}

/// What vmselect's query paths start with; its `vm_http_requests_total{path}` counts them.
pub const CLUSTER_SELECT_PREFIX: &str = "/select/";

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Cluster => "cluster",
            Storage::Single => "single",
        }
    }

    /// The remote-write path on a vminsert (or on the single node).
    pub fn write_path(self, tenant: u32) -> String {
        match self {
            Storage::Cluster => format!("/insert/{tenant}/prometheus/api/v1/write"),
            Storage::Single => "/api/v1/write".into(),
        }
    }

    /// The remote-write prefix that vmalert's `-remoteWrite.url` takes: it appends
    /// `/api/v1/write` itself.
    pub fn write_prefix(self, tenant: u32) -> String {
        match self {
            Storage::Cluster => format!("/insert/{tenant}/prometheus"),
            Storage::Single => String::new(),
        }
    }

    /// The prefix of the Prometheus-compatible query API on a vmselect (or the single node),
    /// and so on vmauth in front of them.
    pub fn query_path(self, tenant: u32) -> String {
        match self {
            Storage::Cluster => format!("{CLUSTER_SELECT_PREFIX}{tenant}/prometheus"),
            Storage::Single => "/prometheus".into(),
        }
    }

    /// The paths vmauth forwards to the query backends (regular expressions).
    pub fn vmauth_src_paths(self) -> Vec<String> {
        match self {
            Storage::Cluster => vec![format!("{CLUSTER_SELECT_PREFIX}.+")],
            Storage::Single => vec!["/prometheus/.+".into(), "/api/v1/.+".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_the_tenant_in_the_cluster_only() {
        assert_eq!(
            Storage::Cluster.write_path(3),
            "/insert/3/prometheus/api/v1/write"
        );
        assert_eq!(Storage::Single.write_path(3), "/api/v1/write");
        for s in [Storage::Cluster, Storage::Single] {
            assert_eq!(s.write_prefix(3) + "/api/v1/write", s.write_path(3));
        }
        assert_eq!(Storage::Cluster.query_path(0), "/select/0/prometheus");
        assert_eq!(Storage::Single.query_path(0), "/prometheus");
    }
}
