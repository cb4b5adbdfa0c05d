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
    #[serde(default)]
    pub alerts: Vec<EvaluatorAlert>,
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
        .alerts)
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
