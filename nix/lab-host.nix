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

  # A machine of your own brings these; they make the configuration a complete system, which
  # `nix flake check` evaluates. The lab VM (build-vm) replaces both with its own disk.
  boot.loader.grub.device = "nodev";
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
}
