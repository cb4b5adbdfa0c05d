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
  auth = cfg.auth.enable;
  # With credentials required, only the public components listen on listenAddress (and open the
  # firewall); the others listen on this host's loopback, reached by its own components only.
  public = name: !auth || lib.elem name cfg.auth.publicComponents;
  hostOf = name:
    cfg.hosts.${name}
    or (
      if public name
      then rwlab.connectHost lab
      else "127.0.0.1"
    );
  has = name: lib.elem name cfg.components;
  inherit (cfg) storage;
  defaults = lib.mapAttrs (_: mkDefault);
  common = name: {
    listenAddress =
      if public name
      then cfg.listenAddress
      else "127.0.0.1";
    openFirewall = cfg.openFirewall && public name;
  };
  instances = list: f: lib.listToAttrs (map (x: lib.nameValuePair x.name (defaults (common x.name // f x))) (lib.filter (x: has x.name) list));
  isLoopback = a: lib.hasPrefix "127." a || a == "::1" || a == "localhost";
  secrets = "/var/lib/rwlab-secrets";
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
    ++ ["prometheus-writer" "prometheus-receiver" "vmalert" "alertmanager" "grafana"];
in {
  # Every component it configures, so that it works imported alone.
  imports = [
    ./shared.nix
    ./mock-exporter.nix
    ./victoriametrics-cluster.nix
    ./vmagents.nix
    ./prometheus-pair.nix
    ./alerting.nix
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
      description = "Whether to open every component's ports in the firewall (with `auth.enable`, the public components' only).";
    };
    auth = {
      enable = mkOption {
        type = types.bool;
        default = !isLoopback cfg.listenAddress;
        defaultText = lib.literalExpression "listenAddress is not a loopback address";
        description = ''
          Whether writes and queries need credentials. Then only `auth.publicComponents` listen on
          `listenAddress`; the others listen on 127.0.0.1. vmauth serves the topology's user
          (`vmauth.username`, password from `auth.passwordFile`) for queries (/select/) and
          writes (/insert/, to the vminserts) and no unauthorized user; Grafana is never
          anonymous. On loopback the lab needs no credentials, as `labctl up` does.
        '';
      };
      passwordFile = mkOption {
        type = types.str;
        default = "${secrets}/lab-password";
        description = ''
          File holding the password of the lab's user (vmauth, Grafana's VictoriaMetrics
          datasource), read at service start: never in the store. Created at first boot when
          missing: random with `auth.enable`. Without `auth.enable` (a loopback lab) vmauth uses
          lab.toml's documented default, as `labctl up` does, and the file holds the same.
        '';
      };
      publicComponents = mkOption {
        type = types.listOf (types.enum allComponents);
        default = ["vmauth" "grafana"] ++ lib.optionals cluster (map (s: s.name) t.vmstorage);
        defaultText = lib.literalExpression ''["vmauth" "grafana"] ++ the vmstorages (cluster storage)'';
        description = ''
          With `auth.enable`, the components that listen on `listenAddress`: vmauth and Grafana
          (which require credentials) and the vmstorages, which the vminserts and vmselects of
          other hosts reach (VictoriaMetrics' open-source cluster has no authentication between
          its components: keep those hosts on a private network).
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    # The lab's password, created when missing. Only the loopback default is ever in the store.
    systemd.services.rwlab-lab-secrets = lib.mkIf (has "vmauth" || has "grafana" || has "vmalert") {
      description = "Create the lab's password when missing";
      wantedBy = ["multi-user.target"];
      before = ["rwlab-vmauth.service" "rwlab-vmalert.service" "grafana.service" "rwlab-grafana-secrets.service"];
      requiredBy =
        lib.optional (has "vmauth") "rwlab-vmauth.service"
        ++ lib.optional (has "vmalert") "rwlab-vmalert.service"
        ++ lib.optional (has "grafana") "grafana.service";
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
      };
      script = let
        f = lib.escapeShellArg cfg.auth.passwordFile;
      in ''
        install -d -m 0755 "$(dirname ${f})"
        if [ ! -s ${f} ]; then
          ${
          if auth
          then "head -c 24 /dev/urandom | base64 | tr -d '/+=\\n' > ${f}"
          else "printf '%s' ${lib.escapeShellArg t.vmauth.password} > ${f}"
        }
        fi
        chmod 0400 ${f}
      '';
    };

    services.grafana.settings."auth.anonymous".enabled = lib.mkIf (has "grafana") (lib.mkDefault false);
    assertions = [
      {
        assertion = auth && has "grafana" -> !config.services.grafana.settings."auth.anonymous".enabled;
        message = "services.rwlab.lab: with auth.enable (listening beyond loopback), Grafana must not be anonymous (services.grafana.settings.\"auth.anonymous\".enabled).";
      }
    ];

    services.rwlab = {
      mockExporter = lib.mkIf (has "mock-exporter") (defaults (common "mock-exporter"
        // {
          enable = true;
          inherit (t.exporter) port seed;
          scale = t.exporter.scale or 1;
          churnInterval = t.exporter.churn_interval or null;
          churnFraction = t.exporter.churn_fraction or 0.1;
          # [[exporter.incident]] as labctl passes it: `--incident KEY=VALUE,…`.
          incidents = map (i:
            "service=${i.service}${lib.optionalString (i ? route) ",route=${i.route}"}"
            + lib.optionalString (i ? region) ",region=${i.region}"
            + ",start=${i.start},duration=${i.duration}"
            + ",errors=${toString (i.errors or 1)},latency=${toString (i.latency or 1)}")
          (t.exporter.incident or []);
        }));

      vmsingle = lib.mkIf (!cluster && has "victoria-metrics") {
        victoria-metrics = defaults (common "victoria-metrics"
          // {
            inherit (t.single) port;
            retentionPeriod = t.retention_period;
            latencyOffset = rwlab.latencyOffset t;
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
        replicationFactor = t.replication_factor or 1;
      }));

      vmselect = lib.mkIf cluster (instances t.vmselect (s: {
        inherit (s) port;
        storageNodes = splitNodes "vmselect_port";
        replicationFactor = t.replication_factor or 1;
        latencyOffset = rwlab.latencyOffset t;
      }));

      vmauth = lib.mkIf (has "vmauth") {
        vmauth = defaults (common "vmauth"
          // {
            inherit (t.vmauth) port;
            # With credentials, the password comes from a file at start, through vmauth's %{ENV}
            # placeholders; on loopback it is lab.toml's documented default, as with `labctl up`.
            settings = rwlab.vmauthConfig ({
                inherit lab hostOf storage;
                unauthorizedUser = cfg.vmauthUnauthorizedUser && !auth;
                writes = auth;
              }
              // lib.optionalAttrs auth {password = "%{RWLAB_PASSWORD}";});
            envFiles = lib.optionalAttrs auth {RWLAB_PASSWORD = cfg.auth.passwordFile;};
          });
      };

      vmagent = lib.listToAttrs (map (r:
        lib.nameValuePair "vmagent-${r.name}" (defaults (common "vmagent-${r.name}"
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
          prometheus-writer = defaults (common "prometheus-writer"
            // {
              inherit (t.prometheus.writer) port;
              retentionTime = t.retention_period;
              settings = rwlab.writerConfig {
                inherit lab hostOf storage;
                interval = cfg.scrapeInterval;
              };
            });
        }
        // lib.optionalAttrs (has "prometheus-receiver") {
          prometheus-receiver = defaults (common "prometheus-receiver"
            // {
              inherit (t.prometheus.receiver) port;
              retentionTime = t.retention_period;
              remoteWriteReceiver = true;
              # Alerts sent before Alertmanager is discovered are resent after this, not 1m.
              alertResendDelay = cfg.scrapeInterval;
              settings = rwlab.receiverConfig {
                inherit lab hostOf storage;
                interval = cfg.scrapeInterval;
                rules = "${../rules}/*.yml";
              };
            });
        };

      vmalert = lib.mkIf (has "vmalert") {
        vmalert = defaults (common "vmalert"
          // {
            inherit (t.vmalert) port;
            passwordFile = cfg.auth.passwordFile;
            flags = rwlab.vmalertFlags {
              inherit lab hostOf storage;
              interval = cfg.scrapeInterval;
              rules = "${../rules}/*.yml";
              passwordFile = "/run/credentials/rwlab-vmalert.service/password";
            };
          });
      };

      alertmanager = lib.mkIf (has "alertmanager") {
        alertmanager = defaults (common "alertmanager"
          // {
            inherit (t.alertmanager) port;
            settings = rwlab.alertmanagerConfig;
          });
      };

      grafana = lib.mkIf (has "grafana") (defaults (common "grafana"
        // {
          enable = true;
          vmauthPasswordFile = cfg.auth.passwordFile;
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
