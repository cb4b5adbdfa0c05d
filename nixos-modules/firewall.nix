# One place that opens the lab's ports: each module adds the ports of instances with
# openFirewall set to services.rwlab.openPorts.
{
  config,
  lib,
  ...
}: {
  options.services.rwlab.openPorts = lib.mkOption {
    type = lib.types.listOf lib.types.port;
    default = [];
    internal = true;
    description = "TCP ports the lab's modules open in the firewall (instances with openFirewall set).";
  };

  config.networking.firewall.allowedTCPPorts = lib.mkIf (config.services.rwlab.openPorts != []) config.services.rwlab.openPorts;
}
