# Named vmalert and Alertmanager instances: the lab's rule evaluator against VictoriaMetrics and
# the Alertmanager both evaluators (vmalert and the Prometheus receiver) send to. nixpkgs has
# services.vmalert and services.prometheus.alertmanager, one instance per host each; these follow
# the lab's other modules instead (rwlab-NAME units, the shared hardening, loopback by default).
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
  cfg = config.services.rwlab;
  enabled = lib.filterAttrs (_: i: i.enable);

  vmalertModule = {name, ...}: {
    options =
      common.instanceOptions "vmalert"
      // {
        package = lib.mkPackageOption pkgs "victoriametrics" {};
        port = mkOption {
          type = types.port;
          default = 8880;
          description = "HTTP port of vmalert ${name} (its API: /api/v1/rules, /api/v1/alerts).";
        };
        flags = mkOption {
          type = types.listOf types.str;
          default = [];
          example = ["-rule=/etc/rules/*.yml" "-datasource.url=http://127.0.0.1:8427/select/0/prometheus"];
          description = ''
            vmalert's flags but -httpListenAddr (rules, datasource, remote read and write,
            notifier): the lab module fills them from lab.toml (nix/lib.nix `vmalertFlags`).
          '';
        };
        passwordFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = ''
            File with the datasource's basic-auth password, handed to the unit with systemd
            LoadCredential: refer to it in `flags` as
            `-datasource.basicAuth.passwordFile=/run/credentials/rwlab-NAME.service/password`
            (the credentials directory; ExecStart is escaped, so `%d` would not be expanded).
            Never in the store.
          '';
        };
      };
  };

  alertmanagerModule = {name, ...}: {
    options =
      common.instanceOptions "Alertmanager"
      // {
        package = lib.mkPackageOption pkgs "prometheus-alertmanager" {};
        port = mkOption {
          type = types.port;
          default = 9093;
          description = "HTTP port of Alertmanager ${name} (its API: /api/v2/alerts).";
        };
        settings = mkOption {
          type = types.submodule {freeformType = settingsFormat.type;};
          description = "alertmanager.yml (route, receivers), checked with `amtool check-config` at build time.";
        };
      };
  };

  vmalertUnit = name: i:
    lib.recursiveUpdate (common.service {
      description = "vmalert ${name}";
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv =
        [
          (lib.getExe' i.package "vmalert")
          "-httpListenAddr=${common.addr i.listenAddress i.port}"
        ]
        ++ i.flags;
    }) {serviceConfig = lib.optionalAttrs (i.passwordFile != null) {LoadCredential = ["password:${i.passwordFile}"];};};

  alertmanagerUnit = name: i: let
    file = settingsFormat.generate "${name}.yml" i.settings;
  in
    common.service {
      description = "Alertmanager ${name}";
      unitConfig = common.checked (pkgs.runCommand "${name}-checked" {} ''
        ${lib.getExe' i.package "amtool"} check-config ${file}
        touch $out
      '');
      stateDirectory = name;
      inherit (i) extraArgs;
      environment = common.goEnvironment;
      argv = [
        (lib.getExe' i.package "alertmanager")
        "--config.file=${file}"
        "--storage.path=/var/lib/rwlab/${name}"
        "--web.listen-address=${common.addr i.listenAddress i.port}"
        # One Alertmanager: no gossip port.
        "--cluster.listen-address="
      ];
    };

  units = kind: mk: lib.mapAttrs' (name: i: lib.nameValuePair "rwlab-${name}" (mk name i)) (enabled cfg.${kind});
  ports = kind: lib.concatMap (i: lib.optional i.openFirewall i.port) (lib.attrValues (enabled cfg.${kind}));
in {
  imports = [./shared.nix];

  options.services.rwlab = {
    vmalert = common.instances "vmalert instances" vmalertModule;
    alertmanager = common.instances "Alertmanager instances" alertmanagerModule;
  };

  config = {
    systemd.services = units "vmalert" vmalertUnit // units "alertmanager" alertmanagerUnit;
    services.rwlab.openPorts = ports "vmalert" ++ ports "alertmanager";
    services.rwlab.instanceNames = lib.attrNames cfg.vmalert ++ lib.attrNames cfg.alertmanager;
  };
}
