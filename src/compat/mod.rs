//! Which remote-write receiver accepts what: real receivers, started here, answering real
//! requests.
//!
//! - [`receivers`]: start VictoriaMetrics, Prometheus, vmagent or a VictoriaMetrics cluster on
//!   loopback, stop them, read back what they stored.

pub mod receivers;
