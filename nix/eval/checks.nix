# What `nix flake check` would evaluate first, evaluated here with nixpkgs' NixOS declarations
# (./nixos.nix) and without nixpkgs (./flake.nix): tests/nix_eval.rs evaluates each attribute.
#
#   nix-instantiate --eval --strict --json nix/eval/checks.nix -A vmTest
{root ? ../..}: let
  nixos = import ./nixos.nix;
  flake = import ./flake.nix {inherit root;};
  system = "x86_64-linux";
  vmTestOf = t: {
    nodes = builtins.mapAttrs (_: nixos.build) t.nodes;
    # Whether each node's Grafana opens dashboards without login.
    anonymousGrafana = builtins.mapAttrs (_: c: c.services.grafana.enable && (c.services.grafana.settings."auth.anonymous".enabled or false)) t.nodes;
    inherit (t) testScript;
  };
  # What a machine of one's own brings: its platform, boot loader and root file system.
  machine = {
    nixpkgs.hostPlatform = system;
    boot.loader.grub.device = "nodev";
    fileSystems."/" = {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
    };
  };

  # A configuration that uses each exported module, with arguments systemd would otherwise expand.
  uses = {
    mock-exporter.services.rwlab.mockExporter = {
      enable = true;
      openFirewall = true;
      extraArgs = ["--label=%h" "--home=$HOME"];
    };
    victoriametrics-cluster.services.rwlab = {
      vmstorage.storage-a.openFirewall = true;
      vminsert.insert-a.storageNodes = ["127.0.0.1:8400"];
      vmselect.select-a.storageNodes = ["127.0.0.1:8401"];
      vmsingle.single-a.port = 8438;
      vmauth.auth-a.settings.unauthorized_user.url_prefix = "http://127.0.0.1:8481/select/0/prometheus";
    };
    vmagents.services.rwlab.vmagent.agent-a = {
      remoteWriteUrls = ["http://127.0.0.1:8480/insert/0/prometheus/api/v1/write"];
      settings.scrape_configs = [];
      openFirewall = true;
    };
    prometheus-pair.services.rwlab.prometheus.prom-a = {
      settings.global.scrape_interval = "2s";
      remoteWriteReceiver = true;
    };
    grafana-lab.services.rwlab.grafana = {
      enable = true;
      openFirewall = true;
    };
    lab.services.rwlab.lab.enable = true;
    default.services.rwlab.lab.enable = true;
  };
  alone = module: config: nixos.build (nixos.system {modules = [module machine config];}).config;
  # With pkgs given (nixpkgs.pkgs, as runNixOSTest and many flakes do), nixpkgs.* is read-only.
  readOnly = module: config:
    nixos.build
    (nixos.system {
      modules = [module (removeAttrs machine ["nixpkgs"]) config];
      readOnlyPkgs = import ./pkgs.nix {inherit system;};
    })
    .config;
  labLib = import (root + "/nix/lib.nix");
  # The lab module enabled with `lab` (services.rwlab.lab options), pkgs read-only.
  labWith = lab:
    (nixos.system {
      modules = [
        flake.nixosModules.lab
        (removeAttrs machine ["nixpkgs"])
        {services.rwlab.lab = {enable = true;} // lab;}
      ];
      readOnlyPkgs = import ./pkgs.nix {inherit system;};
    })
    .config;
  # The lab module on a host listening on `listen`, its topology's password replaced by a
  # distinctive one that the fake pkgs refuse to write into any generated file.
  probe = "Distinctive-Pw-4711";
  probed = listen: let
    lab = import (root + "/nix/lib.nix");
    c =
      (nixos.system {
        modules = [
          flake.nixosModules.lab
          (removeAttrs machine ["nixpkgs"])
          {
            services.rwlab.lab = {
              enable = true;
              listenAddress = listen;
              topology = lab.defaultLab // {vmauth = lab.defaultLab.vmauth // {password = probe;};};
            };
          }
        ];
        readOnlyPkgs = import ./pkgs.nix {
          inherit system;
          forbidden = [probe];
        };
      })
      .config;
    r = c.services.rwlab;
    listens = kind: builtins.mapAttrs (_: i: i.listenAddress) r.${kind};
  in {
    inherit probe;
    built = nixos.build c;
    auth = r.lab.auth.enable;
    vmauthSettings = r.vmauth.vmauth.settings;
    vmauthEnvFiles = r.vmauth.vmauth.envFiles;
    listen =
      {
        grafana = c.services.grafana.settings.server.http_addr;
        mock-exporter = r.mockExporter.listenAddress;
      }
      // builtins.foldl' (a: k: a // listens k) {} ["vmstorage" "vminsert" "vmselect" "vmauth" "vmagent" "prometheus" "vmalert" "alertmanager"];
    grafanaAnonymous = c.services.grafana.settings."auth.anonymous".enabled;
    grafanaDatasourcePassword = (builtins.head c.services.grafana.provision.datasources.settings.datasources).secureJsonData.basicAuthPassword;
  };
  # The lab with lab.toml's [exporter] scale and churn set: mock-exporter's and the receiver's
  # command lines.
  scaled = let
    c = labWith {
      topology =
        labLib.defaultLab
        // {
          exporter =
            labLib.defaultLab.exporter
            // {
              scale = 112;
              churn_interval = "10m";
              churn_fraction = 0.2;
            };
        };
    };
  in {
    exporter = c.systemd.services.rwlab-mock-exporter.serviceConfig.ExecStart;
    receiver = c.systemd.services.rwlab-prometheus-receiver.serviceConfig.ExecStart;
  };
  # The lab with lab.toml's replication_factor set to 2: the flags its vminserts and vmselects get.
  replicated = let
    c = labWith {topology = labLib.defaultLab // {replication_factor = 2;};};
  in
    builtins.mapAttrs (_: u: u.serviceConfig.ExecStart)
    (nixos.lib.filterAttrs (n: _: nixos.lib.hasPrefix "rwlab-vminsert" n || nixos.lib.hasPrefix "rwlab-vmselect" n) c.systemd.services);
  # The default lab with each storage: every unit's environment and ExecStart, for the settings
  # that keep its memory small (tests/nix_parity.rs compares them with labctl's).
  footprint = storage: let
    c = labWith {inherit storage;};
  in
    builtins.mapAttrs (_: u: {
      inherit (u) environment;
      exec = u.serviceConfig.ExecStart;
    })
    (nixos.lib.filterAttrs (n: u: n == "grafana" || (nixos.lib.hasPrefix "rwlab-" n && u.serviceConfig ? ExecStart)) c.systemd.services);
in {
  inherit replicated scaled;
  footprintCluster = footprint "cluster";
  footprintSingle = footprint "single";
  # The lab listening beyond loopback (credentials required) and on loopback (as easy as labctl).
  labRemote = probed "0.0.0.0";
  labLoopback = probed "127.0.0.1";

  # Each nixosModules.<name> imported alone into a NixOS system: bare, then used.
  modulesAlone = builtins.mapAttrs (_: m: alone m {}) flake.nixosModules;
  modulesUsed = builtins.mapAttrs (name: m: alone m (uses.${name} or {})) flake.nixosModules;
  modulesWithReadOnlyPkgs = builtins.mapAttrs (name: m: readOnly m (uses.${name} or {})) flake.nixosModules;

  # nixosConfigurations.*: the host as nixos-rebuild builds it, and its VM variant.
  configurations =
    builtins.mapAttrs (_: c: {
      inherit (c) legacySystemArgument;
      host = nixos.build c.config;
      vm = nixos.build c.config.virtualisation.vmVariant;
    })
    flake.nixosConfigurations;
  labVmApp = flake.apps.${system}.lab-vm.program;

  # checks.<system>.vm-test and vm-test-lab-vm: every node, composed as
  # nixos/lib/testing/nodes.nix does, built.
  vmTest = vmTestOf flake.checks.${system}.vm-test;
  vmTestLabVm = vmTestOf flake.checks.${system}.vm-test-lab-vm;

  formatter = let
    f = flake.formatter.${system};
  in {
    text = f.text or null;
    runtimeInputs = map (p: p.name) (f.runtimeInputs or []);
  };
  devShell = map (p: p.name) flake.devShells.${system}.default.packages;
}
