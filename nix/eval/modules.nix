# A NixOS module system evaluator in plain builtins, written for this project's tests: `cargo test`
# runs on machines without nixpkgs, so it cannot call nixpkgs' lib.evalModules. It implements the
# semantics of lib.evalModules that the project's modules and nixpkgs' option declarations rely on
# (lib/modules.nix, lib/types.nix, lib/options.nix of nixpkgs, re-implemented, not copied):
#
# - modules are paths, functions of { config, options, lib, pkgs, utils, name, ... } or attribute
#   sets (full: options/config/imports/key/_file/freeformType, or shorthand: config only);
#   imports are followed and deduplicated by key (a path's key is the path);
# - definitions are pushed through mkIf/mkMerge/mkOverride down to their options, then
#   discharged (mkIf false drops a definition), filtered by priority (plain 100, mkDefault 1000,
#   option default 1500, mkForce 50: only the numerically lowest survive), sorted by mkOrder,
#   type-checked and merged by the option's type; unique types (str, int, bool, port, enum, path,
#   package) reject two different definitions of equal priority ("conflicting definition values");
# - a definition for an undeclared option is an error ("does not exist") unless the module has a
#   freeformType, which then merges it; the error is raised when the configuration is forced;
# - `_module.args` supplies module arguments, `extendModules` and `type` are returned as nixpkgs
#   returns them (NixOS' virtualisation.vmVariant is built from them).
lib: let
  inherit
    (builtins)
    any
    attrNames
    concatMap
    concatStringsSep
    filter
    foldl'
    functionArgs
    genericClosure
    head
    isAttrs
    isFunction
    isPath
    isString
    length
    mapAttrs
    removeAttrs
    sort
    ;

  showOption = concatStringsSep ".";
  showDefs = defs: lib.concatStrings (map (d: "\n- In `${d.file}': ${lib.showValue d.value}") defs);

  special = ["_file" "key" "imports" "options" "config" "freeformType" "disabledModules" "meta" "_class"];

  # Discharge mkMerge and mkIf: the list of definitions left (mkIf false leaves none).
  discharge = v:
    if v._type or "" == "merge"
    then concatMap discharge v.contents
    else if v._type or "" == "if"
    then
      if builtins.isBool v.condition
      then
        if v.condition
        then discharge v.content
        else []
      else throw "‘mkIf’ called with a non-Boolean condition"
    else [v];

  # Push mkMerge, mkIf and mkOverride of a namespace value down to its attributes.
  pushDown = loc: file: v:
    if v._type or "" == "merge"
    then concatMap (pushDown loc file) v.contents
    else if v._type or "" == "if"
    then map (mapAttrs (_: lib.mkIf v.condition)) (pushDown loc file v.content)
    else if v._type or "" == "override"
    then map (mapAttrs (_: lib.mkOverride v.priority)) (pushDown loc file v.content)
    else if isAttrs v
    then [v]
    else throw "The option namespace `${showOption loc}' is defined in `${file}' as a ${builtins.typeOf v}, while an attribute set was expected.";

  # The merge of one option's definitions: { isDefined, mergedValue, optionalValue }.
  mergeDefinitions = loc: type: defs: let
    discharged = concatMap (d:
      map (value: {
        inherit (d) file;
        inherit value;
      }) (discharge d.value))
    defs;
    prio = d:
      if d.value._type or "" == "override"
      then d.value.priority
      else 100;
    highest = foldl' (p: d: lib.min p (prio d)) 9999 discharged;
    strip = d:
      if d.value._type or "" == "override"
      then d // {value = d.value.content;}
      else d;
    kept = map strip (filter (d: prio d == highest) discharged);
    order = d:
      if d.value._type or "" == "order"
      then d.value.priority
      else 1000;
    sorted =
      if any (d: d.value._type or "" == "order") kept
      then map (d: d // {value = d.value.content or d.value;}) (sort (a: b: order a < order b) kept)
      else kept;
    isDefined = sorted != [];
    invalid = filter (d: !type.check d.value) sorted;
    mergedValue =
      if isDefined
      then
        if invalid == []
        then type.merge loc sorted
        else throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${showDefs invalid}"
      else throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";
  in {
    inherit isDefined mergedValue;
    optionalValue =
      if isDefined
      then {value = mergedValue;}
      else {};
  };

  # The value of a declared option.
  evalOption = loc: opt: defs: let
    defs' =
      lib.optional (opt ? default) {
        file = head opt.declarations;
        value = lib.mkOptionDefault opt.default;
      }
      ++ defs;
    res =
      if opt.readOnly or false && length defs' > 1
      then throw "The option `${showOption loc}' is read-only, but it's set multiple times. Definition values:${showDefs defs'}"
      else mergeDefinitions loc opt.type defs';
  in
    if opt ? apply
    then opt.apply res.mergedValue
    else res.mergedValue;

  isOption = v: isAttrs v && v._type or "" == "option";

  # Merge the option trees of all modules; a leaf records the files that declare it.
  mergeDecls = loc: acc: file: tree:
    foldl' (
      acc: n: let
        v = tree.${n};
        here = loc ++ [n];
      in
        acc
        // {
          ${n} =
            if isOption v
            then
              if acc ? ${n}
              then
                if isOption acc.${n} && acc.${n}.type.getSubModules or null != null && v.type.getSubModules or null != null
                then
                  acc.${n}
                  // {
                    type = acc.${n}.type.substSubModules (acc.${n}.type.getSubModules ++ v.type.getSubModules);
                    declarations = acc.${n}.declarations ++ [file];
                  }
                else throw "The option `${showOption here}' in `${file}' is already declared in ${lib.concatMapStringsSep " and " (f: "`${f}'") (acc.${n}.declarations or ["a namespace"])}."
              else v // {declarations = [file];}
            else if isAttrs v
            then
              if isOption (acc.${n} or null)
              then throw "The option `${showOption here}' in `${file}' is already declared in ${lib.concatMapStringsSep " and " (f: "`${f}'") acc.${n}.declarations}."
              else mergeDecls here (acc.${n} or {}) file v
            else throw "In `${file}', `options.${showOption here}' is neither an option (mkOption) nor a set of options.";
        }
    )
    acc (attrNames tree);

  # For each attribute of a namespace, the definitions made for it.
  childDefs = loc: defs: let
    pushed = concatMap (d:
      map (value: {
        inherit (d) file;
        inherit value;
      }) (pushDown loc d.file d.value))
    defs;
  in {
    names = lib.unique (concatMap (d: attrNames d.value) pushed);
    of = n:
      concatMap (d:
        lib.optional (d.value ? ${n}) {
          inherit (d) file;
          value = d.value.${n};
        })
      pushed;
  };

  # The configuration under a namespace of declarations (names from the declarations only).
  evalTree = loc: decls: defs: let
    c = childDefs loc defs;
  in
    mapAttrs (n: o:
      if isOption o
      then evalOption (loc ++ [n]) o (c.of n)
      else evalTree (loc ++ [n]) o (c.of n))
    decls;

  # Definitions that match no declaration: { file, prefix, value }, prefix relative to `loc`.
  unmatched = loc: prefix: decls: defs: let
    c = childDefs (loc ++ prefix) defs;
  in
    concatMap (n:
      if decls ? ${n}
      then
        if isOption decls.${n}
        then []
        else unmatched loc (prefix ++ [n]) decls.${n} (c.of n)
      else
        map (d: {
          inherit (d) file value;
          prefix = prefix ++ [n];
        }) (c.of n))
    c.names;

  evalModules = {
    modules,
    specialArgs ? {},
    prefix ? [],
  } @ evalArgs: let
    # Module arguments: the fixed ones, then `_module.args`.
    fixedArgs =
      {
        inherit lib options extendModules;
        config = internalConfig;
      }
      // specialArgs;
    applyArgs = f:
      f (fixedArgs
        // mapAttrs (n: _:
          internalConfig._module.args.${n} or (throw "The module argument `${n}' is missing: no module sets _module.args.${n} and it is not a special argument."))
        (removeAttrs (functionArgs f) (attrNames fixedArgs)));

    load = file: key: m:
      if isPath m || isString m
      then load (toString m) (toString m) (import m)
      else if isFunction m
      then load file key (applyArgs m)
      else if isAttrs m
      then
        # With `options` or `config` every definition must be under `config`; without them, the
        # attributes other than the special ones are the definitions (shorthand).
        if m ? options || m ? config
        then {
          key = toString (m.key or key);
          file = m._file or file;
          imports = m.imports or [];
          options = m.options or {};
          config = m.config or {};
          freeformType = m.freeformType or null;
          unknown = removeAttrs m special;
        }
        else {
          key = toString (m.key or key);
          file = m._file or file;
          imports = m.imports or [];
          options = {};
          config = removeAttrs m special;
          freeformType = m.freeformType or null;
          unknown = {};
        }
      else throw "A module in `${file}' is a ${builtins.typeOf m}, not a path, a function or an attribute set.";

    loadAll = file: key: ms: lib.imap1 (i: load file "${key}:anon-${toString i}") ms;

    collected = genericClosure {
      startSet = loadAll "<unknown-file>" "root" modules;
      operator = m:
        if m.unknown != {}
        then throw "Module `${m.key}' (${m.file}) has an unsupported attribute `${head (attrNames m.unknown)}'. Put definitions under `config' when a module has `options' or `imports'."
        else loadAll m.file m.key m.imports;
    };

    # `_module.args` and `_module.check` are declared in every evaluation, as nixpkgs does.
    internalDecls = {
      _module.args = lib.mkOption {
        type = lib.types.lazyAttrsOf lib.types.raw;
        default = {};
        internal = true;
        description = "Arguments passed to each module.";
      };
    };

    decls = foldl' (acc: m: mergeDecls prefix acc m.file m.options) (mergeDecls prefix {} "lib/modules.nix" internalDecls) collected;
    defs = map (m: {inherit (m) file config;}) collected;
    rootDefs =
      map (d: {
        inherit (d) file;
        value = d.config;
      })
      defs;

    freeformTypes = filter (t: t != null) (map (m: m.freeformType) collected);
    freeformType =
      if freeformTypes == []
      then null
      else head freeformTypes;

    options = decls;
    declared = evalTree prefix decls rootDefs;
    unmatchedDefs = unmatched prefix [] decls rootDefs;
    freeformConfig =
      if freeformType == null || unmatchedDefs == []
      then {}
      else
        freeformType.merge prefix (map (d: {
            inherit (d) file;
            value = lib.setAttrByPath d.prefix d.value;
          })
          unmatchedDefs);
    internalConfig =
      if freeformType == null
      then declared
      else lib.recursiveUpdate freeformConfig declared;

    checkUnmatched =
      if freeformType == null && unmatchedDefs != []
      then let
        d = head unmatchedDefs;
      in
        throw "The option `${showOption (prefix ++ d.prefix)}' does not exist. Definition values:${showDefs [d]}"
      else null;

    extendModules = {
      modules ? [],
      specialArgs ? {},
      prefix ? evalArgs.prefix or [],
    }:
      evalModules {
        modules = evalArgs.modules ++ modules;
        specialArgs = evalArgs.specialArgs or {} // specialArgs;
        inherit prefix;
      };
  in {
    _type = "configuration";
    config = builtins.seq checkUnmatched (removeAttrs internalConfig ["_module"]);
    inherit options extendModules;
    type = lib.types.submoduleWith {inherit modules specialArgs;};
  };
in {
  inherit evalModules mergeDefinitions discharge showOption showDefs isOption;
}
