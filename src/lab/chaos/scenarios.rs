//! The scenarios: what each breaks, on which lab, and what it promises.
//!
//! A [`Scenario`] is data; [`plan`] turns it into the components to act on for one lab
//! (cluster or single node). A cluster scenario on a single-node lab either has a single-node
//! analogue (`vminsert-down` stops victoria-metrics) or is skipped with the reason.

use serde::Serialize;

use crate::lab::render::vmagent_name;
use crate::lab::supervise::Action;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

/// One fault and what it promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    pub summary: &'static str,
    /// What must hold, checked after the count; empty for a scenario that only reports.
    pub promise: &'static str,
    /// Upstream facts the promise rests on.
    pub facts: &'static str,
    /// The alerts (rules/*.yml) the fault must raise and clear; their firing and resolving
    /// times are reported (not promised: a short run can end before a rule's `for:`).
    pub alerts: &'static [&'static str],
}

pub const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "vminsert-down",
        summary: "vminsert-1 stopped (single node: victoria-metrics stopped) for the duration",
        promise: "the vmagents routed to it buffer on disk (queue grows), the writer retries; 0 samples lost after restore",
        facts: "vmagent -remoteWrite.tmpDataPath on-disk queue, maxDiskUsagePerURL 0 = unlimited (VM docs vmagent.md); \
                Prometheus retries 5xx and connection errors with back-off (P docs remote_write tuning)",
        alerts: &["RemoteWriteFailingVmagent"],
    },
    Scenario {
        name: "vmstorage-down",
        summary: "vmstorage-1 stopped for the duration (cluster only)",
        promise: "vminsert reroutes: 0 samples lost; with replication_factor >= 2 no query answer is partial",
        facts: "vminsert re-routes to healthy vmstorage nodes; vmselect -replicationFactor=N answers in full with up to N-1 nodes down \
                (VM docs Cluster-VictoriaMetrics.md, VM#711, VM#1207, VM#4115)",
        alerts: &["VmstorageUnreachableFromVminsert"],
    },
    Scenario {
        name: "vmselect-down",
        summary: "vmselect-1 stopped for the duration; queries go through vmauth meanwhile (cluster only)",
        promise: "0 failed queries through vmauth (it retries a refused connection on the other vmselect); 0 samples lost",
        facts: "vmauth balances url_prefix lists and tries the next backend when one is unavailable; -failTimeout 3s \
                (VM docs vmauth.md; VM#3061)",
        alerts: &[],
    },
    Scenario {
        name: "receiver-restart",
        summary: "the Prometheus receiver stopped for the duration, then started",
        promise: "the writer retries from its WAL: 0 samples lost (outages shorter than the WAL's ~2 h)",
        facts: "Prometheus remote write reads from the WAL and retries with back-off; the WAL keeps at least 2 h \
                (P docs configuration.md remote_write, prometheus.io/docs/practices/remote_write)",
        alerts: &[],
    },
    Scenario {
        name: "writer-restart",
        summary: "the Prometheus writer stopped for the duration, then started",
        promise: "",
        facts: "on restart, remote write resumes at the WAL's end (\"now\"): unsent samples are lost (P#8809, open)",
        alerts: &[],
    },
    Scenario {
        name: "vmagent-kill",
        summary: "the first region's remote stopped; once its vmagent's queue holds data, the vmagent is SIGKILLed and started again, then the remote",
        promise: "what the on-disk queue held survives the kill: the killed region loses at most the in-memory part \
                  (blocks being sent or batched: about 2 flush intervals plus 1 s of file writes per queue); the other paths lose 0",
        facts: "vmagent's file queue flushes at most once a second; blocks in flight and rows being batched live in memory \
                (VM lib/persistentqueue, app/vmagent/remotewrite; VM#6606, VM#1065)",
        alerts: &[],
    },
    Scenario {
        name: "vmagent-pause",
        summary: "the first region's vmagent hung (SIGSTOP) for the duration, then resumed (SIGCONT)",
        promise: "the missed scrapes are the only loss (0 lost of what was scraped), and `labctl verify` check 3 names the stale region while it lasts",
        facts: "a stopped scraper scrapes nothing; freshness budget of check 3 (src/lab/verify/delays.rs)",
        alerts: &["StaleRegion"],
    },
];

/// The scenario called `name`; an error lists them all.
pub fn find(name: &str) -> anyhow::Result<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        anyhow::anyhow!(
            "no scenario named {name:?} (known: {}; see `labctl chaos list`)",
            names.join(", ")
        )
    })
}

/// What watching the lab measures besides queues and delays while the fault lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    None,
    /// Runs `labctl verify` check 3 and notes whether it names this region as stale.
    Freshness(String),
    /// Queries through vmauth and counts complete, partial and failed answers.
    Queries,
}

/// A scenario made concrete for one lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Done in order at injection; undone in reverse at restore.
    pub faults: Vec<(String, Action)>,
    /// vmagent-kill: the vmagent killed (and started again) once its queue holds data.
    pub kill: Option<String>,
    pub probe: Probe,
    /// Regions whose write path goes through the fault.
    pub routed: Vec<String>,
    /// How the scenario maps onto this lab (e.g. the single-node analogue).
    pub note: String,
}

/// The undo of a fault action.
pub fn undo(action: Action) -> Action {
    match action {
        Action::Pause => Action::Resume,
        _ => Action::Start,
    }
}

/// The components a scenario acts on in this lab, or why it does not apply.
pub fn plan(s: &Scenario, t: &Topology, storage: Storage) -> Result<Plan, String> {
    let cluster = storage == Storage::Cluster;
    let first = &t.region[0];
    let remote_of = |vminsert: &str| {
        if cluster {
            vminsert.to_string()
        } else {
            "victoria-metrics".to_string()
        }
    };
    let routed_to = |remote: &str| -> Vec<String> {
        t.region
            .iter()
            .filter(|r| remote_of(&r.vminsert) == remote)
            .map(|r| r.name.clone())
            .collect()
    };
    let one = |name: String, action: Action, note: String, probe: Probe| Plan {
        routed: routed_to(&name),
        faults: vec![(name, action)],
        kill: None,
        probe,
        note,
    };
    let cluster_only = || {
        format!(
            "{} needs the cluster (--storage cluster); a single-node lab has no such component",
            s.name
        )
    };
    Ok(match s.name {
        "vminsert-down" => {
            let target = remote_of(&t.vminsert[0].name);
            let note = if cluster {
                format!("{target} stopped")
            } else {
                "single-node analogue: victoria-metrics stopped".into()
            };
            one(target, Action::Stop, note, Probe::None)
        }
        "vmstorage-down" if cluster => {
            let rf = t.replication_factor;
            let note = format!("vmstorage-1 stopped; replication_factor {rf}");
            one(
                t.vmstorage[0].name.clone(),
                Action::Stop,
                note,
                Probe::Queries,
            )
        }
        "vmselect-down" if cluster => {
            let note = format!("{} stopped; queries through vmauth", t.vmselect[0].name);
            one(
                t.vmselect[0].name.clone(),
                Action::Stop,
                note,
                Probe::Queries,
            )
        }
        "vmstorage-down" | "vmselect-down" => return Err(cluster_only()),
        "receiver-restart" => one(
            "prometheus-receiver".into(),
            Action::Stop,
            "prometheus-receiver stopped".into(),
            Probe::None,
        ),
        "writer-restart" => one(
            "prometheus-writer".into(),
            Action::Stop,
            "prometheus-writer stopped".into(),
            Probe::None,
        ),
        "vmagent-kill" => {
            let remote = remote_of(&first.vminsert);
            let agent = vmagent_name(first);
            Plan {
                routed: routed_to(&remote),
                note: format!("{remote} stopped; {agent} SIGKILLed with a non-empty queue, started again; then {remote} started"),
                faults: vec![(remote, Action::Stop)],
                kill: Some(agent),
                probe: Probe::None,
            }
        }
        "vmagent-pause" => {
            let agent = vmagent_name(first);
            Plan {
                routed: vec![first.name.clone()],
                note: format!("{agent} paused (SIGSTOP), then resumed (SIGCONT)"),
                faults: vec![(agent, Action::Pause)],
                kill: None,
                probe: Probe::Freshness(first.name.clone()),
            }
        }
        other => unreachable!("scenario {other} has no plan"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Topology {
        Topology::parse(include_str!("../../../lab.toml")).unwrap()
    }

    #[test]
    fn plan_vminsert_down_on_a_single_node_stops_victoria_metrics() {
        let p = plan(find("vminsert-down").unwrap(), &lab(), Storage::Single).unwrap();
        assert_eq!(p.faults, [("victoria-metrics".to_string(), Action::Stop)]);
        assert_eq!(p.routed.len(), 4, "every region writes to the single node");
        assert!(p.note.starts_with("single-node analogue"), "{}", p.note);
        let c = plan(find("vminsert-down").unwrap(), &lab(), Storage::Cluster).unwrap();
        assert_eq!(c.faults[0].0, "vminsert-1");
        assert_eq!(c.routed, ["us-east-1", "ap-southeast-1"]);
    }

    #[test]
    fn plan_skips_cluster_scenarios_on_a_single_node_saying_why() {
        for name in ["vmstorage-down", "vmselect-down"] {
            let e = plan(find(name).unwrap(), &lab(), Storage::Single).unwrap_err();
            assert!(e.contains("needs the cluster"), "{e}");
        }
    }

    #[test]
    fn plan_vmagent_kill_stops_the_remote_and_kills_the_first_region() {
        let p = plan(find("vmagent-kill").unwrap(), &lab(), Storage::Cluster).unwrap();
        assert_eq!(p.faults, [("vminsert-1".to_string(), Action::Stop)]);
        assert_eq!(p.kill.as_deref(), Some("vmagent-us-east-1"));
    }

    #[test]
    fn find_lists_every_scenario_for_an_unknown_name() {
        let e = find("disk-full").unwrap_err().to_string();
        assert!(e.contains("vminsert-down, vmstorage-down, vmselect-down, receiver-restart, writer-restart, vmagent-kill, vmagent-pause"), "{e}");
        assert!(SCENARIOS
            .iter()
            .all(|s| plan(s, &lab(), Storage::Cluster).is_ok()));
    }
}
