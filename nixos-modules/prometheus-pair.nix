# Named Prometheus servers. nixpkgs' services.prometheus runs one per host; the lab needs a
# writer and a remote-write receiver side by side.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}: let
  inherit (lib) types mkOption;
  common = import ./common.nix {inherit lib utils;};
  settingsFormat = pkgs.formats.yaml {};
  servers = lib.filterAttrs (_: s: s.enable) config.services.rwlab.prometheus;

  serverModule = {name, ...}: {
    options =
      common.instanceOptions "Prometheus"
      // {
        package = lib.mkPackageOption pkgs "prometheus" {};
        port = mkOption {
          type = types.port;
          default = 9090;
          description = "Port of Prometheus ${name}.";
        };
        settings = mkOption {
          type = types.submodule {freeformType = settingsFormat.type;};
          description = ''
            prometheus.yml (global, scrape_configs, remote_write), checked with
            `promtool check config` at build time.
          '';
        };
        remoteWriteReceiver = mkOption {
          type = types.bool;
          default = false;
          description = "Accept remote write on /api/v1/write (--web.enable-remote-write-receiver).";
        };
        alertResendDelay = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "15s";
          description = ''
            --rules.alert.resend-delay: how long Prometheus waits before sending a firing alert
            to Alertmanager again (upstream's default is 1m). An alert first sent before
            Alertmanager was discovered is lost until then, so a short delay shows it sooner.
          '';
        };
        retentionTime = mkOption {
          type = types.str;
          default = "1d";
          description = "--storage.tsdb.retention.time.";
        };
      };
  };

  serverUnit = name: s: let
    file = settingsFormat.generate "${name}.yml" s.settings;
  in
    common.service {
      description = "Prometheus ${name}";
      unitConfig = common.checked (pkgs.runCommand "${name}-checked" {} ''
        ${lib.getExe' s.package.cli "promtool"} check config --syntax-only ${file}
        touch $out
      '');
      stateDirectory = name;
      inherit (s) extraArgs;
      environment = common.goEnvironment;
      argv =
        [
          (lib.getExe' s.package "prometheus")
          "--config.file=${file}"
          "--storage.tsdb.path=/var/lib/rwlab/${name}"
          "--storage.tsdb.retention.time=${s.retentionTime}"
          "--web.listen-address=${common.addr s.listenAddress s.port}"
        ]
        ++ lib.optional s.remoteWriteReceiver "--web.enable-remote-write-receiver"
        ++ lib.optional (s.alertResendDelay != null) "--rules.alert.resend-delay=${s.alertResendDelay}";
    };
in {
  imports = [./shared.nix];

  options.services.rwlab.prometheus = common.instances "Prometheus servers" serverModule;

  config = {
    systemd.services = lib.mapAttrs' (name: s: lib.nameValuePair "rwlab-${name}" (serverUnit name s)) servers;
    services.rwlab.openPorts = lib.concatMap (s: lib.optional s.openFirewall s.port) (lib.attrValues servers);
    services.rwlab.instanceNames = lib.attrNames config.services.rwlab.prometheus;
  };
}
