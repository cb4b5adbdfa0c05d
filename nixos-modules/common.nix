# What the lab's service modules share: unit hardening and the options every instance has.
# `utils` is the NixOS module argument (nixos/lib/utils.nix), for escapeSystemdExecArgs.
{
  lib,
  utils,
}: rec {
  # The hardening of nixpkgs' services.victoriametrics unit
  # (nixos/modules/services/databases/victoriametrics.nix), tightened where `systemd-analyze
  # security` still counted an exposure none of the lab's programs needs: no capabilities (they
  # run unprivileged on ports above 1024), a read-only file system but the state directory
  # (ProtectSystem strict), private mounts, files readable by the service alone. The VM test
  # holds every rwlab unit to an exposure of at most 2.0 (systemd 252 gives 1.2 offline; 3.1 before
  # these four).
  hardening = {
    CapabilityBoundingSet = [""];
    PrivateMounts = true;
    UMask = "0077";
    DynamicUser = true;
    Restart = "on-failure";
    RestartSec = 1;
    DeviceAllow = ["/dev/null rw"];
    DevicePolicy = "strict";
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    NoNewPrivileges = true;
    PrivateDevices = true;
    PrivateTmp = true;
    PrivateUsers = true;
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHome = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProtectSystem = "strict";
    RemoveIPC = true;
    RestrictAddressFamilies = ["AF_INET" "AF_INET6" "AF_UNIX"];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = ["@system-service" "~@privileged" "mincore"];
    LimitNOFILE = 1048576;
  };

  # Options of every instance: enable, listen address, extra arguments, firewall.
  instanceOptions = what: {
    enable = lib.mkEnableOption "this ${what} instance" // {default = true;};
    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address the ${what} listens on.";
    };
    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [];
      example = ["-loggerLevel=WARN"];
      description = "Extra command-line arguments, appended last.";
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether to open the ${what}'s ports in the firewall.";
    };
  };

  # A `package` option defaulting to one of the project's own packages (services.rwlab.packages,
  # which the flake sets to its packages.${system}).
  ownPackage = config: name: description:
    lib.mkOption {
      type = lib.types.package;
      default = config.services.rwlab.packages.${name};
      defaultText = lib.literalExpression "remote-write-lab.packages.\${system}.${name}";
      description = "The ${name} package to use: ${description}";
    };

  # An option holding named instances of `module`; each instance `NAME` runs as unit rwlab-NAME.
  instances = what: module:
    lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule module);
      default = {};
      description = "${what}, by name (the systemd unit is rwlab-NAME).";
    };

  # `host:port` for a listen address.
  addr = host: port: "${host}:${toString port}";

  # The environment of every Go program of the lab (all but the mock exporter): the garbage
  # collector runs when the heap has grown by 30 % instead of Go's 100 %, for a smaller resident
  # footprint at the lab's small load (docs/benchmarks.md). labctl sets the same
  # (src/lab/render.rs, GO_ENV); tests/nix_parity.rs holds the two equal.
  goEnvironment = {GOGC = "30";};

  # A unit that starts after the network and is wanted by multi-user.target.
  unit = description: extra:
    {
      inherit description;
      wantedBy = ["multi-user.target"];
      after = ["network.target"];
    }
    // extra;

  # A hardened service running `argv` (a list, escaped for systemd: quoted, `%` and `$` doubled, so
  # arguments reach the program as written), with extra arguments last,
  # an optional state directory under /var/lib/rwlab and environment variables (each a default,
  # so a configuration can override it).
  service = {
    description,
    argv,
    extraArgs ? [],
    stateDirectory ? null,
    unitConfig ? {},
    environment ? {},
  }:
    unit description {
      inherit unitConfig;
      environment = lib.mapAttrs (_: lib.mkDefault) environment;
      serviceConfig =
        hardening
        // lib.optionalAttrs (stateDirectory != null) {StateDirectory = "rwlab/${stateDirectory}";}
        // {ExecStart = utils.escapeSystemdExecArgs (argv ++ extraArgs);};
    };

  # The unit config that makes a build-time check part of the system: `check` is a derivation
  # that fails when the config is invalid.
  checked = check: {X-ConfigChecked = "${check}";};
}
