//! The simulated fleet: hosts, their services, the regions they probe and churn, turned into
//! every series of the page for an instant.
//!
//! [`Model`] is a pure function from (options, second) to values, sent in catalogue order to a
//! [`Sink`] ([`super::exposition`] is the one that writes text). Each host draws its parameters
//! (uptime, CPUs, memory, peak hour) from the seed; [`super::simulate`] does the arithmetic. The
//! invariants the lab relies on hold by construction:
//!
//! - a histogram is a sum of components, each a monotonic counter spread over the buckets by a
//!   fixed cumulative distribution, so buckets are cumulative, `le="+Inf"` equals `_count`, and
//!   every bucket, `_sum` and `_count` is monotonic;
//! - `http_requests_total` is the same number as the `_count` of `http_request_duration_seconds`
//!   (and of both size histograms) for the same labels;
//! - per CPU, `idle` is wall-clock time since boot minus the other modes, so the modes add up to
//!   elapsed seconds exactly;
//! - errors and slow tails grow with the square of the load, ordinary traffic linearly, so errors
//!   and latency rise together at the daily peak;
//! - an [`Incident`] does not bend a histogram's distribution: the requests an endpoint serves
//!   inside the incident's window are counted by components of their own (rate times the
//!   incident's factor, median times its latency factor), taken out of the ordinary ones, so
//!   every bucket stays a sum of monotonic counters and the invariants above still hold.

use super::catalog::Fam;
use super::incident::{self, Incident};
use super::simulate::{
    self, key, lognormal_cdf, lognormal_mean, unit, Draw, Integrals, Load, Rate,
};

/// The regions probed, in catalogue order.
pub const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"];

/// Median round-trip times in milliseconds between [`REGIONS`] (cloudping.co sample, p50).
pub const RTT_MS: [[f64; 4]; 4] = [
    [4.0, 70.0, 211.0, 114.0],
    [70.0, 1.0, 181.0, 176.0],
    [211.0, 181.0, 4.0, 322.0],
    [114.0, 176.0, 322.0, 1.0],
];

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262_144.0];
const DB_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const WORKER_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
const PROBE_BUCKETS: &[f64] = &[
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0,
];

/// Start of simulated time: hosts boot some days before 2026-10-01T00:00:00Z.
pub const EPOCH: u64 = 1_790_812_800;

/// Options that shape the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetOptions {
    pub seed: u64,
    /// Number of simulated hosts; each serves the whole catalogue. Above 1, every series gets a
    /// `host` label.
    pub scale: usize,
    /// Series churn: every `interval` seconds, `fraction` of the hosts are replaced by new ones
    /// (new `host` label values, counters from zero).
    pub churn: Option<Churn>,
    /// Index of the first simulated host: two models with disjoint ranges (0 and `scale`) give
    /// disjoint series, as two halves of one larger fleet do.
    pub first_host: usize,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            seed: 1,
            scale: 1,
            churn: None,
            first_host: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    pub interval_secs: u64,
    pub fraction: f64,
}

/// A value the page builder receives for one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram(Histogram),
}

/// The buckets, count and sum of one histogram series.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Cumulative counts, one per bound (without `+Inf`).
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

/// Receives series in page order; [`super::exposition`] turns them into text.
pub trait Sink {
    /// `labels` are sorted by name and include `host` when the fleet has more than one host.
    fn series(&mut self, family: Fam, labels: &[(&str, &str)], value: Value);
}

/// One HTTP endpoint of the simulated application.
struct Endpoint {
    service: &'static str,
    method: &'static str,
    route: &'static str,
    /// Requests per second at average load.
    rps: f64,
    /// Median latency in seconds.
    median: f64,
    req_bytes: f64,
    resp_bytes: f64,
    /// Status code of each [`Outcome`], in [`Outcome::ALL`] order, then the client-error share
    /// and the server-error share of requests at average load.
    codes: [&'static str; 3],
    client_err: f64,
    server_err: f64,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        service: "api-gateway",
        method: "GET",
        route: "/api/v1/products",
        rps: 120.0,
        median: 0.035,
        req_bytes: 180.0,
        resp_bytes: 12_000.0,
        codes: ["200", "404", "500"],
        client_err: 0.02,
        server_err: 0.004,
    },
    Endpoint {
        service: "api-gateway",
        method: "POST",
        route: "/api/v1/orders",
        rps: 15.0,
        median: 0.12,
        req_bytes: 2_400.0,
        resp_bytes: 900.0,
        codes: ["201", "400", "500"],
        client_err: 0.04,
        server_err: 0.006,
    },
    Endpoint {
        service: "catalog",
        method: "GET",
        route: "/catalog/items/:id",
        rps: 210.0,
        median: 0.012,
        req_bytes: 150.0,
        resp_bytes: 4_500.0,
        codes: ["200", "404", "503"],
        client_err: 0.03,
        server_err: 0.002,
    },
    Endpoint {
        service: "checkout",
        method: "POST",
        route: "/checkout/pay",
        rps: 8.0,
        median: 0.25,
        req_bytes: 1_200.0,
        resp_bytes: 600.0,
        codes: ["200", "402", "503"],
        client_err: 0.05,
        server_err: 0.01,
    },
    Endpoint {
        service: "auth",
        method: "POST",
        route: "/auth/token",
        rps: 30.0,
        median: 0.045,
        req_bytes: 400.0,
        resp_bytes: 1_100.0,
        codes: ["200", "401", "500"],
        client_err: 0.06,
        server_err: 0.003,
    },
];

/// What became of a request: each outcome has its own status code, traffic and latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    ClientError,
    ServerError,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Success, Outcome::ClientError, Outcome::ServerError];
}

impl Endpoint {
    /// The factor an incident multiplying server errors by `errors` puts on the rate of
    /// `outcome`: server errors take `errors` times their share (at most what client errors
    /// leave), successes give way so the request rate stays the same at average load.
    fn incident_factor(&self, outcome: Outcome, errors: f64) -> f64 {
        let ok = 1.0 - self.client_err - self.server_err;
        let errors = errors.min((1.0 - self.client_err) / self.server_err);
        match outcome {
            Outcome::Success => (ok - (errors - 1.0) * self.server_err) / ok,
            Outcome::ClientError => 1.0,
            Outcome::ServerError => errors,
        }
    }

    fn code(&self, outcome: Outcome) -> &'static str {
        self.codes[outcome as usize]
    }

    /// The latency of one outcome: successes follow the load, with a slow tail under stress;
    /// client errors are fast; server errors grow with load squared, slow and wide.
    fn latency(&self, outcome: Outcome) -> Vec<Component> {
        match outcome {
            Outcome::Success => {
                let ok = self.rps * (1.0 - self.client_err - self.server_err);
                let (body, tail) = (Rate::linear(ok * 0.97), Rate::stress(ok * 0.03));
                HTTP_OK_SHAPE.components(self.median, body, tail).to_vec()
            }
            Outcome::ClientError => vec![Component {
                rate: Rate::linear(self.rps * self.client_err),
                median: self.median * 0.35,
                sigma: 0.5,
            }],
            Outcome::ServerError => vec![Component {
                rate: Rate::stress(self.rps * self.server_err),
                median: self.median * 12.0,
                sigma: 1.1,
            }],
        }
    }

    /// Mean request and response body sizes of one outcome, in bytes: failed requests are
    /// answered with a short error body, and server errors hit the larger requests.
    fn body_bytes(&self, outcome: Outcome) -> (f64, f64) {
        match outcome {
            Outcome::Success => (self.req_bytes, self.resp_bytes),
            Outcome::ClientError => (self.req_bytes, ERROR_BODY_BYTES),
            Outcome::ServerError => (self.req_bytes * 1.5, ERROR_BODY_BYTES),
        }
    }
}

/// Size of an error response body in bytes.
const ERROR_BODY_BYTES: f64 = 220.0;

/// The modes of `node_cpu_seconds_total`, in page order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CpuMode {
    User,
    Nice,
    System,
    Idle,
    Iowait,
    Irq,
    Softirq,
    Steal,
}

impl CpuMode {
    const ALL: [CpuMode; 8] = [
        CpuMode::User,
        CpuMode::Nice,
        CpuMode::System,
        CpuMode::Idle,
        CpuMode::Iowait,
        CpuMode::Irq,
        CpuMode::Softirq,
        CpuMode::Steal,
    ];

    fn as_str(self) -> &'static str {
        match self {
            CpuMode::User => "user",
            CpuMode::Nice => "nice",
            CpuMode::System => "system",
            CpuMode::Idle => "idle",
            CpuMode::Iowait => "iowait",
            CpuMode::Irq => "irq",
            CpuMode::Softirq => "softirq",
            CpuMode::Steal => "steal",
        }
    }

    /// The share of a CPU this mode takes (CPU-seconds per second, `a + b·d + c·d²`); `None`
    /// for idle, which is whatever the busy modes leave of wall-clock time.
    fn busy_rate(self) -> Option<Rate> {
        let (a, b, c) = match self {
            CpuMode::User => (0.02, 0.10, 0.0),
            CpuMode::Nice => (0.001, 0.0, 0.0),
            CpuMode::System => (0.01, 0.035, 0.0),
            CpuMode::Idle => return None,
            CpuMode::Iowait => (0.002, 0.004, 0.0),
            CpuMode::Irq => (0.0005, 0.0, 0.0),
            CpuMode::Softirq => (0.002, 0.004, 0.0),
            CpuMode::Steal => (0.0008, 0.0, 0.002),
        };
        Some(Rate { a, b, c })
    }
}

/// A component of a histogram: a counter spread over the buckets by a fixed distribution.
#[derive(Debug, Clone, Copy)]
struct Component {
    rate: Rate,
    median: f64,
    sigma: f64,
}

/// A latency distribution in two parts: a log-normal body around the median, and a tail
/// `slowdown` times slower (contention, retries) whose rate grows with the load squared.
struct Shape {
    sigma: f64,
    slowdown: f64,
    tail_sigma: f64,
}

impl Shape {
    fn components(&self, median: f64, body: Rate, tail: Rate) -> [Component; 2] {
        [
            Component {
                rate: body,
                median,
                sigma: self.sigma,
            },
            Component {
                rate: tail,
                median: median * self.slowdown,
                sigma: self.tail_sigma,
            },
        ]
    }
}

const HTTP_OK_SHAPE: Shape = Shape {
    sigma: 0.45,
    slowdown: 7.0,
    tail_sigma: 0.6,
};

/// The whole number of observations each component has made by quantum `k`.
fn counts<'a>(
    components: &'a [Component],
    ints: &'a Integrals,
    series_key: u64,
    k: u64,
) -> impl Iterator<Item = (&'a Component, u64)> + 'a {
    components.iter().enumerate().map(move |(ci, c)| {
        let n = c.rate.counter(ints, series_key ^ mixi(ci), k).floor() as u64;
        (c, n)
    })
}

/// An incident as one host sees it at an instant: the load's integrals at the window's bounds,
/// both clamped to the instant (and to the host's boot).
struct Window<'a> {
    incident: &'a Incident,
    from: Integrals,
    to: Integrals,
}

impl Window<'_> {
    /// The quantum at which the jitter of the ordinary part is read: frozen at the window's start
    /// while inside it (the ordinary part stands still there).
    fn jitter_quantum(&self, k: u64) -> Option<u64> {
        let (s, e) = (self.incident.start, self.incident.end);
        (k > s && k <= e).then_some(s)
    }
}

/// The HTTP duration histogram of one endpoint and outcome, with the requests made inside
/// `windows` counted by components of their own.
fn http_histogram(
    ep: &Endpoint,
    outcome: Outcome,
    windows: &[&Window],
    ints: &Integrals,
    series_key: u64,
    k: u64,
) -> Histogram {
    let bounds = LATENCY_BUCKETS;
    let mut cumulative = vec![0u64; bounds.len()];
    let mut count = 0u64;
    let mut sum = 0.0;
    let mut add = |n: u64, median: f64, sigma: f64| {
        spread_into(&mut cumulative, bounds, n, median, sigma);
        count += n;
        sum += n as f64 * lognormal_mean(median, sigma);
    };
    for (ci, c) in ep.latency(outcome).iter().enumerate() {
        let mut inside = 0.0;
        let mut kj = k;
        for w in windows {
            inside += c.rate.integral_between(&w.from, &w.to);
            kj = w.jitter_quantum(k).unwrap_or(kj);
        }
        let n = c
            .rate
            .counter_without(ints, inside, series_key ^ mixi(ci), kj);
        add(n.floor() as u64, c.median, c.sigma);
        for w in windows {
            let f = ep.incident_factor(outcome, w.incident.errors);
            let n = f * c.rate.integral_between(&w.from, &w.to);
            add(n.floor() as u64, c.median * w.incident.latency, c.sigma);
        }
    }
    Histogram {
        bounds,
        cumulative,
        count,
        sum: round6(sum),
    }
}

/// Cumulative counts, count and sum of a histogram made of `components`.
fn histogram(
    bounds: &'static [f64],
    components: &[Component],
    ints: &Integrals,
    series_key: u64,
    k: u64,
) -> Histogram {
    let mut cumulative = vec![0u64; bounds.len()];
    let mut count = 0u64;
    let mut sum = 0.0;
    for (c, n) in counts(components, ints, series_key, k) {
        spread_into(&mut cumulative, bounds, n, c.median, c.sigma);
        count += n;
        sum += n as f64 * lognormal_mean(c.median, c.sigma);
    }
    Histogram {
        bounds,
        cumulative,
        count,
        sum: round6(sum),
    }
}

/// Adds `n` observations, spread over `bounds` by a log-normal, to cumulative counts.
/// `floor(F(le)·n)` is monotonic in `n` and in `le`, so buckets stay cumulative and monotonic.
fn spread_into(cumulative: &mut [u64], bounds: &[f64], n: u64, median: f64, sigma: f64) {
    for (slot, le) in cumulative.iter_mut().zip(bounds) {
        *slot += (lognormal_cdf(*le, median, sigma) * n as f64).floor() as u64;
    }
}

/// A histogram with a known total: `n` observations from one log-normal.
fn histogram_of(bounds: &'static [f64], n: u64, median: f64, sigma: f64) -> Value {
    let mut cumulative = vec![0u64; bounds.len()];
    spread_into(&mut cumulative, bounds, n, median, sigma);
    Value::Histogram(Histogram {
        bounds,
        cumulative,
        count: n,
        sum: round6(n as f64 * lognormal_mean(median, sigma)),
    })
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn mixi(i: usize) -> u64 {
    simulate::mix(i as u64 + 1)
}

/// One simulated host at one instant.
struct HostState {
    name: String,
    load: Load,
    boot: f64,
    key: u64,
    cpus: usize,
    mem_total: f64,
}

impl HostState {
    /// Whole events counted at `rate` by the series keyed by `parts` (under this host's key).
    fn events(&self, rate: Rate, ints: &Integrals, k: u64, parts: &[&str]) -> f64 {
        rate.counter(ints, self.key ^ key(parts), k).floor()
    }
}

/// The simulated fleet: a pure function from an instant to the page's values.
#[derive(Debug, Clone)]
pub struct Model {
    opts: FleetOptions,
    churned: usize,
    incidents: Vec<Incident>,
}

/// Every `(service, route)` the simulated application serves, for naming incidents' targets.
pub fn endpoints() -> Vec<(&'static str, &'static str)> {
    ENDPOINTS.iter().map(|e| (e.service, e.route)).collect()
}

impl Model {
    pub fn new(opts: FleetOptions) -> Model {
        let churned = match opts.churn {
            Some(c) => ((opts.scale as f64) * c.fraction.clamp(0.0, 1.0)).ceil() as usize,
            None => 0,
        };
        Model {
            opts,
            churned,
            incidents: Vec::new(),
        }
    }

    /// The model with a schedule of incidents, refused when an incident names no endpoint or
    /// two overlap on one (see [`incident::check`]).
    pub fn with_incidents(mut self, schedule: Vec<Incident>) -> Result<Model, String> {
        incident::check(&schedule, &endpoints())?;
        self.incidents = schedule;
        Ok(self)
    }

    /// The incidents scheduled.
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// Whether some incident is limited to `region`: its page differs from the plain one.
    pub fn has_regional_incident(&self, region: &str) -> bool {
        self.incidents
            .iter()
            .any(|i| i.region.as_deref() == Some(region))
    }

    /// The incidents as `host` sees them at `now`, on the page for `region`.
    fn windows(&self, h: &HostState, now: u64, region: Option<&str>) -> Vec<Window<'_>> {
        let at = |t: u64| h.load.integrals((t.min(now) as f64 - h.boot).max(0.0));
        self.incidents
            .iter()
            .filter(|inc| inc.start < now && inc.shows_in(region))
            .map(|incident| Window {
                incident,
                from: at(incident.start),
                to: at(incident.end),
            })
            .collect()
    }

    pub fn options(&self) -> FleetOptions {
        self.opts
    }

    /// Number of series one page holds.
    pub fn series_count(&self) -> usize {
        let mut n = 0;
        self.emit(EPOCH + 86_400, &mut CountSink(&mut n));
        n
    }

    fn host(&self, index: usize, now: f64) -> HostState {
        let seed = self.opts.seed;
        let mut draw = Draw::new(seed, 1000 + index as u64);
        let uptime_days = draw.range(1.0, 20.0);
        let cpus = draw.pick(&[2usize, 4, 4, 8]);
        let mem_gib: f64 = draw.pick(&[8.0, 16.0, 16.0, 32.0]);
        let peak = draw.range(13.0, 16.0);
        let mut boot = EPOCH as f64 - uptime_days * 86_400.0;
        let mut name = if self.opts.scale > 1 || self.opts.first_host > 0 {
            format!("host-{index:04}")
        } else {
            String::new()
        };
        let mut stream = index as u64;
        let nth = index - self.opts.first_host;
        if let (Some(churn), true) = (self.opts.churn, nth < self.churned) {
            let interval = churn.interval_secs.max(1) as f64;
            let generation = (now / interval).floor();
            boot = generation * interval;
            name = format!("host-{index:04}-g{generation}");
            stream = simulate::mix(index as u64 ^ simulate::mix(generation as u64));
        }
        HostState {
            load: Load::seeded(seed, stream, boot, peak),
            key: key(&[&seed.to_string(), &name, &index.to_string()]),
            boot,
            name,
            cpus,
            // MemTotal is what the kernel reports: a little under the installed size.
            mem_total: (mem_gib * 1024.0 * 1024.0 * 1024.0 * 0.9713 / 4096.0).floor() * 4096.0,
        }
    }

    /// Sends every series of the page at `now` (Unix seconds, quantised to the second) to `sink`.
    pub fn emit(&self, now: u64, sink: &mut dyn Sink) {
        self.emit_for(now, None, sink)
    }

    /// [`Model::emit`] for the page scraped as `region` (`?region=`): incidents limited to
    /// another region, or to some region when `region` is none, do not show on it.
    pub fn emit_for(&self, now: u64, region: Option<&str>, sink: &mut dyn Sink) {
        let first = self.opts.first_host;
        let hosts: Vec<HostState> = (first..first + self.opts.scale)
            .map(|i| self.host(i, now as f64))
            .collect();
        let at: Vec<(Integrals, f64)> = hosts
            .iter()
            .map(|h| {
                let t = (now as f64 - h.boot).max(0.0);
                (h.load.integrals(t), h.load.at(t))
            })
            .collect();
        let k = now / simulate::QUANTUM_SECS;
        let mut e = Emitter { sink };
        let groups: [Group; 18] = [
            node_cpu,
            node_mem_total,
            node_mem_available,
            node_disk,
            node_net_rx,
            node_net_tx,
            node_fs_size,
            node_fs_avail,
            app_errors,
            app_db,
            app_db_connections,
            app_cache,
            app_queue,
            app_worker,
            app_business,
            probe_duration,
            probe_success,
            probe_failure,
        ];
        for (h, (ints, d)) in hosts.iter().zip(&at) {
            http(&mut e, h, ints, &self.windows(h, now, region), k);
            for f in groups {
                f(&mut e, h, ints, *d, k);
            }
        }
    }
}

/// Emits one group of families for one host: (emitter, host, integrals, load now, quantum).
type Group = fn(&mut Emitter, &HostState, &Integrals, f64, u64);

struct CountSink<'a>(&'a mut usize);

impl Sink for CountSink<'_> {
    fn series(&mut self, _: Fam, _: &[(&str, &str)], value: Value) {
        *self.0 += match value {
            Value::Histogram(h) => h.bounds.len() + 3,
            _ => 1,
        };
    }
}

/// Most labels one series carries: a family's own labels (four at most) and `host`.
const MAX_LABELS: usize = 8;

/// Adds the `host` label and sorts labels before handing a series to the sink. The labels are
/// borrowed in a stack array: a round emits every series, so nothing is allocated per series.
struct Emitter<'s> {
    sink: &'s mut dyn Sink,
}

impl Emitter<'_> {
    fn put(&mut self, h: &HostState, fam: Fam, labels: &[(&'static str, &str)], value: Value) {
        let mut all = [("", ""); MAX_LABELS];
        all[..labels.len()].copy_from_slice(labels);
        let mut n = labels.len();
        if !h.name.is_empty() {
            all[n] = ("host", h.name.as_str());
            n += 1;
        }
        let view = &mut all[..n];
        view.sort_by(|a, b| a.0.cmp(b.0));
        self.sink.series(fam, view, value);
    }
}

/// The HTTP families are emitted together: the duration histogram defines the request count that
/// the counter and the size histograms repeat. The sink groups lines by family.
fn http(e: &mut Emitter, h: &HostState, ints: &Integrals, windows: &[Window], k: u64) {
    for ep in ENDPOINTS {
        let windows: Vec<&Window> = windows
            .iter()
            .filter(|w| w.incident.targets(ep.service, ep.route))
            .collect();
        for outcome in Outcome::ALL {
            let code = ep.code(outcome);
            let labels = [
                ("code", code),
                ("method", ep.method),
                ("route", ep.route),
                ("service", ep.service),
            ];
            let skey = h.key ^ key(&[ep.service, ep.method, ep.route, code]);
            let duration = http_histogram(ep, outcome, &windows, ints, skey, k);
            let n = duration.count;
            let (req, resp) = ep.body_bytes(outcome);
            e.put(h, Fam::HttpDuration, &labels, Value::Histogram(duration));
            e.put(h, Fam::HttpRequests, &labels, Value::Counter(n as f64));
            let req = histogram_of(SIZE_BUCKETS, n, req, 0.8);
            e.put(h, Fam::HttpRequestSize, &labels, req);
            let resp = histogram_of(SIZE_BUCKETS, n, resp, 0.7);
            e.put(h, Fam::HttpResponseSize, &labels, resp);
        }
    }
}

fn node_cpu(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for cpu in 0..h.cpus {
        let cpu_s = cpu.to_string();
        let ckey = h.key ^ key(&["cpu", &cpu_s]);
        // Each CPU gets its own share of the load: 0.8–1.2 of the host's.
        let share = 0.8 + 0.4 * unit(ckey, 0);
        let busy = CpuMode::ALL.map(|mode| match mode.busy_rate() {
            Some(rate) => rate
                .scaled(share)
                .counter(ints, ckey ^ mixi(mode as usize), k),
            None => 0.0,
        });
        let idle = ints.t - busy.iter().sum::<f64>();
        for (mode, busy) in CpuMode::ALL.into_iter().zip(busy) {
            let seconds = if mode == CpuMode::Idle { idle } else { busy };
            let labels = [("cpu", cpu_s.as_str()), ("mode", mode.as_str())];
            e.put(h, Fam::NodeCpu, &labels, Value::Counter(round6(seconds)));
        }
    }
}

fn node_mem_total(e: &mut Emitter, h: &HostState, _: &Integrals, _: f64, _: u64) {
    e.put(h, Fam::NodeMemTotal, &[], Value::Gauge(h.mem_total));
}

fn node_mem_available(e: &mut Emitter, h: &HostState, _: &Integrals, d: f64, k: u64) {
    let frac = (0.62 - 0.22 * (d - 1.0) + 0.02 * (unit(h.key ^ 11, k) - 0.5)).clamp(0.05, 0.95);
    let v = (h.mem_total * frac / 4096.0).floor() * 4096.0;
    e.put(h, Fam::NodeMemAvailable, &[], Value::Gauge(v));
}

const DISKS: [(&str, Rate); 2] = [
    (
        "nvme0n1",
        Rate {
            a: 0.01,
            b: 0.06,
            c: 0.0,
        },
    ),
    (
        "nvme1n1",
        Rate {
            a: 0.002,
            b: 0.015,
            c: 0.02,
        },
    ),
];

fn node_disk(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for (dev, rate) in DISKS {
        let v = rate.counter(ints, h.key ^ key(&["disk", dev]), k);
        e.put(
            h,
            Fam::NodeDiskIo,
            &[("device", dev)],
            Value::Counter(round6(v)),
        );
    }
}

/// A network interface: bytes per second received and sent at average load.
struct Nic {
    device: &'static str,
    rx: f64,
    tx: f64,
}

const NICS: [Nic; 2] = [
    Nic {
        device: "eth0",
        rx: 3.5e6,
        tx: 5.5e6,
    },
    Nic {
        device: "lo",
        rx: 4.0e4,
        tx: 4.0e4,
    },
];

fn node_net_rx(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    nic_bytes(e, h, ints, k, (Fam::NodeNetRx, "rx"), |nic| nic.rx);
}

fn node_net_tx(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    nic_bytes(e, h, ints, k, (Fam::NodeNetTx, "tx"), |nic| nic.tx);
}

/// A byte counter per interface for one direction (the family and its key), following the load.
fn nic_bytes(
    e: &mut Emitter,
    h: &HostState,
    ints: &Integrals,
    k: u64,
    (fam, direction): (Fam, &str),
    per_sec: fn(&Nic) -> f64,
) {
    for nic in &NICS {
        let bytes = per_sec(nic);
        let rate = Rate {
            a: bytes * 0.05,
            b: bytes,
            c: 0.0,
        };
        let v = h.events(rate, ints, k, &[direction, nic.device]);
        e.put(h, fam, &[("device", nic.device)], Value::Counter(v));
    }
}

/// (device, fstype, mountpoint, size in GiB, fill fraction)
const FILESYSTEMS: [(&str, &str, &str, f64, f64); 2] = [
    ("/dev/nvme0n1p1", "ext4", "/", 100.0, 0.42),
    ("/dev/nvme1n1", "xfs", "/var/lib/data", 500.0, 0.61),
];

fn fs_labels<'a>(dev: &'a str, fstype: &'a str, mp: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("device", dev),
        ("device_error", ""),
        ("fstype", fstype),
        ("mountpoint", mp),
    ]
}

fn fs_size(gib: f64) -> f64 {
    // Filesystem overhead: the size node_exporter reports is a little under the device.
    (gib * 1024.0 * 1024.0 * 1024.0 * 0.984 / 4096.0).floor() * 4096.0
}

fn node_fs_size(e: &mut Emitter, h: &HostState, _: &Integrals, _: f64, _: u64) {
    for (dev, fstype, mp, gib, _) in FILESYSTEMS {
        e.put(
            h,
            Fam::NodeFsSize,
            &fs_labels(dev, fstype, mp),
            Value::Gauge(fs_size(gib)),
        );
    }
}

fn node_fs_avail(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for (dev, fstype, mp, gib, fill) in FILESYSTEMS {
        // Logs fill the disk through the day; a nightly clean-up frees it again.
        let day_phase = ((h.boot + ints.t) / 86_400.0).fract();
        let used = (fill + 0.06 * day_phase + 0.002 * unit(h.key ^ key(&[dev]), k)).min(0.99);
        let size = fs_size(gib);
        let avail = (size * (1.0 - used) / 4096.0).floor() * 4096.0;
        e.put(
            h,
            Fam::NodeFsAvail,
            &fs_labels(dev, fstype, mp),
            Value::Gauge(avail),
        );
    }
}

fn app_errors(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for (kind, c) in [("database", 0.05), ("timeout", 0.12), ("validation", 0.3)] {
        let v = h.events(Rate::stress(c), ints, k, &["err", kind]);
        e.put(h, Fam::AppErrors, &[("type", kind)], Value::Counter(v));
    }
}

/// A latency histogram with one series per operation, each a [`Shape`] whose tail is a fixed
/// share of the operations.
struct Operations {
    fam: Fam,
    /// The label naming the operation, and the first part of each series' key.
    label: &'static str,
    key: &'static str,
    bounds: &'static [f64],
    shape: Shape,
    /// Tail operations per body operation.
    tail_share: f64,
    /// (label value, operations per second at average load, median seconds)
    ops: &'static [(&'static str, f64, f64)],
}

impl Operations {
    fn emit(&self, e: &mut Emitter, h: &HostState, ints: &Integrals, k: u64) {
        for &(op, per_sec, median) in self.ops {
            let body = Rate::linear(per_sec);
            let tail = Rate::stress(per_sec * self.tail_share);
            let comps = self.shape.components(median, body, tail);
            let v = histogram(self.bounds, &comps, ints, h.key ^ key(&[self.key, op]), k);
            e.put(h, self.fam, &[(self.label, op)], Value::Histogram(v));
        }
    }
}

/// Database queries: a lock-contention tail 20 times slower.
const DB_QUERIES: Operations = Operations {
    fam: Fam::AppDbDuration,
    label: "operation",
    key: "db",
    bounds: DB_BUCKETS,
    shape: Shape {
        sigma: 0.55,
        slowdown: 20.0,
        tail_sigma: 0.8,
    },
    tail_share: 0.02,
    ops: &[
        ("insert", 35.0, 0.004),
        ("select", 420.0, 0.0018),
        ("update", 60.0, 0.006),
    ],
};

/// Background tasks: a tail 6 times slower under load.
const WORKER_TASKS: Operations = Operations {
    fam: Fam::AppWorker,
    label: "task",
    key: "task",
    bounds: WORKER_BUCKETS,
    shape: Shape {
        sigma: 0.5,
        slowdown: 6.0,
        tail_sigma: 0.7,
    },
    tail_share: 0.05,
    ops: &[("generate_invoice", 2.0, 1.8), ("send_email", 6.0, 0.35)],
};

fn app_db(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    DB_QUERIES.emit(e, h, ints, k);
}

fn app_db_connections(e: &mut Emitter, h: &HostState, _: &Integrals, d: f64, k: u64) {
    let pool = 50.0;
    let util = (0.18 * d * d + 0.04 * (unit(h.key ^ 21, k) - 0.5)).clamp(0.02, 1.0);
    e.put(
        h,
        Fam::AppDbConnections,
        &[("pool", "primary")],
        Value::Gauge((pool * util).round()),
    );
}

fn app_cache(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for (cache, rps, hit) in [("product", 300.0, 0.92), ("session", 80.0, 0.97)] {
        let hits = Rate::linear(rps * hit);
        let misses =
            Rate::linear(rps * (1.0 - hit) * 0.7).plus(Rate::stress(rps * (1.0 - hit) * 0.3));
        for (result, rate) in [("hit", hits), ("miss", misses)] {
            let v = h.events(rate, ints, k, &["cache", cache, result]);
            let labels = [("cache", cache), ("result", result)];
            e.put(h, Fam::AppCache, &labels, Value::Counter(v));
        }
    }
}

fn app_queue(e: &mut Emitter, h: &HostState, _: &Integrals, d: f64, k: u64) {
    for (queue, base) in [("emails", 12.0), ("payments", 3.0)] {
        let noise = 0.6 + 0.8 * unit(h.key ^ key(&["queue", queue]), k);
        e.put(
            h,
            Fam::AppQueue,
            &[("queue", queue)],
            Value::Gauge((base * d * d * d * noise).round()),
        );
    }
}

fn app_worker(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    WORKER_TASKS.emit(e, h, ints, k);
}

fn app_business(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    for (kind, tps) in [("order", 12.0), ("payment", 11.0), ("refund", 0.4)] {
        for (status, rate) in [
            ("completed", Rate::linear(tps * 0.98)),
            ("failed", Rate::stress(tps * 0.02)),
        ] {
            let v = h.events(rate, ints, k, &["biz", kind, status]);
            let labels = [("status", status), ("type", kind)];
            e.put(h, Fam::AppBusiness, &labels, Value::Counter(v));
        }
    }
}

/// One probe every 5 s per ordered pair of regions.
const PROBE_RATE: f64 = 0.2;

/// Probability that a probe fails: grows with distance.
fn probe_failure_share(rtt_ms: f64) -> f64 {
    0.0005 + 0.02 * rtt_ms / 322.0
}

/// Probes cluster tightly around the round-trip time; congestion adds a tail 1.8 times slower.
const PROBE_SHAPE: Shape = Shape {
    sigma: 0.06,
    slowdown: 1.8,
    tail_sigma: 0.45,
};

fn probe_components(rtt_ms: f64) -> [Component; 2] {
    let ok = PROBE_RATE * (1.0 - probe_failure_share(rtt_ms));
    let body = Rate::constant(ok * 0.9).plus(Rate::linear(ok * 0.08));
    PROBE_SHAPE.components(rtt_ms / 1000.0, body, Rate::stress(ok * 0.02))
}

fn each_pair(mut f: impl FnMut(&'static str, &'static str, f64)) {
    for (i, src) in REGIONS.iter().enumerate() {
        for (j, dst) in REGIONS.iter().enumerate() {
            f(src, dst, RTT_MS[i][j]);
        }
    }
}

fn probe_duration(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    each_pair(|src, dst, rtt| {
        let skey = h.key ^ key(&["probe", src, dst]);
        let v = histogram(PROBE_BUCKETS, &probe_components(rtt), ints, skey, k);
        let labels = [("source_region", src), ("target_region", dst)];
        e.put(h, Fam::ProbeDuration, &labels, Value::Histogram(v));
    });
}

fn probe_success(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    each_pair(|src, dst, rtt| {
        let comps = probe_components(rtt);
        let skey = h.key ^ key(&["probe", src, dst]);
        let n: u64 = counts(&comps, ints, skey, k).map(|(_, n)| n).sum();
        let labels = [("source_region", src), ("target_region", dst)];
        e.put(h, Fam::ProbeSuccess, &labels, Value::Counter(n as f64));
    });
}

fn probe_failure(e: &mut Emitter, h: &HostState, ints: &Integrals, _: f64, k: u64) {
    each_pair(|src, dst, rtt| {
        let p = probe_failure_share(rtt);
        let rate = Rate::constant(PROBE_RATE * p * 0.5).plus(Rate::stress(PROBE_RATE * p * 0.5));
        let v = h.events(rate, ints, k, &["probe-fail", src, dst]);
        let labels = [("source_region", src), ("target_region", dst)];
        e.put(h, Fam::ProbeFailure, &labels, Value::Counter(v));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fleet_serves_at_least_340_series() {
        let n = Model::new(FleetOptions::default()).series_count();
        assert!(n >= 340, "{n}");
    }

    #[test]
    fn rtt_table_is_symmetric() {
        for (i, row) in RTT_MS.iter().enumerate() {
            for (j, rtt) in row.iter().enumerate() {
                assert_eq!(*rtt, RTT_MS[j][i]);
            }
        }
    }
}
