//! The metric catalogue: every family the exporter serves, with its type, labels and HELP text.
//!
//! [`FAMILIES`] is the single list of names, types, labels, HELP texts and model descriptions: it
//! orders the page ([`super::exposition`]) and is what `mock-exporter --list-metrics` prints
//! ([`super::reference`]), and so `docs/metrics/reference.md`. [`Fam`] names each entry, so the
//! fleet ([`super::fleet`]) says which family a series belongs to without repeating its name.
//! How the values come about is the fleet's business, not this module's.

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    /// Label names (besides `le`, and `host` when `--scale` is above 1).
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// The group the family belongs to, for documentation.
    pub group: &'static str,
    /// How values are produced, for documentation.
    pub model: &'static str,
}

macro_rules! families {
    ($($id:ident => $name:literal, $kind:ident, [$($l:literal),*], $group:literal, $help:literal, $model:literal;)*) => {
        /// Index of a family in [`FAMILIES`].
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Fam { $($id),* }

        /// The catalogue, in page order.
        pub const FAMILIES: &[Family] = &[$(Family {
            name: $name,
            kind: Kind::$kind,
            labels: &[$($l),*],
            help: $help,
            group: $group,
            model: $model,
        }),*];
    };
}

families! {
    HttpDuration => "http_request_duration_seconds", Histogram, ["code", "method", "route", "service"], "HTTP (RED)",
        "Duration of HTTP requests in seconds.",
        "Log-normal around the route's median; a slow component grows with load squared; 5xx are slow and wide.";
    HttpRequests => "http_requests_total", Counter, ["code", "method", "route", "service"], "HTTP (RED)",
        "Total number of HTTP requests.",
        "Daily curve with noise; 5xx grow with load squared. Equals the duration histogram's _count.";
    HttpRequestSize => "http_request_size_bytes", Histogram, ["code", "method", "route", "service"], "HTTP (RED)",
        "Size of HTTP request bodies in bytes.",
        "Log-normal per route; _count equals http_requests_total.";
    HttpResponseSize => "http_response_size_bytes", Histogram, ["code", "method", "route", "service"], "HTTP (RED)",
        "Size of HTTP response bodies in bytes.",
        "Log-normal per route; _count equals http_requests_total.";
    NodeCpu => "node_cpu_seconds_total", Counter, ["cpu", "mode"], "Node (USE)",
        "Seconds the CPUs spent in each mode.",
        "Busy modes follow load; idle is the rest, so the modes of a CPU add up to wall-clock seconds.";
    NodeMemTotal => "node_memory_MemTotal_bytes", Gauge, [], "Node (USE)",
        "Memory information field MemTotal_bytes.",
        "Constant per host.";
    NodeMemAvailable => "node_memory_MemAvailable_bytes", Gauge, [], "Node (USE)",
        "Memory information field MemAvailable_bytes.",
        "Falls as load rises, with noise; never above MemTotal.";
    NodeDiskIo => "node_disk_io_time_seconds_total", Counter, ["device"], "Node (USE)",
        "Total seconds spent doing I/Os.",
        "Busy fraction follows load, always within [0, 1].";
    NodeNetRx => "node_network_receive_bytes_total", Counter, ["device"], "Node (USE)",
        "Network device statistic receive_bytes.",
        "Bytes per second follow load.";
    NodeNetTx => "node_network_transmit_bytes_total", Counter, ["device"], "Node (USE)",
        "Network device statistic transmit_bytes.",
        "Bytes per second follow load.";
    NodeFsSize => "node_filesystem_size_bytes", Gauge, ["device", "device_error", "fstype", "mountpoint"], "Node (USE)",
        "Filesystem size in bytes.",
        "Constant per filesystem.";
    NodeFsAvail => "node_filesystem_avail_bytes", Gauge, ["device", "device_error", "fstype", "mountpoint"], "Node (USE)",
        "Filesystem space available to non-root users in bytes.",
        "Slow daily fill and clean-up in 4 KiB blocks; never above size.";
    AppErrors => "app_errors_total", Counter, ["type"], "Application",
        "Total number of application errors by type.",
        "Grows with load squared.";
    AppDbDuration => "app_database_queries_duration_seconds", Histogram, ["operation"], "Application",
        "Duration of database queries in seconds.",
        "Log-normal per operation plus a lock-contention tail that grows with load squared.";
    AppDbConnections => "app_database_connections_active", Gauge, ["pool"], "Application",
        "Number of active database connections.",
        "Pool utilisation follows load, capped at the pool size.";
    AppCache => "app_cache_requests_total", Counter, ["cache", "result"], "Application",
        "Total number of cache requests by result.",
        "Hits follow load; misses grow faster under load.";
    AppQueue => "app_queue_size", Gauge, ["queue"], "Application",
        "Number of items waiting in the queue.",
        "Grows with the cube of load, with noise.";
    AppWorker => "app_worker_tasks_duration_seconds", Histogram, ["task"], "Application",
        "Duration of background worker tasks in seconds.",
        "Log-normal per task plus a tail under load.";
    AppBusiness => "app_business_transactions_total", Counter, ["status", "type"], "Application",
        "Total number of business transactions by type and status.",
        "Follows load; failures grow with load squared.";
    ProbeDuration => "probe_http_duration_seconds", Histogram, ["source_region", "target_region"], "Cross-region probes",
        "Duration of successful HTTP probes between regions in seconds.",
        "Centred on the measured inter-region RTT with jitter and a long congestion tail; _count equals probe_success_total.";
    ProbeSuccess => "probe_success_total", Counter, ["source_region", "target_region"], "Cross-region probes",
        "Total number of successful HTTP probes between regions.",
        "One probe per 5 s per pair, less failures.";
    ProbeFailure => "probe_failure_total", Counter, ["source_region", "target_region"], "Cross-region probes",
        "Total number of failed HTTP probes between regions.",
        "Failure probability grows with distance and with load.";
}

impl Fam {
    /// The catalogue entry of this family.
    pub fn family(self) -> &'static Family {
        &FAMILIES[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_and_enum_agree() {
        assert_eq!(Fam::ProbeFailure.family().name, "probe_failure_total");
        assert_eq!(
            Fam::HttpDuration.family().name,
            "http_request_duration_seconds"
        );
        assert_eq!(FAMILIES.len(), Fam::ProbeFailure as usize + 1);
    }
}
