# NixOS, as far as the project's modules meet it: nixpkgs' real declarations (name, type, default)
# of every NixOS option the project sets or reads outside its own modules, transcribed from
# nixpkgs' source (file and commit read in each comment; nixos-26.05 era), and what the real
# modules do with the values (which options they read, the assertions they make). Options of
# those files that the project neither sets nor reads are left out, so setting one here fails as
# "does not exist" where real NixOS would accept it: stricter, never laxer.
#
#   system { modules, readOnlyPkgs ? null }  an evaluated NixOS configuration (lib.nixosSystem)
#   runTest { test, pkgs, system }           a NixOS test, its nodes composed as nixos/lib/testing/nodes.nix does
#   build config                             what building system.build.toplevel forces, as JSON
let
  lib = import ./lib.nix;
  utils = import ./utils.nix lib;
  inherit (lib) types mkOption mkIf mkMerge mkDefault;

  # nixos/lib/systemd-lib.nix (commit 013635633ffe): unitNameType, the checks of serviceConfig.
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";
  assertValueOneOf = name: values: attrs:
    lib.optional (attrs ? ${name} && !builtins.elem attrs.${name} values)
    "Systemd Service field `${name}' cannot have value `${toString attrs.${name}}'.";
  checkService = attrs: let
    defs = builtins.mapAttrs (_: v: v.content or v) attrs;
    errors =
      assertValueOneOf "Type" ["exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle"] defs
      ++ assertValueOneOf "Restart" ["no" "on-success" "on-failure" "on-abnormal" "on-abort" "on-watchdog" "always"] defs;
  in
    if errors == []
    then true
    else builtins.trace (builtins.concatStringsSep "\n" errors) false;
  # nixos/lib/systemd-unit-options.nix (commit 01f31c2ee7d0): unitOption merges lists by
  # concatenation and anything else as equal values.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      if builtins.isList (builtins.head defs).value
      then builtins.concatMap (d: d.value) defs
      else lib.mergeEqualOption loc defs;
  };
  listOfUnits = mkOption {
    default = [];
    type = types.listOf unitNameType;
  };
  lines = mkOption {
    type = types.lines;
    default = "";
  };
  # (pkgs comes from the enclosing NixOS evaluation, as systemd-lib.nix's makeJobScript does.)
  serviceModule = pkgs: {
    name,
    config,
    ...
  }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [];
      };
      requires = listOfUnits;
      wants = listOfUnits;
      after = listOfUnits;
      before = listOfUnits;
      bindsTo = listOfUnits;
      partOf = listOfUnits;
      conflicts = listOfUnits;
      requisite = listOfUnits;
      requiredBy = listOfUnits;
      wantedBy = listOfUnits;
      aliases = listOfUnits;
      onFailure = listOfUnits;
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = {};
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [];
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [types.str types.path types.package]));
        default = {};
      };
      path = mkOption {
        type = types.listOf (types.oneOf [types.package types.str]);
        default = [];
      };
      serviceConfig = mkOption {
        type = lib.types.addCheck (types.attrsOf unitOption) checkService // {description = "attribute set of systemd options";};
        default = {};
      };
      script = lines;
      scriptArgs = mkOption {
        type = types.str;
        default = "";
      };
      preStart = lines;
      postStart = lines;
      reload = lines;
      preStop = lines;
      postStop = lines;
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [];
        apply = lib.toList;
      };
    };
    # The job scripts (makeJobScript writes `set -e` and the text into a script in the store).
    config.serviceConfig = mkMerge [
      (mkIf (config.preStart != "") {ExecStartPre = ["${pkgs.writeShellScriptBin "${name}-pre-start" "set -e\n${config.preStart}"}/bin/${name}-pre-start"];})
      (mkIf (config.script != "") {ExecStart = "${pkgs.writeShellScriptBin "${name}-start" "set -e\n${config.script}"}/bin/${name}-start ${config.scriptArgs}";})
      (mkIf (config.postStart != "") {ExecStartPost = ["${pkgs.writeShellScriptBin "${name}-post-start" "set -e\n${config.postStart}"}/bin/${name}-post-start"];})
    ];
  };

  # nixos/modules/virtualisation/qemu-vm.nix (commit 00008e8eb762) and disk-size-option.nix
  # (commit 34b62f7c47d9): the options the project sets, and the start script, which reads
  # memorySize, cores, diskSize and every forwardPorts rule.
  qemuVm = {
    config,
    pkgs,
    ...
  }: let
    cfg = config.virtualisation;
    forwarding = lib.concatStrings (map ({
      proto,
      from,
      host,
      guest,
    }:
      if from == "host"
      then "hostfwd=${proto}:${host.address}:${toString host.port}-${guest.address}:${toString guest.port},"
      else "'guestfwd=${proto}:${guest.address}:${toString guest.port}-cmd:nc ${host.address} ${toString host.port}',")
    cfg.forwardPorts);
    startVM = ''
      qemu-img create -f qcow2 "$NIX_DISK_IMAGE" "${toString cfg.diskSize}M"
      exec qemu-kvm -name ${config.system.name} -m ${toString cfg.memorySize} -smp ${toString cfg.cores} \
        ${lib.concatStringsSep " " cfg.qemu.networkingOptions} ${lib.concatStringsSep " " cfg.qemu.options} $QEMU_OPTS "$@"
    '';
  in {
    _file = "nixos/modules/virtualisation/qemu-vm.nix";
    options.virtualisation = {
      memorySize = mkOption {
        type = types.ints.positive;
        default = 1024;
      };
      cores = mkOption {
        type = types.ints.positive;
        default = 1;
      };
      diskSizeAutoSupported = mkOption {
        type = types.bool;
        default = true;
        internal = true;
      };
      diskSize = mkOption {
        type = types.either (types.enum ["auto"]) types.ints.positive;
        default =
          if cfg.diskSizeAutoSupported
          then "auto"
          else 1024;
      };
      graphics = mkOption {
        type = types.bool;
        default = true;
      };
      vlans = mkOption {
        type = types.listOf types.ints.unsigned;
        default = [1];
      };
      forwardPorts = mkOption {
        type = types.listOf (types.submodule {
          options.from = mkOption {
            type = types.enum ["host" "guest"];
            default = "host";
          };
          options.proto = mkOption {
            type = types.enum ["tcp" "udp"];
            default = "tcp";
          };
          options.host.address = mkOption {
            type = types.str;
            default = "";
          };
          options.host.port = mkOption {type = types.port;};
          options.guest.address = mkOption {
            type = types.str;
            default = "";
          };
          options.guest.port = mkOption {type = types.port;};
        });
        default = [];
      };
      qemu.options = mkOption {
        type = types.listOf types.str;
        default = [];
      };
      qemu.networkingOptions = mkOption {
        type = types.listOf types.str;
        default = [];
      };
    };
    config = {
      assertions =
        lib.concatLists (lib.imap1 (i: rule: [
            {
              assertion = rule.from == "guest" -> rule.proto == "tcp";
              message = "Invalid virtualisation.forwardPorts.<entry ${toString i}>.proto: Guest forwarding supports only TCP connections.";
            }
            {
              assertion = rule.from == "guest" -> lib.hasPrefix "10.0.2." rule.guest.address;
              message = "Invalid virtualisation.forwardPorts.<entry ${toString i}>.guest.address: The address must be in the default VLAN (10.0.2.0/24).";
            }
          ])
          cfg.forwardPorts)
        ++ [
          {
            assertion = cfg.diskSize != "auto" || cfg.diskSizeAutoSupported;
            message = "Setting virtualisation.diskSize to `auto` is not supported by the current image build or vm runner; use an explicit size.";
          }
        ];
      virtualisation.diskSizeAutoSupported = false;
      virtualisation.qemu.networkingOptions = [
        "-net nic,netdev=user.0,model=virtio"
        "-netdev user,id=user.0,${forwarding}\"$QEMU_NET_OPTS\""
      ];
      boot.loader.grub.device = lib.mkVMOverride "/dev/disk/by-id/virtio-root";
      fileSystems = lib.mkVMOverride {
        "/" = {
          device = "/dev/disk/by-label/nixos";
          fsType = "ext4";
        };
      };
      system.build.vm = pkgs.writeShellScriptBin "run-${config.system.name}-vm" startVM;
    };
  };

  # nixos/modules/misc/nixpkgs.nix: the platform, and pkgs built for it.
  nixpkgsModule = {
    config,
    pkgs,
    ...
  }: {
    _file = "nixos/modules/misc/nixpkgs.nix";
    options.nixpkgs = {
      hostPlatform = mkOption {
        type = types.either types.str types.attrs;
        apply = p:
          if builtins.isString p
          then {system = p;}
          else p;
      };
      system = mkOption {
        type = types.str;
        default = let
          h = builtins.tryEval config.nixpkgs.hostPlatform.system;
        in
          if h.success
          then h.value
          else throw "Neither nixpkgs.hostPlatform nor the legacy option nixpkgs.system has been set.";
      };
      overlays = mkOption {
        type = types.listOf (lib.mkOptionType {
          name = "nixpkgs-overlay";
          check = builtins.isFunction;
          merge = lib.mergeOneOption;
        });
        default = [];
      };
      config = mkOption {
        type = types.attrs;
        default = {};
      };
    };
    config._module.args.pkgs = import ./pkgs.nix {
      inherit (config.nixpkgs) system overlays;
    };
    config.assertions = [
      {
        assertion = pkgs.stdenv.hostPlatform.isLinux;
        message = "NixOS runs on Linux; nixpkgs.hostPlatform is ${pkgs.stdenv.hostPlatform.system}.";
      }
    ];
  };

  # nixos/modules/misc/nixpkgs/read-only.nix (commit 196f6a812b31): with node.pkgs (the default of
  # runNixOSTest), `pkgs` is given and nixpkgs.overlays/config may not be set by any module.
  nixpkgsReadOnly = {config, ...}: let
    cfg = config.nixpkgs;
  in {
    _file = "nixos/modules/misc/nixpkgs/read-only.nix";
    options.nixpkgs = {
      pkgs = mkOption {type = types.unique {message = "A Nixpkgs pkgs set can not be merged with another pkgs set.";} types.attrs;};
      config = mkOption {
        internal = true;
        type = types.unique {message = "nixpkgs.config is set to read-only";} types.anything;
      };
      overlays = mkOption {
        internal = true;
        type = types.unique {message = "nixpkgs.overlays is set to read-only";} types.anything;
      };
      hostPlatform = mkOption {
        internal = true;
        readOnly = true;
      };
    };
    config = {
      _module.args.pkgs = builtins.seq cfg.config (builtins.seq cfg.overlays (builtins.seq cfg.hostPlatform cfg.pkgs));
      nixpkgs.config = cfg.pkgs.config;
      nixpkgs.overlays = cfg.pkgs.overlays;
      nixpkgs.hostPlatform = cfg.pkgs.stdenv.hostPlatform;
    };
  };

  # The declarations of a NixOS system the project meets.
  base = [
    # nixos/modules/misc/assertions.nix
    {
      _file = "nixos/modules/misc/assertions.nix";
      options.assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [];
      };
      options.warnings = mkOption {
        type = types.listOf types.str;
        default = [];
      };
    }
    # nixos/modules/misc/extra-arguments.nix: the `utils` module argument.
    {
      _file = "nixos/modules/misc/extra-arguments.nix";
      config._module.args.utils = utils;
    }
    # nixos/modules/system/activation/top-level.nix (system.name, system.build),
    # nixos/modules/misc/version.nix (system.stateVersion).
    ({config, ...}: {
      _file = "nixos/modules/system/activation/top-level.nix";
      options.system = {
        name = mkOption {
          type = types.str;
          default =
            if config.networking.hostName == ""
            then "unnamed"
            else config.networking.hostName;
        };
        build = mkOption {
          type = types.lazyAttrsOf types.unspecified;
          default = {};
        };
        stateVersion = mkOption {
          type = types.str;
          default = "26.05";
        };
      };
    })
    # nixos/modules/virtualisation/build-vm.nix (commit 14fd976016ae): the VM variant is this
    # configuration extended with qemu-vm.nix; nixos-rebuild build-vm builds its system.build.vm.
    ({
      config,
      extendModules,
      ...
    }: {
      _file = "nixos/modules/virtualisation/build-vm.nix";
      options.virtualisation.vmVariant = mkOption {
        inherit ((extendModules {modules = [qemuVm];})) type;
        default = {};
      };
      config.system.build.vm = mkDefault config.virtualisation.vmVariant.system.build.vm;
    })
    # nixos/modules/services/networking/firewall.nix (commit 0192bb844360); firewall-iptables.nix
    # reads allowedTCPPorts (canonicalised: unique, sorted) for its rules.
    {
      _file = "nixos/modules/services/networking/firewall.nix";
      options.networking.firewall = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        allowedTCPPorts = mkOption {
          type = types.listOf types.port;
          default = [];
          apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
        };
        allowedUDPPorts = mkOption {
          type = types.listOf types.port;
          default = [];
          apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
        };
        trustedInterfaces = mkOption {
          type = types.listOf types.str;
          default = [];
        };
      };
    }
    # nixos/modules/tasks/network-interfaces.nix
    {
      _file = "nixos/modules/tasks/network-interfaces.nix";
      options.networking.hostName = mkOption {
        type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
        default = "nixos";
      };
    }
    # nixos/lib/systemd-unit-options.nix, nixos/modules/system/boot/systemd.nix
    ({pkgs, ...}: {
      _file = "nixos/modules/system/boot/systemd.nix";
      options.systemd.services = mkOption {
        type = types.attrsOf (types.submodule (serviceModule pkgs));
        default = {};
      };
    })
    # nixos/modules/config/system-path.nix, nixos/modules/misc/documentation.nix
    {
      _file = "nixos/modules/config/system-path.nix";
      options.environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [];
      };
      options.documentation.enable = mkOption {
        type = types.bool;
        default = true;
      };
    }
    # nixos/modules/services/ttys/getty.nix
    {
      _file = "nixos/modules/services/ttys/getty.nix";
      options.services.getty.autologinUser = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
    }
    # nixos/modules/system/boot/loader/grub/grub.nix: without a device GRUB cannot be installed.
    ({config, ...}: let
      cfg = config.boot.loader.grub;
    in {
      _file = "nixos/modules/system/boot/loader/grub/grub.nix";
      options.boot.loader.grub = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        device = mkOption {
          type = types.str;
          default = "";
        };
        devices = mkOption {
          type = types.listOf types.str;
          default = [];
        };
      };
      config.assertions = lib.optional cfg.enable {
        assertion = cfg.device != "" || cfg.devices != [];
        message = "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
      };
    })
    # nixos/modules/tasks/filesystems.nix; the root file system is required (stage-1.nix).
    ({config, ...}: {
      _file = "nixos/modules/tasks/filesystems.nix";
      options.fileSystems = mkOption {
        type = types.attrsOf (types.submodule ({name, ...}: {
          options = {
            mountPoint = mkOption {
              type = types.str;
              default = name;
            };
            device = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            fsType = mkOption {
              type = types.str;
              default = "auto";
            };
            options = mkOption {
              type = types.listOf types.nonEmptyStr;
              default = ["defaults"];
            };
            neededForBoot = mkOption {
              type = types.bool;
              default = false;
            };
          };
        }));
        default = {};
      };
      config.assertions = [
        {
          assertion = builtins.any (fs: fs.mountPoint == "/") (builtins.attrValues config.fileSystems);
          message = "The ‘fileSystems’ option does not specify your root file system.";
        }
      ];
    })
    # nixos/modules/services/monitoring/grafana.nix (blob of 81,635 characters, 26.05 era).
    grafana
  ];

  grafana = {
    config,
    pkgs,
    ...
  }: let
    cfg = config.services.grafana;
    provisioningFormat = pkgs.formats.yaml {};
    iniFormat = pkgs.formats.ini {};
    nullOrPath = mkOption {
      type = types.nullOr types.path;
      default = null;
    };
    datasourceConfig = types.submodule {
      options = {
        access = mkOption {
          type = types.enum ["proxy" "direct"];
          default = "proxy";
        };
        editable = mkOption {
          type = types.bool;
          default = false;
        };
        jsonData = mkOption {
          type = types.nullOr types.attrs;
          default = null;
        };
        name = mkOption {type = types.str;};
        secureJsonData = mkOption {
          type = types.nullOr types.attrs;
          default = null;
        };
        type = mkOption {type = types.str;};
        uid = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        url = mkOption {
          type = types.str;
          default = "";
        };
      };
      freeformType = provisioningFormat.type;
    };
    dashboardConfig = types.submodule {
      options = {
        options.path = mkOption {type = types.path;};
        name = mkOption {
          type = types.str;
          default = "default";
        };
        type = mkOption {
          type = types.str;
          default = "file";
        };
      };
      freeformType = provisioningFormat.type;
    };
    provisionFile = name: attr: p:
      if p.path != null
      then p.path
      else
        provisioningFormat.generate "${name}.yaml" (
          if p.settings != null
          then p.settings
          else {
            ${attr} = [];
            apiVersion = 1;
          }
        );
    provisionConfDir = pkgs.runCommand "grafana-provisioning" {} ''
      ln -sf ${provisionFile "datasource" "datasources" cfg.provision.datasources} $out/datasources/datasource.yaml
      ln -sf ${provisionFile "dashboard" "providers" cfg.provision.dashboards} $out/dashboards/dashboard.yaml
    '';
    configFile = iniFormat.generate "config.ini" cfg.settings;
    str = default:
      mkOption {
        type = types.str;
        inherit default;
      };
  in {
    _file = "nixos/modules/services/monitoring/grafana.nix";
    options.services.grafana = {
      enable = lib.mkEnableOption "grafana";
      package = lib.mkPackageOption pkgs "grafana" {};
      dataDir = mkOption {
        type = types.path;
        default = "/var/lib/grafana";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
      };
      provision = {
        enable = lib.mkEnableOption "provision";
        dashboards = mkOption {
          default = {};
          type = types.submodule {
            options.path = nullOrPath;
            options.settings = mkOption {
              default = null;
              type = types.nullOr (types.submodule {
                options.apiVersion = mkOption {
                  type = types.int;
                  default = 1;
                };
                options.providers = mkOption {
                  type = types.listOf dashboardConfig;
                  default = [];
                };
              });
            };
          };
        };
        datasources = mkOption {
          default = {};
          type = types.submodule {
            options.path = nullOrPath;
            options.settings = mkOption {
              default = null;
              type = types.nullOr (types.submodule {
                options = {
                  apiVersion = mkOption {
                    type = types.int;
                    default = 1;
                  };
                  datasources = mkOption {
                    type = types.listOf datasourceConfig;
                    default = [];
                  };
                  prune = mkOption {
                    type = types.bool;
                    default = false;
                  };
                };
              });
            };
          };
        };
      };
      settings = mkOption {
        default = {};
        type = types.submodule {
          options = {
            analytics.reporting_enabled = mkOption {
              type = types.bool;
              default = false;
            };
            paths.provisioning = mkOption {
              type = types.path;
              default = provisionConfDir;
            };
            security = {
              admin_password = str "admin";
              admin_user = str "admin";
              secret_key = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
            };
            server = {
              http_addr = str "127.0.0.1";
              http_port = mkOption {
                type = types.port;
                default = 3000;
              };
              protocol = mkOption {
                type = types.enum ["http" "https" "h2" "socket"];
                default = "http";
              };
              domain = str "localhost";
            };
          };
          freeformType = iniFormat.type;
        };
      };
    };
    config = mkIf cfg.enable {
      assertions = [
        {
          assertion = cfg.provision.datasources.settings == null || cfg.provision.datasources.path == null;
          message = "Cannot set both datasources settings and datasources path";
        }
        {
          assertion =
            cfg.provision.datasources.settings
            == null
            || builtins.all ({
              access,
              type,
              ...
            }:
              type == "prometheus" -> access != "direct")
            cfg.provision.datasources.settings.datasources;
          message = "For datasources of type `prometheus`, the `direct` access mode is not supported anymore (since Grafana 9.2.0)";
        }
        {
          assertion = cfg.provision.dashboards.settings == null || cfg.provision.dashboards.path == null;
          message = "Cannot set both dashboards settings and dashboards path";
        }
        {
          assertion = cfg.settings.security.secret_key != null;
          message = "Grafana's secret key (services.grafana.settings.security.secret_key) doesn't have a default value anymore. Please generate your own and use a file-provider on this option!";
        }
      ];
      environment.systemPackages = [cfg.package];
      networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [cfg.settings.server.http_port];
      # (users.users.grafana and users.groups.grafana are left out: the project sets no users.*.)
      systemd.services.grafana = {
        after = ["network.target"];
        description = "Grafana Service Daemon";
        preStart = ''
          ln -fs ${cfg.package}/share/grafana/conf ${cfg.dataDir}
        '';
        script = ''
          exec ${lib.getExe cfg.package} server -homepath ${cfg.dataDir} -config ${configFile}
        '';
        serviceConfig = {
          Restart = "on-failure";
          RuntimeDirectory = "grafana";
          User = "grafana";
          WorkingDirectory = cfg.dataDir;
        };
        wantedBy = ["multi-user.target"];
      };
    };
  };

  # lib.nixosSystem: the declarations above, then the configuration's modules.
  system = {
    modules,
    readOnlyPkgs ? null,
  }:
    lib.evalModules {
      modules =
        base
        ++ (
          if readOnlyPkgs == null
          then [nixpkgsModule]
          else [nixpkgsReadOnly {nixpkgs.pkgs = readOnlyPkgs;}]
        )
        ++ modules;
    };

  # What building the system forces: every assertion, every unit's text (nixos/lib/systemd-lib.nix
  # attrsToSection: each value rendered, lists one line per element), the firewall's ports, the
  # system packages, and the VM when the configuration is one (qemu-vm.nix).
  build = config: let
    failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
    toOption = x:
      if x == true
      then "true"
      else if x == false
      then "false"
      else toString x;
    section = attrs:
      lib.concatStrings (lib.mapAttrsToList (n: v: lib.concatStrings (map (x: "${n}=${toOption x}\n") (lib.toList v))) attrs);
    unit = name: s:
      if !s.enable
      then "masked"
      else
        "[Unit]\nDescription=${s.description}\n"
        + lib.concatMapStringsSep "" (u: "After=${u}\n") s.after
        + lib.concatMapStringsSep "" (u: "Before=${u}\n") s.before
        + lib.concatMapStringsSep "" (u: "Requires=${u}\n") s.requires
        + section s.unitConfig
        + "[Service]\n"
        + lib.concatStrings (lib.mapAttrsToList (n: v:
          if v == null
          then ""
          else "Environment=\"${n}=${toString v}\"\n")
        s.environment)
        + lib.concatMapStringsSep "" (p: "Environment=PATH+=${toString p}/bin\n") s.path
        + section s.serviceConfig
        + "# wanted by ${toString (s.wantedBy ++ s.requiredBy)}, restart triggers ${toString (map toString s.restartTriggers)} for ${name}\n";
  in
    if failed != []
    then throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
    else {
      units = builtins.mapAttrs unit config.systemd.services;
      ports = config.networking.firewall.allowedTCPPorts;
      packages = map toString config.environment.systemPackages;
      inherit (config.networking) hostName;
      inherit (config.system) stateVersion;
      warnings = config.warnings;
      vm =
        if config ? virtualisation && config.virtualisation ? memorySize
        then {
          inherit (config.virtualisation) memorySize cores diskSize vlans;
          script = config.system.build.vm.outPath;
          forwardPorts = map (r: "${r.from}:${r.proto}:${r.host.address}:${toString r.host.port}-${r.guest.address}:${toString r.guest.port}") config.virtualisation.forwardPorts;
        }
        else null;
    };

  # nixos/lib/testing/nodes.nix (commit 003d58163f46) as pkgs.testers.runNixOSTest uses it
  # (pkgs/build-support/testers/default.nix sets node.pkgs, so node.pkgsReadOnly defaults to
  # true): each node is one evaluation of the NixOS modules, qemu-vm.nix, the test's `defaults`
  # and the node's own module, merged at equal priority; nixos/lib/testing/network.nix names the
  # host after the node.
  testOptions = ["name" "nodes" "defaults" "testScript" "node" "skipLint" "skipTypeCheck" "globalTimeout" "meta" "interactive" "extraBaseModules" "nodeDefaults"];
  runTest = {
    test,
    pkgs,
    system,
  }: let
    unknown = builtins.filter (n: !builtins.elem n testOptions) (builtins.attrNames test);
    readOnly = test.node.pkgsReadOnly or true;
    node = name: module:
      (lib.evalModules {
        modules =
          base
          ++ [
            qemuVm
            {_module.args.nodes = nodes;}
            {networking.hostName = mkDefault name;}
            {
              _file = "the test's defaults";
              imports = [(test.defaults or {}) (test.nodeDefaults or {}) (test.extraBaseModules or {})];
            }
            {
              _file = "the test's nodes.${name}";
              imports = [module];
            }
          ]
          ++ (
            if readOnly
            then [nixpkgsReadOnly {nixpkgs.pkgs = pkgs;}]
            else [nixpkgsModule {nixpkgs.system = system;}]
          );
        prefix = ["nodes" name];
      })
      .config;
    nodes = builtins.mapAttrs node test.nodes;
  in
    if unknown != []
    then throw "The option `${builtins.head unknown}' of the NixOS test does not exist."
    else
      (pkgs.writeText "vm-test-run-${test.name}" "")
      // {
        inherit nodes;
        testScript =
          if builtins.isFunction test.testScript
          then test.testScript {inherit nodes;}
          else test.testScript;
      };
in {
  inherit lib base qemuVm system build runTest;
}
