{
  description = "remote-write-lab: Prometheus remote write into a VictoriaMetrics cluster across simulated regions";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = {
    self,
    nixpkgs,
  }: let
    inherit (nixpkgs) lib;
    linux = ["x86_64-linux" "aarch64-linux"];
    darwin = ["x86_64-darwin" "aarch64-darwin"];
    pkgsFor = system:
      import nixpkgs {
        inherit system;
        overlays = [self.overlays.default];
      };
    forAll = systems: f: lib.genAttrs systems (system: f (pkgsFor system));
    # The modules, and the lab host's module list, with this flake's packages.
    modules = import ./nix/modules.nix {packages = system: self.packages.${system};};
    labSystem = system: lib.nixosSystem {modules = modules.labHost system;};
  in {
    overlays.default = final: _: {
      remote-write-lab = final.callPackage ./nix/package.nix {};
      victoriametrics-cluster = final.callPackage ./nix/victoriametrics-cluster.nix {};
    };

    packages = forAll (linux ++ darwin) (pkgs: {
      default = pkgs.remote-write-lab;
      inherit (pkgs) remote-write-lab victoriametrics-cluster;
    });

    apps = forAll (linux ++ darwin) (pkgs: let
      inherit (pkgs.stdenv.hostPlatform) isLinux system;
    in
      {
        default = {
          type = "app";
          program = lib.getExe (pkgs.callPackage ./nix/lab-app.nix {withGrafana = isLinux;});
          meta.description = "labctl up: the whole lab as native processes";
        };
      }
      // lib.optionalAttrs isLinux {
        lab-vm = {
          type = "app";
          program = "${(labSystem system).config.system.build.vm}/bin/run-rwlab-vm";
          meta.description = "one NixOS VM with the whole lab, its ports forwarded to the host";
        };
      });

    # Each works imported alone; their `package` options default to this flake's packages.
    inherit (modules) nixosModules;

    nixosConfigurations = {
      lab = labSystem "x86_64-linux";
      lab-aarch64 = labSystem "aarch64-linux";
    };

    checks = forAll linux (pkgs: {
      vm-test = pkgs.testers.runNixOSTest (import ./vm-tests/lab.nix {inherit self;});
      vm-test-lab-vm = pkgs.testers.runNixOSTest (import ./vm-tests/lab-vm.nix {inherit self;});
      package = pkgs.remote-write-lab;
      nix-lib = pkgs.runCommand "rwlab-nix-lib-tests" {nativeBuildInputs = [pkgs.nix];} ''
        # A private store for evaluation inside the build, as nixpkgs' own lib tests set up.
        export TEST_ROOT=$(pwd)/test-tmp HOME=$(mktemp -d) NIX_BUILD_HOOK= PAGER=cat
        export NIX_CONF_DIR=$TEST_ROOT/etc NIX_LOCALSTATE_DIR=$TEST_ROOT/var
        export NIX_LOG_DIR=$TEST_ROOT/var/log/nix NIX_STATE_DIR=$TEST_ROOT/var/nix NIX_STORE_DIR=$TEST_ROOT/store
        nix-store --init
        cd ${self}
        failures=$(nix-instantiate --eval --strict --json nix/tests/lib.nix)
        [ "$failures" = "[]" ] || { echo "nix/tests/lib.nix failures: $failures"; exit 1; }
        failures=$(nix-instantiate --eval --strict --json nix/eval/tests.nix -A failures)
        [ "$failures" = "[]" ] || { echo "nix/eval/tests.nix failures: $failures"; exit 1; }
        touch $out
      '';
      lint = pkgs.runCommand "rwlab-nix-lint" {nativeBuildInputs = [pkgs.alejandra pkgs.deadnix pkgs.statix];} ''
        cd ${self}
        alejandra --check .
        deadnix --fail .
        statix check .
        touch $out
      '';
    });

    devShells = forAll (linux ++ darwin) (pkgs: {
      default = pkgs.mkShell {
        packages = with pkgs; [
          cargo
          rustc
          clippy
          rustfmt
          rust-analyzer
          prometheus
          # promtool: nixpkgs' prometheus ships it in the cli output.
          prometheus.cli
          victoriametrics
          victoriametrics-cluster
          python3Packages.prometheus-client
          alejandra
          deadnix
          statix
          nix
        ];
      };
    });

    # `nix fmt` runs the formatter without arguments (NixOS/nix#11438), where alejandra would read
    # stdin: with none, format the repository (the nearest folder up with flake.nix).
    formatter = forAll (linux ++ darwin) (pkgs:
      pkgs.writeShellApplication {
        name = "rwlab-fmt";
        runtimeInputs = [pkgs.alejandra];
        text = ''
          if [ $# -eq 0 ]; then
            root=$PWD
            while [ "$root" != / ] && [ ! -e "$root/flake.nix" ]; do root=$(dirname "$root"); done
            [ -e "$root/flake.nix" ] || root=$PWD
            set -- "$root"
          fi
          exec alejandra "$@"
        '';
      });
  };
}
