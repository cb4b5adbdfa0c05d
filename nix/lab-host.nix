# The lab as one NixOS machine: every component, listening on all addresses so the lab VM's
# forwarded ports reach them. Used by nixosConfigurations.lab and `nix run .#lab-vm`.
{
  services.rwlab.lab = {
    enable = true;
    listenAddress = "0.0.0.0";
    openFirewall = true;
  };
  networking.hostName = "rwlab";
  system.stateVersion = "26.05";
}
