#!/usr/bin/env bash
# Prove the NixOS modules without nixpkgs: evaluate them with nixpkgs' real module system, check
# every config they render with the real tools, start the units they render as local processes
# and run `labctl verify` against them.
#
#   nix/prove-modules.sh NIXPKGS_LIB_DIR [SHARED_DIR]
#
# NIXPKGS_LIB_DIR is the lib/ folder of nixpkgs (e.g. from nix-community/nixpkgs.lib); SHARED_DIR
# holds nix-eval/ (default ../shared). Needs nix-instantiate, promtool, vmagent, vmauth and
# victoria-metrics on PATH, and labctl and mock-exporter built (cargo build --release).
set -euo pipefail
lib=${1:?usage: nix/prove-modules.sh NIXPKGS_LIB_DIR [SHARED_DIR]}
shared=${2:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap '"$shared/nix-eval/run" stop "$work/state" >/dev/null 2>&1 || true' EXIT
export PATH="$root/target/release:$PATH"

step() { printf '\n==> %s\n' "$*"; }

# What NixOS and the flake give the modules besides pkgs: the `utils` argument (escapeSystemdExecArgs,
# from nix/eval/utils.nix, which behaves as nixos/lib/utils.nix) and the project's own packages
# (fake store paths shaped like nix-eval's, so `run` finds the binaries on PATH).
for cfg in nix/lab-host.nix nix/lab-local.nix; do
  name=$(basename "$cfg" .nix)
  cat >"$work/$name-wrapped.nix" <<NIX
{
  imports = [ $root/$cfg ];
  _module.args.utils = import $root/nix/eval/utils.nix (import $lib);
  services.rwlab.packages = builtins.listToAttrs (map (name: {
    inherit name;
    value = {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-\${name}";
      outputs = [ "out" ];
    };
  }) [ "remote-write-lab" "victoriametrics-cluster" ]);
  # The password vmalert reads through LoadCredential (rwlab-lab-secrets, a oneshot, is not run).
  services.rwlab.lab.auth.passwordFile = "$work/lab-password";
}
NIX
  step "evaluate nixos-modules with $cfg"
  "$shared/nix-eval/check" "$lib" nixos-modules/default.nix "$work/$name-wrapped.nix" "$work/$name.json"
done

step "check every rendered config with the real tools"
python3 - "$work/lab-host.json" "$work/lab-local.json" <<'PY' > "$work/configs.txt"
import json, re, shlex, sys
for f in sys.argv[1:]:
    for name, unit in json.load(open(f)).items():
        cmd = (unit.get("serviceConfig") or {}).get("ExecStart") or ""
        for a in shlex.split(cmd):
            m = re.match(r"-+(config\.file|promscrape\.config|auth\.config)=(/nix/store/\S+)", a)
            if m:
                kind = "alertmanager.config" if "alertmanager" in name and m.group(1) == "config.file" else m.group(1)
                print(kind, m.group(2), name)
PY
sort -u "$work/configs.txt" | while read -r kind file unit; do
  case $kind in
    config.file) promtool check config "$file" >/dev/null && echo "promtool check config: $unit ok" ;;
    alertmanager.config) amtool check-config "$file" >/dev/null && echo "amtool check-config: $unit ok" ;;
    promscrape.config) vmagent -dryRun -promscrape.config="$file" >/dev/null 2>&1 && echo "vmagent -dryRun: $unit ok" ;;
    auth.config)
      if vmauth -help 2>&1 | grep -q -- -dryRun; then
        vmauth -dryRun -auth.config="$file" >/dev/null && echo "vmauth -dryRun: $unit ok"
      elif grep -q unauthorized_user "$file"; then
        echo "vmauth: $unit uses unauthorized_user, which this vmauth predates; checked by the build's vmauth -dryRun instead"
      else
        echo "vmauth: $unit is started below (this vmauth has no -dryRun)"
      fi
      ;;
  esac
done

step "start the units of nix/lab-local.nix"
# rwlab-lab-secrets is a oneshot (it writes the password file and exits), which `run` would
# report as dead; on loopback nothing reads that file but Grafana, which lab-local.nix leaves out.
printf lab >"$work/lab-password"
# Debian names Alertmanager's binary prometheus-alertmanager; the units run `alertmanager`.
mkdir -p "$work/bin"
if ! command -v alertmanager >/dev/null && command -v prometheus-alertmanager >/dev/null; then
  ln -s "$(command -v prometheus-alertmanager)" "$work/bin/alertmanager"
fi
export PATH="$work/bin:$PATH"
"$shared/nix-eval/run" start "$work/lab-local.json" "$work/state" --skip '^rwlab-lab-secrets$'

step "labctl verify against them"
labctl verify --storage single --fast --wait 90s

step "labctl dashboards check against them"
for _ in $(seq 30); do
  labctl dashboards check --storage single --fast >"$work/dashboards.txt" 2>&1 && break
  sleep 2
done
cat "$work/dashboards.txt"
tail -1 "$work/dashboards.txt" | grep -q ", 0 failed"
