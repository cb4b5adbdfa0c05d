# Tests of the evaluator (./modules.nix, ./lib.nix, ./utils.nix): the verdicts nixpkgs' lib gives
# on the same modules, so the evaluator cannot silently accept everything. `failures` is the list
# of failing cases; `errors.NAME` must fail, and tests/nix_eval.rs checks their messages.
# The same file runs against nixpkgs' own lib to cross-check (never committed, see docs/nix.md):
#
#   nix-instantiate --eval --strict --json nix/eval/tests.nix -A failures --arg lib 'import NIXPKGS/lib'
{lib ? import ./lib.nix}: let
  inherit (lib) types mkOption;
  utils = import ./utils.nix lib;
  eval = modules: (lib.evalModules {inherit modules;}).config;
  opt = type: default: {options.x = mkOption {inherit type default;};};
  x = modules: (eval modules).x;
  services = {
    options.s = mkOption {
      type = types.attrsOf (types.submodule ({name, ...}: {
        options.port = mkOption {type = types.port;};
        options.host = mkOption {
          type = types.str;
          default = name;
        };
        options.args = mkOption {
          type = types.listOf types.str;
          default = [];
        };
      }));
      default = {};
    };
  };

  cases = {
    plainBeatsDefault = {
      expr = x [(opt types.int 1) {x = lib.mkDefault 2;} {x = 3;}];
      expect = 3;
    };
    mkDefaultBeatsOptionDefault = {
      expr = x [(opt types.int 1) {x = lib.mkDefault 2;}];
      expect = 2;
    };
    mkForceBeatsPlain = {
      expr = x [(opt types.int 1) {x = 3;} {x = lib.mkForce 4;}];
      expect = 4;
    };
    mkOverrideOrders = {
      expr = x [(opt types.int 1) {x = lib.mkOverride 900 5;} {x = lib.mkDefault 2;}];
      expect = 5;
    };
    equalDefinitionsMerge = {
      expr = x [(opt types.str "a") {x = "b";} {x = "b";}];
      expect = "b";
    };
    mkIfFalseDrops = {
      expr = x [(opt types.int 1) {x = lib.mkIf false 2;}];
      expect = 1;
    };
    mkIfTrueKeeps = {
      expr = x [(opt types.int 1) {config = lib.mkIf true {x = 2;};}];
      expect = 2;
    };
    mkMergeMerges = {
      expr = x [(opt (types.listOf types.int) []) {x = lib.mkMerge [[1] (lib.mkIf true [2]) (lib.mkIf false [3])];}];
      expect = [1 2];
    };
    listsConcatenateInOrder = {
      expr = x [(opt (types.listOf types.int) []) {x = [2];} {x = lib.mkAfter [3];} {x = lib.mkBefore [1];}];
      expect = [1 2 3];
    };
    submodulesMerge = {
      expr = (eval [services {s.a.port = 80;} {s.a.args = ["-v"];} {s.b.port = 81;}]).s;
      expect = {
        a = {
          port = 80;
          host = "a";
          args = ["-v"];
        };
        b = {
          port = 81;
          host = "b";
          args = [];
        };
      };
    };
    submoduleDefaultsPerAttribute = {
      expr = (eval [services {s.a = lib.mapAttrs (_: lib.mkDefault) {port = 80;};} {s.a.port = 81;}]).s.a.port;
      expect = 81;
    };
    configReadsConfig = {
      expr = (eval [services (opt types.bool false) ({config, ...}: {config = lib.mkIf config.x {s.a.port = 1;};}) {x = true;}]).s.a.port;
      expect = 1;
    };
    freeformAcceptsUndeclared = {
      expr = x [
        {
          options.x = mkOption {
            type = types.submodule {
              freeformType = types.attrsOf types.anything;
              options.y = mkOption {
                type = types.int;
                default = 1;
              };
            };
            default = {};
          };
        }
        {x.z.w = "v";}
      ];
      expect = {
        y = 1;
        z.w = "v";
      };
    };
    nullOrNull = {
      expr = x [(opt (types.nullOr types.str) null)];
      expect = null;
    };
    keyDeduplicates = {
      expr = x [
        (opt (types.listOf types.int) [])
        {
          key = "k";
          x = [1];
        }
        {
          key = "k";
          x = [1];
        }
      ];
      expect = [1];
    };
    applyApplies = {
      expr = x [
        {
          options.x = mkOption {
            type = types.listOf types.port;
            default = [];
            apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
          };
        }
        {x = [80 22];}
        {x = [22];}
      ];
      expect = [22 80];
    };
  };

  # Each must fail to evaluate; `message` is what tests/nix_eval.rs finds in the error.
  errors = {
    conflictingInts = {
      expr = x [(opt types.ints.positive 1024) {x = 1024;} {x = 2048;}];
      message = "The option `x' has conflicting definition values";
    };
    conflictingStrings = {
      expr = x [(opt types.str "") {x = "a";} {x = "b";}];
      message = "The option `x' has conflicting definition values";
    };
    conflictingBools = {
      expr = x [(opt types.bool false) {x = true;} {x = false;}];
      message = "The option `x' has conflicting definition values";
    };
    conflictingPortsInSubmodule = {
      expr = (eval [services {s.a.port = 80;} {s.a.port = 81;}]).s.a.port;
      message = "The option `s.a.port' has conflicting definition values";
    };
    uniquePackage = {
      expr = x [
        (opt types.package null)
        {
          x = {
            type = "derivation";
            outPath = "/nix/store/a-a";
          };
        }
        {
          x = {
            type = "derivation";
            outPath = "/nix/store/b-b";
          };
        }
      ];
      message = "is defined multiple times while it's expected to be unique";
    };
    undeclaredOption = {
      expr = x [(opt types.int 1) {y = 2;}];
      message = "The option `y' does not exist";
    };
    undeclaredInSubmodule = {
      expr = (eval [services {s.a.prot = 80;}]).s.a.host;
      message = "The option `s.a.prot' does not exist";
    };
    wrongType = {
      expr = x [(opt types.port 1) {x = 70000;}];
      message = "A definition for option `x' is not of type `16 bit unsigned integer; between 0 and 65535 (both inclusive)'";
    };
    notInEnum = {
      expr = x [(opt (types.enum ["a" "b"]) "a") {x = "c";}];
      message = "A definition for option `x' is not of type `one of \"a\", \"b\"'";
    };
    emptyNonEmptyList = {
      expr = x [(opt (types.nonEmptyListOf types.str) ["a"]) {x = lib.mkForce [];}];
      message = "A definition for option `x' is not of type `non-empty";
    };
    nonBooleanMkIf = {
      expr = x [(opt types.int 1) {x = lib.mkIf "yes" 2;}];
      message = "called with a non-Boolean condition";
    };
    undefinedOption = {
      expr = x [{options.x = mkOption {type = types.int;};}];
      message = "The option `x' was accessed but has no value defined";
    };
    readOnlyTwice = {
      expr = x [
        {
          options.x = mkOption {
            type = types.int;
            readOnly = true;
          };
        }
        {x = 1;}
        {x = 2;}
      ];
      message = "The option `x' is read-only, but it's set multiple times";
    };
  };

  # utils.escapeSystemdExecArgs (nixos/lib/utils.nix): quoted, `%` and `$` doubled.
  escapes = {
    expr = utils.escapeSystemdExecArgs ["/bin/x" "--label=%h" "--home=$HOME" "two words" "quote\"d" 8080];
    expect = ''"/bin/x" "--label=%%h" "--home=$$HOME" "two words" "quote\"d" "8080"'';
  };

  failures =
    builtins.concatMap (n: let
      c = cases.${n};
      r = builtins.tryEval (builtins.deepSeq c.expr c.expr);
    in
      if r.success && r.value == c.expect
      then []
      else [
        {
          case = n;
          got =
            if r.success
            then r.value
            else "error";
          inherit (c) expect;
        }
      ]) (builtins.attrNames cases)
    ++ builtins.concatMap (n: let
      r = builtins.tryEval (builtins.deepSeq errors.${n}.expr errors.${n}.expr);
    in
      if r.success
      then [
        {
          case = n;
          got = r.value;
          expect = "an error";
        }
      ]
      else []) (builtins.attrNames errors)
    ++ (
      if escapes.expr == escapes.expect
      then []
      else [(escapes // {case = "escapeSystemdExecArgs";})]
    );
in {
  inherit failures;
  # Each error case alone, for its message.
  errors = builtins.mapAttrs (_: e: e.expr) errors;
}
