//! The lab's topology: `lab.toml` read into typed, validated data.
//!
//! The file is shared with the Nix modules (`builtins.fromTOML`), so it stays plain data and
//! every rule about it lives here: each region writes to a vminsert that exists, the writer's
//! remote-write targets exist, no two listeners share a port. Errors name the field.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything that can be wrong with a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
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
    pub scrape_interval: String,
    pub fast_scrape_interval: String,
    pub listen_address: String,
    pub tenant: u32,
    pub retention_period: String,
    pub exporter: Exporter,
    pub vmauth: Vmauth,
    pub single: Single,
    pub grafana: Grafana,
    pub vmstorage: Vec<Vmstorage>,
    pub vminsert: Vec<Named>,
    pub vmselect: Vec<Named>,
    pub region: Vec<Region>,
    pub prometheus: PrometheusPair,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exporter {
    pub port: u16,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmauth {
    pub port: u16,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Single {
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmstorage {
    pub name: String,
    pub http_port: u16,
    pub vminsert_port: u16,
    pub vmselect_port: u16,
}

/// A vminsert or vmselect: a name and an HTTP port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    pub name: String,
    pub port: u16,
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
    pub vmagent_port: u16,
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
    pub port: u16,
    pub cluster: String,
    pub environment: String,
    /// vminsert names, or `receiver`.
    pub remote_write: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub port: u16,
    pub cluster: String,
    pub environment: String,
}

/// Name the writer uses for the Prometheus receiver in `remote_write`.
pub const RECEIVER: &str = "receiver";

/// Parses a duration such as `15s`, `2s`, `500ms` or `1m`.
pub fn parse_duration(field: &str, s: &str) -> Result<Duration, TopologyError> {
    humantime::parse_duration(s)
        .map_err(|e| invalid(field, format!("{s:?} is not a duration: {e}")))
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Topology::parse(&text).map_err(|e| match e {
            TopologyError::Parse { message, .. } => TopologyError::Parse {
                path: path.display().to_string(),
                message,
            },
            TopologyError::Invalid { field, message } => TopologyError::Invalid {
                field: format!("{}: {field}", path.display()),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates topology text.
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let t: Topology = toml::from_str(text).map_err(|e| TopologyError::Parse {
            path: "lab.toml".into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        t.validate()?;
        Ok(t)
    }

    /// Checks the rules a well-formed file can still break.
    pub fn validate(&self) -> Result<(), TopologyError> {
        parse_duration("scrape_interval", &self.scrape_interval)?;
        parse_duration("fast_scrape_interval", &self.fast_scrape_interval)?;
        if self.region.is_empty() {
            return Err(invalid("region", "at least one [[region]] is needed"));
        }
        for (kind, n) in [
            ("vmstorage", self.vmstorage.len()),
            ("vminsert", self.vminsert.len()),
            ("vmselect", self.vmselect.len()),
        ] {
            if n == 0 {
                return Err(invalid(kind, format!("at least one [[{kind}]] is needed")));
            }
        }
        let mut names: BTreeMap<&str, String> = BTreeMap::new();
        let all_names = self
            .vmstorage
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("vmstorage[{i}].name"), s.name.as_str()))
            .chain(
                self.vminsert
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("vminsert[{i}].name"), s.name.as_str())),
            )
            .chain(
                self.vmselect
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("vmselect[{i}].name"), s.name.as_str())),
            )
            .chain(
                self.region
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("region[{i}].name"), s.name.as_str())),
            );
        for (field, name) in all_names {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid(
                    field,
                    format!("{name:?} must be letters, digits and dashes"),
                ));
            }
            if let Some(first) = names.insert(name, field.clone()) {
                return Err(invalid(
                    field,
                    format!("{name:?} is already used by {first}"),
                ));
            }
        }
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
        let mut seen: BTreeMap<u16, String> = BTreeMap::new();
        for (field, port) in self.ports() {
            if port == 0 {
                return Err(invalid(field, "port 0 is not allowed"));
            }
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
        let mut out = vec![
            ("exporter.port".to_string(), self.exporter.port),
            ("vmauth.port".to_string(), self.vmauth.port),
            ("single.port".to_string(), self.single.port),
            ("grafana.port".to_string(), self.grafana.port),
            (
                "prometheus.writer.port".to_string(),
                self.prometheus.writer.port,
            ),
            (
                "prometheus.receiver.port".to_string(),
                self.prometheus.receiver.port,
            ),
        ];
        for (i, s) in self.vmstorage.iter().enumerate() {
            out.push((format!("vmstorage[{i}].http_port"), s.http_port));
            out.push((format!("vmstorage[{i}].vminsert_port"), s.vminsert_port));
            out.push((format!("vmstorage[{i}].vmselect_port"), s.vmselect_port));
        }
        for (i, s) in self.vminsert.iter().enumerate() {
            out.push((format!("vminsert[{i}].port"), s.port));
        }
        for (i, s) in self.vmselect.iter().enumerate() {
            out.push((format!("vmselect[{i}].port"), s.port));
        }
        for (i, r) in self.region.iter().enumerate() {
            out.push((format!("region[{i}].vmagent_port"), r.vmagent_port));
        }
        out
    }

    /// The same lab with every port shifted by `offset`, so two labs can run side by side.
    pub fn with_port_offset(&self, offset: u16) -> Result<Topology, TopologyError> {
        let mut t = self.clone();
        let shift = |field: &str, p: &mut u16| -> Result<(), TopologyError> {
            *p = p.checked_add(offset).ok_or_else(|| {
                invalid(field, format!("port {p} + offset {offset} is above 65535"))
            })?;
            Ok(())
        };
        shift("exporter.port", &mut t.exporter.port)?;
        shift("vmauth.port", &mut t.vmauth.port)?;
        shift("single.port", &mut t.single.port)?;
        shift("grafana.port", &mut t.grafana.port)?;
        shift("prometheus.writer.port", &mut t.prometheus.writer.port)?;
        shift("prometheus.receiver.port", &mut t.prometheus.receiver.port)?;
        for s in &mut t.vmstorage {
            shift("vmstorage.http_port", &mut s.http_port)?;
            shift("vmstorage.vminsert_port", &mut s.vminsert_port)?;
            shift("vmstorage.vmselect_port", &mut s.vmselect_port)?;
        }
        for s in t.vminsert.iter_mut().chain(t.vmselect.iter_mut()) {
            shift("port", &mut s.port)?;
        }
        for r in &mut t.region {
            shift("region.vmagent_port", &mut r.vmagent_port)?;
        }
        Ok(t)
    }

    /// The scrape interval, `fast` choosing the test setting.
    pub fn interval(&self, fast: bool) -> Duration {
        let (field, s) = if fast {
            ("fast_scrape_interval", &self.fast_scrape_interval)
        } else {
            ("scrape_interval", &self.scrape_interval)
        };
        parse_duration(field, s).expect("validated on load")
    }

    pub fn vminsert_port(&self, name: &str) -> Option<u16> {
        self.vminsert
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.port)
    }
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
    fn with_port_offset_shifts_every_port() {
        let t = Topology::parse(LAB).unwrap();
        let s = t.with_port_offset(1000).unwrap();
        for ((f, a), (_, b)) in t.ports().iter().zip(s.ports()) {
            assert_eq!(a + 1000, b, "{f}");
        }
        assert!(t.with_port_offset(60000).is_err());
    }
}
