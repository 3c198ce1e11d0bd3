# shellcheck shell=bash
# Installs the Kubernetes control plane the control-plane tests start (crates/kalypso/tests/it/
# controlplane): kube-apiserver, kube-controller-manager and kube-scheduler built from the
# k8s.io/kubernetes Go module, kwok and its stages, etcd from Debian. Cached under .cache/.
# Sourced by .ci/run after tools.sh.
KUBE_VERSION=v1.34.2
KWOK_VERSION=v0.8.0
# The repository root (tools.sh sets it; sourced alone, the current directory).
root=${root:-$(pwd)}

cp_dir="$root/.cache/controlplane"
cp_stamp="$cp_dir/.stamp"
if [ "$(cat "$cp_stamp" 2>/dev/null)" != "$KUBE_VERSION $KWOK_VERSION" ]; then
  echo "--- building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION and kwok $KWOK_VERSION (first run: about 8 minutes)"
  mkdir -p "$cp_dir/bin"
  src=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  work="$cp_dir/src"
  rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work"
  rm -f "$work/go.work" "$work/go.work.sum"
  # The module zip has no staging/ tree: point each staging replace at the published module.
  sed -i -E "s#^([[:space:]]*k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+#\1 => \1 v0${KUBE_VERSION#v1}#" "$work/go.mod"
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  # Without the version ldflags the server says v0.0.0 and helm's kubeVersion checks reject charts.
  ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$cp_dir/bin/" \
    ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler)
  rm -rf "$work"
  GOBIN="$cp_dir/bin" CGO_ENABLED=0 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok's "fast" stages (kustomize/stage/fast lists exactly these; plain files, no patches).
  stages=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'; grep -v '^---$' "$stages/$f"
  done > "$cp_dir/kwok-stages.yaml"
  echo "$KUBE_VERSION $KWOK_VERSION" > "$cp_stamp"
fi

if ! command -v etcd >/dev/null 2>&1; then
  echo "--- installing etcd (apt-get etcd-server)"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
fi
export KALYPSO_CONTROLPLANE_BIN="$cp_dir/bin"
export KALYPSO_KWOK_STAGES="$cp_dir/kwok-stages.yaml"
