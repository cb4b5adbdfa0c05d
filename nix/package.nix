# mock-exporter and labctl, built from this repository with the Cargo.lock it carries (every
# dependency comes from crates.io, so no hash is needed).
{
  lib,
  stdenv,
  rustPlatform,
  prometheus,
  prometheus-alertmanager,
  victoriametrics,
}: let
  manifest = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).package;
in
  rustPlatform.buildRustPackage {
    pname = manifest.name;
    inherit (manifest) version;

    src = lib.fileset.toSource {
      root = ../.;
      fileset = lib.fileset.unions [
        ../Cargo.toml
        ../Cargo.lock
        ../src
        ../tests
        ../benches
        ../bench
        ../lab.toml
        ../grafana
        ../rules
        ../docs/runbooks.md
        ../docs/metrics/reference.md
        ../docs/examples/queries.md
        ../nix
      ];
    };

    cargoLock.lockFile = ../Cargo.lock;

    # The tests start a single-node lab from these: prometheus, promtool (in prometheus' cli
    # output), vmagent, vmauth and victoria-metrics. The supervisor reads /proc: Linux only.
    doCheck = stdenv.hostPlatform.isLinux;
    # That promtool is Prometheus 3.x: tests/exporter.rs holds its page to exactly two findings
    # with promtool 2.x only (a newer promlint may add rules); with 3.x the page must still parse.
    nativeCheckInputs = [prometheus prometheus.cli prometheus-alertmanager victoriametrics];
    # Every test whose name mentions nix needs nix-instantiate or flake.lock, which the build
    # sandbox has neither of; CI and the flake's nix-lib and lint checks run them.
    checkFlags = ["--skip=nix"];

    # labctl looks for grafana/dashboards, rules and docs/examples beside the lab.toml it reads.
    postInstall = ''
      share=$out/share/remote-write-lab
      install -Dm644 lab.toml $share/lab.toml
      install -Dm644 -t $share/grafana/dashboards grafana/dashboards/*.json
      install -Dm644 -t $share/rules rules/*.yml
      install -Dm644 -t $share/docs/examples docs/examples/queries.md
    '';

    meta = {
      description = "A native lab for Prometheus remote write into a VictoriaMetrics cluster: mock-exporter and labctl";
      homepage = "https://github.com/remote-write-lab/remote-write-lab";
      license = with lib.licenses; [mit asl20];
      mainProgram = "labctl";
      platforms = lib.platforms.unix;
    };
  }
