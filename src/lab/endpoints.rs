//! Where a running lab answers: one [`Endpoint`] type (a base URL with optional basic auth) for
//! every HTTP service that `verify`, `dashboards check` and `compare` talk to, and
//! [`Endpoints`], all of a lab's, as lab.toml places them (`labctl`'s flags may move each).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

/// HTTP basic-auth credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl BasicAuth {
    /// The `Authorization` header value (RFC 7617).
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// An HTTP service: its base URL (no trailing slash) and the credentials it wants, if any.
/// Serialises as its URL; the credentials are never written out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Endpoint {
    pub url: String,
    pub auth: Option<BasicAuth>,
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.url
    }
}

impl Endpoint {
    pub fn new(url: impl Into<String>) -> Endpoint {
        let url: String = url.into();
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            auth: None,
        }
    }

    pub fn with_auth(mut self, auth: Option<BasicAuth>) -> Endpoint {
        self.auth = auth;
        self
    }

    /// The URL of `path` (which starts with `/`) on this endpoint.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// What a region's series must carry, and where its vmagent is.
#[derive(Debug, Clone, Serialize)]
pub struct RegionExpect {
    pub name: String,
    pub cluster: String,
    pub environment: String,
    pub availability_zone: String,
    pub vmagent: Endpoint,
    /// Name of the vminsert it must write to.
    pub vminsert: String,
    /// The one remote-write URL it must send to (set by [`Endpoints::set_routes`]).
    pub remote_write_url: String,
}

/// Every endpoint of a running lab, and what its data must look like.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// The exporter's metrics page.
    pub exporter: Endpoint,
    /// VictoriaMetrics' Prometheus-compatible query API (through vmauth).
    pub query: Endpoint,
    /// The Prometheus receiver (also an evaluator of the lab's rules).
    pub receiver: Endpoint,
    /// The Prometheus writer: its query API (which also reads from the receiver by remote read),
    /// and its own TSDB, the witness of what it scraped.
    pub writer: Endpoint,
    /// vmalert, the evaluator against VictoriaMetrics.
    pub vmalert: Endpoint,
    /// The Alertmanager both evaluators send to.
    pub alertmanager: Endpoint,
    pub writer_cluster: String,
    pub writer_environment: String,
    pub regions: Vec<RegionExpect>,
    pub storage: Storage,
    pub tenant: u32,
    /// vminserts (or the single node) by name.
    pub inserts: BTreeMap<String, Endpoint>,
    pub vmstorages: BTreeMap<String, Endpoint>,
    pub vmselects: BTreeMap<String, Endpoint>,
    pub scrape_interval: Duration,
}

impl Endpoints {
    /// The endpoints of the lab `t` describes.
    pub fn from_topology(t: &Topology, storage: Storage, scrape_interval: Duration) -> Endpoints {
        let at = |port| Endpoint::new(t.http_url(port, ""));
        let named = |n: &crate::lab::topology::Named| (n.name.clone(), at(n.port));
        let inserts = match storage {
            Storage::Cluster => t.vminsert.iter().map(named).collect(),
            Storage::Single => [("victoria-metrics".to_string(), at(t.single.port))].into(),
        };
        let auth = BasicAuth {
            user: t.vmauth.username.clone(),
            password: t.vmauth.password.clone(),
        };
        let regions = t
            .region
            .iter()
            .map(|r| RegionExpect {
                name: r.name.clone(),
                cluster: r.cluster.clone(),
                environment: r.environment.clone(),
                availability_zone: r.availability_zone.clone(),
                vmagent: at(r.vmagent_port),
                vminsert: r.vminsert.clone(),
                remote_write_url: String::new(),
            })
            .collect();
        let mut e = Endpoints {
            exporter: Endpoint::new(crate::lab::render::exporter_url(t)),
            query: Endpoint::new(crate::lab::render::query_url(t, storage)).with_auth(Some(auth)),
            receiver: at(t.prometheus.receiver.port),
            writer: at(t.prometheus.writer.port),
            vmalert: at(t.vmalert.port),
            alertmanager: at(t.alertmanager.port),
            writer_cluster: t.prometheus.writer.cluster.clone(),
            writer_environment: t.prometheus.writer.environment.clone(),
            regions,
            storage,
            tenant: t.tenant,
            inserts,
            vmstorages: t
                .vmstorage
                .iter()
                .map(|s| (s.name.clone(), at(s.http_port)))
                .collect(),
            vmselects: t.vmselect.iter().map(named).collect(),
            scrape_interval,
        };
        e.set_routes();
        e
    }

    /// Sets each region's expected remote-write URL from its vminsert's endpoint (or the single
    /// node's); call again after moving an insert endpoint.
    pub fn set_routes(&mut self) {
        let path = self.storage.write_path(self.tenant);
        for r in &mut self.regions {
            let base = match self.storage {
                Storage::Cluster => self.inserts.get(&r.vminsert),
                Storage::Single => self.inserts.values().next(),
            };
            r.remote_write_url = base.map(|b| b.join(&path)).unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_like_rfc_7617() {
        let a = BasicAuth {
            user: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(a.header(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    #[test]
    fn from_topology_routes_each_region_to_its_vminsert() {
        let t = Topology::parse(include_str!("../../lab.toml")).unwrap();
        let e = Endpoints::from_topology(&t, Storage::Cluster, Duration::from_secs(2));
        assert_eq!(
            e.regions[1].remote_write_url,
            "http://127.0.0.1:8490/insert/0/prometheus/api/v1/write"
        );
        assert_eq!(e.query.url, "http://127.0.0.1:8427/select/0/prometheus");
        assert_eq!(e.query.auth.as_ref().unwrap().user, "lab");
        let s = Endpoints::from_topology(&t, Storage::Single, Duration::from_secs(2));
        assert_eq!(
            s.regions[1].remote_write_url,
            "http://127.0.0.1:8428/api/v1/write"
        );
    }
}
