//! Where a running lab's endpoints are: lab.toml's defaults, overridden by flags. Shared by
//! `verify`, `dashboards check` and `compare`, which all work against any running lab.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{pairs_to_map, parse_pair, LabArgs};
use crate::lab::endpoints::{Endpoint, Endpoints};
use crate::lab::query::Client;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Storage of the lab: `auto` asks the first vminsert whether it is there.
    #[arg(long, value_enum, default_value_t = StorageChoice::Auto, help_heading = "Lab")]
    pub storage: StorageChoice,

    /// The lab scrapes at lab.toml's fast_scrape_interval (as `labctl up --fast`).
    #[arg(long, help_heading = "Lab")]
    pub fast: bool,

    /// The exporter's metrics URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub exporter_url: Option<String>,
    /// VictoriaMetrics' Prometheus query URL (through vmauth).
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub query_url: Option<String>,
    /// The Prometheus receiver's base URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub receiver_url: Option<String>,
    /// The Prometheus writer's base URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub writer_url: Option<String>,
    /// vmalert's base URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub vmalert_url: Option<String>,
    /// Alertmanager's base URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub alertmanager_url: Option<String>,
    /// A region's vmagent base URL. Repeatable.
    #[arg(long = "vmagent-url", value_name = "REGION=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmagent_urls: Vec<(String, String)>,
    /// A vminsert's base URL (also the base of the remote-write URL expected from its vmagents). Repeatable.
    #[arg(long = "vminsert-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vminsert_urls: Vec<(String, String)>,
    /// A vmstorage's HTTP base URL. Repeatable.
    #[arg(long = "vmstorage-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmstorage_urls: Vec<(String, String)>,
    /// A vmselect's base URL. Repeatable.
    #[arg(long = "vmselect-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmselect_urls: Vec<(String, String)>,
    /// The single node's base URL (with --storage single).
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub single_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageChoice {
    Auto,
    Cluster,
    Single,
}

/// Moves the endpoints named in `flags` (`NAME=URL`); a name lab.toml does not know is an error.
fn merge(
    target: &mut BTreeMap<String, Endpoint>,
    flags: &[(String, String)],
    what: &str,
) -> anyhow::Result<()> {
    for (name, url) in pairs_to_map(flags) {
        let known = target.keys().cloned().collect::<Vec<_>>().join(", ");
        let Some(e) = target.get_mut(&name) else {
            anyhow::bail!(
                "--{what}-url {name}=…: lab.toml has no {what} named {name:?} (known: {known})"
            );
        };
        e.url = Endpoint::new(url).url;
    }
    Ok(())
}

impl EndpointArgs {
    /// The topology and the endpoints of the running lab.
    pub fn resolve(&self, lab: &LabArgs) -> anyhow::Result<(Topology, Endpoints)> {
        let t = lab.topology()?;
        let interval = t.interval(self.fast);
        let storage = self.storage(&t, interval)?;
        let mut e = Endpoints::from_topology(&t, storage, interval);
        self.apply(&mut e)?;
        e.set_routes();
        Ok((t, e))
    }

    /// The storage asked for; `auto` asks the first vminsert for `/health`.
    fn storage(&self, t: &Topology, interval: Duration) -> anyhow::Result<Storage> {
        Ok(match self.storage {
            StorageChoice::Cluster => Storage::Cluster,
            StorageChoice::Single => Storage::Single,
            StorageChoice::Auto => {
                let mut inserts = Endpoints::from_topology(t, Storage::Cluster, interval).inserts;
                merge(&mut inserts, &self.vminsert_urls, "vminsert")?;
                let client = Client::with_timeout(Duration::from_secs(2));
                let first = inserts.values().next();
                if first.is_some_and(|f| client.text(f, "/health").is_ok()) {
                    Storage::Cluster
                } else {
                    Storage::Single
                }
            }
        })
    }

    /// Moves every endpoint a flag names.
    fn apply(&self, e: &mut Endpoints) -> anyhow::Result<()> {
        let moved = |to: &Option<String>, ep: &mut Endpoint| {
            if let Some(u) = to {
                ep.url = Endpoint::new(u.as_str()).url;
            }
        };
        moved(&self.exporter_url, &mut e.exporter);
        moved(&self.query_url, &mut e.query);
        moved(&self.receiver_url, &mut e.receiver);
        moved(&self.writer_url, &mut e.writer);
        moved(&self.vmalert_url, &mut e.vmalert);
        moved(&self.alertmanager_url, &mut e.alertmanager);
        let mut agents: BTreeMap<String, Endpoint> = e
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.vmagent.clone()))
            .collect();
        merge(&mut agents, &self.vmagent_urls, "vmagent")?;
        for r in &mut e.regions {
            r.vmagent = agents[&r.name].clone();
        }
        match e.storage {
            Storage::Cluster => merge(&mut e.inserts, &self.vminsert_urls, "vminsert")?,
            Storage::Single => {
                if let Some(u) = &self.single_url {
                    e.inserts =
                        [("victoria-metrics".to_string(), Endpoint::new(u.as_str()))].into();
                }
            }
        }
        merge(&mut e.vmstorages, &self.vmstorage_urls, "vmstorage")?;
        merge(&mut e.vmselects, &self.vmselect_urls, "vmselect")
    }
}
