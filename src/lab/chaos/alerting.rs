//! The alerts a scenario must raise and clear, watched while it runs: when each first fired after
//! the fault, for which components or regions, and when it was raised nowhere again after the
//! restore.
//!
//! Read from both evaluators and Alertmanager ([`crate::lab::alerts::snapshot`]) every other
//! second. What was seen is reported, not promised: the rules' `for:` and windows (StaleRegion
//! needs a minute without samples) can be longer than a short run, and a report saying "did not
//! fire within the run" is the truthful answer then.

use serde::Serialize;

use crate::lab::alerts::{self, AlertRow, Wanted, RECEIVER_EVALUATOR, VMALERT_EVALUATOR};
use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;

/// Seconds between two reads of the alerts.
const EVERY_S: f64 = 2.0;

/// What was seen of one expected alert.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertSeen {
    pub alert: &'static str,
    /// Seconds from the fault until it fired (at an evaluator or Alertmanager); none when it did
    /// not within the run.
    pub fired_after_s: Option<f64>,
    /// The `component` or `region` labels of its firing instances, all seen during the run.
    pub fired_for: Vec<String>,
    /// Seconds from the restore until it was raised nowhere, once it had fired.
    pub resolved_after_s: Option<f64>,
    /// The first error reading the alerts, if any read failed.
    pub error: Option<String>,
}

impl AlertSeen {
    /// One line for the report's notes.
    pub fn note(&self) -> String {
        let fired = match self.fired_after_s {
            Some(s) => format!(
                "fired {s:.0}s after the fault ({})",
                self.fired_for.join(", ")
            ),
            None => "did not fire within the run".to_string(),
        };
        let resolved = match (self.fired_after_s, self.resolved_after_s) {
            (None, _) => String::new(),
            (Some(_), Some(s)) => format!(", resolved {s:.0}s after the restore"),
            (Some(_), None) => ", not resolved within the run".to_string(),
        };
        let error = self
            .error
            .as_deref()
            .map(|e| format!(" (reading alerts failed once: {e})"))
            .unwrap_or_default();
        format!("alert {}: {fired}{resolved}{error}", self.alert)
    }
}

/// The expected alerts, read every other second.
#[derive(Debug, Clone, Default)]
pub struct AlertWatch {
    pub seen: Vec<AlertSeen>,
    injected: f64,
    last: f64,
}

impl AlertWatch {
    /// Watches `names` from the fault at Unix time `injected`.
    pub fn new(names: &[&'static str], injected: f64) -> AlertWatch {
        AlertWatch {
            seen: names
                .iter()
                .map(|alert| AlertSeen {
                    alert,
                    ..AlertSeen::default()
                })
                .collect(),
            injected,
            last: f64::MIN,
        }
    }

    /// Whether every expected alert has fired and resolved.
    pub fn settled(&self) -> bool {
        self.seen
            .iter()
            .all(|s| s.fired_after_s.is_some() && s.resolved_after_s.is_some())
    }

    /// Whether no expected alert is still raised after firing: each either did not fire, or
    /// fired and resolved.
    pub fn cleared(&self) -> bool {
        self.seen
            .iter()
            .all(|s| s.fired_after_s.is_none() || s.resolved_after_s.is_some())
    }

    /// Reads the alerts at Unix time `now` (at most every [`EVERY_S`]).
    pub fn poll(&mut self, e: &Endpoints, client: &Client, now: f64, restored: Option<f64>) {
        if self.seen.is_empty() || now - self.last < EVERY_S {
            return;
        }
        self.last = now;
        let evaluators = [
            (VMALERT_EVALUATOR, &e.vmalert),
            (RECEIVER_EVALUATOR, &e.receiver),
        ];
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        match alerts::snapshot(client, &evaluators, &e.alertmanager, &stamp) {
            Ok(rows) => self.update(&rows, now, restored),
            Err(err) => {
                for s in &mut self.seen {
                    s.error.get_or_insert_with(|| format!("{err:#}"));
                }
            }
        }
    }

    /// Records first firing and, after the restore, first resolution.
    fn update(&mut self, rows: &[AlertRow], now: f64, restored: Option<f64>) {
        for s in &mut self.seen {
            if s.fired_after_s.is_none() && alerts::reached(rows, s.alert, Wanted::Firing, None) {
                s.fired_after_s = Some((now - self.injected).max(0.0));
            }
            s.fired_for.extend(firing_for(rows, s.alert));
            s.fired_for.sort();
            s.fired_for.dedup();
            if let (Some(r), Some(_), None) = (restored, s.fired_after_s, s.resolved_after_s) {
                if alerts::reached(rows, s.alert, Wanted::Resolved, None) {
                    s.resolved_after_s = Some((now - r).max(0.0));
                }
            }
        }
    }
}

/// The `component` (or `region`) of each firing instance of `name`, without repeats.
fn firing_for(rows: &[AlertRow], name: &str) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter(|r| r.name == name && r.firing())
        .filter_map(|r| {
            r.labels
                .get("component")
                .or(r.labels.get("region"))
                .cloned()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: &str, component: &str) -> AlertRow {
        AlertRow {
            source: "prometheus-receiver".into(),
            name: name.into(),
            state: state.into(),
            since: String::new(),
            labels: [("component".to_string(), component.to_string())].into(),
        }
    }

    #[test]
    fn update_records_firing_then_resolution_after_the_restore() {
        let mut w = AlertWatch::new(&["RemoteWriteFailingVmagent"], 100.0);
        w.update(
            &[row(
                "RemoteWriteFailingVmagent",
                "pending",
                "vmagent-us-east-1",
            )],
            110.0,
            None,
        );
        assert_eq!(w.seen[0].fired_after_s, None);
        let firing = [
            row("RemoteWriteFailingVmagent", "firing", "vmagent-us-east-1"),
            row(
                "RemoteWriteFailingVmagent",
                "firing",
                "vmagent-ap-southeast-1",
            ),
        ];
        w.update(&firing[..1], 125.0, None);
        w.update(&firing, 127.0, None);
        // Gone before the restore is not a resolution.
        w.update(&[], 128.0, None);
        w.update(&firing, 131.0, Some(130.0));
        assert!(!w.settled());
        w.update(&[], 190.0, Some(130.0));
        let s = &w.seen[0];
        assert_eq!(s.fired_after_s, Some(25.0));
        assert_eq!(s.fired_for, ["vmagent-ap-southeast-1", "vmagent-us-east-1"]);
        assert_eq!(s.resolved_after_s, Some(60.0));
        assert!(w.settled());
        assert!(w.cleared());
        assert_eq!(
            s.note(),
            "alert RemoteWriteFailingVmagent: fired 25s after the fault (vmagent-ap-southeast-1, vmagent-us-east-1), resolved 60s after the restore"
        );
    }

    #[test]
    fn note_says_when_an_alert_did_not_fire() {
        let w = AlertWatch::new(&["StaleRegion"], 0.0);
        assert_eq!(
            w.seen[0].note(),
            "alert StaleRegion: did not fire within the run"
        );
    }
}
