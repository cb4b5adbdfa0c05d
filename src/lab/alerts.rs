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
}
