//! The Nix side, as far as it can be checked without nixpkgs: every file parses and is formatted,
//! the pure functions of nix/lib.nix pass their tests, flake.lock pins what the project pins.
//! (That the Nix and Rust renderings agree is tests/nix_parity.rs.)

use std::path::Path;
use std::process::Command;

#[path = "support/nix_files.rs"]
mod nix_files;

use nix_files::nix_files;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn nix_instantiate(args: &[&str]) -> std::process::Output {
    Command::new("nix-instantiate")
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("nix-instantiate not found: install Debian's `nix-bin` (.ci/run does)")
}

#[test]
fn every_nix_file_parses() {
    let files = nix_files(Path::new(ROOT));
    assert!(files.len() >= 15, "only {} .nix files found", files.len());
    for f in files {
        let out = nix_instantiate(&["--parse", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_nix_file_is_formatted_with_alejandra() {
    let mut unformatted = Vec::new();
    for f in nix_files(Path::new(ROOT)) {
        let text = std::fs::read_to_string(&f).unwrap();
        match alejandra::format::in_memory(f.display().to_string(), text.clone()) {
            (alejandra::format::Status::Error(e), _) => panic!("{}: {e}", f.display()),
            (_, formatted) if formatted != text => unformatted.push(f.display().to_string()),
            _ => {}
        }
    }
    assert!(
        unformatted.is_empty(),
        "not formatted (run `cargo run --example nixfmt`): {unformatted:#?}"
    );
}

#[test]
fn nix_lib_passes_its_tests() {
    let out = nix_instantiate(&["--eval", "--strict", "--json", "nix/tests/lib.nix"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failures: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failures, Value::Array(vec![]), "nix/tests/lib.nix failures");
}

/// The nixpkgs pin (nixos-26.05), as the project's reference fixes it.
const PIN_REV: &str = "7fc6f2c20af09cdcaf48b92ec3121860139ec668";
const PIN_NAR_HASH: &str = "sha256-bNyvoIyOCu7lzoCpWKWGIsHpTtERUWzqYWFPlN++WTw=";
const PIN_LAST_MODIFIED: u64 = 1_790_635_395;

#[test]
fn flake_lock_is_version_7_and_pins_nixos_26_05() {
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("flake.lock")).unwrap())
            .expect("flake.lock is not JSON");
    assert_eq!(lock["version"], 7);
    assert_eq!(lock["root"], "root");
    let inputs = lock["nodes"]["root"]["inputs"].as_object().unwrap();
    assert_eq!(
        inputs.keys().collect::<Vec<_>>(),
        ["nixpkgs"],
        "only the nixpkgs input"
    );
    let node = &lock["nodes"][inputs["nixpkgs"].as_str().unwrap()];
    let locked = &node["locked"];
    assert_eq!(locked["type"], "github");
    assert_eq!(locked["owner"], "NixOS");
    assert_eq!(locked["repo"], "nixpkgs");
    assert_eq!(locked["rev"], PIN_REV);
    assert_eq!(locked["narHash"], PIN_NAR_HASH);
    assert_eq!(locked["lastModified"], PIN_LAST_MODIFIED);
    assert_eq!(node["original"]["ref"], "nixos-26.05");
    // Every node but root is referenced, and every reference resolves.
    let nodes = lock["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), inputs.len() + 1);
    // Where the shared reference is at hand (CI lays it beside the clone), it must agree.
    let pins = Path::new(ROOT).join("../shared/reference/pins.md");
    if let Ok(text) = std::fs::read_to_string(pins) {
        for want in [PIN_REV, PIN_NAR_HASH, &PIN_LAST_MODIFIED.to_string()] {
            assert!(text.contains(want), "pins.md no longer lists {want}");
        }
    }
}

#[test]
fn flake_nix_declares_only_the_nixpkgs_input() {
    let out = nix_instantiate(&[
        "--eval",
        "--strict",
        "--json",
        "--expr",
        "(import ./flake.nix).inputs",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inputs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        inputs,
        serde_json::json!({"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-26.05"}})
    );
}

#[test]
fn cluster_package_pins_the_v1_150_0_cluster_source() {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("nix/victoriametrics-cluster.nix")).unwrap();
    for want in [
        "version = \"1.150.0\";",
        "tag = \"v${finalAttrs.version}-cluster\";",
        "hash = \"sha256-MSuE6GPfEfxtG5IhoVZxcEIl4+QbUmQmtN2yEgTtg7g=\";",
        "rm -f $out/VM_logo.zip $out/vendor/github.com/valyala/gozstd/libzstd_*.a",
        "vendorHash = null;",
        "CGO_ENABLED = 0;",
    ] {
        assert!(
            text.contains(want),
            "nix/victoriametrics-cluster.nix lacks {want}"
        );
    }
}
