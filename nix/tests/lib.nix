# Tests of nix/lib.nix against expected values. Evaluates to the list of failures (empty when
# every test passes):
#   nix-instantiate --eval --strict --json nix/tests/lib.nix
let
  l = import ../lib.nix;
  lab = l.defaultLab;
  # The VM test's wiring: the storages on their own machines, everything else on "lab".
  hostOf = name:
    if name == "vmstorage-1"
    then "storage1"
    else if name == "vmstorage-2"
    then "storage2"
    else "lab";
  tests = {
    durations = {
      expr = map l.seconds ["15s" "2s" "1m" "500ms" "1h"];
      expected = [15 2 60 0.5 3600];
    };
    routeUsEastToVminsert1 = {
      expr = l.remoteWriteUrl {inherit lab;} (builtins.head lab.region).vminsert;
      expected = "http://127.0.0.1:8480/insert/0/prometheus/api/v1/write";
    };
    routeEuWestToVminsert2 = {
      expr = l.remoteWriteUrl {inherit lab;} (builtins.elemAt lab.region 1).vminsert;
      expected = "http://127.0.0.1:8490/insert/0/prometheus/api/v1/write";
    };
    singleNodeRemoteWrite = {
      expr = l.remoteWriteUrl {
        inherit lab;
        storage = "single";
      } "vminsert-1";
      expected = "http://127.0.0.1:8428/api/v1/write";
    };
    queryThroughVmauth = {
      expr = l.queryUrl {inherit lab;};
      expected = "http://127.0.0.1:8427/select/0/prometheus";
    };
    externalLabels = {
      expr = (l.vmagentConfig {inherit lab;} (builtins.elemAt lab.region 3)).global.external_labels;
      expected = {
        cluster = "prod-sa";
        environment = "production";
        region = "sa-east-1";
      };
    };
    fastIntervalShortensTimeout = {
      expr =
        (l.vmagentConfig {
          inherit lab;
          interval = "2s";
        } (builtins.head lab.region))
        .global;
      expected = {
        scrape_interval = "2s";
        scrape_timeout = "2s";
        external_labels = {
          cluster = "prod-us";
          environment = "production";
          region = "us-east-1";
        };
      };
    };
    writerTargets = {
      expr = map (r: r.url) (l.writerConfig {inherit lab hostOf;}).remote_write;
      expected = ["http://lab:8480/insert/0/prometheus/api/v1/write" "http://lab:9091/api/v1/write"];
    };
    writerReadsFromTheReceiver = {
      expr = map (r: [r.url r.read_recent r.required_matchers]) (l.writerConfig {inherit lab hostOf;}).remote_read;
      expected = [["http://lab:9091/api/v1/read" true {job = "lab";}]];
    };
    storageNodesCrossMachines = {
      expr = l.storageNodes {inherit lab hostOf;} "vmselect_port";
      expected = "storage1:8401,storage2:8411";
    };
    vmauthBalancesBothVmselects = {
      expr = (builtins.head (l.vmauthConfig {inherit lab hostOf;}).unauthorized_user.url_map).url_prefix;
      expected = ["http://lab:8481" "http://lab:8491"];
    };
    legacyVmauthHasNoUnauthorizedUser = {
      expr =
        (l.vmauthConfig {
          inherit lab;
          unauthorizedUser = false;
        })
        ? unauthorized_user;
      expected = false;
    };
    datasourceUids = {
      expr = map (d: d.uid) (l.grafanaDatasources {inherit lab;}).datasources;
      expected = ["victoriametrics" "prometheus-receiver"];
    };
  };
in
  builtins.filter (x: x != null) (map (
    name: let
      t = tests.${name};
    in
      if t.expr == t.expected
      then null
      else {
        inherit name;
        inherit (t) expr expected;
      }
  ) (builtins.attrNames tests))
