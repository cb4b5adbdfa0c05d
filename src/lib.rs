//! remote-write-lab: a native lab for Prometheus remote write into a VictoriaMetrics cluster.
//!
//! Two binaries sit on this library:
//!
//! - `mock-exporter` serves realistic, deterministic metrics ([`catalog`], [`simulate`],
//!   [`exposition`], [`exporter`]). It knows nothing of the lab.
//!
//! Each module opens with what it owns.

pub mod catalog;
pub mod cli;
pub mod compare;
pub mod dashboards;
pub mod exporter;
pub mod exposition;
pub mod query;
pub mod render;
pub mod scrape;
pub mod simulate;
pub mod supervise;
pub mod topology;
pub mod verify;
