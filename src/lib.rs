//! remote-write-lab: a native lab for Prometheus remote write into a VictoriaMetrics cluster.
//!
//! Two binaries sit on this library:
//!
//! - `mock-exporter` serves realistic, deterministic metrics ([`catalog`], [`simulate`],
//!   [`exposition`], [`exporter`]). It knows nothing of the lab.
//!
//! Each module opens with what it owns.

pub mod catalog;
pub mod exporter;
pub mod exposition;
pub mod lab;
pub mod scrape;
pub mod simulate;
