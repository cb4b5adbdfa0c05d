//! History from before the lab started: the pages its vmagents would have scraped, written now.
//!
//! The exporter's page is a pure function of (seed, time, incidents), so the page of any past
//! second can be generated again, value for value. For one region, [`origin`] asks the store for
//! the region's own `up` series: its labels are the ones the vmagent adds to every series
//! (`job`, `instance`, `availability_zone`, the external labels), and its first sample is where
//! the live history begins. [`Plan`] lays the rounds out before that sample, one per step, so
//! the backfill and the live scrapes form one series each, without overlap: `rate()` over a
//! window that reaches back into the backfill reads one continuous counter.
//!
//! Only VictoriaMetrics is backfilled. The Prometheus receiver's TSDB rejects samples older
//! than the newest of a series (no out-of-order window), so the writer's series keep only their
//! live history.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::exporter::catalog::{Fam, FAMILIES};
use crate::exporter::fleet::{Churn, FleetOptions, Model, Sink, Value};
use crate::exporter::incident::Spec;
use crate::exporter::push::{self, Page};
use crate::lab::endpoints::{Endpoint, Endpoints};
use crate::lab::query::{Client, Labels};
use crate::lab::render::EXPORTER_JOB;
use crate::lab::topology::Exporter;
use crate::lab::victoria::Storage;
use crate::scrape;

/// How far back [`origin`] looks for a region's first sample (VictoriaMetrics' default
/// retention is a month).
const LOOKBACK: &str = "31d";

/// How far inside the retention a backfill must start: the store compares with its own clock.
const RETENTION_MARGIN: Duration = Duration::from_secs(600);

/// Where a region's live history begins in the store, and the labels its vmagent adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// `up`'s labels without `__name__`: the target and external labels of the region's scrape.
    pub labels: Labels,
    /// Unix seconds of the first sample.
    pub first: f64,
}

/// The query that finds a region's first `up` sample and its labels.
pub fn origin_query(region: &str) -> String {
    format!("tfirst_over_time(up{{job=\"{EXPORTER_JOB}\", region=\"{region}\"}}[{LOOKBACK}])")
}

/// The region's [`Origin`], from VictoriaMetrics: the labels of its `up` series, and the
/// older of its first `up` sample and its oldest `http_requests_total` sample (which is older
/// when the region was backfilled before: a second backfill goes on further back).
pub fn origin(client: &Client, query: &Endpoint, region: &str) -> anyhow::Result<Origin> {
    let q = origin_query(region);
    let found = client
        .query(query, &[("query", q.clone())])
        .with_context(|| format!("asking VictoriaMetrics for {region}'s first sample"))?
        .vector();
    let up = match found.as_slice() {
        [] => bail!(
            "VictoriaMetrics holds no sample of {region}'s scrape yet ({q} is empty): start the \
             lab and wait until it is green (labctl verify --wait 60s)"
        ),
        [one] => one,
        many => {
            let instances: Vec<&str> = many
                .iter()
                .map(|s| s.metric.get("instance").map_or("?", String::as_str))
                .collect();
            bail!(
                "{region} has {} scrape targets in VictoriaMetrics ({}); backfill writes one \
                 history per region and cannot tell which is the lab's",
                many.len(),
                instances.join(", ")
            )
        }
    };
    let first = up
        .value
        .value()
        .filter(|t| t.is_finite() && *t > 0.0)
        .with_context(|| format!("{q}: {:?} is not a time", up.value.1))?;
    let oldest = oldest(client, query, region, false)?.unwrap_or(first);
    Ok(Origin {
        labels: up.metric.clone(),
        first: first.min(oldest),
    })
}

/// The region's oldest `http_requests_total` sample, if any; `fresh` asks past the cache.
fn oldest(
    client: &Client,
    query: &Endpoint,
    region: &str,
    fresh: bool,
) -> anyhow::Result<Option<f64>> {
    let mut params = vec![("query", oldest_query(region))];
    if fresh {
        params.push(("nocache", "1".into()));
    }
    Ok(client
        .query(query, &params)
        .with_context(|| format!("asking VictoriaMetrics for {region}'s oldest sample"))?
        .vector()
        .first()
        .and_then(|s| s.value.value())
        .filter(|t| t.is_finite() && *t > 0.0))
}

/// The rounds of one region's backfill: every `step` seconds from `start`, the last one a step
/// before the first live sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub start: u64,
    pub rounds: u64,
    pub step: u64,
}

impl Plan {
    /// `since` of history before `first` (Unix seconds), one round per `step`.
    pub fn before(first: f64, since: Duration, step: Duration) -> anyhow::Result<Plan> {
        let step = step.as_secs();
        if step == 0 {
            bail!("the step must be at least 1s");
        }
        let rounds = since.as_secs() / step;
        if rounds == 0 {
            bail!(
                "--since {}s is shorter than one step ({step}s)",
                since.as_secs()
            );
        }
        // The last round must be strictly older than the first live sample.
        let end = (first.ceil() as u64).saturating_sub(1) / step * step;
        let start = end.saturating_sub((rounds - 1) * step);
        Ok(Plan {
            start,
            rounds,
            step,
        })
    }

    /// The plan's first round must lie within the store's retention (with `RETENTION_MARGIN` to
    /// spare) at `now`: VictoriaMetrics accepts older samples and drops them without a word.
    pub fn within(&self, retention: Duration, now: u64) -> anyhow::Result<()> {
        let oldest_kept = now.saturating_sub(retention.as_secs()) + RETENTION_MARGIN.as_secs();
        if self.start < oldest_kept {
            let room = Duration::from_secs(self.last().saturating_sub(oldest_kept));
            bail!(
                "the history would start {} ago, beyond the lab's retention_period ({}): \
                 VictoriaMetrics drops older samples. Backfill at most {} before the first \
                 sample, or raise retention_period in lab.toml and start the lab again",
                humantime::format_duration(Duration::from_secs(now.saturating_sub(self.start))),
                humantime::format_duration(retention),
                humantime::format_duration(room)
            );
        }
        Ok(())
    }

    /// The Unix second of the last round.
    pub fn last(&self) -> u64 {
        self.start + (self.rounds - 1) * self.step
    }
}

/// The model the lab's exporter runs (lab.toml's `[exporter]`), its `+DURATION` incidents counted
/// from `started` (Unix seconds) as the exporter counts them from its own start.
pub fn exporter_model(x: &Exporter, started: u64) -> anyhow::Result<Model> {
    let model = Model::new(FleetOptions {
        seed: x.seed,
        scale: x.scale.get() as usize,
        churn: x.churn_interval.map(|d| Churn {
            interval_secs: d.as_secs(),
            fraction: x.churn_fraction,
        }),
        first_host: 0,
    });
    let schedule = x
        .incident
        .iter()
        .map(|i| i.arg().parse::<Spec>().map(|s| s.resolve(started)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("exporter.incident: {e}"))?;
    model
        .with_incidents(schedule)
        .map_err(|e| anyhow::anyhow!("exporter.incident: {e}"))
}

/// The push that writes `plan` for `region` with `origin`'s labels to `url`.
pub fn push_config(
    plan: &Plan,
    region: &str,
    origin: &Origin,
    url: &str,
) -> anyhow::Result<push::Config> {
    Ok(push::Config {
        urls: vec![url.parse().with_context(|| format!("{url}: not a URL"))?],
        // Remote write 1.0: what every receiver here stores (docs/compatibility.md).
        protocol: push::Protocol::V1,
        interval_secs: plan.step,
        duration: Duration::from_secs(plan.rounds * plan.step),
        start: plan.start,
        backdate_ms: 0,
        concurrency: 2,
        batch_size: 10_000,
        retry_on_429: true,
        drain: Duration::from_secs(60),
        page: Page {
            region: Some(region.to_string()),
            labels: origin
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
    })
}

/// The query that finds the oldest `http_requests_total` sample of a region: the backfill is
/// visible once it is older than the live history.
pub fn oldest_query(region: &str) -> String {
    format!(
        "min(tfirst_over_time(http_requests_total{{job=\"{EXPORTER_JOB}\", region=\"{region}\"}}[{LOOKBACK}]))"
    )
}

/// Whether VictoriaMetrics already serves the start of `plan` for `region`. Asked with
/// `nocache=1`: a cached answer from before the backfill would say no for ever.
pub fn visible(
    client: &Client,
    query: &Endpoint,
    region: &str,
    plan: &Plan,
) -> anyhow::Result<bool> {
    Ok(oldest(client, query, region, true)?
        .is_some_and(|t| t <= (plan.start + plan.step / 2) as f64))
}

/// What tells one simulated fleet from another on a page: its series and the memory of each
/// host (drawn from the seed). A lab started with another scale or seed than lab.toml's has
/// another fingerprint, and a backfill from lab.toml would not join its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// Every series of the page (a histogram counts its buckets, `_sum` and `_count`).
    pub series: usize,
    /// `node_memory_MemTotal_bytes` of every host, sorted.
    pub memory: Vec<u64>,
}

/// The model's fingerprint at `now`.
pub fn model_fingerprint(model: &Model, now: u64) -> Fingerprint {
    struct Memory(Vec<u64>);
    impl Sink for Memory {
        fn series(&mut self, family: Fam, _: &[(&str, &str)], value: Value) {
            if let (Fam::NodeMemTotal, Value::Gauge(v)) = (family, value) {
                self.0.push(v as u64);
            }
        }
    }
    let mut memory = Memory(Vec::new());
    model.emit(now, &mut memory);
    memory.0.sort_unstable();
    Fingerprint {
        series: model.series_count(),
        memory: memory.0,
    }
}

/// The fingerprint of a scraped page (the exporter's own `/metrics`).
pub fn page_fingerprint(page: &[scrape::Series]) -> Fingerprint {
    let families: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    let ours = |name: &str| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        families.contains(&name) || families.contains(&base)
    };
    let mut memory: Vec<u64> = page
        .iter()
        .filter(|s| s.name == "node_memory_MemTotal_bytes")
        .map(|s| s.value as u64)
        .collect();
    memory.sort_unstable();
    Fingerprint {
        series: page.iter().filter(|s| ours(&s.name)).count(),
        memory,
    }
}

/// Checks that the running exporter serves what `model` generates: the same series and hosts.
pub fn check_exporter(client: &Client, exporter: &Endpoint, model: &Model) -> anyhow::Result<()> {
    let page = client
        .text(exporter, "")
        .and_then(|t| scrape::parse(&t))
        .with_context(|| format!("reading the exporter at {}", exporter.url))?;
    let live = page_fingerprint(&page);
    let mine = model_fingerprint(model, push::unix_now());
    if live != mine {
        bail!(
            "the exporter at {} serves {} series from {} hosts, lab.toml's [exporter] gives {} \
             from {} (or other hosts): the lab runs another scale or seed, so the history would \
             not join its series. Pass the lab's --scale, or start it from this lab.toml",
            exporter.url,
            live.series,
            live.memory.len(),
            mine.series,
            mine.memory.len()
        );
    }
    Ok(())
}

/// The servers whose rollup result cache must be reset after a backfill: each vmselect, or the
/// single node. Cached results for past ranges would otherwise hide the new samples.
pub fn query_nodes(e: &Endpoints) -> Vec<(String, Endpoint)> {
    let nodes = match e.storage {
        Storage::Cluster => &e.vmselects,
        Storage::Single => &e.inserts,
    };
    nodes
        .iter()
        .map(|(n, ep)| (n.clone(), ep.clone()))
        .collect()
}

/// Resets VictoriaMetrics' rollup result cache on `node`.
pub fn reset_cache(client: &Client, name: &str, node: &Endpoint) -> anyhow::Result<()> {
    client
        .text(node, "/internal/resetRollupResultCache")
        .map(drop)
        .with_context(|| {
            format!(
                "resetting {name}'s rollup result cache: until it restarts, queries over the \
                 backfilled range may answer from results cached before it"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::query::{InstantSeries, Recorded, Sample};

    #[test]
    fn plan_ends_a_step_before_the_first_live_sample() {
        let p = Plan::before(
            1_000_000.4,
            Duration::from_secs(3600),
            Duration::from_secs(15),
        )
        .unwrap();
        assert_eq!(p.rounds, 240);
        assert!(p.last() < 1_000_000 && p.last() + 15 >= 1_000_000);
        assert_eq!(p.last() % 15, 0);
        assert_eq!(p.start, p.last() - 239 * 15);
        // A first sample on a whole second is not rewritten either.
        let q = Plan::before(1_000_005.0, Duration::from_secs(10), Duration::from_secs(5)).unwrap();
        assert_eq!((q.start, q.last()), (999_995, 1_000_000));
    }

    #[test]
    fn plan_within_retention_or_an_error_that_says_how_much_fits() {
        let now = 2_000_000;
        let day = Duration::from_secs(86_400);
        let p = Plan::before(
            now as f64,
            Duration::from_secs(3 * 86_400),
            Duration::from_secs(60),
        )
        .unwrap();
        let e = p.within(day, now).unwrap_err().to_string();
        assert!(
            e.contains("retention_period (1day)") && e.contains("at most 23h 49m 40s"),
            "{e}"
        );
        assert!(p.within(4 * day, now).is_ok());
    }

    #[test]
    fn plan_refuses_a_step_of_zero_or_longer_than_since() {
        assert!(Plan::before(1e6, Duration::from_secs(60), Duration::ZERO).is_err());
        let e = Plan::before(1e6, Duration::from_secs(10), Duration::from_secs(15)).unwrap_err();
        assert!(e.to_string().contains("shorter than one step"), "{e}");
    }

    fn origin_of(found: Vec<InstantSeries>) -> anyhow::Result<Origin> {
        let answer = serde_json::json!({"status": "success", "data": {
            "resultType": "vector",
            "result": found.iter().map(|s| serde_json::json!({"metric": s.metric, "value": [1.0e9, s.value.1]})).collect::<Vec<_>>()
        }});
        let oldest = r#"{"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [1e9, "1765000000.5"]}]}}"#;
        let client = Client::with_transport(Recorded(vec![
            (
                vec!["tfirst_over_time(up{job=\"mock-exporter\", region=\"eu-west-1\"}[31d])"],
                answer.to_string(),
            ),
            (
                vec!["min(tfirst_over_time(http_requests_total"],
                oldest.to_string(),
            ),
        ]));
        origin(&client, &Endpoint::new("http://vmauth"), "eu-west-1")
    }

    fn up(instance: &str, first: &str) -> InstantSeries {
        InstantSeries {
            metric: [
                ("instance", instance),
                ("job", "mock-exporter"),
                ("region", "eu-west-1"),
                ("cluster", "prod-eu"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            value: Sample(1.0e9, first.to_string()),
        }
    }

    #[test]
    fn origin_takes_up_labels_and_its_first_sample() {
        let o = origin_of(vec![up("127.0.0.1:2112", "1765000000.5")]).unwrap();
        assert_eq!(o.first, 1_765_000_000.5);
        assert_eq!(o.labels["instance"], "127.0.0.1:2112");
        let none = origin_of(vec![]).unwrap_err().to_string();
        assert!(none.contains("no sample of eu-west-1's scrape"), "{none}");
        let two = origin_of(vec![up("a:1", "1"), up("b:2", "2")])
            .unwrap_err()
            .to_string();
        assert!(
            two.contains("2 scrape targets") && two.contains("a:1, b:2"),
            "{two}"
        );
    }

    /// Collects (labels, value) of `http_requests_total`.
    struct Requests(Vec<(Vec<(String, String)>, f64)>);

    impl Sink for Requests {
        fn series(
            &mut self,
            fam: crate::exporter::catalog::Fam,
            labels: &[(&str, &str)],
            value: crate::exporter::fleet::Value,
        ) {
            if let (
                crate::exporter::catalog::Fam::HttpRequests,
                crate::exporter::fleet::Value::Counter(v),
            ) = (fam, value)
            {
                let l = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
                self.0.push((l.collect(), v));
            }
        }
    }

    #[test]
    fn exporter_model_counts_relative_incidents_from_the_given_start() {
        let t = crate::lab::topology::Topology::parse(&format!(
            "{}\n[[exporter.incident]]\nservice = \"catalog\"\nregion = \"eu-west-1\"\nstart = \"+60s\"\nduration = \"10m\"\nerrors = 400\n",
            include_str!("../../lab.toml")
        ))
        .unwrap();
        let started = 1_790_900_000;
        let m = exporter_model(&t.exporter, started).unwrap();
        assert_eq!(m.incidents()[0].start, started + 60);
        let errors = |at: u64, region: Option<&str>| {
            let (mut a, mut b) = (Requests(Vec::new()), Requests(Vec::new()));
            m.emit_for(at, region, &mut a);
            m.emit_for(at + 60, region, &mut b);
            let five = |r: &Requests| {
                r.0.iter()
                    .filter(|(l, _)| l.iter().any(|(k, v)| k == "code" && v == "503"))
                    .map(|(_, v)| *v)
                    .sum::<f64>()
            };
            five(&b) - five(&a)
        };
        let quiet = errors(started + 60 - 120, Some("eu-west-1"));
        let burning = errors(started + 120, Some("eu-west-1"));
        assert!(burning > 50.0 * quiet, "{quiet} → {burning}");
        assert!(errors(started + 120, Some("us-east-1")) < 2.0 * quiet);
    }

    #[test]
    fn origin_goes_on_from_an_earlier_backfill() {
        let o = origin_of(vec![up("127.0.0.1:2112", "1765000100")]).unwrap();
        // The recorded oldest http_requests_total sample is older than the first `up`.
        assert_eq!(o.first, 1_765_000_000.5);
    }

    #[test]
    fn fingerprint_of_the_page_is_the_models_and_tells_scales_and_seeds_apart() {
        let t = crate::lab::topology::Topology::parse(include_str!("../../lab.toml")).unwrap();
        let now = 1_790_900_000;
        let model = exporter_model(&t.exporter, now).unwrap();
        let page = |m: &Model| {
            let text = String::from_utf8(crate::exporter::exposition::render(m, now)).unwrap();
            page_fingerprint(&scrape::parse(&text).unwrap())
        };
        let mine = model_fingerprint(&model, now);
        assert_eq!(page(&model), mine);
        assert_eq!(mine.memory.len(), 1);
        let mut other = t.exporter.clone();
        other.scale = std::num::NonZeroU32::new(3).unwrap();
        assert_ne!(page(&exporter_model(&other, now).unwrap()), mine);
        other = t.exporter.clone();
        other.seed += 1;
        assert_ne!(page(&exporter_model(&other, now).unwrap()), mine);
    }

    #[test]
    fn push_config_adds_up_labels_except_the_name() {
        let mut o = Origin {
            labels: up("127.0.0.1:2112", "1").metric,
            first: 1.0,
        };
        o.labels.insert("__name__".into(), "up".into());
        let plan = Plan {
            start: 100,
            rounds: 4,
            step: 5,
        };
        let c = push_config(&plan, "eu-west-1", &o, "http://127.0.0.1:8428/api/v1/write").unwrap();
        assert_eq!((c.start, c.interval_secs, c.rounds()), (100, 5, 4));
        assert_eq!(c.page.region.as_deref(), Some("eu-west-1"));
        assert!(c.page.labels.iter().all(|(k, _)| k != "__name__"));
        assert!(c
            .page
            .labels
            .contains(&("instance".into(), "127.0.0.1:2112".into())));
        assert!(push_config(&plan, "eu-west-1", &o, "not a url").is_err());
    }
}
