//! The series selector `labctl explain` follows: parsed with the `promql-parser` crate (the
//! PromQL grammar of Prometheus 2.45), never by hand, and matched against label sets the way
//! Prometheus matches them (a missing label counts as the empty value; regexes are anchored).
//!
//! Only plain selectors are taken (`name{label="value",…}`): a function or an operator is not
//! one series set that travels the lab's path, so it is refused with a short reason.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};

use crate::lab::query::Labels;

/// Why a selector was refused (bad input: `labctl explain` exits 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("cannot parse selector {text:?}: {reason}")]
    Parse { text: String, reason: String },
    #[error("{text:?} is not a series selector (try `name{{label=\"value\"}}`, without functions or operators)")]
    NotASelector { text: String },
    #[error("{text:?}: `or` inside braces is not supported; explain each alternative on its own")]
    Alternatives { text: String },
}

/// A parsed series selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The metric name, when the selector fixes one (`name{…}` or `{__name__="name"}`).
    pub name: Option<String>,
    /// Every matcher on a label other than `__name__`.
    pub matchers: Vec<Matcher>,
    /// The selector as PromQL, as the parser prints it.
    pub text: String,
    name_matcher: Option<Matcher>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let expr = parser::parse(text).map_err(|reason| SelectorError::Parse {
            text: text.into(),
            reason,
        })?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(SelectorError::NotASelector { text: text.into() });
        };
        if !vs.matchers.or_matchers.is_empty() {
            return Err(SelectorError::Alternatives { text: text.into() });
        }
        let (names, matchers): (Vec<Matcher>, Vec<Matcher>) = vs
            .matchers
            .matchers
            .iter()
            .cloned()
            .partition(|m| m.name == "__name__");
        let name_matcher = names.into_iter().next();
        let name = vs.name.clone().or_else(|| {
            name_matcher
                .as_ref()
                .filter(|m| m.op == MatchOp::Equal)
                .map(|m| m.value.clone())
        });
        Ok(Selector {
            name,
            matchers,
            text: vs.to_string(),
            name_matcher,
        })
    }

    /// Whether a metric name is selected.
    pub fn name_matches(&self, name: &str) -> bool {
        match (&self.name, &self.name_matcher) {
            (_, Some(m)) => m.is_match(name),
            (Some(n), None) => n == name,
            (None, None) => true,
        }
    }

    /// The label matchers `labels` fails (`__name__` aside).
    pub fn failing(&self, labels: &Labels) -> Vec<&Matcher> {
        self.matchers
            .iter()
            .filter(|m| !m.is_match(labels.get(&m.name).map_or("", String::as_str)))
            .collect()
    }

    /// Whether a series (name and labels) is selected.
    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        self.name_matches(name) && self.failing(labels).is_empty()
    }

    /// The matchers on `names` only.
    pub fn on<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a Matcher> {
        self.matchers
            .iter()
            .filter(move |m| names.contains(&m.name.as_str()))
    }
}

/// A matcher as PromQL text: `job="exporter"`.
pub fn show(m: &Matcher) -> String {
    m.to_string()
}

/// Up to three of `candidates` closest to `name` (edit distance, then shared prefix), for
/// "did you mean" suggestions.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    let best = scored.first().map_or(0, |s| s.0);
    let limit = (name.len() / 3).max(2).min(best + 1);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, c)| c)
        .collect()
}

/// Levenshtein distance over bytes.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_reads_name_and_matchers() {
        let s = Selector::parse(r#"http_requests_total{region="eu-west-1",code=~"5.."}"#).unwrap();
        assert_eq!(s.name.as_deref(), Some("http_requests_total"));
        assert_eq!(s.matchers.len(), 2);
        let l = labels(&[("region", "eu-west-1"), ("code", "503")]);
        assert!(s.matches("http_requests_total", &l));
        let l = labels(&[("region", "eu-west-1"), ("code", "200")]);
        assert_eq!(
            s.failing(&l).iter().map(|m| show(m)).collect::<Vec<_>>(),
            ["code=~\"5..\""]
        );
    }

    #[test]
    fn parse_takes_a_name_matcher_and_empty_values() {
        let s = Selector::parse(r#"{__name__="up",device_error=""}"#).unwrap();
        assert_eq!(s.name.as_deref(), Some("up"));
        assert!(s.matches("up", &Labels::new()));
        assert!(!s.matches("down", &Labels::new()));
        let r = Selector::parse(r#"{__name__=~"node_.*",job!=""}"#).unwrap();
        assert_eq!(r.name, None);
        assert!(r.name_matches("node_load1") && !r.name_matches("up"));
    }

    #[test]
    fn parse_refuses_what_is_not_a_selector() {
        assert!(matches!(
            Selector::parse("rate(x[5m])"),
            Err(SelectorError::NotASelector { .. })
        ));
        let e = Selector::parse("http_requests_total{region=").unwrap_err();
        assert!(matches!(e, SelectorError::Parse { .. }), "{e}");
        assert!(e.to_string().starts_with("cannot parse selector"), "{e}");
    }

    #[test]
    fn closest_suggests_near_names_only() {
        let names = [
            "http_requests_total",
            "http_request_size_bytes",
            "app_queue_size",
        ];
        assert_eq!(
            closest("http_request_total", names),
            ["http_requests_total"]
        );
        assert_eq!(
            closest("eu-west", ["us-east-1", "eu-west-1"]),
            ["eu-west-1"]
        );
        assert!(closest("zzz", names).is_empty());
    }
}
