//! The lab's topology: `lab.toml` read into typed, validated values.
//!
//! The file is shared with the Nix modules (`builtins.fromTOML`), so it stays plain data; here it
//! is parsed once, at the edge: durations become [`Duration`]s, the listen address an [`IpAddr`],
//! ports [`Port`]s (never 0). Every rule about the file lives here too: each region writes to a
//! vminsert that exists, the writer's remote-write targets exist, no two listeners share a port,
//! the fast scrape interval is not the slower one. Errors name the field and the value.
//!
//! Addresses are built here only: [`Topology::listen`] for what a component binds,
//! [`Topology::connect`] and [`Topology::http_url`] for what clients dial (`[ipv6]:port` safe).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::exporter::fleet;
use crate::exporter::incident::{self, Spec};

/// A TCP port a component listens on: never 0.
pub type Port = NonZeroU16;

/// Everything that can be wrong with a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or a value does not fit its field.
    #[error("{field}: {message} (line {line})")]
    Parse {
        field: String,
        line: usize,
        message: String,
    },
    /// Well-formed, but a rule is broken.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn one() -> u32 {
    1
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TopologyError {
    TopologyError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub fast_scrape_interval: Duration,
    /// Every listener binds here.
    pub listen_address: IpAddr,
    pub tenant: u32,
    /// Passed as is to VictoriaMetrics and Prometheus (`1d`, `2w`).
    pub retention_period: String,
    /// Copies of each sample on distinct vmstorage nodes: vminsert and vmselect
    /// `-replicationFactor` (cluster only; 1 when absent).
    #[serde(default = "one")]
    pub replication_factor: u32,
    /// `-search.latencyOffset` of vmselect and the single node: queries do not see samples
    /// younger than this (upstream's default is 30 s; the lab's 1 s shows fresh samples at once).
    #[serde(with = "humantime_serde", default = "default_latency_offset")]
    pub latency_offset: Duration,
    pub exporter: Exporter,
    pub vmauth: Vmauth,
    pub single: Single,
    pub grafana: Grafana,
    pub vmstorage: Vec<Vmstorage>,
    pub vminsert: Vec<Named>,
    pub vmselect: Vec<Named>,
    pub region: Vec<Region>,
    pub prometheus: PrometheusPair,
    pub vmalert: Vmalert,
    pub alertmanager: Alertmanager,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exporter {
    pub port: Port,
    pub seed: u64,
    /// Simulated hosts (`mock-exporter --scale`): each serves the whole catalogue, so every
    /// scraper reads `scale` times the series of one host (112 give about 100,000).
    #[serde(default = "one_host")]
    pub scale: Scale,
    /// Replace a fraction of the hosts every `churn_interval` (`mock-exporter --churn-interval`):
    /// their series end and new ones start. Off when absent.
    #[serde(
        with = "humantime_serde",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub churn_interval: Option<Duration>,
    /// The share of hosts replaced at each churn interval (`--churn-fraction`), above 0, at most 1.
    #[serde(default = "default_churn_fraction")]
    pub churn_fraction: f64,
    /// `[[exporter.incident]]`: scheduled faults, passed on as `mock-exporter --incident`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incident: Vec<ExporterIncident>,
}

/// One `[[exporter.incident]]`: the keys of `mock-exporter --incident`, checked when the file is
/// read (the exporter's own parser) and handed to the exporter as that flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterIncident {
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// A `[[region]]` name: only that region's vmagent sees the incident (it scrapes with
    /// `?region=NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `+DURATION` after the exporter starts, Unix seconds or RFC 3339.
    pub start: String,
    pub duration: String,
    #[serde(default = "factor_one")]
    pub errors: f64,
    #[serde(default = "factor_one")]
    pub latency: f64,
}

/// Hosts of the simulated fleet: at least one, at most what `mock-exporter --scale` takes.
pub type Scale = std::num::NonZeroU32;

/// The largest `--scale` mock-exporter accepts.
pub const MAX_SCALE: u32 = 100_000;

fn one_host() -> Scale {
    Scale::MIN
}

fn default_churn_fraction() -> f64 {
    0.1
}

fn factor_one() -> f64 {
    1.0
}

impl ExporterIncident {
    /// The value of `mock-exporter --incident`.
    pub fn arg(&self) -> String {
        let route = self
            .route
            .as_deref()
            .map(|r| format!(",route={r}"))
            .unwrap_or_default();
        let region = self
            .region
            .as_deref()
            .map(|r| format!(",region={r}"))
            .unwrap_or_default();
        format!(
            "service={}{route}{region},start={},duration={},errors={},latency={}",
            self.service, self.start, self.duration, self.errors, self.latency
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmauth {
    pub port: Port,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Single {
    pub port: Port,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    pub port: Port,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmstorage {
    pub name: String,
    pub http_port: Port,
    pub vminsert_port: Port,
    pub vmselect_port: Port,
}

/// vmalert: evaluates `rules/` against VictoriaMetrics (through vmauth) and writes recording
/// results and alert state back to a vminsert (or the single node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmalert {
    pub port: Port,
    /// Name of the vminsert it writes to (ignored with single-node storage).
    pub vminsert: String,
}

/// The Alertmanager both evaluators (vmalert and the Prometheus receiver) send alerts to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alertmanager {
    pub port: Port,
}

/// A vminsert or vmselect: a name and an HTTP port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    pub name: String,
    pub port: Port,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    pub cluster: String,
    pub environment: String,
    pub availability_zone: String,
    /// Name of the vminsert this region's vmagent writes to.
    pub vminsert: String,
    pub vmagent_port: Port,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusPair {
    pub writer: Writer,
    pub receiver: Receiver,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Writer {
    pub port: Port,
    pub cluster: String,
    pub environment: String,
    /// vminsert names, or `receiver`.
    pub remote_write: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub port: Port,
    pub cluster: String,
    pub environment: String,
}

/// What `latency_offset` is when lab.toml leaves it out.
pub const DEFAULT_LATENCY_OFFSET: Duration = Duration::from_secs(1);

fn default_latency_offset() -> Duration {
    DEFAULT_LATENCY_OFFSET
}

/// Name the writer uses for the Prometheus receiver in `remote_write`.
pub const RECEIVER: &str = "receiver";

impl Topology {
    /// Reads and validates a topology file; errors start with its path.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let at = |field: String| format!("{}: {field}", path.display());
        Topology::parse(&text).map_err(|e| match e {
            TopologyError::Parse {
                field,
                line,
                message,
            } => TopologyError::Parse {
                field: at(field),
                line,
                message,
            },
            TopologyError::Invalid { field, message } => TopologyError::Invalid {
                field: at(field),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates topology text.
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let t: Topology = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        t.validate()?;
        Ok(t)
    }

    /// Checks the rules a well-formed file can still break.
    pub fn validate(&self) -> Result<(), TopologyError> {
        self.validate_intervals()?;
        for (kind, n) in [
            ("region", self.region.len()),
            ("vmstorage", self.vmstorage.len()),
            ("vminsert", self.vminsert.len()),
            ("vmselect", self.vmselect.len()),
        ] {
            if n == 0 {
                return Err(invalid(kind, format!("at least one [[{kind}]] is needed")));
            }
        }
        let rf = self.replication_factor;
        if rf == 0 || rf as usize > self.vmstorage.len() {
            return Err(invalid(
                "replication_factor",
                format!(
                    "{rf} must be between 1 and the number of vmstorage nodes ({})",
                    self.vmstorage.len()
                ),
            ));
        }
        self.retention()
            .map_err(|e| invalid("retention_period", e))?;
        self.validate_exporter()?;
        self.validate_names()?;
        self.validate_routes()?;
        self.validate_incidents()?;
        self.validate_ports()
    }

    /// `retention_period` as a duration. Both VictoriaMetrics and Prometheus take it, so it must
    /// be a whole number of days, weeks or years (`1d`, `2w`, `1y`), or of hours that make at
    /// least a day (`36h`): a bare number means months to VictoriaMetrics and nothing to
    /// Prometheus, and VictoriaMetrics keeps at least a day.
    pub fn retention(&self) -> Result<Duration, String> {
        let r = &self.retention_period;
        let unit = |c: char| match c {
            'h' => Some(3_600u64),
            'd' => Some(86_400),
            'w' => Some(7 * 86_400),
            'y' => Some(365 * 86_400),
            _ => None,
        };
        let parsed = r.char_indices().last().and_then(|(i, c)| {
            let digits = &r[..i];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u64>().ok()?.checked_mul(unit(c)?)
        });
        match parsed {
            Some(secs) if secs >= 86_400 => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "{r:?} must be a whole number of days, weeks or years (1d, 2w, 1y), or of hours \
                 making at least a day (36h)"
            )),
        }
    }

    /// The fleet's size and churn are what mock-exporter accepts.
    fn validate_exporter(&self) -> Result<(), TopologyError> {
        let e = &self.exporter;
        if e.scale.get() > MAX_SCALE {
            return Err(invalid(
                "exporter.scale",
                format!(
                    "{} is above {MAX_SCALE}, the most mock-exporter simulates",
                    e.scale
                ),
            ));
        }
        if !(e.churn_fraction > 0.0 && e.churn_fraction <= 1.0) {
            return Err(invalid(
                "exporter.churn_fraction",
                format!("{} must be above 0 and at most 1", e.churn_fraction),
            ));
        }
        match e.churn_interval {
            Some(d) if d.as_secs() == 0 || d.subsec_nanos() != 0 => Err(invalid(
                "exporter.churn_interval",
                format!(
                    "{:?} must be whole seconds, at least one",
                    humantime::format_duration(d).to_string()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Incidents parse as the exporter parses them, name endpoints it serves, and do not overlap.
    fn validate_incidents(&self) -> Result<(), TopologyError> {
        let mut schedule = Vec::new();
        for (i, inc) in self.exporter.incident.iter().enumerate() {
            let spec: Spec = inc
                .arg()
                .parse()
                .map_err(|e| invalid(format!("exporter.incident[{i}]"), e))?;
            if let Some(r) = spec.region.as_deref() {
                if !self.region.iter().any(|reg| reg.name == r) {
                    let names: Vec<&str> = self.region.iter().map(|r| r.name.as_str()).collect();
                    return Err(invalid(
                        format!("exporter.incident[{i}].region"),
                        format!("{r:?} is no [[region]] (known: {})", names.join(", ")),
                    ));
                }
            }
            schedule.push(spec.resolve(0));
        }
        incident::check(&schedule, &fleet::endpoints()).map_err(|e| invalid("exporter.incident", e))
    }

    fn validate_intervals(&self) -> Result<(), TopologyError> {
        let text = |d: Duration| humantime::format_duration(d).to_string();
        for (field, d) in [
            ("scrape_interval", self.scrape_interval),
            ("fast_scrape_interval", self.fast_scrape_interval),
        ] {
            if d.is_zero() {
                return Err(invalid(field, format!("{:?} must be above zero", text(d))));
            }
        }
        if self.fast_scrape_interval > self.scrape_interval {
            return Err(invalid(
                "fast_scrape_interval",
                format!(
                    "{:?} is longer than scrape_interval {:?}",
                    text(self.fast_scrape_interval),
                    text(self.scrape_interval)
                ),
            ));
        }
        Ok(())
    }

    /// Every component name with the field that sets it.
    fn names(&self) -> Vec<(String, &str)> {
        let kinds: [(&str, Vec<&str>); 4] = [
            (
                "vmstorage",
                self.vmstorage.iter().map(|s| s.name.as_str()).collect(),
            ),
            (
                "vminsert",
                self.vminsert.iter().map(|s| s.name.as_str()).collect(),
            ),
            (
                "vmselect",
                self.vmselect.iter().map(|s| s.name.as_str()).collect(),
            ),
            (
                "region",
                self.region.iter().map(|s| s.name.as_str()).collect(),
            ),
        ];
        kinds
            .into_iter()
            .flat_map(|(kind, names)| {
                names
                    .into_iter()
                    .enumerate()
                    .map(move |(i, n)| (format!("{kind}[{i}].name"), n))
            })
            .collect()
    }

    fn validate_names(&self) -> Result<(), TopologyError> {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (field, name) in self.names() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid(
                    field,
                    format!("{name:?} must be letters, digits and dashes"),
                ));
            }
            if let Some(first) = seen.insert(name, field.clone()) {
                return Err(invalid(
                    field,
                    format!("{name:?} is already used by {first}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_routes(&self) -> Result<(), TopologyError> {
        let inserts: Vec<&str> = self.vminsert.iter().map(|v| v.name.as_str()).collect();
        for (i, r) in self.region.iter().enumerate() {
            if !inserts.contains(&r.vminsert.as_str()) {
                return Err(invalid(
                    format!("region[{i}].vminsert"),
                    format!(
                        "region {:?} writes to {:?}, which is not a [[vminsert]] (known: {})",
                        r.name,
                        r.vminsert,
                        inserts.join(", ")
                    ),
                ));
            }
        }
        if !inserts.contains(&self.vmalert.vminsert.as_str()) {
            return Err(invalid(
                "vmalert.vminsert",
                format!(
                    "vmalert writes to {:?}, which is not a [[vminsert]] (known: {})",
                    self.vmalert.vminsert,
                    inserts.join(", ")
                ),
            ));
        }
        for (i, target) in self.prometheus.writer.remote_write.iter().enumerate() {
            if target != RECEIVER && !inserts.contains(&target.as_str()) {
                return Err(invalid(
                    format!("prometheus.writer.remote_write[{i}]"),
                    format!(
                        "{target:?} is neither {RECEIVER:?} nor a [[vminsert]] (known: {})",
                        inserts.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_ports(&self) -> Result<(), TopologyError> {
        let mut seen: BTreeMap<u16, String> = BTreeMap::new();
        for (field, port) in self.ports() {
            if let Some(first) = seen.insert(port, field.clone()) {
                return Err(invalid(
                    field,
                    format!("port {port} is already used by {first}"),
                ));
            }
        }
        Ok(())
    }

    /// Every port in the file, with the field that sets it.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let mut t = self.clone();
        let mut out = Vec::new();
        t.each_port(|field, p| {
            out.push((field, p.get()));
            Ok(())
        })
        .expect("collecting never fails");
        out
    }

    /// Calls `f` on every port of the file with the field that sets it, in file order.
    fn each_port(
        &mut self,
        mut f: impl FnMut(String, &mut Port) -> Result<(), TopologyError>,
    ) -> Result<(), TopologyError> {
        f("exporter.port".into(), &mut self.exporter.port)?;
        f("vmauth.port".into(), &mut self.vmauth.port)?;
        f("single.port".into(), &mut self.single.port)?;
        f("grafana.port".into(), &mut self.grafana.port)?;
        f(
            "prometheus.writer.port".into(),
            &mut self.prometheus.writer.port,
        )?;
        f(
            "prometheus.receiver.port".into(),
            &mut self.prometheus.receiver.port,
        )?;
        f("vmalert.port".into(), &mut self.vmalert.port)?;
        f("alertmanager.port".into(), &mut self.alertmanager.port)?;
        for (i, s) in self.vmstorage.iter_mut().enumerate() {
            f(format!("vmstorage[{i}].http_port"), &mut s.http_port)?;
            f(
                format!("vmstorage[{i}].vminsert_port"),
                &mut s.vminsert_port,
            )?;
            f(
                format!("vmstorage[{i}].vmselect_port"),
                &mut s.vmselect_port,
            )?;
        }
        for (i, s) in self.vminsert.iter_mut().enumerate() {
            f(format!("vminsert[{i}].port"), &mut s.port)?;
        }
        for (i, s) in self.vmselect.iter_mut().enumerate() {
            f(format!("vmselect[{i}].port"), &mut s.port)?;
        }
        for (i, r) in self.region.iter_mut().enumerate() {
            f(format!("region[{i}].vmagent_port"), &mut r.vmagent_port)?;
        }
        Ok(())
    }

    /// The same lab with every port shifted by `offset`, so two labs can run side by side.
    pub fn with_port_offset(&self, offset: u16) -> Result<Topology, TopologyError> {
        let mut t = self.clone();
        t.each_port(|field, p| {
            *p = p.checked_add(offset).ok_or_else(|| {
                invalid(field, format!("port {p} + offset {offset} is above 65535"))
            })?;
            Ok(())
        })?;
        Ok(t)
    }

    /// The scrape interval, `fast` choosing the test setting.
    pub fn interval(&self, fast: bool) -> Duration {
        if fast {
            self.fast_scrape_interval
        } else {
            self.scrape_interval
        }
    }

    pub fn vminsert_port(&self, name: &str) -> Option<Port> {
        self.vminsert
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.port)
    }

    /// The address a listener on `port` binds.
    pub fn listen(&self, port: Port) -> SocketAddr {
        SocketAddr::new(self.listen_address, port.get())
    }

    /// The address clients dial for a listener on `port`: the listen address, or loopback when
    /// that is the unspecified address (`0.0.0.0`, `::`).
    pub fn connect(&self, port: Port) -> SocketAddr {
        let ip = match self.listen_address {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, port.get())
    }

    /// `http://HOST:PORT{path}` of a listener on `port`.
    pub fn http_url(&self, port: Port, path: &str) -> String {
        format!("http://{}{path}", self.connect(port))
    }
}

/// A TOML error as one line naming the field (`region[1].vmagent_port`) and the value written.
fn parse_error(text: &str, e: &toml::de::Error) -> TopologyError {
    let message = e.message().trim_end().to_string();
    let Some(span) = e.span() else {
        return TopologyError::Parse {
            field: "lab.toml".into(),
            line: 1,
            message,
        };
    };
    let (field, line, value) = locate(text, span);
    TopologyError::Parse {
        field,
        line,
        message: match value {
            Some(v) => format!("{v}: {message}"),
            None => message,
        },
    }
}

/// The field at `span` (`table.key`, `array[i].key`, or the table), its line number, and the
/// value written there when the span is a value.
fn locate(text: &str, span: Range<usize>) -> (String, usize, Option<&str>) {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut table = String::new();
    let mut arrays: BTreeMap<&str, usize> = BTreeMap::new();
    for l in text[..line_end].lines() {
        let l = l.split('#').next().unwrap_or("").trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = arrays.entry(name.trim()).or_insert(0);
            table = format!("{}[{n}]", name.trim());
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = name.trim().to_string();
        }
    }
    let line_no = text[..line_start].matches('\n').count() + 1;
    let line = &text[line_start..line_end];
    let Some(eq) = line
        .find('=')
        .filter(|_| !line.trim_start().starts_with('['))
    else {
        return (table, line_no, None);
    };
    let key = line[..eq].trim();
    let field = if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    };
    let value =
        (start > line_start + eq).then(|| text[span.start..span.end.min(text.len())].trim());
    (field, line_no, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = include_str!("../../lab.toml");

    fn err(text: &str) -> String {
        Topology::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parse_the_lab_file() {
        let t = Topology::parse(LAB).unwrap();
        assert_eq!(t.region.len(), 4);
        let routes: Vec<(&str, &str)> = t
            .region
            .iter()
            .map(|r| (r.name.as_str(), r.vminsert.as_str()))
            .collect();
        assert_eq!(
            routes,
            [
                ("us-east-1", "vminsert-1"),
                ("eu-west-1", "vminsert-2"),
                ("ap-southeast-1", "vminsert-1"),
                ("sa-east-1", "vminsert-2")
            ]
        );
        assert_eq!(t.interval(false), Duration::from_secs(15));
        assert_eq!(t.prometheus.writer.cluster, "staging-cluster");
        assert_eq!(t.latency_offset, Duration::from_secs(1));
    }

    #[test]
    fn retention_period_is_read_in_units_both_stores_take() {
        let with = |r: &str| {
            let text: Vec<String> = include_str!("../../lab.toml")
                .lines()
                .map(|l| {
                    if l.starts_with("retention_period") {
                        format!("retention_period = \"{r}\"")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            Topology::parse(&text.join("\n"))
        };
        let days = |n: u64| Ok(Duration::from_secs(n * 86_400));
        assert_eq!(with("1d").unwrap().retention(), days(1));
        assert_eq!(with("2w").unwrap().retention(), days(14));
        assert_eq!(with("48h").unwrap().retention(), days(2));
        for bad in [
            "1",
            "0d",
            "12h",
            "+4d",
            " 4d",
            "1.5d",
            "d",
            "3 days",
            "",
            "99999999999999999y",
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("retention_period"), "{bad}: {e}");
        }
    }

    #[test]
    fn parse_exporter_incidents_into_the_exporter_flag() {
        let inc = "[[exporter.incident]]\nservice = \"checkout\"\nstart = \"+60s\"\nduration = \"10m\"\nerrors = 20\n";
        let t = Topology::parse(&format!("{LAB}\n{inc}")).unwrap();
        assert_eq!(
            t.exporter.incident[0].arg(),
            "service=checkout,start=+60s,duration=10m,errors=20,latency=1"
        );
        let bad = |extra: &str, want: &str| {
            let e = Topology::parse(&format!("{LAB}\n{inc}{extra}")).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        };
        bad("latency = -2\n", "latency `-2`");
        bad("region = \"mars-1\"\n", "\"mars-1\" is no [[region]]");
        bad(
            "[[exporter.incident]]\nservice = \"checkout\"\nstart = \"+5m\"\nduration = \"1m\"\n",
            "incidents 1 and 2 overlap",
        );
        bad(
            "[[exporter.incident]]\nservice = \"billing\"\nstart = \"+1h\"\nduration = \"1m\"\n",
            "no endpoint is service=billing",
        );
    }

    #[test]
    fn parse_defaults_the_latency_offset_and_reads_it() {
        let line = "latency_offset = \"1s\"";
        assert!(LAB.contains(line));
        let t = Topology::parse(&LAB.replacen(line, "", 1)).unwrap();
        assert_eq!(t.latency_offset, DEFAULT_LATENCY_OFFSET);
        let t = Topology::parse(&LAB.replacen(line, "latency_offset = \"30s\"", 1)).unwrap();
        assert_eq!(t.latency_offset, Duration::from_secs(30));
        let e = err(&LAB.replacen(line, "latency_offset = \"soon\"", 1));
        assert!(e.starts_with("latency_offset:"), "{e}");
    }

    #[test]
    fn validate_rejects_an_unknown_vminsert_in_a_route() {
        let e = err(&LAB.replacen("vminsert = \"vminsert-2\"", "vminsert = \"vminsert-9\"", 1));
        assert!(e.starts_with("region[1].vminsert:"), "{e}");
        assert!(e.contains("vminsert-9"), "{e}");
    }

    #[test]
    fn validate_rejects_a_duplicate_port() {
        let e = err(&LAB.replace("port = 9091", "port = 9092"));
        assert!(
            e.contains("prometheus.receiver.port")
                && e.contains("already used by prometheus.writer.port"),
            "{e}"
        );
    }

    #[test]
    fn parse_names_a_missing_field() {
        let e = err(&LAB.replace("seed = 1\n", ""));
        assert!(e.contains("missing field `seed`"), "{e}");
        let e = err(&LAB.replace("availability_zone = \"eu-west-1b\"\n", ""));
        assert!(e.contains("availability_zone"), "{e}");
    }

    #[test]
    fn parse_rejects_unknown_fields_and_bad_durations() {
        let e = err(&LAB.replace("seed = 1", "seed = 1\nsede = 2"));
        assert!(e.contains("sede"), "{e}");
        let e = err(&LAB.replace("\"15s\"", "\"fifteen\""));
        assert!(e.starts_with("scrape_interval:"), "{e}");
    }

    #[test]
    fn validate_rejects_an_unknown_writer_target() {
        let e = err(&LAB.replace(
            "[\"vminsert-1\", \"receiver\"]",
            "[\"vminsert-1\", \"recever\"]",
        ));
        assert!(e.starts_with("prometheus.writer.remote_write[1]:"), "{e}");
    }

    #[test]
    fn validate_rejects_an_unknown_vmalert_vminsert() {
        let e = err(&LAB.replace(
            "vminsert = \"vminsert-1\"       # where",
            "vminsert = \"vminsert-7\"       # where",
        ));
        assert!(e.starts_with("vmalert.vminsert:"), "{e}");
    }

    #[test]
    fn parse_refuses_a_zero_scrape_interval() {
        let e = err(&LAB.replace("\"15s\"", "\"0s\""));
        assert_eq!(e, "scrape_interval: \"0s\" must be above zero");
    }

    #[test]
    fn parse_reads_scale_and_churn_with_defaults() {
        let t = Topology::parse(LAB).unwrap();
        assert_eq!(
            (t.exporter.scale.get(), t.exporter.churn_interval),
            (1, None)
        );
        let text = LAB
            .replace("scale = 1 ", "scale = 112 ")
            .replace("# churn_interval", "churn_interval");
        let t = Topology::parse(&text).unwrap();
        assert_eq!(t.exporter.scale.get(), 112);
        assert_eq!(t.exporter.churn_interval, Some(Duration::from_secs(600)));
    }

    #[test]
    fn parse_refuses_a_scale_or_churn_the_exporter_would_refuse() {
        let with = |key: &str, value: &str| {
            let line = LAB
                .lines()
                .find(|l| l.starts_with(&format!("# {key} ")) || l.starts_with(&format!("{key} ")))
                .unwrap();
            err(&LAB.replace(line, &format!("{key} = {value}")))
        };
        let e = with("scale", "0");
        assert!(e.starts_with("exporter.scale: "), "{e}");
        assert_eq!(
            with("scale", "100001"),
            "exporter.scale: 100001 is above 100000, the most mock-exporter simulates"
        );
        assert_eq!(
            with("churn_fraction", "0.0"),
            "exporter.churn_fraction: 0 must be above 0 and at most 1"
        );
        assert_eq!(
            with("churn_interval", "\"500ms\""),
            "exporter.churn_interval: \"500ms\" must be whole seconds, at least one"
        );
    }

    #[test]
    fn parse_refuses_a_listen_address_that_is_not_an_ip() {
        let e = err(&LAB.replace("\"127.0.0.1\"", "\"not an ip\""));
        assert!(e.starts_with("listen_address: \"not an ip\": "), "{e}");
        assert!(e.ends_with("(line 6)"), "{e}");
    }

    #[test]
    fn parse_refuses_port_0_naming_the_table() {
        let e = err(&LAB.replace("port = 8427", "port = 0"));
        assert!(e.starts_with("vmauth.port: 0: "), "{e}");
        let e = err(&LAB.replace("vmagent_port = 8430", "vmagent_port = 0"));
        assert!(e.starts_with("region[1].vmagent_port: 0: "), "{e}");
    }

    #[test]
    fn validate_refuses_a_fast_interval_longer_than_the_interval() {
        let e = err(&LAB.replace("\"2s\"", "\"30s\""));
        assert_eq!(
            e,
            "fast_scrape_interval: \"30s\" is longer than scrape_interval \"15s\""
        );
    }

    #[test]
    fn validate_refuses_zero_storage_nodes() {
        let start = LAB.find("[[vmstorage]]").unwrap();
        let end = LAB.find("[[vminsert]]").unwrap();
        let text = format!("vmstorage = []\n{}{}", &LAB[..start], &LAB[end..]);
        assert_eq!(
            err(&text),
            "vmstorage: at least one [[vmstorage]] is needed"
        );
    }

    #[test]
    fn connect_brackets_ipv6_and_dials_loopback_for_any() {
        let mut t = Topology::parse(LAB).unwrap();
        let port = t.exporter.port;
        assert_eq!(
            t.http_url(port, "/metrics"),
            "http://127.0.0.1:2112/metrics"
        );
        t.listen_address = "::1".parse().unwrap();
        assert_eq!(t.http_url(port, "/metrics"), "http://[::1]:2112/metrics");
        assert_eq!(t.listen(port).to_string(), "[::1]:2112");
        t.listen_address = "0.0.0.0".parse().unwrap();
        assert_eq!(t.connect(port).to_string(), "127.0.0.1:2112");
        assert_eq!(t.listen(port).to_string(), "0.0.0.0:2112");
        t.listen_address = "::".parse().unwrap();
        assert_eq!(t.connect(port).to_string(), "[::1]:2112");
    }

    #[test]
    fn with_port_offset_shifts_every_port() {
        let t = Topology::parse(LAB).unwrap();
        let s = t.with_port_offset(1000).unwrap();
        for ((f, a), (_, b)) in t.ports().iter().zip(s.ports()) {
            assert_eq!(a + 1000, b, "{f}");
        }
        assert!(t.with_port_offset(60000).is_err());
    }
}
