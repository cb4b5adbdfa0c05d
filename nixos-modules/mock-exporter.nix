# The lab's mock exporter: realistic, deterministic metrics on /metrics.
{
  config,
  lib,
  utils,
  ...
}: let
  cfg = config.services.rwlab.mockExporter;
  common = import ./common.nix {inherit lib utils;};
in {
  imports = [./shared.nix];

  options.services.rwlab.mockExporter =
    {
      enable = lib.mkEnableOption "the lab's mock exporter (realistic, deterministic Prometheus metrics)";
      package = common.ownPackage config "remote-write-lab" "mock-exporter and labctl.";
      port = lib.mkOption {
        type = lib.types.port;
        default = 2112;
        description = "Port of /metrics and /healthz.";
      };
      seed = lib.mkOption {
        type = lib.types.ints.unsigned;
        default = 1;
        description = "Seed of every value: exporters with one seed serve the same page at the same second.";
      };
      scale = lib.mkOption {
        type = lib.types.ints.positive;
        default = 1;
        description = "Number of simulated hosts; about 112 give 100,000 series.";
      };
      churnInterval = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "10m";
        description = "Replace `churnFraction` of the hosts every interval (`--churn-interval`): their series end and new ones start. No churn when null.";
      };
      churnFraction = lib.mkOption {
        type = lib.types.either lib.types.float lib.types.int;
        default = 0.1;
        description = "Share of the hosts replaced at each churn interval (`--churn-fraction`), above 0 and at most 1.";
      };
      incidents = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [];
        example = ["service=checkout,start=+60s,duration=10m,errors=20,latency=3"];
        description = "Scheduled incidents, each passed as `--incident` (see docs/metrics/reference.md).";
      };
    }
    // builtins.removeAttrs (common.instanceOptions "mock exporter") ["enable"];

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.churnFraction > 0 && cfg.churnFraction <= 1;
        message = "services.rwlab.mockExporter.churnFraction must be above 0 and at most 1 (got ${toString cfg.churnFraction}).";
      }
    ];
    systemd.services.rwlab-mock-exporter = common.service {
      description = "remote-write-lab mock exporter";
      inherit (cfg) extraArgs;
      argv =
        [
          (lib.getExe' cfg.package "mock-exporter")
          "--listen"
          (common.addr cfg.listenAddress cfg.port)
          "--seed"
          (toString cfg.seed)
          "--scale"
          (toString cfg.scale)
        ]
        ++ lib.optionals (cfg.churnInterval != null) [
          "--churn-interval"
          cfg.churnInterval
          "--churn-fraction"
          (toString cfg.churnFraction)
        ]
        ++ lib.concatMap (i: ["--incident" i]) cfg.incidents;
    };
    services.rwlab.openPorts = lib.mkIf cfg.openFirewall [cfg.port];
  };
}
