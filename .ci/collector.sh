# shellcheck shell=bash
# Builds the OpenTelemetry Collectors the collector tests run (crates/kalypso/tests/it/
# collector_real.rs) with the OpenTelemetry Collector Builder (ocb), from the manifests beside
# this file: otelcol-k8s 0.158.0 (kalypso-otel's gateway and node agent) and
# otelcol-ebpf-profiler 0.159.0 (kalypso-pyroscope's profiler), each with exactly the components
# the rendered configs use (the tests check that). Modules come from the Go module proxy only.
# Cached under .cache/otelcol (a stamp per binary: its manifest's hash). Sourced by .ci/run
# after tools.sh.
# The repository root (tools.sh sets it; sourced alone, the current directory).
root=${root:-$(pwd)}

otelcol_dir="$root/.cache/otelcol"

# otelcol_build OCB_VERSION NAME MINUTES: builds .cache/otelcol/bin/NAME from .ci/NAME.yaml (in
# a subshell: its Go settings stay local); MINUTES is what the first build takes on two cores.
otelcol_build() (
  local version=$1 name=$2 minutes=$3 manifest stamp work proxy flags
  manifest="$root/.ci/$name.yaml"
  stamp="$otelcol_dir/bin/.$name.stamp"
  [ -x "$otelcol_dir/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(sha256sum < "$manifest")" ] && return
  echo "--- building the OpenTelemetry Collector $name (ocb $version, $(grep -c 'gomod:' "$manifest") modules; first run: about $minutes minutes)"
  # The module proxy, never a direct fetch from a VCS host.
  proxy=$(go env GOPROXY); proxy=${proxy%,direct}; proxy=${proxy%|direct}
  flags=$(go env GOFLAGS)
  export GOPROXY=$proxy GOFLAGS="$flags -mod=mod" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
  GOBIN="$otelcol_dir/ocb-$version" go install "go.opentelemetry.io/collector/cmd/builder@v$version"
  work="$otelcol_dir/src/$name"
  rm -rf "$work" && mkdir -p "$work" "$otelcol_dir/bin" && cp "$manifest" "$work/"
  # ocb generates the module (sources and go.mod), then resolves every module of its graph, those
  # only tests or Windows builds import included; the proxy lacks some (the eBPF profiler's
  # test-only github.com/open-telemetry/sig-profiling/profcheck, contrib's pkg/winperfcounters
  # v0.158.0), so that step may fail. `go mod tidy -e` then resolves what the build imports, and
  # `go build` with ocb's flags (release builds: -s -w, CGO off) says whether it is all there.
  (cd "$work" && "$otelcol_dir/ocb-$version/builder" --config="$name.yaml" --skip-compilation > ocb.log 2>&1) \
    || [ -f "$work/_build/go.mod" ] || { cat "$work/ocb.log" >&2; return 1; }
  (cd "$work/_build" && go mod tidy -e 2> ../tidy.log \
    && go build -trimpath -ldflags="-s -w" -tags grpcnotrace -o "$otelcol_dir/bin/$name" .) \
    || { cat "$work/ocb.log" "$work/tidy.log" >&2; return 1; }
  sha256sum < "$manifest" > "$stamp"
  rm -rf "$work"
)

otelcol_build 0.158.0 otelcol-k8s 15
otelcol_build 0.159.0 otelcol-ebpf-profiler 5
export KALYPSO_OTELCOL_BIN="$otelcol_dir/bin"
