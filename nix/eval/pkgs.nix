# A fake nixpkgs package set for evaluating the flake and the NixOS modules without nixpkgs:
# derivations are attribute sets with a fake store path; generated files (pkgs.formats.*.generate,
# writeText, runCommand) force their contents, as nixpkgs does at evaluation time, and get a store
# path that depends on them. `import` of this file stands in for `import nixpkgs { ... }`.
#
# `forbidden`: strings no generated file may contain (a test's distinctive password): generating
# one that does fails the evaluation, as a secret reaching the world-readable store would.
{
  system ? "x86_64-linux",
  overlays ? [],
  forbidden ? [],
  ...
}: let
  lib = import ./lib.nix;
  nixos = import ./nixos.nix;
  hash = s: builtins.substring 0 32 (builtins.hashString "sha256" s);
  fakeDrv = name: extra: let
    self =
      {
        type = "derivation";
        inherit name system;
        pname = name;
        outPath = "/nix/store/${hash "${name}${extra.contentHash or ""}"}-${name}";
        drvPath = "/nix/store/${hash "drv${name}${extra.contentHash or ""}"}-${name}.drv";
        outputs = ["out"];
        outputName = "out";
        out = self;
        meta.mainProgram = name;
        overrideAttrs = _: self;
        override = _: self;
      }
      // removeAttrs extra ["contentHash"];
  in
    self;
  # The content of a generated file: forces `value` (JSON, as nixpkgs' formats do) or a text.
  generated = name: text: let
    found = builtins.filter (f: builtins.length (lib.splitString f text) > 1) forbidden;
  in
    if found == []
    then fakeDrv name {contentHash = text;}
    else throw "a secret reaches the store: ${name} contains ${builtins.head found}";
  format = type: {
    inherit type;
    generate = name: value: generated name (builtins.toJSON value);
  };
  yamlValue =
    lib.types.nullOr (lib.types.oneOf [lib.types.bool lib.types.int lib.types.float lib.types.str lib.types.path (lib.types.attrsOf yamlValue) (lib.types.listOf yamlValue)])
    // {description = "YAML 1.1 value";};
  iniAtom = lib.types.nullOr (lib.types.oneOf [lib.types.bool lib.types.int lib.types.float lib.types.str]) // {description = "INI atom (null, bool, int, float or string)";};
  iniValue = lib.types.either iniAtom (lib.types.listOf iniAtom);

  base = final: {
    _type = "pkgs";
    inherit lib system overlays;
    config = {};
    stdenv = {
      hostPlatform = {
        inherit system;
        isLinux = lib.hasSuffix "-linux" system;
        isDarwin = lib.hasSuffix "-darwin" system;
      };
      buildPlatform = final.stdenv.hostPlatform;
    };
    __splicedPackages = final;
    formats = {
      yaml = _: format yamlValue;
      json = _: format yamlValue;
      ini = _: format (lib.types.attrsOf (lib.types.attrsOf iniValue));
    };
    writeText = name: text: generated name text;
    writeShellScript = name: text: generated name text;
    writeShellScriptBin = name: text: generated name text;
    writeShellApplication = a:
      generated a.name a.text
      // {
        inherit (a) text;
        runtimeInputs = a.runtimeInputs or [];
      };
    runCommand = name: env: script: generated name (builtins.toJSON env + script);
    mkShell = a: fakeDrv "nix-shell" {packages = a.packages or [];};
    # The file's name stands for the package (package.nix stands for remote-write-lab).
    callPackage = fn: args: let
      base = lib.removeSuffix ".nix" (baseNameOf (toString fn));
    in
      fakeDrv ({
          package = "remote-write-lab";
        }
        .${base}
        or base) {
        inherit args;
        file = toString fn;
      };
    testers.runNixOSTest = test:
      nixos.runTest {
        inherit test system;
        pkgs = final;
      };
    prometheus = fakeDrv "prometheus" {
      outputs = ["out" "cli"];
      cli = fakeDrv "prometheus-cli" {meta.mainProgram = "promtool";};
    };
  };
  names = ["alejandra" "cargo" "clippy" "curl" "deadnix" "grafana" "prometheus-alertmanager" "jq" "nix" "rust-analyzer" "rustc" "rustfmt" "statix" "victoriametrics" "vmagent" "iptables" "python3Packages"];
  fix = f: let x = f x; in x;
  withNames = final: lib.genAttrs names (n: fakeDrv n {}) // base final // {python3Packages.prometheus-client = fakeDrv "prometheus-client" {};};
in
  fix (final: builtins.foldl' (prev: overlay: prev // overlay final prev) (withNames final) overlays)
