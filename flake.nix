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
    labSystem = system:
      lib.nixosSystem {
        inherit system;
        modules = [self.nixosModules.default ./nix/lab-host.nix ./nix/lab-vm.nix];
      };
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

    nixosModules = {
      default = {
        imports = [./nixos-modules];
        nixpkgs.overlays = [self.overlays.default];
      };
      mock-exporter = ./nixos-modules/mock-exporter.nix;
      victoriametrics-cluster = ./nixos-modules/victoriametrics-cluster.nix;
      vmagents = ./nixos-modules/vmagents.nix;
      prometheus-pair = ./nixos-modules/prometheus-pair.nix;
      grafana-lab = ./nixos-modules/grafana-lab.nix;
      lab = ./nixos-modules/lab.nix;
    };

    nixosConfigurations = {
      lab = labSystem "x86_64-linux";
      lab-aarch64 = labSystem "aarch64-linux";
    };

    checks = forAll linux (pkgs: {
      vm-test = pkgs.testers.runNixOSTest (import ./vm-tests/lab.nix {inherit self;});
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

    formatter = forAll (linux ++ darwin) (pkgs: pkgs.alejandra);
  };
}
