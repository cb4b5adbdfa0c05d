# The whole lab from lab.toml: every component's options filled in from the topology, on one
# host or spread over several (`components` says which run here, `hosts` where the others are).
# Every value is set with mkDefault, so any of them can be overridden.
{
  config,
  lib,
  ...
}: let
  inherit (lib) types mkOption mkDefault;
  rwlab = import ../nix/lib.nix;
  cfg = config.services.rwlab.lab;
  t = cfg.topology;
  lab = t // {listen_address = cfg.listenAddress;};
  hostOf = name: cfg.hosts.${name} or (rwlab.connectHost lab);
  has = name: lib.elem name cfg.components;
  inherit (cfg) storage;
  defaults = lib.mapAttrs (_: mkDefault);
  common = {
    inherit (cfg) listenAddress openFirewall;
  };
  instances = list: f: lib.listToAttrs (map (x: lib.nameValuePair x.name (defaults (common // f x))) (lib.filter (x: has x.name) list));
  splitNodes = port: lib.splitString "," (rwlab.storageNodes {inherit lab hostOf;} port);

  cluster = cfg.storage == "cluster";
  storageComponents =
    if cluster
    then map (s: s.name) (t.vmstorage ++ t.vminsert ++ t.vmselect)
    else ["victoria-metrics"];
  allComponents =
    ["mock-exporter"]
    ++ storageComponents
    ++ ["vmauth"]
    ++ map (r: "vmagent-${r.name}") t.region
    ++ ["prometheus-writer" "prometheus-receiver" "grafana"];
in {
  # Every component it configures, so that it works imported alone.
  imports = [
    ./shared.nix
    ./mock-exporter.nix
    ./victoriametrics-cluster.nix
    ./vmagents.nix
    ./prometheus-pair.nix
    ./grafana-lab.nix
  ];

  options.services.rwlab.lab = {
    enable = lib.mkEnableOption "the remote-write lab: every component of lab.toml on this host (see `components`)";
    topology = mkOption {
      type = types.attrsOf types.anything;
      default = rwlab.defaultLab;
      defaultText = lib.literalExpression "builtins.fromTOML (builtins.readFile ./lab.toml)";
      description = "The lab's topology: lab.toml read with builtins.fromTOML.";
    };
    storage = mkOption {
      type = types.enum ["cluster" "single"];
      default = "cluster";
      description = ''
        `cluster`: vmstorage, vminsert and vmselect as lab.toml lists them. `single`: one
        victoria-metrics node in their place (as `labctl up --storage single`).
      '';
    };
    vmauthUnauthorizedUser = mkOption {
      type = types.bool;
      default = true;
      description = "Whether vmauth also serves queries without credentials (unauthorized_user, vmauth v1.84 and later).";
    };
    listenAddress = mkOption {
      type = types.str;
      default = t.listen_address;
      defaultText = lib.literalExpression "topology.listen_address";
      description = "Address every component listens on (0.0.0.0 for a VM with forwarded ports or a multi-machine lab).";
    };
    scrapeInterval = mkOption {
      type = types.str;
      default = t.scrape_interval;
      defaultText = lib.literalExpression "topology.scrape_interval";
      example = "2s";
      description = "Scrape interval of the vmagents and the Prometheus writer.";
    };
    components = mkOption {
      type = types.listOf (types.enum allComponents);
      default = allComponents;
      defaultText = lib.literalExpression "every component of the topology";
      example = ["vmstorage-1"];
      description = "Which of the lab's components run on this host.";
    };
    hosts = mkOption {
      type = types.attrsOf types.str;
      default = {};
      example = {
        vmstorage-1 = "storage1";
        vmstorage-2 = "storage2";
      };
      description = "Host names of components that run elsewhere, by component name; the others are reached on this host.";
    };
    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open every component's ports in the firewall.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.rwlab = {
      mockExporter = lib.mkIf (has "mock-exporter") (defaults (common
        // {
          enable = true;
          inherit (t.exporter) port seed;
        }));

      vmsingle = lib.mkIf (!cluster && has "victoria-metrics") {
        victoria-metrics = defaults (common
          // {
            inherit (t.single) port;
            retentionPeriod = t.retention_period;
          });
      };

      vmstorage = lib.mkIf cluster (instances t.vmstorage (s: {
        httpPort = s.http_port;
        vminsertPort = s.vminsert_port;
        vmselectPort = s.vmselect_port;
        retentionPeriod = t.retention_period;
      }));

      vminsert = lib.mkIf cluster (instances t.vminsert (i: {
        inherit (i) port;
        storageNodes = splitNodes "vminsert_port";
      }));

      vmselect = lib.mkIf cluster (instances t.vmselect (s: {
        inherit (s) port;
        storageNodes = splitNodes "vmselect_port";
      }));

      vmauth = lib.mkIf (has "vmauth") {
        vmauth = defaults (common
          // {
            inherit (t.vmauth) port;
            settings = rwlab.vmauthConfig {
              inherit lab hostOf storage;
              unauthorizedUser = cfg.vmauthUnauthorizedUser;
            };
          });
      };

      vmagent = lib.listToAttrs (map (r:
        lib.nameValuePair "vmagent-${r.name}" (defaults (common
          // {
            port = r.vmagent_port;
            remoteWriteUrls = [(rwlab.remoteWriteUrl {inherit lab hostOf storage;} r.vminsert)];
            settings =
              rwlab.vmagentConfig {
                inherit lab hostOf;
                interval = cfg.scrapeInterval;
              }
              r;
          })))
      (lib.filter (r: has "vmagent-${r.name}") t.region));

      prometheus =
        lib.optionalAttrs (has "prometheus-writer") {
          prometheus-writer = defaults (common
            // {
              inherit (t.prometheus.writer) port;
              settings = rwlab.writerConfig {
                inherit lab hostOf storage;
                interval = cfg.scrapeInterval;
              };
            });
        }
        // lib.optionalAttrs (has "prometheus-receiver") {
          prometheus-receiver = defaults (common
            // {
              inherit (t.prometheus.receiver) port;
              remoteWriteReceiver = true;
              settings = rwlab.receiverConfig {
                inherit lab hostOf storage;
                interval = cfg.scrapeInterval;
              };
            });
        };

      grafana = lib.mkIf (has "grafana") (defaults (common
        // {
          enable = true;
          inherit (t.grafana) port;
          inherit
            (rwlab.grafanaDatasources {
              inherit lab hostOf storage;
              password = "$__file{${config.services.rwlab.grafana.vmauthPasswordFile}}";
            })
            datasources
            ;
        }));
    };
  };
}
