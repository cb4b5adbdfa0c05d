//! What a push run did, per URL: counters, answers by status, write latency.
//!
//! Everything is an atomic counter or a fixed table of latency buckets, so the figures cost the
//! same after a minute and after a week. [`Stats::render`] writes them in the text format for
//! `--listen`'s `/metrics`; [`Stats::summary`] is the report printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets: 10 µs × 1.1^i, about 190 s at the top; quantiles are a bucket's upper edge.
const LATENCY_BUCKETS: usize = 200;
const LATENCY_BASE_US: f64 = 10.0;
const LATENCY_FACTOR: f64 = 1.1;

/// A fixed log-scale histogram of durations.
#[derive(Debug)]
pub struct Latency([AtomicU64; LATENCY_BUCKETS]);

impl Default for Latency {
    fn default() -> Self {
        Latency(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us <= LATENCY_BASE_US {
            0
        } else {
            ((us / LATENCY_BASE_US).ln() / LATENCY_FACTOR.ln()).ceil() as usize
        };
        self.0[i.min(LATENCY_BUCKETS - 1)].fetch_add(1, Relaxed);
    }

    /// The `q` quantile (0..1) as a bucket's upper edge (within 10 %); `None` with no data.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.0.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let us = LATENCY_BASE_US * LATENCY_FACTOR.powi(i as i32);
                return Some(Duration::from_secs_f64(us / 1e6));
            }
        }
        None
    }
}

/// Why samples were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// A 4xx answer other than 429: the receiver refuses the data.
    Rejected,
    /// A 429 answer without `--retry-on-429`.
    Throttled,
    /// Still failing when the run ended.
    Unsent,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Rejected => "rejected_4xx",
            DropReason::Throttled => "throttled_429",
            DropReason::Unsent => "unsent_at_end",
        }
    }
}

/// The figures of one remote-write URL.
#[derive(Debug, Default)]
pub struct UrlStats {
    pub url: String,
    /// Samples in requests that were answered 2xx.
    pub samples_sent: AtomicU64,
    /// Sum of `X-Prometheus-Remote-Write-Samples-Written` over the answers that carried it.
    pub samples_written: AtomicU64,
    /// Answers that carried the header.
    pub written_reported: AtomicU64,
    /// Samples sent again after a failed attempt.
    pub samples_retried: AtomicU64,
    pub bytes_sent: AtomicU64,
    dropped: Mutex<BTreeMap<DropReason, u64>>,
    /// Answers by status code; 0 stands for "no answer" (connect error, timeout).
    answers: Mutex<BTreeMap<u16, u64>>,
    pub latency: Latency,
    /// The last refusal: status and the start of its body.
    pub last_error: Mutex<Option<String>>,
}

impl UrlStats {
    pub fn new(url: String) -> UrlStats {
        UrlStats {
            url,
            ..UrlStats::default()
        }
    }

    pub fn answered(&self, status: u16) {
        *lock(&self.answers).entry(status).or_default() += 1;
    }

    pub fn dropped(&self, reason: DropReason, samples: u64) {
        *lock(&self.dropped).entry(reason).or_default() += samples;
    }

    pub fn dropped_total(&self) -> u64 {
        lock(&self.dropped).values().sum()
    }

    pub fn answers(&self) -> BTreeMap<u16, u64> {
        lock(&self.answers).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A per-URL counter for `/metrics`: name, HELP, how to read it.
type Counter = (&'static str, &'static str, fn(&UrlStats) -> u64);

/// The figures of a whole run.
#[derive(Debug)]
pub struct Stats {
    pub samples_generated: AtomicU64,
    pub rounds: AtomicU64,
    /// Rounds generated after their wall-clock time had already passed by a whole interval.
    pub rounds_late: AtomicU64,
    pub urls: Vec<Arc<UrlStats>>,
}

impl Stats {
    pub fn new(urls: &[String]) -> Stats {
        Stats {
            samples_generated: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            rounds_late: AtomicU64::new(0),
            urls: urls
                .iter()
                .map(|u| Arc::new(UrlStats::new(u.clone())))
                .collect(),
        }
    }

    /// The figures in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let g = |o: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        g(
            &mut o,
            "mock_exporter_push_samples_generated_total",
            "Samples generated.",
            "counter",
        );
        let _ = writeln!(
            o,
            "mock_exporter_push_samples_generated_total {}",
            self.samples_generated.load(Relaxed)
        );
        g(
            &mut o,
            "mock_exporter_push_rounds_total",
            "Rounds generated (one per interval).",
            "counter",
        );
        let _ = writeln!(
            o,
            "mock_exporter_push_rounds_total {}",
            self.rounds.load(Relaxed)
        );
        let counters: [Counter; 5] = [
            ("samples_sent_total", "Samples in requests answered 2xx.", |u| u.samples_sent.load(Relaxed)),
            ("samples_written_total", "Samples the receiver reported written (X-Prometheus-Remote-Write-Samples-Written).", |u| u.samples_written.load(Relaxed)),
            ("written_reported_total", "2xx answers that carried X-Prometheus-Remote-Write-Samples-Written.", |u| u.written_reported.load(Relaxed)),
            ("samples_retried_total", "Samples sent again after a failed attempt.", |u| u.samples_retried.load(Relaxed)),
            ("sent_bytes_total", "Compressed request bytes answered 2xx.", |u| u.bytes_sent.load(Relaxed)),
        ];
        for (name, help, get) in counters {
            let name = format!("mock_exporter_push_{name}");
            g(&mut o, &name, help, "counter");
            for u in &self.urls {
                let _ = writeln!(o, "{name}{{url=\"{}\"}} {}", u.url, get(u));
            }
        }
        g(
            &mut o,
            "mock_exporter_push_samples_dropped_total",
            "Samples given up, by reason.",
            "counter",
        );
        for u in &self.urls {
            for (r, n) in lock(&u.dropped).iter() {
                let _ = writeln!(
                    o,
                    "mock_exporter_push_samples_dropped_total{{reason=\"{}\",url=\"{}\"}} {n}",
                    r.as_str(),
                    u.url
                );
            }
        }
        g(
            &mut o,
            "mock_exporter_push_requests_total",
            "Requests by answer status (0: no answer).",
            "counter",
        );
        for u in &self.urls {
            for (code, n) in u.answers() {
                let _ = writeln!(
                    o,
                    "mock_exporter_push_requests_total{{code=\"{code}\",url=\"{}\"}} {n}",
                    u.url
                );
            }
        }
        g(
            &mut o,
            "mock_exporter_push_write_latency_seconds",
            "Write latency quantiles (bucket upper edges, within 10 %).",
            "gauge",
        );
        for u in &self.urls {
            for q in [0.5, 0.99] {
                if let Some(d) = u.latency.quantile(q) {
                    let _ = writeln!(o, "mock_exporter_push_write_latency_seconds{{quantile=\"{q}\",url=\"{}\"}} {}", u.url, d.as_secs_f64());
                }
            }
        }
        o
    }

    /// The end-of-run report, one block per URL.
    pub fn summary(&self) -> String {
        let mut o = format!(
            "rounds {}  (late {})  samples generated {}\n",
            self.rounds.load(Relaxed),
            self.rounds_late.load(Relaxed),
            self.samples_generated.load(Relaxed)
        );
        for u in &self.urls {
            let written = match u.written_reported.load(Relaxed) {
                0 => "not reported by the receiver".to_string(),
                n => format!("{} (in {n} answers)", u.samples_written.load(Relaxed)),
            };
            let ms = |q| {
                u.latency
                    .quantile(q)
                    .map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
            };
            let _ = writeln!(o, "{}", u.url);
            let _ = writeln!(
                o,
                "  sent (2xx)  {}  samples, {} bytes",
                u.samples_sent.load(Relaxed),
                u.bytes_sent.load(Relaxed)
            );
            let _ = writeln!(o, "  written     {written}");
            let _ = writeln!(
                o,
                "  retried     {}  samples",
                u.samples_retried.load(Relaxed)
            );
            let dropped: Vec<String> = lock(&u.dropped)
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            let _ = writeln!(
                o,
                "  dropped     {}",
                if dropped.is_empty() {
                    "0".into()
                } else {
                    dropped.join(", ")
                }
            );
            let answers: Vec<String> = u
                .answers()
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            let _ = writeln!(o, "  answers     {}", answers.join(", "));
            let _ = writeln!(o, "  latency     p50 {}  p99 {}", ms(0.5), ms(0.99));
            if let Some(e) = lock(&u.last_error).as_ref() {
                let _ = writeln!(o, "  last error  {e}");
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_within_ten_percent() {
        let l = Latency::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let p50 = l.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p99 = l.quantile(0.99).unwrap().as_secs_f64() * 1e3;
        assert!((50.0..=55.0).contains(&p50), "{p50}");
        assert!((99.0..=109.0).contains(&p99), "{p99}");
        assert!(Latency::default().quantile(0.5).is_none());
    }
}
