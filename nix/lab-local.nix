# The lab module as a machine without the VictoriaMetrics cluster runs it: single-node storage,
# Debian's vmauth (older than v1.84, so no unauthorized_user), a 2 s scrape interval, no Grafana.
# For `../shared/nix-eval/check` and `run`: the modules' own command lines, proven by
# `labctl verify --storage single --fast`.
{
  services.rwlab.lab = {
    enable = true;
    storage = "single";
    vmauthUnauthorizedUser = false;
    scrapeInterval = "2s";
    components = [
      "mock-exporter"
      "victoria-metrics"
      "vmauth"
      "vmagent-us-east-1"
      "vmagent-eu-west-1"
      "vmagent-ap-southeast-1"
      "vmagent-sa-east-1"
      "prometheus-writer"
      "prometheus-receiver"
      "vmalert"
      "alertmanager"
    ];
  };
}
