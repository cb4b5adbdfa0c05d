//! The web UIs a running lab actually offers, found by asking each server, not assumed.
//!
//! Which UI a server has depends on its version and on how it was packaged: Debian's
//! victoria-metrics 1.79 ships no vmui (404 at `/vmui/`); Prometheus 2.x serves its React UI at
//! `/graph` (Debian's 2.42 leaves it out and redirects to `/classic/graph`), 3.x at `/query`.
//! [`discover`] asks each candidate path once, without following redirects, and keeps the first
//! that answers 200; [`first_present`] is that rule, pure. When Grafana is not part of the lab,
//! [`grafana_hint`] says how to get it on this system.

use std::path::Path;
use std::time::Duration;

use crate::lab::endpoints::BasicAuth;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

/// Where Prometheus' UI may be, newest layout first: 3.x, 2.x's React UI, 2.x's classic UI.
pub const PROMETHEUS_UI_PATHS: [&str; 3] = ["/query", "/graph", "/classic/graph"];

/// One UI of the lab: where it is, or why it is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ui {
    pub name: &'static str,
    /// The URL that opens it, when the server has it.
    pub url: Option<String>,
    /// Credentials, what it shows, or how to get it when missing.
    pub note: String,
}

/// The first candidate path for which `present` holds.
pub fn first_present<'a>(
    candidates: &[&'a str],
    present: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    candidates.iter().copied().find(|p| present(p))
}

/// Asks URLs whether they answer 200, without following redirects.
struct Probe {
    agent: ureq::Agent,
}

impl Probe {
    fn new() -> Probe {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Probe { agent }
    }

    fn ok(&self, url: &str, auth: Option<&BasicAuth>) -> bool {
        let mut req = self.agent.get(url);
        if let Some(a) = auth {
            req = req.header("Authorization", a.header());
        }
        req.call().is_ok_and(|r| r.status() == 200)
    }
}

/// The lab's UIs: Grafana (when it runs), VictoriaMetrics' vmui, the two Prometheus servers.
pub fn discover(t: &Topology, storage: Storage, grafana: bool) -> Vec<Ui> {
    let probe = Probe::new();
    let auth = BasicAuth {
        user: t.vmauth.username.clone(),
        password: t.vmauth.password.clone(),
    };
    let mut out = vec![if grafana {
        Ui {
            name: "Grafana",
            url: Some(t.http_url(t.grafana.port, "/dashboards")),
            note: "dashboards without login; admin / admin to edit".into(),
        }
    } else {
        Ui {
            name: "Grafana",
            url: None,
            note: grafana_hint(Path::new("/etc/debian_version").exists()),
        }
    }];
    let vmui = match storage {
        Storage::Cluster => t.http_url(t.vmauth.port, &format!("/select/{}/vmui/", t.tenant)),
        Storage::Single => t.http_url(t.single.port, "/vmui/"),
    };
    out.push(if probe.ok(&vmui, Some(&auth)) {
        Ui {
            name: "vmui",
            url: Some(vmui),
            note: format!(
                "VictoriaMetrics' query UI (user {} / {})",
                auth.user, auth.password
            ),
        }
    } else {
        Ui {
            name: "vmui",
            url: None,
            note: format!(
                "this VictoriaMetrics has no vmui ({vmui} is not there; Debian's package ships \
                 none): look with `labctl top` or the Prometheus UIs below; `nix run` has vmui"
            ),
        }
    });
    for (name, port) in [
        ("Prometheus writer", t.prometheus.writer.port),
        ("Prometheus receiver", t.prometheus.receiver.port),
    ] {
        let base = t.http_url(port, "");
        let path = first_present(&PROMETHEUS_UI_PATHS, |p| {
            probe.ok(&format!("{base}{p}"), None)
        });
        out.push(Ui {
            name,
            url: Some(format!("{base}{}", path.unwrap_or("/"))),
            note: match path {
                Some(_) => "Prometheus' own UI".into(),
                None => "no query UI found at /query, /graph or /classic/graph".into(),
            },
        });
    }
    out
}

/// How to get Grafana on this system: Grafana's APT repository on Debian and Ubuntu, else Nix.
pub fn grafana_hint(debian: bool) -> String {
    if debian {
        "not installed (no Debian repository has it): `./lab up --with-grafana` adds Grafana's \
         own APT repository (apt.grafana.com, with its signing key) and installs it; or `nix run`"
            .into()
    } else {
        "not installed: install it from grafana.com (then `grafana` on PATH, or GRAFANA_HOME), \
         or `nix run`"
            .into()
    }
}

/// The UIs as lines for `labctl up`'s summary.
pub fn lines(uis: &[Ui]) -> String {
    let mut s = String::new();
    for ui in uis {
        match &ui.url {
            Some(url) => s += &format!("  {:<21} {url}  ({})\n", ui.name, ui.note),
            None => s += &format!("  {:<21} {}\n", ui.name, ui.note),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_present_prefers_the_newest_prometheus_ui() {
        // Prometheus 3.x.
        assert_eq!(
            first_present(&PROMETHEUS_UI_PATHS, |p| p == "/query" || p == "/graph"),
            Some("/query")
        );
        // Debian's 2.42: /graph redirects (not 200) to /classic/graph.
        assert_eq!(
            first_present(&PROMETHEUS_UI_PATHS, |p| p == "/classic/graph"),
            Some("/classic/graph")
        );
        assert_eq!(first_present(&PROMETHEUS_UI_PATHS, |_| false), None);
    }

    #[test]
    fn grafana_hint_names_the_way_for_this_system() {
        assert!(grafana_hint(true).contains("apt.grafana.com"));
        assert!(grafana_hint(true).contains("nix run"));
        assert!(!grafana_hint(false).contains("apt"));
    }

    #[test]
    fn lines_show_the_url_or_why_there_is_none() {
        let uis = [
            Ui {
                name: "vmui",
                url: None,
                note: "absent".into(),
            },
            Ui {
                name: "Prometheus writer",
                url: Some("http://127.0.0.1:9092/classic/graph".into()),
                note: "Prometheus' own UI".into(),
            },
        ];
        assert_eq!(
            lines(&uis),
            "  vmui                  absent\n  Prometheus writer     http://127.0.0.1:9092/classic/graph  (Prometheus' own UI)\n"
        );
    }
}
