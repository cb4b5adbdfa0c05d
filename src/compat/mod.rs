//! Which remote-write receiver accepts what: real receivers, started here, answering real
//! requests.
//!
//! - [`receivers`]: start VictoriaMetrics, Prometheus, vmagent or a VictoriaMetrics cluster on
//!   loopback, stop them, read back what they stored;
//! - [`matrix`]: the cases (protocol versions, out-of-order, old samples, two senders) and the
//!   Markdown of `docs/compatibility.md`.

pub mod matrix;
pub mod receivers;
