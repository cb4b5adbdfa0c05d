# The flake's NixOS modules and the lab host's module list, as a function of the project's
# packages so that the tests of nix/eval/ can import them without nixpkgs (flake.nix passes its
# own packages, the tests fake ones).
#
#   packages: system -> { remote-write-lab, victoriametrics-cluster, ... }
{packages}: let
  # Sets the modules' package defaults to the flake's packages for the host's system, without
  # touching nixpkgs.* (so it works with read-only pkgs). Its key makes it count once however
  # many of the modules below are imported.
  flakePackages = {
    key = "remote-write-lab/nix/modules.nix#packages";
    imports = [
      ({
        lib,
        pkgs,
        ...
      }: {
        services.rwlab.packages = lib.mapAttrs (_: lib.mkDefault) (packages pkgs.stdenv.hostPlatform.system);
      })
    ];
  };
  withPackages = module: {imports = [module flakePackages];};
in rec {
  nixosModules = {
    default = withPackages ../nixos-modules;
    mock-exporter = withPackages ../nixos-modules/mock-exporter.nix;
    victoriametrics-cluster = withPackages ../nixos-modules/victoriametrics-cluster.nix;
    vmagents = withPackages ../nixos-modules/vmagents.nix;
    prometheus-pair = withPackages ../nixos-modules/prometheus-pair.nix;
    alerting = withPackages ../nixos-modules/alerting.nix;
    grafana-lab = withPackages ../nixos-modules/grafana-lab.nix;
    lab = withPackages ../nixos-modules/lab.nix;
  };

  # nixosConfigurations.lab and lab-aarch64: the lab on one host, its VM variant with forwarded
  # ports; the platform set in a module (lib.nixosSystem's `system` argument is legacy).
  labHost = system: [
    nixosModules.default
    ./lab-host.nix
    ./lab-vm.nix
    {nixpkgs.hostPlatform = system;}
  ];
}
