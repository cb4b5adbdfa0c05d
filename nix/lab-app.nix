# `nix run`: labctl up with every binary of the lab on PATH, the cluster included.
{
  lib,
  writeShellApplication,
  remote-write-lab,
  victoriametrics,
  victoriametrics-cluster,
  prometheus,
  grafana,
  withGrafana ? true,
}:
writeShellApplication {
  name = "rwlab";
  runtimeInputs = [remote-write-lab victoriametrics victoriametrics-cluster prometheus] ++ lib.optional withGrafana grafana;
  text = ''
    # lab.toml of the current folder when there is one, else the one shipped with the package.
    if [ -z "''${LABCTL_LAB:-}" ] && [ ! -e lab.toml ]; then
      export LABCTL_LAB=${remote-write-lab}/share/remote-write-lab/lab.toml
    fi
    ${lib.optionalString withGrafana ''export GRAFANA_HOME=''${GRAFANA_HOME:-${grafana}/share/grafana}''}
    if [ $# -eq 0 ]; then
      set -- up
    fi
    exec labctl "$@"
  '';
}
