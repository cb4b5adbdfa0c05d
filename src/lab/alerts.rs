//! The lab's alerting as its APIs show it: the rule groups each evaluator loaded (vmalert's and
//! Prometheus' `/api/v1/rules`), the alerts each evaluator holds (`/api/v1/alerts`, pending or
//! firing), and what Alertmanager received (`/api/v2/alerts`).
//!
//! Typed answers read through [`Client`], so `verify` and `labctl alerts` work over HTTP only
//! and their tests answer from recorded bodies. Which evaluator raised an alert is its
//! [`EVALUATOR_LABEL`], which the lab adds per evaluator ([`crate::lab::render`]).

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::lab::endpoints::Endpoint;
use crate::lab::query::{Client, Labels};
pub use crate::lab::render::{EVALUATOR_LABEL, RECEIVER_EVALUATOR, VMALERT_EVALUATOR};

/// `data` of `/api/v1/rules` (Prometheus and vmalert share the shape).
#[derive(Debug, Clone, Deserialize)]
pub struct RuleGroups {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<RuleState>,
}

/// One loaded rule and its last evaluation.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleState {
    pub name: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `ok`, `err` or `unknown` (Prometheus; vmalert from v1.80 on).
    #[serde(default)]
    pub health: String,
    #[serde(rename = "lastError", default)]
    pub last_error: String,
}

impl RuleState {
    /// Whether its last evaluation failed.
    pub fn failed(&self) -> bool {
        !self.last_error.is_empty() || self.health == "err"
    }
}

/// What an evaluator loaded: rule count and the failing rules with their errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Loaded {
    pub groups: usize,
    pub rules: usize,
    pub errors: Vec<(String, String)>,
}

impl RuleGroups {
    pub fn summary(&self) -> Loaded {
        let rules = self.groups.iter().flat_map(|g| &g.rules);
        Loaded {
            groups: self.groups.len(),
            rules: rules.clone().count(),
            errors: rules
                .filter(|r| r.failed())
                .map(|r| (r.name.clone(), r.last_error.clone()))
                .collect(),
        }
    }
}

/// An evaluator's rule groups (`/api/v1/rules`).
pub fn rule_groups(client: &Client, e: &Endpoint) -> anyhow::Result<RuleGroups> {
    client.api(e, "/api/v1/rules", &[])
}

/// `data` of an evaluator's `/api/v1/alerts`.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluatorAlerts {
    /// vmalert answers `null` when it holds none.
    #[serde(default)]
    pub alerts: Option<Vec<EvaluatorAlert>>,
}

/// An alert an evaluator holds: `pending` (its `for` has not passed) or `firing`.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluatorAlert {
    #[serde(default)]
    pub labels: Labels,
    pub state: String,
    #[serde(rename = "activeAt", default)]
    pub active_at: Option<String>,
}

/// The alerts an evaluator holds (`/api/v1/alerts`).
pub fn evaluator_alerts(client: &Client, e: &Endpoint) -> anyhow::Result<Vec<EvaluatorAlert>> {
    Ok(client
        .api::<EvaluatorAlerts>(e, "/api/v1/alerts", &[])?
        .alerts
        .unwrap_or_default())
}

/// An alert as Alertmanager holds it (`/api/v2/alerts`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedAlert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(rename = "startsAt", default)]
    pub starts_at: String,
    #[serde(rename = "endsAt", default)]
    pub ends_at: String,
    pub status: ReceivedStatus,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
}

/// The alerts Alertmanager holds (`/api/v2/alerts`: active ones and those it has not yet let
/// expire).
pub fn received_alerts(client: &Client, e: &Endpoint) -> anyhow::Result<Vec<ReceivedAlert>> {
    let body = client.text(e, "/api/v2/alerts")?;
    serde_json::from_str(&body).with_context(|| {
        let head: String = body.chars().take(200).collect();
        format!(
            "{}: not an Alertmanager alert list: {head}",
            e.join("/api/v2/alerts")
        )
    })
}

/// How many alerts named `name` Alertmanager holds from each evaluator.
pub fn received_by_evaluator(alerts: &[ReceivedAlert], name: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in alerts {
        if a.labels.get("alertname").map(String::as_str) == Some(name) {
            let who = a.labels.get(EVALUATOR_LABEL).cloned().unwrap_or_default();
            *out.entry(who).or_insert(0) += 1;
        }
    }
    out
}

/// One alert as `labctl alerts` shows it, from one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    /// `vmalert`, `prometheus-receiver` or `alertmanager`.
    pub source: String,
    pub name: String,
    /// Evaluators: `pending` or `firing`; Alertmanager: `active`, `suppressed`, `unprocessed`,
    /// or `resolved` when its end lies in the past.
    pub state: String,
    /// Since when: `activeAt` (evaluators) or `startsAt` (Alertmanager).
    pub since: String,
    pub labels: Labels,
}

impl AlertRow {
    /// Whether it counts as firing: firing at an evaluator, active at Alertmanager.
    pub fn firing(&self) -> bool {
        matches!(self.state.as_str(), "firing" | "active" | "suppressed")
    }

    /// Whether it is still raised anywhere: pending, firing or active.
    pub fn raised(&self) -> bool {
        self.firing() || matches!(self.state.as_str(), "pending" | "unprocessed")
    }
}

fn labels_without_name(mut l: Labels) -> (String, Labels) {
    let name = l.remove("alertname").unwrap_or_default();
    (name, l)
}

/// Every alert of the lab: each evaluator's, then Alertmanager's; a source that cannot be read
/// is an error naming it. `now` is an RFC 3339 instant (Alertmanager's clock format) to tell
/// resolved alerts from active ones.
pub fn snapshot(
    client: &Client,
    evaluators: &[(&str, &Endpoint)],
    alertmanager: &Endpoint,
    now: &str,
) -> anyhow::Result<Vec<AlertRow>> {
    let mut rows = Vec::new();
    for (who, at) in evaluators {
        for a in evaluator_alerts(client, at).with_context(|| format!("{who}'s alerts"))? {
            let (name, labels) = labels_without_name(a.labels);
            rows.push(AlertRow {
                source: who.to_string(),
                name,
                state: a.state,
                since: a.active_at.unwrap_or_default(),
                labels,
            });
        }
    }
    for a in received_alerts(client, alertmanager).context("Alertmanager's alerts")? {
        let (name, labels) = labels_without_name(a.labels);
        // RFC 3339 instants in UTC with the same layout compare as text.
        let ended = !a.ends_at.is_empty() && a.ends_at.as_str() < now;
        rows.push(AlertRow {
            source: "alertmanager".into(),
            name,
            state: if ended {
                "resolved".into()
            } else {
                a.status.state
            },
            since: a.starts_at,
            labels,
        });
    }
    Ok(rows)
}

/// The state `labctl alerts wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wanted {
    /// Firing at an evaluator or active at Alertmanager.
    Firing,
    /// Raised nowhere: neither pending, firing nor active.
    Resolved,
}

impl Wanted {
    pub fn as_str(self) -> &'static str {
        match self {
            Wanted::Firing => "firing",
            Wanted::Resolved => "resolved",
        }
    }
}

/// Whether alert `name` is in state `wanted` in `rows` (restricted to those whose
/// [`EVALUATOR_LABEL`] or source is `evaluator`, when given).
pub fn reached(rows: &[AlertRow], name: &str, wanted: Wanted, evaluator: Option<&str>) -> bool {
    let mut mine = rows.iter().filter(|r| r.name == name).filter(|r| {
        evaluator.is_none_or(|e| {
            r.source == e || r.labels.get(EVALUATOR_LABEL).map(String::as_str) == Some(e)
        })
    });
    match wanted {
        Wanted::Firing => mine.any(AlertRow::firing),
        Wanted::Resolved => !mine.any(AlertRow::raised),
    }
}

/// Labels one evaluator adds and the other does not: vmalert's rule group and each
/// evaluator's own label. An alert is the same alert at both evaluators without them.
const EVALUATOR_ONLY_LABELS: [&str; 2] = ["alertgroup", EVALUATOR_LABEL];

/// One alert as each evaluator holds it: its state and since when it is active there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    pub state: String,
    pub since: String,
}

/// One alert side by side: vmalert's and the receiver's view of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sided {
    pub name: String,
    /// Without [`EVALUATOR_ONLY_LABELS`].
    pub labels: Labels,
    pub vmalert: Option<Held>,
    pub receiver: Option<Held>,
    /// The receiver's `activeAt` less vmalert's, in seconds, when both hold it.
    pub receiver_minus_vmalert_seconds: Option<f64>,
}

/// The evaluators' rows of `rows` paired by alert name and labels: which alerts each evaluator
/// holds, and how far apart they became active. Alertmanager's rows are left out.
pub fn side_by_side(rows: &[AlertRow]) -> Vec<Sided> {
    let mut paired: BTreeMap<(String, Vec<(String, String)>), Sided> = BTreeMap::new();
    for r in rows {
        let side = match r.source.as_str() {
            VMALERT_EVALUATOR | RECEIVER_EVALUATOR => r.source.as_str(),
            _ => continue,
        };
        let mut labels = r.labels.clone();
        labels.retain(|k, _| !EVALUATOR_ONLY_LABELS.contains(&k.as_str()));
        let key = (r.name.clone(), labels.clone().into_iter().collect());
        let entry = paired.entry(key).or_insert_with(|| Sided {
            name: r.name.clone(),
            labels,
            vmalert: None,
            receiver: None,
            receiver_minus_vmalert_seconds: None,
        });
        let held = Some(Held {
            state: r.state.clone(),
            since: r.since.clone(),
        });
        if side == VMALERT_EVALUATOR {
            entry.vmalert = held;
        } else {
            entry.receiver = held;
        }
    }
    let mut out: Vec<Sided> = paired.into_values().collect();
    for s in &mut out {
        if let (Some(v), Some(r)) = (&s.vmalert, &s.receiver) {
            s.receiver_minus_vmalert_seconds = match (unix(&v.since), unix(&r.since)) {
                (Some(v), Some(r)) => Some(r - v),
                _ => None,
            };
        }
    }
    // Alerts both hold first.
    out.sort_by_key(|s| s.receiver_minus_vmalert_seconds.is_none());
    out
}

/// An RFC 3339 instant in Unix seconds: `Z` or a numeric offset (`+07:00`), which Go writes
/// for a server whose zone is not UTC.
fn unix(rfc3339: &str) -> Option<f64> {
    let utc = |t: &str| {
        humantime::parse_rfc3339(t)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    };
    if rfc3339.ends_with('Z') {
        return utc(rfc3339);
    }
    let (base, offset) = rfc3339.split_at(rfc3339.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let offset = sign * (h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0);
    Some(utc(&format!("{base}Z"))? - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, name: &str, state: &str, evaluator: &str) -> AlertRow {
        AlertRow {
            source: source.into(),
            name: name.into(),
            state: state.into(),
            since: String::new(),
            labels: [(EVALUATOR_LABEL.to_string(), evaluator.to_string())].into(),
        }
    }

    #[test]
    fn reached_firing_needs_a_firing_or_active_alert_of_that_name() {
        let rows = [
            row("vmalert", "StaleRegion", "pending", "vmalert"),
            row(
                "alertmanager",
                "TargetDown",
                "active",
                "prometheus-receiver",
            ),
        ];
        assert!(!reached(&rows, "StaleRegion", Wanted::Firing, None));
        assert!(reached(&rows, "TargetDown", Wanted::Firing, None));
        assert!(reached(
            &rows,
            "TargetDown",
            Wanted::Firing,
            Some("prometheus-receiver")
        ));
        assert!(!reached(
            &rows,
            "TargetDown",
            Wanted::Firing,
            Some("vmalert")
        ));
    }

    #[test]
    fn evaluator_alerts_reads_null_as_none() {
        let a: EvaluatorAlerts = serde_json::from_str(r#"{"alerts": null}"#).unwrap();
        assert!(a.alerts.unwrap_or_default().is_empty());
    }

    #[test]
    fn reached_resolved_needs_the_alert_raised_nowhere() {
        let rows = [
            row("vmalert", "StaleRegion", "pending", "vmalert"),
            row(
                "alertmanager",
                "TargetDown",
                "resolved",
                "prometheus-receiver",
            ),
        ];
        assert!(!reached(&rows, "StaleRegion", Wanted::Resolved, None));
        assert!(reached(&rows, "TargetDown", Wanted::Resolved, None));
        assert!(reached(&rows, "Absent", Wanted::Resolved, None));
    }

    #[test]
    fn side_by_side_pairs_an_alert_across_evaluators_without_their_own_labels() {
        let row = |source: &str, name: &str, since: &str, extra: &[(&str, &str)]| AlertRow {
            source: source.into(),
            name: name.into(),
            state: "firing".into(),
            since: since.into(),
            labels: [("service", "auth"), ("cluster", "staging-cluster")]
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let rows = [
            row(
                "vmalert",
                "HTTPErrorBudgetFastBurn",
                "2026-12-06T15:40:21.250Z",
                &[("alertgroup", "slo-alerts"), ("evaluator", "vmalert")],
            ),
            row(
                "prometheus-receiver",
                "HTTPErrorBudgetFastBurn",
                "2026-12-06T15:40:24.750000001Z",
                &[],
            ),
            row(
                "vmalert",
                "HTTPErrorBudgetFastBurn",
                "2026-12-06T15:40:20Z",
                &[("region", "eu-west-1"), ("evaluator", "vmalert")],
            ),
            row(
                "alertmanager",
                "HTTPErrorBudgetFastBurn",
                "2026-12-06T15:40:22Z",
                &[],
            ),
        ];
        let s = side_by_side(&rows);
        assert_eq!(s.len(), 2, "{s:#?}");
        let both = &s[0];
        assert!(both.vmalert.is_some() && both.receiver.is_some());
        assert!(!both.labels.contains_key("evaluator") && !both.labels.contains_key("alertgroup"));
        let lag = both.receiver_minus_vmalert_seconds.unwrap();
        assert!((lag - 3.5).abs() < 1e-6, "{lag}");
        assert!(s[1].receiver.is_none() && s[1].receiver_minus_vmalert_seconds.is_none());
    }

    #[test]
    fn unix_reads_utc_and_numeric_offsets() {
        let z = unix("2026-12-06T15:40:21.25Z").unwrap();
        assert_eq!(unix("2026-12-06T22:40:21.25+07:00"), Some(z));
        assert_eq!(unix("2026-12-06T12:10:21.25-03:30"), Some(z));
        assert_eq!(unix("2026-12-06T15:40:21.25"), None);
        assert_eq!(unix(""), None);
    }
}
