//! remote-write-lab: a native lab for Prometheus remote write into a VictoriaMetrics cluster.
//!
//! Two binaries sit on this library:
//!
//! - `mock-exporter` serves realistic, deterministic metrics. Everything it needs lives in
//!   [`exporter`]: catalogue, fleet simulation, text format, reference, HTTP server. It knows
//!   nothing of the lab.
//! - `labctl` renders, runs and checks the lab: [`topology`], [`render`], [`supervise`],
//!   [`verify`], [`query`], [`compare`], [`dashboards`], with a file per subcommand in [`cli`].
//!
//! [`scrape`] (text page to series) is shared: the lab's checks and the exporter's tests read
//! pages with it.
//!
//! Each module opens with what it owns.

pub mod cli;
pub mod compare;
pub mod dashboards;
pub mod exporter;
pub mod query;
pub mod render;
pub mod scrape;
pub mod supervise;
pub mod topology;
pub mod verify;
