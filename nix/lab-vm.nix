# The lab VM (`nix run .#lab-vm`, `nixos-rebuild build-vm --flake .#lab`): the lab's ports
# forwarded from the host, on the host's loopback only. Only the VM build sees these settings.
#
# QEMU's user network binds a forward with an empty host address (qemu-vm.nix's default) on every
# interface of the host, which would publish the lab's unauthenticated endpoints to the host's
# network. To reach the VM from elsewhere on purpose, widen `services.rwlab.labVm.hostAddress`
# (e.g. "0.0.0.0"): the VM then runs the lab with credentials, as a NixOS host listening beyond
# loopback does (docs/security.md).
{
  config,
  lib,
  ...
}: let
  cfg = config.services.rwlab.labVm;
in {
  options.services.rwlab.labVm = {
    hostAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = ''
        Host address the lab VM's forwarded ports bind to (virtualisation.forwardPorts.*.host.address).
        Anything but loopback publishes the lab to the host's network; the VM then requires
        credentials for writes and queries (services.rwlab.lab.auth.enable).
      '';
    };
    ports = lib.mkOption {
      type = lib.types.listOf lib.types.port;
      default = [3001 8427 9091 9092 2112 8480 8481 8482];
      description = "Ports forwarded from the host to the same port in the VM.";
    };
  };

  config.virtualisation.vmVariant = {
    imports = [./lab-vm-guest.nix];
    virtualisation = {
      memorySize = 3072;
      cores = 2;
      diskSize = 4096;
      forwardPorts =
        map (port: {
          from = "host";
          host = {
            address = cfg.hostAddress;
            inherit port;
          };
          guest.port = port;
        })
        cfg.ports;
    };
  };
}
