//! How long a sample takes from its scrape to being readable, per write path: the budgets behind
//! check 3's freshness limit and check 6's "safely in the past" instant.
//!
//! A limit of "two scrape intervals" flaps on the cluster: before anyone can read it, a sample
//! waits for the next vmagent flush, for vminsert's buffer to go out to vmstorage, and for
//! vmstorage to turn its in-memory rows into a searchable part. Each [`Term`] below is one of
//! those delays, fixed by a flag the lab itself sets ([`render`]) or by VictoriaMetrics' code
//! (named beside each constant); the margin covers scheduling on a loaded machine. The budget is
//! printed with the check's evidence, so a failure says what it was measured against.
//!
//! `-search.latencyOffset` is not a term: check 3 reads raw samples through `/api/v1/export`,
//! which answers "did it arrive", and the offset only hides samples from `/api/v1/query` ("is it
//! visible", which `labctl explain` answers).

use std::fmt;
use std::time::Duration;

use crate::lab::render;
use crate::lab::victoria::Storage;

/// vminsert packs rows per vmstorage and sends them every 200 ms plus up to 10 % jitter
/// (VictoriaMetrics `app/vminsert/netstorage/netstorage.go`, `timeutil.AddJitterToDuration`).
pub const VMINSERT_BUFFER: Duration = Duration::from_millis(220);

/// vmstorage makes buffered rows searchable every 2 s (`pendingRowsFlushInterval`,
/// `lib/storage/raw_row.go` in v1.150; 1 s in 1.79): the single node and vmstorage alike.
pub const STORAGE_FLUSH: Duration = Duration::from_secs(2);

/// Scheduling, scrape duration and HTTP round trips on a busy two-core machine.
pub const MARGIN: Duration = Duration::from_secs(2);

/// One delay on a path, and what causes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub what: &'static str,
    pub delay: Duration,
}

/// The delays of one write path, summed into a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    terms: Vec<Term>,
}

impl Budget {
    /// How old the newest raw sample of a region may be: a scrape interval until the next
    /// scrape, then vmagent's flush and the storage path.
    pub fn region_freshness(storage: Storage, scrape_interval: Duration) -> Budget {
        let mut terms = vec![
            term("scrape", scrape_interval),
            term("vmagent flush", render::VMAGENT_FLUSH_INTERVAL),
        ];
        terms.extend(storage_path(storage));
        Budget { terms }
    }

    /// How long after its timestamp a writer's sample is in both stores: the writer's batch
    /// deadline, then the storage path (the receiver appends on arrival).
    pub fn writer_arrival(storage: Storage) -> Budget {
        let mut terms = vec![term("writer batch", render::WRITER_BATCH_SEND_DEADLINE)];
        terms.extend(storage_path(storage));
        Budget { terms }
    }

    /// The sum of every term.
    pub fn total(&self) -> Duration {
        self.terms.iter().map(|t| t.delay).sum()
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }
}

fn term(what: &'static str, delay: Duration) -> Term {
    Term { what, delay }
}

/// From the sender's request to a searchable sample, plus the margin.
fn storage_path(storage: Storage) -> Vec<Term> {
    let mut terms = Vec::new();
    if storage == Storage::Cluster {
        terms.push(term("vminsert buffer", VMINSERT_BUFFER));
    }
    terms.push(term("storage flush", STORAGE_FLUSH));
    terms.push(term("margin", MARGIN));
    terms
}

impl fmt::Display for Budget {
    /// `7.2s = 2s scrape + 1s vmagent flush + 0.22s vminsert buffer + 2s storage flush + 2s margin`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| format!("{} {}", seconds(t.delay), t.what))
            .collect();
        write!(f, "{} = {}", seconds(self.total()), parts.join(" + "))
    }
}

/// `2s`, `0.22s`, `7.2s`: seconds without trailing zeros.
pub fn seconds(d: Duration) -> String {
    let s = format!("{:.2}", d.as_secs_f64());
    format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_freshness_adds_the_cluster_hop() {
        let fast = Duration::from_secs(2);
        let cluster = Budget::region_freshness(Storage::Cluster, fast);
        assert_eq!(
            cluster.to_string(),
            "7.22s = 2s scrape + 1s vmagent flush + 0.22s vminsert buffer + 2s storage flush + 2s margin"
        );
        let single = Budget::region_freshness(Storage::Single, fast);
        assert_eq!(
            single.to_string(),
            "7s = 2s scrape + 1s vmagent flush + 2s storage flush + 2s margin"
        );
        assert_eq!(
            Budget::region_freshness(Storage::Single, Duration::from_secs(15)).total(),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn writer_arrival_starts_at_the_batch_deadline() {
        assert_eq!(
            Budget::writer_arrival(Storage::Single).to_string(),
            "5s = 1s writer batch + 2s storage flush + 2s margin"
        );
    }

    #[test]
    fn seconds_drops_trailing_zeros() {
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_secs(20)), "20s");
        assert_eq!(seconds(Duration::from_millis(220)), "0.22s");
    }
}
