# Every module of the lab. Import this (or the flake's nixosModules.default) into a NixOS
# configuration and set services.rwlab.lab.enable, or configure components one by one. Each
# module also works imported alone: it imports ./shared.nix and whatever else it sets.
{
  imports = [
    ./shared.nix
    ./mock-exporter.nix
    ./victoriametrics-cluster.nix
    ./vmagents.nix
    ./prometheus-pair.nix
    ./alerting.nix
    ./grafana-lab.nix
    ./lab.nix
  ];
}
