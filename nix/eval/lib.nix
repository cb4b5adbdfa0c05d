# The part of nixpkgs' `lib` the project's Nix files use, re-implemented in builtins with the same
# behaviour (lib/lists.nix, lib/attrsets.nix, lib/strings.nix, lib/options.nix, lib/types.nix,
# lib/modules.nix of nixpkgs), plus `evalModules` from ./modules.nix. For the tests of
# nix/eval/; nothing here is used by the flake, which has nixpkgs' own lib.
let
  lib = let
    inherit
      (builtins)
      all
      any
      attrNames
      concatLists
      concatMap
      concatStringsSep
      elem
      filter
      foldl'
      genList
      head
      isAttrs
      isBool
      isFloat
      isFunction
      isInt
      isList
      isPath
      isString
      length
      listToAttrs
      mapAttrs
      match
      replaceStrings
      substring
      tail
      typeOf
      ;
    modules = import ./modules.nix lib;
    inherit (modules) showOption showDefs mergeDefinitions;

    prioritySuggestion = "\nUse `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.\n";

    # Merge functions (lib/options.nix).
    mergeEqualOption = loc: defs:
      if length defs == 1
      then (head defs).value
      else
        (foldl' (first: def:
          if def.value != first.value
          then throw "The option `${showOption loc}' has conflicting definition values:${showDefs [first def]}\n${prioritySuggestion}"
          else first) (head defs) (tail defs))
        .value;
    mergeUniqueOption = {
      message,
      merge ? _: defs: (head defs).value,
    }: loc: defs:
      if length defs == 1
      then merge loc defs
      else throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n${message}\nDefinition values:${showDefs defs}\n${prioritySuggestion}";
    mergeOneOption = mergeUniqueOption {message = "";};
    mergeDefaultOption = loc: defs: let
      vs = map (d: d.value) defs;
    in
      if length defs == 1
      then head vs
      else if all isList vs
      then concatLists vs
      else if all isAttrs vs
      then foldl' (a: b: a // b) {} vs
      else if all isBool vs
      then any (x: x) vs
      else if all isString vs
      then concatStringsSep "" vs
      else throw "The option `${showOption loc}' has conflicting definition values:${showDefs defs}";

    mkOptionType = {
      name,
      description ? name,
      check ? (_: true),
      merge ? mergeDefaultOption,
      getSubModules ? null,
      substSubModules ? _: throw "${name} has no submodules",
      nestedTypes ? {},
    }: {
      _type = "option-type";
      inherit name description check merge getSubModules substSubModules nestedTypes;
    };

    addCheck = t: c: t // {check = x: t.check x && c x;};

    isDerivation = x: x.type or null == "derivation";
    isStorePath = x: (isString x || isPath x || x ? outPath) && match "/nix/store/[^/]+" (toString x) != null;

    # The attribute-set part of lib/types.nix's attrsOf and lazyAttrsOf.
    attrsMerge = lazy: elemType: loc: defs: let
      names = unique (concatMap (d: attrNames d.value) defs);
      merged = n:
        mergeDefinitions (loc ++ [n]) elemType (concatMap (d:
          if d.value ? ${n}
          then [
            {
              inherit (d) file;
              value = d.value.${n};
            }
          ]
          else [])
        defs);
    in
      if lazy
      then mapAttrs (n: _: (merged n).mergedValue) (genAttrs names (_: null))
      else
        listToAttrs (concatMap (n: let
          m = merged n;
        in
          if m.isDefined
          then [(nameValuePair n m.mergedValue)]
          else [])
        names);

    types = rec {
      inherit addCheck;
      raw = mkOptionType {
        name = "raw";
        description = "raw value";
        merge = mergeOneOption;
      };
      unspecified = mkOptionType {
        name = "unspecified";
        description = "unspecified value";
      };
      anything = mkOptionType {
        name = "anything";
        merge = loc: defs: let
          getType = v:
            if isAttrs v && v ? outPath
            then "stringCoercibleSet"
            else typeOf v;
          common =
            foldl' (t: d:
              if getType d.value == t
              then t
              else throw "The option `${showOption loc}' has conflicting option types in ${concatMapStringsSep " and " (d: "`${d.file}'") defs}")
            (getType (head defs).value)
            defs;
        in
          {
            set = (attrsOf anything).merge;
            stringCoercibleSet = mergeOneOption;
            lambda = loc: defs: arg:
              anything.merge (loc ++ ["<function body>"]) (map (d: {
                  inherit (d) file;
                  value = d.value arg;
                })
                defs);
          }
          .${common}
          or mergeEqualOption
          loc
          defs;
      };
      bool = mkOptionType {
        name = "bool";
        description = "boolean";
        check = isBool;
        merge = mergeEqualOption;
      };
      int = mkOptionType {
        name = "int";
        description = "signed integer";
        check = isInt;
        merge = mergeEqualOption;
      };
      ints = rec {
        between = lowest: highest:
          addCheck int (x: x >= lowest && x <= highest)
          // {
            name = "intBetween";
            description = "integer between ${toString lowest} and ${toString highest} (both inclusive)";
          };
        unsigned =
          addCheck int (x: x >= 0)
          // {
            name = "unsignedInt";
            description = "unsigned integer, meaning >=0";
          };
        positive =
          addCheck int (x: x > 0)
          // {
            name = "positiveInt";
            description = "positive integer, meaning >0";
          };
        u16 =
          between 0 65535
          // {
            name = "unsignedInt16";
            description = "16 bit unsigned integer; between 0 and 65535 (both inclusive)";
          };
      };
      port = ints.u16;
      float = mkOptionType {
        name = "float";
        description = "floating point number";
        check = isFloat;
        merge = mergeEqualOption;
      };
      str = mkOptionType {
        name = "str";
        description = "string";
        check = isString;
        merge = mergeEqualOption;
      };
      nonEmptyStr = mkOptionType {
        name = "nonEmptyStr";
        description = "non-empty string";
        check = x: isString x && match "[ \t\n]*" x == null;
        merge = mergeEqualOption;
      };
      strMatching = pattern:
        mkOptionType {
          name = "strMatching ${builtins.toJSON pattern}";
          description = "string matching the pattern ${pattern}";
          check = x: isString x && match pattern x != null;
          merge = mergeEqualOption;
        };
      singleLineStr = let
        inner = strMatching "[^\n\r]*\n?";
      in
        mkOptionType {
          name = "singleLineStr";
          description = "(optionally newline-terminated) single-line string";
          inherit (inner) check;
          merge = loc: defs: removeSuffix "\n" (inner.merge loc defs);
        };
      separatedString = sep:
        mkOptionType {
          name = "separatedString";
          description = "strings concatenated with ${builtins.toJSON sep}";
          check = isString;
          merge = _: defs: concatStringsSep sep (map (d: d.value) defs);
        };
      lines = separatedString "\n";
      attrs = mkOptionType {
        name = "attrs";
        description = "attribute set";
        check = isAttrs;
        merge = _: foldl' (res: def: res // def.value) {};
      };
      package = mkOptionType {
        name = "package";
        check = x: isDerivation x || isStorePath x;
        merge = mergeOneOption;
      };
      path = mkOptionType {
        name = "path";
        description = "absolute path";
        check = x: (isString x || isPath x || x ? outPath) && substring 0 1 (toString x) == "/";
        merge = mergeEqualOption;
      };
      enum = values:
        mkOptionType {
          name = "enum";
          description = "one of ${concatMapStringsSep ", " builtins.toJSON values}";
          check = x: elem x values;
          merge = mergeEqualOption;
        };
      listOf = elemType:
        mkOptionType {
          name = "listOf";
          description = "list of ${elemType.description}";
          check = isList;
          merge = loc: defs:
            concatLists (imap1 (n: def:
              concatLists (imap1 (m: v: let
                r = mergeDefinitions (loc ++ ["[definition ${toString n}-entry ${toString m}]"]) elemType [
                  {
                    inherit (def) file;
                    value = v;
                  }
                ];
              in
                if r.isDefined
                then [r.mergedValue]
                else [])
              def.value))
            defs);
          inherit (elemType) getSubModules;
          substSubModules = m: listOf (elemType.substSubModules m);
          nestedTypes.elemType = elemType;
        };
      nonEmptyListOf = elemType:
        addCheck (listOf elemType) (l: l != [])
        // {
          description = "non-empty list of ${elemType.description}";
        };
      attrsOf = elemType:
        mkOptionType {
          name = "attrsOf";
          description = "attribute set of ${elemType.description}";
          check = isAttrs;
          merge = attrsMerge false elemType;
          inherit (elemType) getSubModules;
          substSubModules = m: attrsOf (elemType.substSubModules m);
          nestedTypes.elemType = elemType;
        };
      lazyAttrsOf = elemType:
        attrsOf elemType
        // {
          name = "lazyAttrsOf";
          description = "lazy attribute set of ${elemType.description}";
          merge = attrsMerge true elemType;
          substSubModules = m: lazyAttrsOf (elemType.substSubModules m);
        };
      nullOr = elemType:
        mkOptionType {
          name = "nullOr";
          description = "null or ${elemType.description}";
          check = x: x == null || elemType.check x;
          merge = loc: defs: let
            nulls = filter (d: d.value == null) defs;
          in
            if nulls == defs
            then null
            else if nulls == []
            then elemType.merge loc defs
            else throw "The option `${showOption loc}' is defined both null and not null, in ${concatMapStringsSep " and " (d: "`${d.file}'") defs}.";
          inherit (elemType) getSubModules;
          substSubModules = m: nullOr (elemType.substSubModules m);
          nestedTypes.elemType = elemType;
        };
      either = t1: t2:
        mkOptionType {
          name = "either";
          description = "${t1.description} or ${t2.description}";
          check = x: t1.check x || t2.check x;
          merge = loc: defs: let
            vs = map (d: d.value) defs;
          in
            if all t1.check vs
            then t1.merge loc defs
            else if all t2.check vs
            then t2.merge loc defs
            else mergeOneOption loc defs;
          nestedTypes = {
            left = t1;
            right = t2;
          };
        };
      oneOf = ts: foldl' either (head ts) (tail ts);
      unique = {message}: t:
        t
        // {
          merge = mergeUniqueOption {
            inherit message;
            inherit (t) merge;
          };
        };
      submoduleWith = {
        modules,
        specialArgs ? {},
        shorthandOnlyDefinesConfig ? false,
        description ? "submodule",
      }:
        mkOptionType {
          name = "submodule";
          inherit description;
          check = x: isAttrs x || isFunction x || isPath x;
          merge = loc: defs:
            (modules_.evalModules {
              modules =
                modules
                ++ map (d:
                  if isAttrs d.value && shorthandOnlyDefinesConfig
                  then {
                    _file = d.file;
                    config = d.value;
                  }
                  else {
                    _file = d.file;
                    imports = [d.value];
                  })
                defs;
              specialArgs = specialArgs // {name = last loc;};
              prefix = loc;
            })
            .config;
          getSubModules = modules;
          substSubModules = m:
            submoduleWith {
              inherit specialArgs shorthandOnlyDefinesConfig description;
              modules = m;
            };
        };
      submodule = m:
        submoduleWith {
          modules = toList m;
          shorthandOnlyDefinesConfig = true;
        };
    };
    modules_ = modules;

    # Lists, attribute sets, strings (lib/lists.nix, lib/attrsets.nix, lib/strings.nix).
    optional = c: x:
      if c
      then [x]
      else [];
    optionals = c: xs:
      if c
      then xs
      else [];
    optionalAttrs = c: as:
      if c
      then as
      else {};
    optionalString = c: s:
      if c
      then s
      else "";
    toList = x:
      if isList x
      then x
      else [x];
    imap1 = f: list: genList (n: f (n + 1) (builtins.elemAt list n)) (length list);
    last = list: builtins.elemAt list (length list - 1);
    unique = foldl' (acc: e:
      if elem e acc
      then acc
      else acc ++ [e]) [];
    nameValuePair = name: value: {inherit name value;};
    genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
    mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    filterAttrs = pred: set: removeAttrs set (filter (n: !pred n set.${n}) (attrNames set));
    setAttrByPath = path: v:
      if path == []
      then v
      else {${head path} = setAttrByPath (tail path) v;};
    recursiveUpdate = lhs: rhs:
      lhs
      // mapAttrs (n: v:
        if isAttrs v && isAttrs (lhs.${n} or null) && !(v ? _type) && !(lhs.${n} ? outPath)
        then recursiveUpdate lhs.${n} v
        else v)
      rhs;
    concatStrings = concatStringsSep "";
    concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
    hasPrefix = pre: s: substring 0 (builtins.stringLength pre) s == pre;
    hasSuffix = suf: s: let
      ls = builtins.stringLength s;
      lf = builtins.stringLength suf;
    in
      lf <= ls && substring (ls - lf) lf s == suf;
    removeSuffix = suf: s:
      if hasSuffix suf s
      then substring 0 (builtins.stringLength s - builtins.stringLength suf) s
      else s;
    escapeRegex = replaceStrings ["\\" "[" "{" "(" ")" "^" "$" "?" "*" "+" "|" "."] ["\\\\" "\\[" "\\{" "\\(" "\\)" "\\^" "\\$" "\\?" "\\*" "\\+" "\\|" "\\."];
    splitString = sep: s: filter isString (builtins.split (escapeRegex (toString sep)) (toString s));
    escapeShellArg = arg: let
      s = toString arg;
    in
      if match "[[:alnum:],._+:@%/-]+" s == null
      then "'${replaceStrings ["'"] ["'\\''"] s}'"
      else s;
    escapeShellArgs = concatMapStringsSep " " escapeShellArg;
    min = a: b:
      if a < b
      then a
      else b;

    # Packages (lib/meta.nix): getExe' asserts a derivation, as nixpkgs' does.
    getExe' = x: y:
      if isDerivation x
      then "${x.bin or x.out or x}/bin/${y}"
      else throw "lib.getExe': the first argument is not a derivation";
    getExe = x: getExe' x (x.meta.mainProgram or x.pname or x.name);

    # A short, never-failing rendering of a definition for error messages.
    showValue = v: let
      go = depth: v:
        if isAttrs v && v ? outPath
        then "«derivation ${toString v.outPath}»"
        else if isAttrs v
        then
          if depth > 2
          then "{ ... }"
          else "{ ${concatStrings (map (n: "${n} = ${go (depth + 1) v.${n}}; ") (attrNames v))}}"
        else if isList v
        then
          if depth > 2
          then "[ ... ]"
          else "[ ${concatStrings (map (x: "${go (depth + 1) x} ") v)}]"
        else if isFunction v
        then "«lambda»"
        else if isString v
        then builtins.toJSON v
        else if v == null
        then "null"
        else if isBool v
        then
          (
            if v
            then "true"
            else "false"
          )
        else toString v;
      r = builtins.tryEval (go 0 v);
    in
      if r.success
      then r.value
      else "«error»";

    # Options and properties (lib/options.nix, lib/modules.nix).
    mkOption = attrs: {type = types.unspecified;} // attrs // {_type = "option";};
    mkEnableOption = name:
      mkOption {
        default = false;
        example = true;
        type = types.bool;
        description = "Whether to enable ${name}.";
      };
    mkPackageOption = pkgs: name: {
      default ? [name],
      extraDescription ? "",
      ...
    }: let
      path = toList default;
      text = "pkgs.${concatStringsSep "." path}";
    in
      mkOption {
        type = types.package;
        default = foldl' (s: n: s.${n} or (throw "${text} cannot be found in pkgs")) pkgs path;
        defaultText = literalExpression text;
        description =
          "The ${name} package to use."
          + optionalString (extraDescription != "") " ${extraDescription}";
      };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkVMOverride = mkOverride 10;
    mkOrder = priority: content: {
      _type = "order";
      inherit priority content;
    };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
  in
    builtins
    // {
      inherit types mkOptionType mergeEqualOption mergeOneOption mergeUniqueOption mergeDefinitions showOption showValue;
      inherit (modules) evalModules;
      inherit optional optionals optionalAttrs optionalString toList imap1 last unique nameValuePair genAttrs;
      inherit mapAttrs' mapAttrsToList filterAttrs setAttrByPath recursiveUpdate;
      inherit concatStrings concatMapStringsSep hasPrefix hasSuffix removeSuffix splitString escapeShellArg escapeShellArgs min;
      inherit isDerivation getExe getExe';
      inherit mkOption mkEnableOption mkPackageOption literalExpression;
      inherit mkIf mkMerge mkOverride mkOptionDefault mkDefault mkForce mkVMOverride mkOrder mkBefore mkAfter;
    };
in
  lib
