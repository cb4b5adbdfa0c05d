# Grafana with the lab's datasources (fixed uids) and dashboards, on nixpkgs' services.grafana.
# Since NixOS 26.05 Grafana needs a secret_key; it and the admin password come from files.
{
  config,
  lib,
  utils,
  ...
}: let
  inherit (lib) types mkOption;
  common = import ./common.nix {inherit lib utils;};
  cfg = config.services.rwlab.grafana;
  secrets = "/var/lib/rwlab-secrets";
in {
  imports = [./shared.nix];

  options.services.rwlab.grafana = {
    enable = lib.mkEnableOption "Grafana with the lab's datasources and dashboards";
    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address Grafana listens on (use 0.0.0.0 behind a VM port forward).";
    };
    port = mkOption {
      type = types.port;
      default = 3001;
      description = "Grafana's HTTP port.";
    };
    datasources = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [];
      description = "Provisioned datasources (the lab module fills in VictoriaMetrics and the receiver).";
    };
    dashboards = mkOption {
      type = types.path;
      default = ../grafana/dashboards;
      defaultText = lib.literalExpression "./grafana/dashboards";
      description = "Folder of dashboard JSON files to provision.";
    };
    secretKeyFile = mkOption {
      type = types.str;
      default = "${secrets}/grafana-secret-key";
      description = "File holding Grafana's secret_key; generated at first boot when missing.";
    };
    adminPasswordFile = mkOption {
      type = types.str;
      default = "${secrets}/grafana-admin-password";
      description = "File holding the admin password; generated at first boot when missing (read it there).";
    };
    vmauthPasswordFile = mkOption {
      type = types.str;
      default = "${secrets}/lab-password";
      description = ''
        File holding the password of the VictoriaMetrics datasource's basic auth, read by Grafana
        through `$__file{}` (never in the store). The lab module creates it
        (services.rwlab.lab.auth.passwordFile); made readable by Grafana alone at boot.
      '';
    };
    anonymousViewer = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether dashboards open without logging in (anonymous Viewer); the admin password still
        comes from adminPasswordFile. For a lab reached on loopback only: services.rwlab.lab
        refuses it with auth.enable (listening beyond loopback).
      '';
    };
    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open Grafana's port in the firewall.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.rwlab-grafana-secrets = {
      description = "Create the lab's Grafana secrets when missing";
      wantedBy = ["multi-user.target"];
      before = ["grafana.service"];
      requiredBy = ["grafana.service"];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
      };
      # The folder can be traversed, the files are Grafana's alone.
      script = ''
        install -d -m 0755 ${secrets}
        for f in ${cfg.secretKeyFile} ${cfg.adminPasswordFile}; do
          [ -s "$f" ] || head -c 24 /dev/urandom | base64 > "$f"
        done
        chown grafana ${cfg.secretKeyFile} ${cfg.adminPasswordFile}
        chmod 0400 ${cfg.secretKeyFile} ${cfg.adminPasswordFile}
        if [ -e ${cfg.vmauthPasswordFile} ]; then
          chown grafana ${cfg.vmauthPasswordFile}
          chmod 0400 ${cfg.vmauthPasswordFile}
        fi
      '';
    };

    services.grafana = {
      enable = true;
      settings = {
        server = {
          http_addr = cfg.listenAddress;
          http_port = cfg.port;
        };
        security = {
          secret_key = "$__file{${cfg.secretKeyFile}}";
          admin_password = "$__file{${cfg.adminPasswordFile}}";
        };
        analytics.reporting_enabled = false;
        "auth.anonymous" = lib.mkIf cfg.anonymousViewer {
          enabled = true;
          org_role = "Viewer";
        };
      };
      provision = {
        enable = true;
        datasources.settings = {
          apiVersion = 1;
          inherit (cfg) datasources;
        };
        dashboards.settings = {
          apiVersion = 1;
          providers = [
            {
              name = "remote-write-lab";
              type = "file";
              disableDeletion = true;
              options.path = cfg.dashboards;
            }
          ];
        };
      };
    };

    # Grafana is a Go program too: the lab's garbage-collector setting, as labctl runs it.
    systemd.services.grafana.environment = lib.mapAttrs (_: lib.mkDefault) common.goEnvironment;

    services.rwlab.openPorts = lib.mkIf cfg.openFirewall [cfg.port];
  };
}
