//! Watching the lab while a fault lasts and while it drains: queue sizes, the age of each
//! path's newest sample, and the scenario's probe (check 3, or queries through vmauth).
//!
//! Polled about once a second. A source that does not answer (the store is down, the vmagent is
//! paused) is not an error: the age keeps growing from the last sample seen, and the queue is
//! unknown for that poll.

use std::collections::BTreeMap;

use serde::Serialize;

use super::alerting::AlertWatch;
use super::scenarios::Probe;
use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;
use crate::lab::verify::delays::Budget;
use crate::lab::verify::{checks, Clock, Context, Status};
use crate::scrape;

/// The writer → VictoriaMetrics path's name in reports.
pub const WRITER_VM: &str = "writer → VictoriaMetrics";
/// The writer → receiver path's name in reports.
pub const WRITER_RECEIVER: &str = "writer → receiver";

/// What was seen of one write path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathWatch {
    /// The largest queue seen (bytes for a vmagent, samples for the writer).
    pub queue_peak: f64,
    #[serde(skip)]
    pub queue_now: Option<f64>,
    /// The newest sample's time (Unix s) last seen in the store.
    #[serde(skip)]
    pub newest: Option<f64>,
    /// The largest age of the newest stored sample: the longest a sample waited.
    pub largest_delay: f64,
    /// Seconds from restore until the queue was empty and the path fresh again.
    pub drained_after: Option<f64>,
    /// Fresh means the newest sample is younger than this (the path's delay budget).
    #[serde(skip)]
    pub budget: f64,
}

impl PathWatch {
    fn fresh(&self, now: f64) -> bool {
        let queue_empty = self.queue_now.is_none_or(|q| q <= 0.0);
        queue_empty && self.newest.is_some_and(|t| now - t <= self.budget)
    }
}

/// What the probe saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeSeen {
    /// Check 3 named the watched region as stale (the first such evidence).
    pub stale_caught: Option<String>,
    pub queries_complete: u64,
    pub queries_partial: u64,
    pub queries_failed: u64,
    /// The first failed query's error.
    pub first_failure: Option<String>,
}

/// Everything watched, by path name (regions, then the writer's two paths).
pub struct Watch {
    pub paths: BTreeMap<String, PathWatch>,
    pub probe: Probe,
    pub seen: ProbeSeen,
    /// The scenario's alerts, set once the fault is injected.
    pub alerts: AlertWatch,
}

impl Watch {
    pub fn new(e: &Endpoints, probe: Probe) -> Watch {
        let region = Budget::region_freshness(e.storage, e.scrape_interval)
            .total()
            .as_secs_f64();
        let writer = Budget::writer_arrival(e.storage).total().as_secs_f64()
            + e.scrape_interval.as_secs_f64();
        let mut paths = BTreeMap::new();
        for r in &e.regions {
            paths.insert(
                r.name.clone(),
                PathWatch {
                    budget: region,
                    ..Default::default()
                },
            );
        }
        for p in [WRITER_VM, WRITER_RECEIVER] {
            paths.insert(
                p.to_string(),
                PathWatch {
                    budget: writer,
                    ..Default::default()
                },
            );
        }
        Watch {
            paths,
            probe,
            seen: ProbeSeen::default(),
            alerts: AlertWatch::default(),
        }
    }

    /// One look at everything; `restored` is when the fault was undone, if it was.
    pub fn poll(&mut self, e: &Endpoints, client: &Client, now: f64, restored: Option<f64>) {
        self.alerts.poll(e, client, now, restored);
        self.queues(e, client);
        self.newest(e, client, now);
        for p in self.paths.values_mut() {
            if let Some(t) = p.newest {
                p.largest_delay = p.largest_delay.max(now - t);
            }
            if let (Some(r), None) = (restored, p.drained_after) {
                if p.fresh(now) {
                    p.drained_after = Some((now - r).max(0.0));
                }
            }
        }
        self.run_probe(e, client);
    }

    /// Whether every path has drained since the restore.
    pub fn drained(&self) -> bool {
        self.paths.values().all(|p| p.drained_after.is_some())
    }

    fn queues(&mut self, e: &Endpoints, client: &Client) {
        for r in &e.regions {
            let q = client.metrics(&r.vmagent).ok().map(|m| vmagent_pending(&m));
            self.set_queue(&r.name, q);
        }
        let page = client.metrics(&e.writer).ok();
        for (path, receiver) in [(WRITER_VM, false), (WRITER_RECEIVER, true)] {
            let q = page.as_deref().map(|m| writer_pending(m, receiver));
            self.set_queue(path, q);
        }
    }

    fn set_queue(&mut self, path: &str, q: Option<f64>) {
        if let Some(p) = self.paths.get_mut(path) {
            p.queue_now = q;
            p.queue_peak = p.queue_peak.max(q.unwrap_or(0.0));
        }
    }

    fn newest(&mut self, e: &Endpoints, client: &Client, now: f64) {
        let start = format!("{}", (now - 600.0).floor());
        let regions = client.export(
            &e.query,
            &[
                ("match[]", FRESHNESS.into()),
                ("match[]", writer_freshness(&e.writer_cluster)),
                ("start", start),
            ],
        );
        for s in regions.unwrap_or_default() {
            let path = match s.metric.get("region") {
                Some(r) => r.as_str(),
                None if s.metric.get("cluster") == Some(&e.writer_cluster) => WRITER_VM,
                None => continue,
            };
            self.saw(path, s.newest());
        }
        let q = format!("max(timestamp({}))", writer_freshness(&e.writer_cluster));
        let t = client
            .query(&e.receiver, &[("query", q)])
            .ok()
            .and_then(|d| d.vector().first().and_then(|s| s.value.value()));
        self.saw(WRITER_RECEIVER, t);
    }

    fn saw(&mut self, path: &str, t: Option<f64>) {
        if let (Some(p), Some(t)) = (self.paths.get_mut(path), t) {
            p.newest = Some(p.newest.map_or(t, |n| n.max(t)));
        }
    }

    fn run_probe(&mut self, e: &Endpoints, client: &Client) {
        match &self.probe {
            Probe::None => {}
            Probe::Freshness(region) => {
                if self.seen.stale_caught.is_some() {
                    return;
                }
                let cx = Context::new(e, client, Clock::System);
                if let Ok(v) = checks::newest_sample_is_fresh(&cx) {
                    let named = v.detail.starts_with("stale: ")
                        && v.detail
                            .split(';')
                            .next()
                            .is_some_and(|s| s.contains(region.as_str()));
                    if v.status == Status::Fail && named {
                        self.seen.stale_caught = Some(v.detail);
                    }
                }
            }
            Probe::Queries => {
                for _ in 0..5 {
                    self.query_once(e, client);
                }
            }
        }
    }

    fn query_once(&mut self, e: &Endpoints, client: &Client) {
        let q = "count({job=\"mock-exporter\"})".to_string();
        match client.query_answer(&e.query, &[("query", q), ("nocache", "1".into())]) {
            Ok(a) if a.is_partial => self.seen.queries_partial += 1,
            Ok(_) => self.seen.queries_complete += 1,
            Err(err) => {
                self.seen.queries_failed += 1;
                self.seen.first_failure.get_or_insert(format!("{err:#}"));
            }
        }
    }
}

/// One series per exporter host and region (as check 3).
const FRESHNESS: &str = "node_memory_MemTotal_bytes{job=\"mock-exporter\",region!=\"\"}";

fn writer_freshness(cluster: &str) -> String {
    format!("node_memory_MemTotal_bytes{{job=\"mock-exporter\",cluster=\"{cluster}\"}}")
}

/// A vmagent's pending bytes: memory and disk (`vmagent_remotewrite_pending_data_bytes`), or
/// the on-disk queue alone where the first is missing.
pub fn vmagent_pending(page: &[scrape::Series]) -> f64 {
    let sum = |name: &str| -> Option<f64> {
        let v: Vec<f64> = page
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    sum("vmagent_remotewrite_pending_data_bytes")
        .or_else(|| sum("vm_persistentqueue_bytes_pending"))
        .unwrap_or(0.0)
}

/// The writer's samples pending for the receiver's queue or for VictoriaMetrics'.
pub fn writer_pending(page: &[scrape::Series], receiver: bool) -> f64 {
    page.iter()
        .filter(|s| s.name == "prometheus_remote_storage_samples_pending")
        .filter(|s| {
            (s.labels.get("remote_name").map(String::as_str) == Some("receiver")) == receiver
        })
        .fold(0.0, |sum, s| sum + s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmagent_pending_prefers_memory_and_disk_and_falls_back_to_disk() {
        let page = scrape::parse(
            "vmagent_remotewrite_pending_data_bytes{path=\"p\",url=\"1:u\"} 120\n\
             vm_persistentqueue_bytes_pending{path=\"p\"} 100\n",
        )
        .unwrap();
        assert_eq!(vmagent_pending(&page), 120.0);
        let old = scrape::parse("vm_persistentqueue_bytes_pending{path=\"p\"} 100\n").unwrap();
        assert_eq!(vmagent_pending(&old), 100.0);
    }

    #[test]
    fn writer_pending_splits_the_receiver_from_victoriametrics() {
        let page = scrape::parse(
            "prometheus_remote_storage_samples_pending{remote_name=\"receiver\",url=\"r\"} 416\n\
             prometheus_remote_storage_samples_pending{remote_name=\"vminsert-1\",url=\"v\"} 1832\n",
        )
        .unwrap();
        assert_eq!(writer_pending(&page, true), 416.0);
        assert_eq!(writer_pending(&page, false), 1832.0);
    }
}
