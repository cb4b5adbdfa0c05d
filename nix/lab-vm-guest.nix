# What runs inside the lab VM (`nix run .#lab-vm`): imported by its VM variant (nix/lab-vm.nix)
# and by the VM test of the lab VM (vm-tests/lab-vm.nix), so the test boots what users boot.
#
# Every component listens on 0.0.0.0 (a forward cannot reach the guest's loopback), but only the
# host's loopback reaches them: as easy as a native lab, with dashboards open without login,
# unless services.rwlab.labVm.hostAddress is widened; then credentials are required.
{
  config,
  lib,
  ...
}: let
  inherit (config.services.rwlab.labVm) hostAddress;
  loopback = lib.hasPrefix "127." hostAddress || hostAddress == "::1";
in {
  services.getty.autologinUser = "root";
  services.rwlab.lab.auth.enable = lib.mkDefault (!loopback);
  services.rwlab.grafana.anonymousViewer = lib.mkDefault loopback;
}
