# NixOS' `utils` module argument, the part the project's modules use: escapeSystemdExecArg(s), with
# the behaviour of nixos/lib/utils.nix (re-implemented): each argument JSON-quoted (systemd accepts
# "-quoted strings with C escapes), `%` doubled so systemd expands no specifier, `$` doubled so it
# substitutes no variable.
lib: rec {
  escapeSystemdExecArg = arg: let
    s =
      if builtins.isPath arg
      then "${arg}"
      else if builtins.isString arg
      then arg
      else if builtins.isInt arg || builtins.isFloat arg || lib.isDerivation arg
      then toString arg
      else throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
  in
    builtins.replaceStrings ["%" "$"] ["%%" "$$"] (builtins.toJSON s);
  escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
}
