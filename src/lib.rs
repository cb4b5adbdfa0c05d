//! remote-write-lab: a native lab for Prometheus remote write into a VictoriaMetrics cluster.
//!
//! Two binaries sit on this library:
//!
//! - `mock-exporter` serves realistic, deterministic metrics. Everything it needs lives in
//!   [`exporter`]: catalogue, fleet simulation, text format, reference, HTTP server. It knows
//!   nothing of the lab.
//! - `labctl` renders, runs and checks the lab. Everything it needs lives in [`lab`]: topology,
//!   rendering, supervisor, verify, queries, comparison, dashboards, and a file per subcommand
//!   in `lab::cli`. It reaches the exporter only over HTTP, and borrows its incident parser
//!   to check `[[exporter.incident]]` in lab.toml.
//!
//! [`scrape`] (text page to series) is shared: the lab's checks and the exporter's tests read
//! pages with it.
//!
//! Each module opens with what it owns.

pub mod compat;
pub mod exporter;
pub mod lab;
pub mod scrape;
