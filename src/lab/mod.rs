//! The lab: `labctl`, which runs Prometheus remote write into VictoriaMetrics natively and proves
//! it end to end. It reads the exporter only over HTTP, like any scraper.
//!
//! - [`topology`]: `lab.toml` read into typed, validated values; every address built there.
//! - [`victoria`]: VictoriaMetrics' URL layout (insert, select paths per tenant; single, cluster).
//! - [`render`]: topology → each component's command line and config files (pure, byte-stable).
//! - [`supervise`]: spawn, readiness, restart, stop; the state file of a running lab and the
//!   supervisor's inbox of requests.
//! - [`chaos`]: a fault under load, counted exactly per write path.
//! - [`control`]: stop, start, pause, kill one component, natively or through systemd.
//! - [`endpoints`]: where a running lab answers: one HTTP endpoint type with optional basic auth.
//! - [`query`]: the Prometheus HTTP API client and its typed answers.
//! - [`backfill`]: the pages the vmagents would have scraped before the lab started, written
//!   into VictoriaMetrics so that long windows have history.
//! - [`alerts`]: the alerting APIs: rules each evaluator loaded, alerts each holds, what
//!   Alertmanager received.
//! - [`explain`]: a selector walked hop by hop along the lab's path, to where it is lost and why.
//! - [`verify`]: the numbered end-to-end checks; [`dashboards`] and [`compare`]: the Grafana
//!   panels and the two stores, against a live lab.
//! - [`top`]: `labctl top`'s views: dashboard panels at one instant, drawn with ratatui.
//! - [`uis`]: the web UIs a running lab actually has, found by asking each server.
//! - [`cli`]: `labctl` itself, a file per subcommand. It lives here, not beside the library's
//!   top, because it is the lab's front end only (the exporter's is `src/bin/mock-exporter.rs`).

pub mod alerts;
pub mod backfill;
pub mod chaos;
pub mod cli;
pub mod compare;
pub mod control;
pub mod dashboards;
pub mod endpoints;
pub mod explain;
pub mod load;
pub mod procstat;
pub mod query;
pub mod render;
pub mod supervise;
pub mod top;
pub mod topology;
pub mod uis;
pub mod verify;
pub mod victoria;
