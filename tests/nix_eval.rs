//! The flake evaluated as `nix flake check` would evaluate it, on any machine with
//! `nix-instantiate` and without nixpkgs: nix/eval/ is a module-system evaluator written from
//! scratch with the semantics of nixpkgs' `lib.evalModules`, and nixpkgs' real declarations of the
//! NixOS options the project sets (nix/eval/nixos.nix). Each exported module alone, every
//! configuration, every node of the VM test (composed as nixos/lib/testing/nodes.nix composes
//! them) is evaluated and "built": assertions, unit texts, the VM's start script.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `nix-instantiate --eval --strict --json FILE -A ATTR`: the JSON, or the error message.
fn eval(file: &str, attr: &str) -> Result<Value, String> {
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", file, "-A", attr])
        .current_dir(ROOT)
        .output()
        .expect("nix-instantiate not found: install Debian's `nix-bin` (.ci/run does)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(stderr
            .lines()
            .filter(|l| !l.contains("build-users-group"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

fn check(attr: &str) -> Value {
    eval("nix/eval/checks.nix", attr).unwrap_or_else(|e| panic!("evaluating {attr}:\n{e}"))
}

#[test]
fn evaluator_gives_nixpkgs_verdicts() {
    let failures = eval("nix/eval/tests.nix", "failures").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        failures,
        Value::Array(vec![]),
        "nix/eval/tests.nix failures"
    );
}

#[test]
fn evaluator_rejects_what_nixpkgs_rejects_with_its_message() {
    for (case, message) in [
        (
            "conflictingInts",
            "The option `x' has conflicting definition values",
        ),
        (
            "conflictingStrings",
            "The option `x' has conflicting definition values",
        ),
        (
            "conflictingBools",
            "The option `x' has conflicting definition values",
        ),
        (
            "conflictingPortsInSubmodule",
            "The option `s.a.port' has conflicting definition values",
        ),
        (
            "uniquePackage",
            "is defined multiple times while it's expected to be unique",
        ),
        ("undeclaredOption", "The option `y' does not exist"),
        (
            "undeclaredInSubmodule",
            "The option `s.a.prot' does not exist",
        ),
        (
            "wrongType",
            "A definition for option `x' is not of type `16 bit unsigned integer",
        ),
        (
            "notInEnum",
            "A definition for option `x' is not of type `one of \"a\", \"b\"'",
        ),
        (
            "emptyNonEmptyList",
            "A definition for option `x' is not of type `non-empty",
        ),
        ("nonBooleanMkIf", "called with a non-Boolean condition"),
        (
            "undefinedOption",
            "The option `x' was accessed but has no value defined",
        ),
        (
            "readOnlyTwice",
            "The option `x' is read-only, but it's set multiple times",
        ),
    ] {
        match eval("nix/eval/tests.nix", &format!("errors.{case}")) {
            Ok(v) => panic!("{case} evaluated to {v}, expected an error"),
            Err(e) => assert!(e.contains(message), "{case}: expected {message:?} in:\n{e}"),
        }
    }
}

const MODULES: [&str; 7] = [
    "default",
    "mock-exporter",
    "victoriametrics-cluster",
    "vmagents",
    "prometheus-pair",
    "grafana-lab",
    "lab",
];

#[test]
fn every_exported_module_evaluates_alone() {
    let bare = check("modulesAlone");
    let used = check("modulesUsed");
    let read_only = check("modulesWithReadOnlyPkgs");
    for name in MODULES {
        for (what, v) in [
            ("bare", &bare),
            ("used", &used),
            ("read-only pkgs", &read_only),
        ] {
            assert!(v[name].is_object(), "nixosModules.{name} ({what}) missing");
        }
    }
    let units = |m: &str| used[m]["units"].as_object().unwrap().clone();
    assert!(units("mock-exporter").contains_key("rwlab-mock-exporter"));
    for u in ["storage-a", "insert-a", "select-a", "single-a", "auth-a"] {
        assert!(
            units("victoriametrics-cluster").contains_key(&format!("rwlab-{u}")),
            "{u}"
        );
    }
    assert!(units("vmagents").contains_key("rwlab-agent-a"));
    assert!(units("prometheus-pair").contains_key("rwlab-prom-a"));
    assert!(units("grafana-lab").contains_key("grafana"));
    assert!(units("lab").contains_key("rwlab-vminsert-1"));
    // The package comes from the flake, not from an overlay: a store path of remote-write-lab.
    assert!(used["mock-exporter"]["units"]["rwlab-mock-exporter"]
        .as_str()
        .unwrap()
        .contains("-remote-write-lab/bin/mock-exporter\""));
    assert_eq!(used["mock-exporter"]["ports"], serde_json::json!([2112]));
}

#[test]
fn exec_start_escapes_percent_and_dollar_for_systemd() {
    let unit = check("modulesUsed.mock-exporter.units.rwlab-mock-exporter");
    let unit = unit.as_str().unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("no ExecStart");
    assert!(
        exec.ends_with(r#""--scale" "1" "--label=%%h" "--home=$$HOME""#),
        "{exec}"
    );
}

#[test]
fn lab_configurations_and_their_vm_evaluate() {
    let confs = check("configurations");
    for name in ["lab", "lab-aarch64"] {
        let c = &confs[name];
        assert_eq!(c["legacySystemArgument"], false, "{name}: lib.nixosSystem {{ system = ...; }} is the legacy form; set nixpkgs.hostPlatform");
        assert_eq!(c["host"]["hostName"], "rwlab");
        let vm = &c["vm"]["vm"];
        assert_eq!(vm["memorySize"], 3072, "{name}");
        assert_eq!(vm["cores"], 2);
        assert_eq!(vm["diskSize"], 4096);
        assert_eq!(vm["forwardPorts"].as_array().unwrap().len(), 8);
    }
    let app = check("labVmApp");
    assert!(
        app.as_str()
            .unwrap()
            .ends_with("-run-rwlab-vm/bin/run-rwlab-vm"),
        "{app}"
    );
}

/// r15: the lab VM's forwarded ports bind the host's loopback only (qemu-vm.nix's default host
/// address, "", is every interface of the host), and the VM then needs no credentials.
#[test]
fn r15_lab_vm_forwards_only_from_host_loopback() {
    let confs = check("configurations");
    for name in ["lab", "lab-aarch64"] {
        // "host:tcp:ADDRESS:PORT-GUEST_ADDRESS:GUEST_PORT", as qemu-vm.nix's hostfwd rule.
        for rule in confs[name]["vm"]["vm"]["forwardPorts"].as_array().unwrap() {
            let rule = rule.as_str().unwrap();
            let address = rule.split(':').nth(2).unwrap();
            assert_eq!(
                address, "127.0.0.1",
                "{name}: {rule} is not on the host's loopback"
            );
        }
        assert!(confs[name]["vm"]["vm"]["script"].is_string());
    }
}

#[test]
fn vm_test_nodes_evaluate_as_nodes_nix_composes_them() {
    let t = check("vmTest");
    let nodes = t["nodes"].as_object().unwrap();
    assert_eq!(
        nodes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["lab", "storage1", "storage2"]
    );
    assert_eq!(nodes["lab"]["vm"]["memorySize"], 2048);
    assert_eq!(nodes["storage1"]["vm"]["memorySize"], 1024);
    assert!(nodes["storage1"]["units"]
        .as_object()
        .unwrap()
        .contains_key("rwlab-vmstorage-1"));
    assert!(nodes["lab"]["ports"]
        .as_array()
        .unwrap()
        .contains(&Value::from(3001)));
}

#[test]
fn vm_test_script_compiles_and_names_only_its_nodes() {
    script_compiles_and_names_only_its_nodes("vmTest");
}

/// The lab VM's own test boots what `nix run .#lab-vm` boots: Grafana anonymous (Viewer) there,
/// while the three-node test, listening beyond loopback with credentials, is never anonymous.
#[test]
fn lab_vm_test_boots_the_guest_with_anonymous_grafana() {
    let t = check("vmTestLabVm");
    let nodes = t["nodes"].as_object().unwrap();
    assert_eq!(nodes.keys().collect::<Vec<_>>(), ["lab"]);
    assert_eq!(nodes["lab"]["vm"]["memorySize"], 3072);
    assert_eq!(t["anonymousGrafana"]["lab"], true);
    assert_eq!(check("vmTest")["anonymousGrafana"]["lab"], false);
    let script = t["testScript"].as_str().unwrap();
    assert!(
        script.contains("dashboards open without logging in"),
        "{script}"
    );
    script_compiles_and_names_only_its_nodes("vmTestLabVm");
}

fn script_compiles_and_names_only_its_nodes(attr: &str) {
    let t = check(attr);
    let script = t["testScript"].as_str().unwrap();
    let nodes: BTreeSet<&str> = t["nodes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let dir = std::env::temp_dir().join(format!("rwlab-testscript-{attr}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("test_script.py");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("python3")
        .args(["-m", "py_compile"])
        .arg(&file)
        .output()
        .expect("python3 not found");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "the test script does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every `NAME.method(` of the test driver's machine API names a node.
    let methods = [
        "succeed",
        "fail",
        "wait_for_unit",
        "wait_for_open_port",
        "wait_until_succeeds",
        "wait_until_fails",
        "wait_for_file",
        "start",
        "shutdown",
        "crash",
        "execute",
        "systemctl",
        "copy_from_host",
    ];
    let mut named = BTreeSet::new();
    for (i, _) in script.match_indices('.') {
        let before = &script[..i];
        let name: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = &script[i + 1..];
        if methods
            .iter()
            .any(|m| after.starts_with(m) && after[m.len()..].starts_with('('))
        {
            named.insert(name);
        }
    }
    assert!(!named.is_empty(), "no machine calls found");
    // A loop variable over a list of nodes only (`for machine in [lab, storage1]:`) names nodes.
    let mut over_nodes = BTreeSet::new();
    for line in script.lines() {
        let line = line.trim();
        if let Some((var, rest)) = line
            .strip_prefix("for ")
            .and_then(|l| l.split_once(" in ["))
        {
            if let Some((list, _)) = rest.split_once("]:") {
                if list.split(',').all(|n| nodes.contains(n.trim())) {
                    over_nodes.insert(var.trim().to_string());
                }
            }
        }
    }
    for n in &named {
        assert!(
            nodes.contains(n.as_str()) || over_nodes.contains(n),
            "the test script uses {n}, which is not a node ({nodes:?})"
        );
    }
    assert!(script.contains("start_all()"));
}

#[test]
fn nix_fmt_without_arguments_formats_the_repository() {
    let f = check("formatter");
    let text = f["text"].as_str().unwrap_or_else(|| {
        panic!("formatter is a bare alejandra, which reads stdin when `nix fmt` passes no arguments (NixOS/nix#11438)")
    });
    assert_eq!(f["runtimeInputs"], serde_json::json!(["alejandra"]));
    // Run the script with a stand-in alejandra that prints its arguments, from a subfolder.
    let dir = std::env::temp_dir().join(format!("rwlab-fmt-{}", std::process::id()));
    let bin = dir.join("bin");
    let sub = dir.join("repo/nix/eval");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(dir.join("repo/flake.nix"), "{}").unwrap();
    std::fs::write(bin.join("alejandra"), "#!/bin/sh\necho \"$@\"\n").unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("alejandra"))
        .status()
        .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("bash")
            .arg("-euc")
            .arg(text)
            .arg("fmt")
            .args(args)
            .current_dir(&sub)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let root = dir.join("repo").canonicalize().unwrap();
    assert_eq!(run(&[]), root.display().to_string());
    assert_eq!(run(&["--check", "x.nix"]), "--check x.nix");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dev_shell_has_promtool() {
    let names = check("devShell");
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&Value::from("prometheus-cli")),
        "nixpkgs' promtool is in prometheus.cli: {names}"
    );
}

/// r15: listening beyond loopback, the lab needs credentials: vmauth is the only way in for
/// writes and queries (a user, no unauthorized user, /insert/ routed to the vminserts), everything
/// else but Grafana and the vmstorages listens on 127.0.0.1 and opens no port, Grafana is not
/// anonymous, and the password is read from a file at start.
#[test]
fn r15_lab_beyond_loopback_requires_credentials() {
    let r = check("labRemote");
    assert_eq!(r["auth"], true);
    let s = &r["vmauthSettings"];
    assert!(s.get("unauthorized_user").is_none(), "{s}");
    let user = &s["users"][0];
    assert_eq!(user["username"], "lab");
    assert_eq!(user["password"], "%{RWLAB_PASSWORD}");
    let paths: Vec<&str> = user["url_map"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["src_paths"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/select/.+", "/insert/.+"]);
    assert_eq!(
        r["vmauthEnvFiles"]["RWLAB_PASSWORD"],
        "/var/lib/rwlab-secrets/lab-password"
    );
    for (name, addr) in r["listen"].as_object().unwrap() {
        let public = ["vmauth", "grafana", "vmstorage-1", "vmstorage-2"].contains(&name.as_str());
        let want = if public { "0.0.0.0" } else { "127.0.0.1" };
        assert_eq!(addr, want, "{name}");
    }
    assert_eq!(r["grafanaAnonymous"], false);
    assert_eq!(
        r["grafanaDatasourcePassword"],
        "$__file{/var/lib/rwlab-secrets/lab-password}"
    );
    let vmauth = r["built"]["units"]["rwlab-vmauth"].as_str().unwrap();
    assert!(
        vmauth.contains("LoadCredential=RWLAB_PASSWORD:/var/lib/rwlab-secrets/lab-password\n"),
        "{vmauth}"
    );
    assert!(vmauth.contains("-rwlab-vmauth-env\" \""), "{vmauth}");
}

/// r15: on loopback the lab stays as easy as `labctl up`: queries without credentials, every
/// component on the lab's address.
#[test]
fn r15_lab_on_loopback_needs_no_credentials() {
    let r = eval("nix/eval/checks.nix", "labLoopback.vmauthSettings").unwrap();
    assert!(r["unauthorized_user"]["url_map"].is_array(), "{r}");
    assert_eq!(r["users"][0]["url_map"].as_array().unwrap().len(), 1);
    let listen = eval("nix/eval/checks.nix", "labLoopback.listen").unwrap();
    for (name, addr) in listen.as_object().unwrap() {
        assert_eq!(addr, "127.0.0.1", "{name}");
    }
    assert_eq!(
        eval("nix/eval/checks.nix", "labLoopback.auth").unwrap(),
        Value::Bool(false)
    );
}

/// r15: no password reaches the world-readable store. The topology's password is set to a
/// distinctive string the fake pkgs refuse to write into any generated file (configs, unit
/// scripts, Grafana's provisioning), and no unit text holds it. On loopback the one file that
/// holds it is the script writing lab.toml's documented default into the password file, which
/// also shows the probe fails when a password does reach the store.
#[test]
fn r15_no_password_reaches_the_store() {
    let r = check("labRemote");
    let probe = r["probe"].as_str().unwrap();
    let units = serde_json::to_string(&r["built"]).unwrap();
    assert!(!units.contains(probe));
    match eval("nix/eval/checks.nix", "labLoopback.built") {
        Ok(_) => panic!("on loopback the default password is written by rwlab-lab-secrets"),
        Err(e) => assert!(
            e.contains(&format!(
                "a secret reaches the store: rwlab-lab-secrets-start contains {probe}"
            )),
            "{e}"
        ),
    }
}
