//! Counting samples exactly, each write path against a witness its fault does not touch.
//!
//! - A region's path (vmagent → VictoriaMetrics): the witness is the vmagent's own counter of
//!   samples it scraped, `vm_promscrape_scraped_samples_sum`, read at the window's two ends (and
//!   around any restart of the vmagent: the counter starts again at 0). Stored: the raw samples
//!   of the region's exporter series in VictoriaMetrics, from `/api/v1/export`, with timestamps
//!   inside the window. vmagent's own series (`up`, `scrape_*`) are not scraped samples and are
//!   left out. The counters are read half a scrape interval away from the region's scrapes, so
//!   no scrape straddles a reading.
//! - The writer's paths (writer → VictoriaMetrics, writer → receiver): the witness is the
//!   writer's own TSDB, which holds every sample it scraped whatever happens to its remote
//!   writes. Both sides are read as sets of (series, timestamp) within the window and compared:
//!   lost = in the writer, not in the store; extra = the other way round (never expected).
//!
//! Duplicates are raw samples of one series with the same timestamp, counted in the store.
//! Nothing here estimates (`count_over_time` would): every number is a count of raw samples.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::lab::query::{Exported, Labels, RangeSeries};
use crate::scrape;

/// Samples a scraper makes itself, not scraped from the target: left out of the counts.
pub fn is_scraper_series(name: &str) -> bool {
    name == "up" || name.starts_with("scrape_")
}

/// The vmagent counter of samples scraped, from its `/metrics` page.
pub fn scraped_samples(page: &[scrape::Series]) -> Option<f64> {
    page.iter()
        .find(|s| s.name == "vm_promscrape_scraped_samples_sum")
        .map(|s| s.value)
}

/// A counter read at both ends of a stretch of one process's life.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    pub from: f64,
    pub to: f64,
}

/// Samples scraped over the window: the sum of each segment's increase.
pub fn witnessed(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|s| (s.to - s.from).max(0.0))
        .sum::<f64>()
        .round() as u64
}

/// Raw samples of exported series inside `(from_ms, to_ms]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Distinct (series, timestamp) pairs.
    pub distinct: u64,
    /// Samples beyond the first at the same timestamp of a series.
    pub duplicated: u64,
    pub series: u64,
}

/// Counts the raw samples of the series `keep` accepts, inside `(from_ms, to_ms]`.
pub fn tally(
    exported: &[Exported],
    from_ms: i64,
    to_ms: i64,
    keep: impl Fn(&Labels) -> bool,
) -> Tally {
    let mut t = Tally::default();
    for s in exported.iter().filter(|s| keep(&s.metric)) {
        let inside: Vec<i64> = s
            .timestamps
            .iter()
            .copied()
            .filter(|&ms| ms > from_ms && ms <= to_ms)
            .collect();
        let distinct: BTreeSet<i64> = inside.iter().copied().collect();
        t.distinct += distinct.len() as u64;
        t.duplicated += (inside.len() - distinct.len()) as u64;
        t.series += u64::from(!inside.is_empty());
    }
    t
}

/// A series' identity without the labels a path adds (external labels): comparable between the
/// writer's TSDB and the stores it writes to.
pub fn identity(labels: &Labels, added: &[&str]) -> String {
    let kept: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !added.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    kept.join(",")
}

/// Samples per series identity: timestamp → how many times it was stored.
pub type SampleSet = BTreeMap<String, BTreeMap<i64, u32>>;

/// The samples of VictoriaMetrics' export inside `(from_ms, to_ms]`.
pub fn from_export(exported: &[Exported], added: &[&str], from_ms: i64, to_ms: i64) -> SampleSet {
    let mut set = SampleSet::new();
    for s in exported {
        let e = set.entry(identity(&s.metric, added)).or_default();
        for &ms in s
            .timestamps
            .iter()
            .filter(|&&ms| ms > from_ms && ms <= to_ms)
        {
            *e.entry(ms).or_default() += 1;
        }
    }
    set
}

/// The samples of a Prometheus range-selector answer inside `(from_ms, to_ms]`.
pub fn from_matrix(matrix: &[RangeSeries], added: &[&str], from_ms: i64, to_ms: i64) -> SampleSet {
    let mut set = SampleSet::new();
    for s in matrix {
        let e = set.entry(identity(&s.metric, added)).or_default();
        for p in &s.values {
            let ms = (p.time() * 1000.0).round() as i64;
            if ms > from_ms && ms <= to_ms {
                *e.entry(ms).or_default() += 1;
            }
        }
    }
    set
}

/// A store's samples against the witness's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub expected: u64,
    /// Expected samples the store holds.
    pub stored: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Samples in the store the witness does not have (0 unless something else writes there).
    pub extra: u64,
}

/// Compares a store's samples with the witness's, sample by sample.
pub fn compare(witness: &SampleSet, store: &SampleSet) -> Comparison {
    let mut c = Comparison::default();
    let empty = BTreeMap::new();
    for (id, times) in witness {
        let held = store.get(id).unwrap_or(&empty);
        for t in times.keys() {
            c.expected += 1;
            if held.contains_key(t) {
                c.stored += 1;
            } else {
                c.lost += 1;
            }
        }
    }
    for (id, times) in store {
        let seen = witness.get(id).unwrap_or(&empty);
        for (t, n) in times {
            c.duplicated += u64::from(n.saturating_sub(1));
            c.extra += u64::from(!seen.contains_key(t));
        }
    }
    c
}

/// A region's count: the witness's scraped samples against the distinct stored ones.
pub fn region(expected: u64, stored: Tally) -> Comparison {
    Comparison {
        expected,
        stored: stored.distinct.min(expected),
        lost: expected.saturating_sub(stored.distinct),
        duplicated: stored.duplicated,
        extra: stored.distinct.saturating_sub(expected),
    }
}

/// The next instant after `now` that lies half an interval from a scrape, given one scrape's
/// timestamp: when a counter can be read with no scrape in flight.
pub fn mid_phase(now: f64, scrape_at: f64, interval: f64) -> f64 {
    let since = (now - scrape_at).rem_euclid(interval);
    let half = interval / 2.0;
    if since < half {
        now + (half - since)
    } else {
        now + (interval - since) + half
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(labels: &[(&str, &str)], ts: &[i64]) -> Exported {
        Exported {
            metric: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamps: ts.to_vec(),
        }
    }

    #[test]
    fn tally_counts_inside_the_window_and_duplicates() {
        let e = [
            exported(&[("__name__", "a")], &[1000, 3000, 3000, 5000, 7000]),
            exported(&[("__name__", "up")], &[3000, 5000]),
            exported(&[("__name__", "b")], &[9000]),
        ];
        let t = tally(&e, 1000, 7000, |l| !is_scraper_series(&l["__name__"]));
        assert_eq!(
            t,
            Tally {
                distinct: 3,
                duplicated: 1,
                series: 1
            }
        );
    }

    #[test]
    fn witnessed_sums_segments_across_a_restart() {
        let s = [
            Segment {
                from: 9110.0,
                to: 18220.0,
            },
            Segment {
                from: 0.0,
                to: 2733.0,
            },
        ];
        assert_eq!(witnessed(&s), 9110 + 2733);
    }

    #[test]
    fn region_reports_loss_and_extra_from_counts() {
        let stored = Tally {
            distinct: 900,
            duplicated: 2,
            series: 10,
        };
        let c = region(911, stored);
        assert_eq!(
            (c.expected, c.stored, c.lost, c.duplicated, c.extra),
            (911, 900, 11, 2, 0)
        );
        assert_eq!(region(890, stored).extra, 10);
    }

    #[test]
    fn compare_finds_lost_extra_and_duplicated_samples() {
        let w = [exported(
            &[("__name__", "a"), ("job", "j")],
            &[1000, 2000, 3000],
        )];
        let s = [exported(
            &[("__name__", "a"), ("job", "j"), ("cluster", "c")],
            &[1000, 1000, 3000, 4000],
        )];
        let witness = from_export(&w, &["cluster"], 0, 4000);
        let store = from_export(&s, &["cluster"], 0, 4000);
        assert_eq!(
            compare(&witness, &store),
            Comparison {
                expected: 3,
                stored: 2,
                lost: 1,
                duplicated: 1,
                extra: 1
            }
        );
    }

    #[test]
    fn from_matrix_reads_prometheus_range_answers_in_milliseconds() {
        let body = r#"[{"metric":{"__name__":"a","cluster":"c"},"values":[[1.5,"1"],[3.5,"2"],[5.5,"3"]]}]"#;
        let m: Vec<RangeSeries> = serde_json::from_str(body).unwrap();
        let set = from_matrix(&m, &["cluster"], 1500, 5500);
        assert_eq!(
            set["__name__=\"a\""].keys().copied().collect::<Vec<_>>(),
            [3500, 5500]
        );
    }

    #[test]
    fn mid_phase_is_half_an_interval_from_the_scrapes() {
        // Scrapes at …0.3, 2.3, 4.3 s: mid-phase instants at 1.3, 3.3, …
        assert!((mid_phase(100.5, 0.3, 2.0) - 101.3).abs() < 1e-9);
        assert!((mid_phase(101.4, 0.3, 2.0) - 103.3).abs() < 1e-9);
        assert!((mid_phase(100.3, 0.3, 2.0) - 101.3).abs() < 1e-9);
    }
}
