# vminsert, vmselect and vmstorage from upstream's -cluster tag. nixpkgs' victoriametrics is built
# from the single-node tags, where these are library packages, so it has no cluster binaries.
{
  lib,
  buildGo126Module,
  fetchFromGitHub,
}:
buildGo126Module (finalAttrs: {
  pname = "victoriametrics-cluster";
  version = "1.150.0";

  src = fetchFromGitHub {
    owner = "VictoriaMetrics";
    repo = "VictoriaMetrics";
    tag = "v${finalAttrs.version}-cluster";
    # Artwork and prebuilt C archives that a pure-Go build never reads.
    postFetch = ''
      rm -f $out/VM_logo.zip $out/vendor/github.com/valyala/gozstd/libzstd_*.a
    '';
    hash = "sha256-MSuE6GPfEfxtG5IhoVZxcEIl4+QbUmQmtN2yEgTtg7g=";
  };

  vendorHash = null;
  env.CGO_ENABLED = 0;
  subPackages = ["app/vminsert" "app/vmselect" "app/vmstorage"];

  postPatch = ''
    # Relax the go version to major.minor, as nixpkgs' victoriametrics does, so any Go 1.26.x builds it.
    sed -i -E 's/^(go[[:space:]]+[[:digit:]]+\.[[:digit:]]+)\.[[:digit:]]+$/\1/' go.mod
    sed -i -E 's/^(## explicit; go[[:space:]]+[[:digit:]]+\.[[:digit:]]+)\.[[:digit:]]+$/\1/' vendor/modules.txt
  '';

  ldflags = [
    "-s"
    "-w"
    "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=${finalAttrs.version}-cluster"
  ];

  # Upstream tests the tag; the lab's VM test runs these binaries end to end.
  doCheck = false;

  meta = {
    homepage = "https://docs.victoriametrics.com/victoriametrics/cluster-victoriametrics/";
    description = "VictoriaMetrics cluster: vminsert, vmselect and vmstorage";
    license = lib.licenses.asl20;
    mainProgram = "vminsert";
    platforms = lib.platforms.unix;
  };
})
