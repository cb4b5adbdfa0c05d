//! Remote write straight from the model: `mock-exporter push`.
//!
//! Every `interval` a round is generated: [`Model::emit`] at that second, the same call that
//! renders the scrape page, so a push and a scrape at one second carry the same values. The
//! round's samples are stamped with that second and cut into requests of `batch_size` samples
//! ([`batch`]), each written in the chosen protocol ([`wire_v1`], [`wire_v2`]) and
//! snappy-compressed. Requests go through a bounded queue per URL to `concurrency` senders
//! ([`client`]); when the senders fall behind, generation waits, so memory is bounded by the
//! queues and not by series or time. [`stats`] counts what happened.
//!
//! The generator runs on its own thread (a 100k-series round takes tens of milliseconds of
//! CPU); the senders on the tokio runtime.

pub mod batch;
pub mod client;
pub mod stats;
pub mod wire_v1;
pub mod wire_v2;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hyper::Uri;
use tokio::sync::{mpsc, Mutex};

use super::catalog::Fam;
use super::fleet::{Model, Sink, Value};
use batch::{Batch, Batcher, WireWriter};
use client::{Poster, Target};
use stats::Stats;

/// A remote-write protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::V1 => "application/x-protobuf",
            Protocol::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// `X-Prometheus-Remote-Write-Version`.
    pub fn version_header(self) -> &'static str {
        match self {
            Protocol::V1 => "0.1.0",
            Protocol::V2 => "2.0.0",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1 => "1.0",
            Protocol::V2 => "2.0",
        }
    }
}

/// What to push where.
#[derive(Debug, Clone)]
pub struct Config {
    pub urls: Vec<Uri>,
    pub protocol: Protocol,
    /// Seconds between rounds (whole seconds: the model is quantised to the second).
    pub interval_secs: u64,
    /// Rounds start at `start` (Unix seconds) and continue while below `start + duration`.
    pub duration: Duration,
    pub start: u64,
    /// Subtracted from every sample's timestamp (milliseconds), to send old samples.
    pub backdate_ms: i64,
    /// Senders per URL.
    pub concurrency: usize,
    /// Samples per request (Prometheus: `max_samples_per_send`, 2000 since 2.44).
    pub batch_size: u64,
    pub retry_on_429: bool,
    /// How long senders keep retrying after the last round is due before giving up.
    pub drain: Duration,
    /// Which page is pushed, and with which labels added.
    pub page: Page,
}

/// The page a scraper sees, and the labels it adds before writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The page as scraped with `?region=NAME`: incidents limited to other regions do not show.
    pub region: Option<String>,
    /// Added to every series, like a scraper's target and external labels. A page label of the
    /// same name is replaced (a scraper would keep it as `exported_NAME`); the lab's pages
    /// carry none of the labels its scrapers add.
    pub labels: Vec<(String, String)>,
}

impl Config {
    pub fn rounds(&self) -> u64 {
        self.duration
            .as_secs()
            .div_ceil(self.interval_secs.max(1))
            .max(1)
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Pushes `model` per `cfg` until the last round is sent (or given up); figures go to `stats`,
/// which must list `cfg.urls` in order.
pub async fn run(model: Model, cfg: Config, stats: Arc<Stats>) -> anyhow::Result<()> {
    anyhow::ensure!(
        stats.urls.len() == cfg.urls.len(),
        "the statistics list {} URLs, the configuration {}",
        stats.urls.len(),
        cfg.urls.len()
    );
    let concurrency = cfg.concurrency.max(1);
    // Senders retry until `drain` after the last round is due: for a push into the past (a
    // backfill, generated as fast as it is sent) that is `drain` from now, not the length of
    // the history.
    let last_due = (cfg.start + cfg.duration.as_secs()).saturating_sub(unix_now());
    let deadline = Instant::now() + Duration::from_secs(last_due) + cfg.drain;
    let mut queues = Vec::new();
    let mut senders = Vec::new();
    for (url, url_stats) in cfg.urls.iter().zip(&stats.urls) {
        let (tx, rx) = mpsc::channel::<Batch>(concurrency * 2);
        queues.push(tx);
        let rx = Arc::new(Mutex::new(rx));
        let target = Arc::new(Target {
            url: url.clone(),
            poster: Poster::new(cfg.protocol),
            stats: url_stats.clone(),
            retry_on_429: cfg.retry_on_429,
            deadline,
        });
        for _ in 0..concurrency {
            senders.push(tokio::spawn(sender(target.clone(), rx.clone())));
        }
    }
    let gen_stats = stats.clone();
    tokio::task::spawn_blocking(move || generate(&model, &cfg, queues, &gen_stats))
        .await
        .context("the generator stopped")?;
    for s in senders {
        s.await.context("a sender stopped")?;
    }
    Ok(())
}

/// Takes batches off a URL's queue and sends each until done.
async fn sender(target: Arc<Target>, rx: Arc<Mutex<mpsc::Receiver<Batch>>>) {
    loop {
        let batch = rx.lock().await.recv().await;
        match batch {
            Some(b) => target.send(&b).await,
            None => return,
        }
    }
}

/// Generates every round at its wall-clock second and queues its batches for every URL.
/// Dropping `queues` at the end tells the senders to finish.
fn generate(model: &Model, cfg: &Config, queues: Vec<mpsc::Sender<Batch>>, stats: &Stats) {
    let emit = |b: Batch| {
        stats.samples_generated.fetch_add(b.samples, Relaxed);
        for q in &queues {
            // A closed queue means its senders are gone; the others still get the batch.
            let _ = q.blocking_send(b.clone());
        }
    };
    match cfg.protocol {
        Protocol::V1 => rounds(
            model,
            cfg,
            Batcher::new(wire_v1::Writer::default(), cfg.batch_size, emit),
            stats,
        ),
        Protocol::V2 => rounds(
            model,
            cfg,
            Batcher::new(wire_v2::Writer::default(), cfg.batch_size, emit),
            stats,
        ),
    }
}

fn rounds<W: WireWriter, F: FnMut(Batch)>(
    model: &Model,
    cfg: &Config,
    mut batcher: Batcher<W, F>,
    stats: &Stats,
) {
    for round in 0..cfg.rounds() {
        let second = cfg.start + round * cfg.interval_secs;
        let now = unix_now();
        if now < second {
            std::thread::sleep(Duration::from_secs(second - now));
        } else if now >= second + cfg.interval_secs && round > 0 {
            stats.rounds_late.fetch_add(1, Relaxed);
        }
        batcher.at(second as i64 * 1000 - cfg.backdate_ms);
        let region = cfg.page.region.as_deref();
        if cfg.page.labels.is_empty() {
            model.emit_for(second, region, &mut batcher);
        } else {
            let mut labelled = Labelled {
                inner: &mut batcher,
                extra: &cfg.page.labels,
            };
            model.emit_for(second, region, &mut labelled);
        }
        batcher.flush();
        stats.rounds.fetch_add(1, Relaxed);
    }
}

/// A [`Sink`] that adds `extra` labels to every series and keeps the labels sorted by name.
struct Labelled<'a> {
    inner: &'a mut dyn Sink,
    extra: &'a [(String, String)],
}

impl Sink for Labelled<'_> {
    fn series(&mut self, family: Fam, labels: &[(&str, &str)], value: Value) {
        let mut all: Vec<(&str, &str)> = labels
            .iter()
            .filter(|(k, _)| !self.extra.iter().any(|(e, _)| e == k))
            .copied()
            .chain(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        self.inner.series(family, &all, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches it.
    #[derive(Default)]
    struct Seen(Vec<Vec<(String, String)>>);

    impl Sink for Seen {
        fn series(&mut self, _: Fam, labels: &[(&str, &str)], _: Value) {
            self.0.push(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
    }

    #[test]
    fn labelled_adds_labels_in_order_and_replaces_a_namesake() {
        let mut seen = Seen::default();
        let extra = [
            ("zone".to_string(), "z1".to_string()),
            ("code".to_string(), "scraper".to_string()),
            ("app".to_string(), "a".to_string()),
        ];
        let mut l = Labelled {
            inner: &mut seen,
            extra: &extra,
        };
        l.series(
            Fam::HttpRequests,
            &[("code", "200"), ("method", "GET")],
            Value::Counter(1.0),
        );
        assert_eq!(
            seen.0[0],
            [
                ("app", "a"),
                ("code", "scraper"),
                ("method", "GET"),
                ("zone", "z1")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
