//! The rule files in rules/: both evaluators accept them (`promtool check rules`, vmalert
//! `-dryRun`), `promtool test rules` passes (rules/tests/), every alert and recording rule has
//! a unit test, and every alert carries summary, description and a runbook section in
//! docs/runbooks.md.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rules_dir() -> PathBuf {
    Path::new(ROOT).join("rules")
}

/// The rule files both evaluators load (`rules/*.yml`), sorted.
fn rule_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rules/*.yml");
    files
}

fn test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir().join("tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    files.sort();
    files
}

/// Names declared with `- alert: NAME` or `- record: NAME` in `text`.
fn declared<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("- {key}: ");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .map(str::trim)
        .collect()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program}: {e} (install Debian's prometheus and victoria-metrics; .ci/run does)"
            )
        });
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn rules_pass_promtool_check() {
    let files: Vec<String> = rule_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (ok, text) = run("promtool", &args);
    assert!(ok, "{text}");
}

#[test]
fn rules_pass_their_promtool_unit_tests() {
    let files: Vec<String> = test_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (ok, text) = run("promtool", &args);
    assert!(ok, "{text}");
}

/// vmalert -dryRun checks the files as vmalert parses them (MetricsQL and templates); a broken
/// file must fail it, or the check proves nothing.
#[test]
fn rules_pass_vmalert_dry_run() {
    let glob = format!("-rule={}/*.yml", rules_dir().display());
    let (ok, text) = run("vmalert", &["-dryRun", &glob]);
    assert!(ok, "{text}");
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(up[5m]\n",
    )
    .unwrap();
    let (ok, text) = run("vmalert", &["-dryRun", &format!("-rule={}", bad.display())]);
    assert!(!ok, "vmalert -dryRun accepted a broken expression:\n{text}");
}

#[test]
fn every_alert_and_recording_rule_has_a_unit_test() {
    let tests: String = test_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let tested_alerts: Vec<&str> = tests
        .lines()
        .filter_map(|l| l.trim().strip_prefix("alertname: "))
        .collect();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for alert in declared(&text, "alert") {
            assert!(
                tested_alerts.contains(&alert),
                "{}: alert {alert} has no alert_rule_test in rules/tests/",
                file.display()
            );
        }
        for record in declared(&text, "record") {
            assert!(
                tests.contains(&format!("expr: {record}")),
                "{}: recording rule {record} has no promql_expr_test in rules/tests/",
                file.display()
            );
        }
    }
}

#[test]
fn every_alert_has_summary_description_and_a_runbook_section() {
    let runbooks = std::fs::read_to_string(Path::new(ROOT).join("docs/runbooks.md")).unwrap();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        // Each alert's block runs to the next rule.
        let blocks: Vec<&str> = text.split("- alert: ").skip(1).collect();
        assert_eq!(blocks.len(), declared(&text, "alert").len());
        for block in blocks {
            let block = block.split("- record: ").next().unwrap();
            let name = block.lines().next().unwrap().trim();
            for key in ["summary:", "description:", "runbook:"] {
                assert!(block.contains(key), "{name}: no {key} annotation");
            }
            let anchor = format!("runbook: docs/runbooks.md#{}", name.to_lowercase());
            assert!(
                block.contains(&anchor),
                "{name}: runbook annotation is not {anchor}"
            );
            assert!(
                runbooks.contains(&format!("\n## {name}\n")),
                "docs/runbooks.md has no `## {name}` section"
            );
        }
    }
}
