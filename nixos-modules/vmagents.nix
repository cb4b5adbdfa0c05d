# Named vmagent instances. nixpkgs' services.vmagent runs one per host (a fixed vmagent.service);
# the lab runs one per region.
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
  agents = lib.filterAttrs (_: a: a.enable) config.services.rwlab.vmagent;

  agentModule = {name, ...}: {
    options =
      common.instanceOptions "vmagent"
      // {
        package = lib.mkPackageOption pkgs "vmagent" {};
        port = mkOption {
          type = types.port;
          default = 8429;
          description = "HTTP port of vmagent ${name} (/metrics, /targets, /health).";
        };
        remoteWriteUrls = mkOption {
          type = types.nonEmptyListOf types.str;
          example = ["http://vminsert-1:8480/insert/0/prometheus/api/v1/write"];
          description = "Where to write (-remoteWrite.url); vmagent replicates to every URL.";
        };
        settings = mkOption {
          type = types.submodule {freeformType = settingsFormat.type;};
          description = ''
            The -promscrape.config (Prometheus scrape configuration, with `global.external_labels`),
            checked with `vmagent -dryRun` at build time.
          '';
        };
      };
  };

  agentUnit = name: a: let
    file = settingsFormat.generate "${name}-scrape.yml" a.settings;
  in
    common.service {
      description = "vmagent ${name}";
      unitConfig = common.checked (pkgs.runCommand "${name}-scrape-checked" {} ''
        ${lib.getExe' a.package "vmagent"} -dryRun -promscrape.config=${file}
        touch $out
      '');
      # The on-disk queue: samples wait here while a remote-write URL is down.
      stateDirectory = name;
      inherit (a) extraArgs;
      environment = common.goEnvironment;
      argv =
        [
          (lib.getExe' a.package "vmagent")
          "-httpListenAddr=${common.addr a.listenAddress a.port}"
          "-promscrape.config=${file}"
          "-remoteWrite.tmpDataPath=/var/lib/rwlab/${name}/remote-write"
          # Explicit: labctl verify's freshness budget rests on it (upstream's default).
          "-remoteWrite.flushInterval=1s"
          "-remoteWrite.showURL"
        ]
        ++ map (u: "-remoteWrite.url=${u}") a.remoteWriteUrls;
    };
in {
  imports = [./shared.nix];

  options.services.rwlab.vmagent = common.instances "vmagent instances" agentModule;

  config = {
    systemd.services = lib.mapAttrs' (name: a: lib.nameValuePair "rwlab-${name}" (agentUnit name a)) agents;
    services.rwlab.openPorts = lib.concatMap (a: lib.optional a.openFirewall a.port) (lib.attrValues agents);
    services.rwlab.instanceNames = lib.attrNames config.services.rwlab.vmagent;
  };
}
