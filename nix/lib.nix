# Pure functions from the lab's topology (lab.toml, read with builtins.fromTOML) to the settings
# of each service: scrape configs, remote-write URLs, the vmauth config, Grafana datasources.
# Builtins only, so they evaluate anywhere (`nix-instantiate --eval`) and are compared with the
# Rust renderer (src/render.rs) on the same lab.toml by `cargo test`.
#
# `hostOf` maps a component name ("vminsert-1", "vmauth", "mock-exporter", …) to the host other
# components reach it at; on one machine every component is at the lab's connect address.
let
  # The address clients use for a listener bound to `listen_address`.
  connectHost = lab:
    if lab.listen_address == "0.0.0.0" || lab.listen_address == ""
    then "127.0.0.1"
    else lab.listen_address;

  defaultHostOf = lab: _: connectHost lab;

  url = host: port: path: "http://${host}:${toString port}${path}";

  find = name: list: builtins.head (builtins.filter (x: x.name == name) list);

  # "15s" -> 15, "1m" -> 60, "500ms" -> 0.5
  seconds = d: let
    m = builtins.match "([0-9]+)(ms|s|m|h)" d;
    n = builtins.fromJSON (builtins.elemAt m 0);
    unit = builtins.elemAt m 1;
  in
    if m == null
    then throw "not a duration: ${d}"
    else if unit == "ms"
    then n / 1000.0
    else if unit == "s"
    then n
    else if unit == "m"
    then n * 60
    else n * 3600;

  # How Prometheus writes a duration, as src/render.rs does: whole seconds as "Ns".
  promDuration = d: let
    s = seconds d;
  in
    if builtins.isInt s
    then "${toString s}s"
    else d;

  globalConfig = interval: labels: {
    scrape_interval = promDuration interval;
    scrape_timeout =
      if seconds interval < 10
      then promDuration interval
      else "10s";
    external_labels = labels;
  };

  exporterJob = {
    lab,
    hostOf,
  }: relabel: {
    # Stored as job="mock-exporter" by jobRelabel; this name shows on the target pages only.
    job_name = "exporter";
    static_configs = [{targets = ["${hostOf "mock-exporter"}:${toString lab.exporter.port}"];}];
    relabel_configs = relabel;
  };

  jobRelabel = {
    target_label = "job";
    replacement = "mock-exporter";
  };
in rec {
  inherit connectHost seconds promDuration;

  # The lab file of this repository.
  defaultLab = builtins.fromTOML (builtins.readFile ../lab.toml);

  # Remote-write URL of a vminsert (or of the single node).
  remoteWriteUrl = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
  }: vminsert:
    if storage == "cluster"
    then url (hostOf vminsert) (find vminsert lab.vminsert).port "/insert/${toString lab.tenant}/prometheus/api/v1/write"
    else url (hostOf "victoria-metrics") lab.single.port "/api/v1/write";

  # -search.latencyOffset of vmselect and the single node: lab.toml's latency_offset ("1s" when
  # left out), written as src/render.rs writes it.
  latencyOffset = lab: promDuration (lab.latency_offset or "1s");

  # The Prometheus-compatible query URL, through vmauth.
  queryUrl = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
  }:
    if storage == "cluster"
    then url (hostOf "vmauth") lab.vmauth.port "/select/${toString lab.tenant}/prometheus"
    else url (hostOf "vmauth") lab.vmauth.port "/prometheus";

  receiverUrl = {
    lab,
    hostOf ? defaultHostOf lab,
  }:
    url (hostOf "prometheus-receiver") lab.prometheus.receiver.port "";

  # A region's vmagent -promscrape.config.
  vmagentConfig = {
    lab,
    hostOf ? defaultHostOf lab,
    interval ? lab.scrape_interval,
  }: region: {
    global = globalConfig interval {
      inherit (region) cluster environment;
      region = region.name;
    };
    scrape_configs = [
      ((exporterJob {inherit lab hostOf;} [
          jobRelabel
          {
            target_label = "availability_zone";
            replacement = region.availability_zone;
          }
        ])
        # ?region= on the scrape: an incident limited to the region shows on its page only.
        // {params.region = [region.name];})
    ];
  };

  # The writer reads the lab's monitoring series (job "lab", which only the receiver holds)
  # back from the receiver; see writer_remote_read in src/lab/render.rs for each key.
  writerRemoteRead = {
    lab,
    hostOf ? defaultHostOf lab,
  }: [
    {
      name = "receiver";
      url = url (hostOf "prometheus-receiver") lab.prometheus.receiver.port "/api/v1/read";
      read_recent = true;
      filter_external_labels = false;
      required_matchers.job = "lab";
    }
  ];

  # The Prometheus writer: scrape the exporter, write to each target, read back from the receiver.
  writerConfig = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
    interval ? lab.scrape_interval,
  }: let
    w = lab.prometheus.writer;
    target = t: {
      name = t;
      url =
        if t == "receiver"
        then url (hostOf "prometheus-receiver") lab.prometheus.receiver.port "/api/v1/write"
        else remoteWriteUrl {inherit lab storage hostOf;} t;
      queue_config.batch_send_deadline = "1s";
    };
  in {
    global = globalConfig interval {inherit (w) cluster environment;};
    scrape_configs = [(exporterJob {inherit lab hostOf;} [jobRelabel])];
    remote_write = map target w.remote_write;
    remote_read = writerRemoteRead {inherit lab hostOf;};
  };

  # The components whose own metrics the receiver scrapes: { name, kind, port }.
  monitored = {
    lab,
    storage ? "cluster",
  }: let
    c = name: kind: port: {inherit name kind port;};
  in
    map (r: c "vmagent-${r.name}" "vmagent" r.vmagent_port) lab.region
    ++ (
      if storage == "cluster"
      then
        map (i: c i.name "vminsert" i.port) lab.vminsert
        ++ map (s: c s.name "vmstorage" s.http_port) lab.vmstorage
        ++ map (s: c s.name "vmselect" s.port) lab.vmselect
      else [(c "victoria-metrics" "victoria-metrics" lab.single.port)]
    )
    ++ [
      (c "vmauth" "vmauth" lab.vmauth.port)
      (c "prometheus-writer" "prometheus" lab.prometheus.writer.port)
      (c "prometheus-receiver" "prometheus" lab.prometheus.receiver.port)
      (c "vmalert" "vmalert" lab.vmalert.port)
      (c "alertmanager" "alertmanager" lab.alertmanager.port)
    ];

  # The Prometheus receiver: it receives the writer's samples and, as the lab's monitoring
  # cluster, scrapes the pipeline's own components (job `lab`, labels `component` and `kind`).
  # It evaluates the rule files `rules` (a glob) and sends alerts to Alertmanager, its alerts
  # labelled evaluator="prometheus-receiver".
  receiverConfig = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
    interval ? lab.scrape_interval,
    rules,
  }: {
    global =
      globalConfig interval {
        inherit (lab.prometheus.receiver) cluster environment;
        evaluator = "prometheus-receiver";
      }
      // {evaluation_interval = promDuration interval;};
    rule_files = [rules];
    alerting.alertmanagers = [
      {static_configs = [{targets = ["${hostOf "alertmanager"}:${toString lab.alertmanager.port}"];}];}
    ];
    scrape_configs = [
      {
        job_name = "lab";
        static_configs =
          map (m: {
            targets = ["${hostOf m.name}:${toString m.port}"];
            labels = {
              component = m.name;
              inherit (m) kind;
            };
          })
          (monitored {inherit lab storage;});
      }
    ];
  };

  # Alertmanager: one route grouping by alert name and evaluator into a receiver without
  # integrations (the lab reads alerts through the API); short timings for tests.
  alertmanagerConfig = {
    route = {
      receiver = "lab";
      group_by = ["alertname" "evaluator"];
      group_wait = "1s";
      group_interval = "5s";
      repeat_interval = "1h";
    };
    receivers = [{name = "lab";}];
  };

  # vmalert's flags but -httpListenAddr: rules from `rules` (a glob), queries and state restore
  # through vmauth (basic auth, password read from `passwordFile`), recording results and alert
  # state written to lab.vmalert.vminsert (or the single node), alerts to Alertmanager.
  vmalertFlags = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
    interval ? lab.scrape_interval,
    rules,
    passwordFile,
  }: let
    query = queryUrl {inherit lab storage hostOf;};
    write =
      if storage == "cluster"
      then url (hostOf lab.vmalert.vminsert) (find lab.vmalert.vminsert lab.vminsert).port "/insert/${toString lab.tenant}/prometheus"
      else url (hostOf "victoria-metrics") lab.single.port "";
    user = lab.vmauth.username;
  in [
    "-rule=${rules}"
    "-evaluationInterval=${promDuration interval}"
    "-datasource.url=${query}"
    "-datasource.basicAuth.username=${user}"
    "-datasource.basicAuth.passwordFile=${passwordFile}"
    "-remoteRead.url=${query}"
    "-remoteRead.basicAuth.username=${user}"
    "-remoteRead.basicAuth.passwordFile=${passwordFile}"
    "-remoteWrite.url=${write}"
    "-remoteWrite.flushInterval=1s"
    "-notifier.url=${url (hostOf "alertmanager") lab.alertmanager.port ""}"
    "-external.label=evaluator=vmalert"
  ];

  # vmauth's -auth.config: queries balanced across the vmselects (or to the single node).
  # `password` is what goes into the file (the NixOS modules pass a `%{ENV}` placeholder, filled
  # in at service start, so no password reaches the store); with `writes`, the user may also
  # write: /insert/ balanced across the vminserts (the single node's /api/v1/ takes writes already).
  vmauthConfig = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
    unauthorizedUser ? true,
    password ? lab.vmauth.password,
    writes ? false,
  }: let
    urlMap =
      if storage == "cluster"
      then [
        {
          src_paths = ["/select/.+"];
          url_prefix = map (s: url (hostOf s.name) s.port "") lab.vmselect;
        }
      ]
      else [
        {
          src_paths = ["/prometheus/.+" "/api/v1/.+"];
          url_prefix = [(url (hostOf "victoria-metrics") lab.single.port "")];
        }
      ];
    insertMap =
      if writes && storage == "cluster"
      then [
        {
          src_paths = ["/insert/.+"];
          url_prefix = map (i: url (hostOf i.name) i.port "") lab.vminsert;
        }
      ]
      else [];
  in
    {
      users = [
        {
          inherit (lab.vmauth) username;
          inherit password;
          url_map = urlMap ++ insertMap;
        }
      ];
    }
    // (
      if unauthorizedUser
      then {unauthorized_user.url_map = urlMap;}
      else {}
    );

  # Grafana's provisioned datasources, with the fixed uids dashboards refer to.
  # `password` is what goes into secureJsonData (NixOS passes a $__file{} reference).
  grafanaDatasources = {
    lab,
    storage ? "cluster",
    hostOf ? defaultHostOf lab,
    password ? lab.vmauth.password,
  }: let
    jsonData = {
      httpMethod = "POST";
      timeInterval = promDuration lab.scrape_interval;
    };
  in {
    apiVersion = 1;
    datasources = [
      {
        name = "VictoriaMetrics";
        uid = "victoriametrics";
        type = "prometheus";
        access = "proxy";
        url = queryUrl {inherit lab storage hostOf;};
        isDefault = true;
        basicAuth = true;
        basicAuthUser = lab.vmauth.username;
        secureJsonData.basicAuthPassword = password;
        inherit jsonData;
      }
      {
        name = "Prometheus receiver";
        uid = "prometheus-receiver";
        type = "prometheus";
        access = "proxy";
        url = receiverUrl {inherit lab hostOf;};
        isDefault = false;
        inherit jsonData;
      }
    ];
  };

  # -storageNode of a vminsert (port = "vminsert_port") or a vmselect ("vmselect_port").
  storageNodes = {
    lab,
    hostOf ? defaultHostOf lab,
  }: port:
    builtins.concatStringsSep "," (map (s: "${hostOf s.name}:${toString s.${port}}") lab.vmstorage);
}
