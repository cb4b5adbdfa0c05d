# The lab VM (`nix run .#lab-vm`, `nixos-rebuild build-vm --flake .#lab`): the lab's ports
# forwarded from the host. Only the VM build sees these settings.
{
  virtualisation.vmVariant = {
    virtualisation = {
      memorySize = 3072;
      cores = 2;
      diskSize = 4096;
      forwardPorts = map (port: {
        from = "host";
        host.port = port;
        guest.port = port;
      }) [3001 8427 9091 9092 2112 8480 8481 8482];
    };
    services.getty.autologinUser = "root";
  };
}
