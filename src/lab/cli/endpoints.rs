//! Where a running lab's endpoints are: lab.toml's defaults, overridden by flags. Shared by
//! `verify`, `dashboards check` and `compare`, which all work against any running lab.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{pairs_to_map, parse_pair, LabArgs};
use crate::lab::topology::Topology;
use crate::lab::verify::Endpoints;
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

fn merge(
    target: &mut BTreeMap<String, String>,
    flags: &[(String, String)],
    what: &str,
) -> anyhow::Result<()> {
    for (name, url) in pairs_to_map(flags) {
        if !target.contains_key(&name) {
            anyhow::bail!(
                "--{what}-url {name}=…: lab.toml has no {what} named {name:?} (known: {})",
                target.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        target.insert(name, url.trim_end_matches('/').to_string());
    }
    Ok(())
}

impl EndpointArgs {
    /// The topology and the endpoints of the running lab.
    pub fn resolve(&self, lab: &LabArgs) -> anyhow::Result<(Topology, Endpoints)> {
        let t = lab.topology()?;
        let interval = t.interval(self.fast);
        let storage = match self.storage {
            StorageChoice::Cluster => Storage::Cluster,
            StorageChoice::Single => Storage::Single,
            StorageChoice::Auto => {
                let probe = Endpoints::from_topology(&t, Storage::Cluster, interval);
                let mut inserts = probe.inserts.clone();
                merge(&mut inserts, &self.vminsert_urls, "vminsert")?;
                let first = inserts.values().next().cloned().unwrap_or_default();
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(2)))
                    .build()
                    .new_agent();
                if agent.get(&format!("{first}/health")).call().is_ok() {
                    Storage::Cluster
                } else {
                    Storage::Single
                }
            }
        };
        let mut e = Endpoints::from_topology(&t, storage, interval);
        if let Some(u) = &self.exporter_url {
            e.exporter = u.clone();
        }
        if let Some(u) = &self.query_url {
            e.query = u.trim_end_matches('/').to_string();
        }
        if let Some(u) = &self.receiver_url {
            e.receiver = u.trim_end_matches('/').to_string();
        }
        let mut agents: BTreeMap<String, String> = e
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.vmagent.clone()))
            .collect();
        merge(&mut agents, &self.vmagent_urls, "vmagent")?;
        for r in &mut e.regions {
            r.vmagent = agents[&r.name].clone();
        }
        match storage {
            Storage::Cluster => merge(&mut e.inserts, &self.vminsert_urls, "vminsert")?,
            Storage::Single => {
                if let Some(u) = &self.single_url {
                    e.inserts = [(
                        "victoria-metrics".to_string(),
                        u.trim_end_matches('/').to_string(),
                    )]
                    .into();
                }
            }
        }
        merge(&mut e.vmstorages, &self.vmstorage_urls, "vmstorage")?;
        merge(&mut e.vmselects, &self.vmselect_urls, "vmselect")?;
        let routes = t
            .region
            .iter()
            .map(|r| (r.name.clone(), r.vminsert.clone()))
            .collect();
        e.set_routes(&routes, t.tenant);
        Ok((t, e))
    }
}
