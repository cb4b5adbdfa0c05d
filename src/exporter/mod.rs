//! The mock-exporter: realistic, deterministic Prometheus metrics. It knows nothing of the lab.
//!
//! - [`catalog`]: the families served (names, types, labels, HELP), in page order;
//! - [`fleet`]: the simulated hosts, services, regions and churn that give every series its value;
//! - [`simulate`]: the seeded, closed-form arithmetic behind those values;
//! - [`incident`]: scheduled windows of more errors and latency for one service or route;
//! - [`exposition`]: one page in the Prometheus text format;
//! - [`reference`]: the catalogue as Markdown (`--list-metrics`, `docs/metrics/reference.md`);
//! - [`server`]: the HTTP server that renders a page once a second and serves it to every scraper.

pub mod catalog;
pub mod exposition;
pub mod fleet;
pub mod incident;
pub mod push;
pub mod reference;
pub mod server;
pub mod simulate;
