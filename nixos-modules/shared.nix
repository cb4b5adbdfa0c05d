# What every module of the lab shares, imported by each of them so that any one works alone:
# the packages the project builds, the ports the instances open, the instance names.
{
  config,
  lib,
  pkgs,
  ...
}: let
  cfg = config.services.rwlab;
in {
  options.services.rwlab = {
    packages = lib.mkOption {
      type = lib.types.lazyAttrsOf lib.types.package;
      default = {
        remote-write-lab = pkgs.callPackage ../nix/package.nix {};
        victoriametrics-cluster = pkgs.callPackage ../nix/victoriametrics-cluster.nix {};
      };
      defaultText = lib.literalExpression "the flake's packages.\${system} (imported without the flake: built with pkgs.callPackage)";
      internal = true;
      description = "The project's own packages (remote-write-lab, victoriametrics-cluster), the defaults of the instances' `package` options.";
    };
    openPorts = lib.mkOption {
      type = lib.types.listOf lib.types.port;
      default = [];
      internal = true;
      description = "TCP ports the lab's modules open in the firewall (instances with openFirewall set).";
    };
    instanceNames = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [];
      internal = true;
      description = "Names of every instance of every kind; each becomes the unit rwlab-NAME, so they must be unique.";
    };
  };

  config = {
    networking.firewall.allowedTCPPorts = lib.mkIf (cfg.openPorts != []) cfg.openPorts;
    assertions = [
      {
        assertion = lib.length cfg.instanceNames == lib.length (lib.unique cfg.instanceNames);
        message = "services.rwlab: instance names must be unique across vmstorage, vminsert, vmselect, vmsingle, vmauth, vmagent and prometheus (each becomes the unit rwlab-NAME).";
      }
    ];
  };
}
