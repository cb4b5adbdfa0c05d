# The lab VM as users boot it (`nix run .#lab-vm`): one machine with nixosConfigurations.lab's
# modules and the lab VM's guest settings (nix/lab-vm-guest.nix). Proves that its Grafana opens
# the dashboards without logging in (anonymous Viewer, nothing more), that the admin password
# still comes from its file, and that the lab is green.
{self}: {
  name = "remote-write-lab-vm";

  nodes.lab = {pkgs, ...}: {
    imports = [
      self.nixosModules.default
      ../nix/lab-host.nix
      ../nix/lab-vm.nix
      ../nix/lab-vm-guest.nix
    ];
    # The VM variant's size (nix/lab-vm.nix).
    virtualisation = {
      memorySize = 3072;
      cores = 2;
    };
    documentation.enable = false;
    environment.systemPackages = [pkgs.curl pkgs.jq];
  };

  testScript = {nodes, ...}: let
    pkg = nodes.lab.services.rwlab.mockExporter.package;
    labToml = "${pkg}/share/remote-write-lab/lab.toml";
    grafana = "http://127.0.0.1:3001/api";
  in ''
    start_all()
    lab.wait_for_unit("grafana.service")
    lab.wait_for_open_port(3001)

    with subtest("dashboards open without logging in"):
        lab.wait_until_succeeds(
            "curl -sf ${grafana}/dashboards/uid/rwlab-pipeline | jq -e '.dashboard.uid == \"rwlab-pipeline\"'",
            timeout=120,
        )

    with subtest("an anonymous visitor is a Viewer: it cannot save a dashboard"):
        code = lab.succeed(
            "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "
            "-d '{\"dashboard\": {\"title\": \"x\"}}' ${grafana}/dashboards/db"
        ).strip()
        assert code in ("401", "403"), f"anonymous dashboard save answered {code}"

    with subtest("the admin password comes from its file"):
        lab.succeed(
            "curl -sf -u admin:$(cat /var/lib/rwlab-secrets/grafana-admin-password) ${grafana}/admin/settings >/dev/null"
        )

    with subtest("the lab is green"):
        lab.wait_until_succeeds("labctl verify --lab ${labToml} --storage cluster", timeout=600)
  '';
}
