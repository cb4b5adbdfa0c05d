# The VictoriaMetrics cluster: vmstorage, vminsert, vmselect and vmauth, any number of named
# instances of each on one host, and single nodes (vmsingle) for the lab's single-node storage.
# nixpkgs has modules for one single node and one vmagent per host only.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}: let
  inherit (lib) types mkOption;
  common = import ./common.nix {inherit lib utils;};
  cfg = config.services.rwlab;
  settingsFormat = pkgs.formats.yaml {};
  enabled = lib.filterAttrs (_: i: i.enable);

  clusterPackage = common.ownPackage config "victoriametrics-cluster" "vmstorage, vminsert and vmselect, built from upstream's -cluster tag (nixpkgs' victoriametrics has no cluster binaries).";

  storageNodesOption = rpc:
    mkOption {
      type = types.listOf types.str;
      example = ["storage1:${rpc}" "storage2:${rpc}"];
      description = "vmstorage nodes as host:port of their ${
        if rpc == "8400"
        then "-vminsertAddr"
        else "-vmselectAddr"
      }.";
    };

  retentionOption = mkOption {
    type = types.str;
    default = "1d";
    example = "15d";
    description = "How long samples are kept (-retentionPeriod; at least 1d).";
  };

  latencyOffsetOption = mkOption {
    type = types.str;
    default = "1s";
    description = "-search.latencyOffset: samples younger than this are hidden from queries (upstream default 30s).";
  };

  vmstorageModule = {name, ...}: {
    options =
      common.instanceOptions "vmstorage"
      // {
        package = clusterPackage;
        httpPort = mkOption {
          type = types.port;
          default = 8482;
          description = "HTTP port (/metrics, /health) of vmstorage ${name}.";
        };
        vminsertPort = mkOption {
          type = types.port;
          default = 8400;
          description = "Port vminserts connect to (-vminsertAddr).";
        };
        vmselectPort = mkOption {
          type = types.port;
          default = 8401;
          description = "Port vmselects connect to (-vmselectAddr).";
        };
        retentionPeriod = retentionOption;
      };
  };

  vminsertModule = {name, ...}: {
    options =
      common.instanceOptions "vminsert"
      // {
        package = clusterPackage;
        port = mkOption {
          type = types.port;
          default = 8480;
          description = "HTTP port of vminsert ${name}; remote write goes to /insert/<tenant>/prometheus/api/v1/write.";
        };
        storageNodes = storageNodesOption "8400";
        replicationFactor = mkOption {
          type = types.ints.positive;
          default = 1;
          description = "Copies of each sample, on distinct vmstorage nodes (-replicationFactor).";
        };
      };
  };

  vmselectModule = {name, ...}: {
    options =
      common.instanceOptions "vmselect"
      // {
        package = clusterPackage;
        port = mkOption {
          type = types.port;
          default = 8481;
          description = "HTTP port of vmselect ${name}; queries go to /select/<tenant>/prometheus.";
        };
        storageNodes = storageNodesOption "8401";
        latencyOffset = latencyOffsetOption;
        replicationFactor = mkOption {
          type = types.ints.positive;
          default = 1;
          description = ''
            -replicationFactor the vminserts write with: answers count as complete while fewer
            than this many vmstorage nodes are down (no `isPartial`).
          '';
        };
      };
  };

  vmsingleModule = {name, ...}: {
    options =
      common.instanceOptions "victoria-metrics single node"
      // {
        package = lib.mkPackageOption pkgs "victoriametrics" {};
        port = mkOption {
          type = types.port;
          default = 8428;
          description = "HTTP port of single node ${name}; remote write goes to /api/v1/write.";
        };
        retentionPeriod = retentionOption;
        latencyOffset = latencyOffsetOption;
      };
  };

  vmauthModule = {name, ...}: {
    options =
      common.instanceOptions "vmauth"
      // {
        package = lib.mkPackageOption pkgs "victoriametrics" {};
        port = mkOption {
          type = types.port;
          default = 8427;
          description = "HTTP port of vmauth ${name}.";
        };
        settings = mkOption {
          type = types.submodule {freeformType = settingsFormat.type;};
          default = {};
          description = ''
            vmauth's -auth.config, checked with `vmauth -dryRun` at build time. See
            <https://docs.victoriametrics.com/victoriametrics/vmauth/>. It is written to the
            world-readable store: put passwords in `envFiles` and refer to them as `%{NAME}`.
          '';
        };
        envFiles = mkOption {
          type = types.attrsOf types.str;
          default = {};
          example = {RWLAB_PASSWORD = "/run/keys/vmauth-password";};
          description = ''
            Environment variables read from files at service start (systemd LoadCredential), for
            vmauth's `%{NAME}` placeholders in `settings`, so that passwords stay out of the store.
            The unit fails to start when a file is missing or empty (vmauth would otherwise keep
            the placeholder as the password).
          '';
        };
      };
  };

  exe = pkg: program: lib.getExe' pkg program;

  vmstorageUnit = name: i:
    common.service {
      description = "VictoriaMetrics vmstorage ${name}";
      stateDirectory = name;
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv = [
        (exe i.package "vmstorage")
        "-storageDataPath=/var/lib/rwlab/${name}"
        "-httpListenAddr=${common.addr i.listenAddress i.httpPort}"
        "-vminsertAddr=${common.addr i.listenAddress i.vminsertPort}"
        "-vmselectAddr=${common.addr i.listenAddress i.vmselectPort}"
        "-retentionPeriod=${i.retentionPeriod}"
        # Answers to the vmselects uncompressed, as labctl runs it (src/lab/render.rs): each
        # vmselect connection's zstd stream window took most of vmstorage's heap, for no gain
        # at the lab's load (docs/benchmarks.md).
        "-rpc.disableCompression"
      ];
    };

  vminsertUnit = name: i:
    common.service {
      description = "VictoriaMetrics vminsert ${name}";
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv = [
        (exe i.package "vminsert")
        "-httpListenAddr=${common.addr i.listenAddress i.port}"
        "-storageNode=${lib.concatStringsSep "," i.storageNodes}"
        "-replicationFactor=${toString i.replicationFactor}"
      ];
    };

  vmselectUnit = name: i:
    common.service {
      description = "VictoriaMetrics vmselect ${name}";
      stateDirectory = name;
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv = [
        (exe i.package "vmselect")
        "-httpListenAddr=${common.addr i.listenAddress i.port}"
        "-storageNode=${lib.concatStringsSep "," i.storageNodes}"
        "-cacheDataPath=/var/lib/rwlab/${name}"
        "-search.latencyOffset=${i.latencyOffset}"
        "-replicationFactor=${toString i.replicationFactor}"
      ];
    };

  vmsingleUnit = name: i:
    common.service {
      description = "VictoriaMetrics single node ${name}";
      stateDirectory = name;
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv = [
        (exe i.package "victoria-metrics")
        "-storageDataPath=/var/lib/rwlab/${name}"
        "-httpListenAddr=${common.addr i.listenAddress i.port}"
        "-retentionPeriod=${i.retentionPeriod}"
        "-search.latencyOffset=${i.latencyOffset}"
      ];
    };

  vmauthUnit = name: i: let
    file = settingsFormat.generate "${name}-auth.yml" i.settings;
    # Exports each credential as the variable of its name, then runs vmauth.
    withEnv = pkgs.writeShellScript "rwlab-${name}-env" ''
      set -euo pipefail
      for f in "$CREDENTIALS_DIRECTORY"/*; do
        v=$(< "$f")
        [ -n "$v" ] || { echo "credential ''${f##*/} is empty" >&2; exit 1; }
        export "''${f##*/}=$v"
      done
      exec "$@"
    '';
    hasEnv = i.envFiles != {};
  in
    lib.recursiveUpdate (common.service {
      description = "VictoriaMetrics vmauth ${name}";
      # The config is checked at build time; the unit refers to the check so it is built.
      unitConfig = common.checked (pkgs.runCommand "${name}-auth-checked" {} ''
        ${exe i.package "vmauth"} -dryRun -auth.config=${file}
        touch $out
      '');
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv =
        lib.optional hasEnv withEnv
        ++ [
          (exe i.package "vmauth")
          "-httpListenAddr=${common.addr i.listenAddress i.port}"
          "-auth.config=${file}"
        ];
    }) {serviceConfig = lib.optionalAttrs hasEnv {LoadCredential = lib.mapAttrsToList (n: f: "${n}:${f}") i.envFiles;};};

  units = kind: mk:
    lib.mapAttrs' (name: i: lib.nameValuePair "rwlab-${name}" (mk name i)) (enabled cfg.${kind});

  ports = kind: f: lib.concatMap f (lib.attrValues (lib.filterAttrs (_: i: i.openFirewall) (enabled cfg.${kind})));
in {
  imports = [./shared.nix];

  options.services.rwlab = {
    vmstorage = common.instances "vmstorage instances" vmstorageModule;
    vminsert = common.instances "vminsert instances" vminsertModule;
    vmselect = common.instances "vmselect instances" vmselectModule;
    vmsingle = common.instances "Single-node victoria-metrics instances (the lab's `storage = \"single\"`)" vmsingleModule;
    vmauth = common.instances "vmauth instances" vmauthModule;
  };

  config = {
    systemd.services =
      units "vmstorage" vmstorageUnit
      // units "vminsert" vminsertUnit
      // units "vmselect" vmselectUnit
      // units "vmsingle" vmsingleUnit
      // units "vmauth" vmauthUnit;

    services.rwlab.openPorts =
      ports "vmstorage" (i: [i.httpPort i.vminsertPort i.vmselectPort])
      ++ ports "vminsert" (i: [i.port])
      ++ ports "vmselect" (i: [i.port])
      ++ ports "vmsingle" (i: [i.port])
      ++ ports "vmauth" (i: [i.port]);

    services.rwlab.instanceNames = lib.concatMap (k: lib.attrNames cfg.${k}) ["vmstorage" "vminsert" "vmselect" "vmsingle" "vmauth"];
  };
}
