# The project's flake.nix evaluated without nixpkgs: its `nixpkgs` input is replaced by the fake
# package set of ./pkgs.nix, nixpkgs' lib by ./lib.nix and lib.nixosSystem by ./nixos.nix, so the
# outputs (nixosModules, nixosConfigurations, checks.vm-test, apps, formatter, devShells) are the
# flake's own, wired as the flake wires them.
{root ? ../..}: let
  lib = import ./lib.nix;
  nixos = import ./nixos.nix;
  nixpkgs = {
    outPath = ./pkgs.nix;
    lib =
      lib
      // {
        nixosSystem = args:
          nixos.system {modules = args.modules ++ lib.optional (args ? system) {nixpkgs.system = args.system;};}
          // {legacySystemArgument = args ? system;};
      };
  };
  flake = import (root + "/flake.nix");
  self = flake.outputs {inherit self nixpkgs;} // {outPath = toString root;};
in
  self
