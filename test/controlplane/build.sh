#!/usr/bin/env bash
# Builds the real control-plane binaries the integration tests and the sandbox run:
# etcd, kube-apiserver, kube-controller-manager and kubectl, from the Go modules pinned in
# ./etcd/go.mod and ./kube/go.mod. Output: $RUNGUARD_CACHE/controlplane/<key>/bin, where the key
# is a hash of the pins, so the binaries are rebuilt only when the pinned versions change.
#
#   build.sh          the control plane (etcd, kube-apiserver, kube-controller-manager, kubectl)
#   build.sh --node   also the node: kubelet, kube-scheduler, kube-proxy (same module, same pins;
#                     test/harness/node.ts asks for them; ~4 min more on 2 cores with a cold cache)
#
# When KUBEBUILDER_ASSETS points at envtest binaries, those are used for whatever they contain
# (etcd, kube-apiserver, kubectl); only what is missing (kube-controller-manager) is built. The node
# binaries are always built here (envtest ships none).
#
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${RUNGUARD_CACHE:-$root/.cache}"
node=0
for arg in "$@"; do
  case "$arg" in
    --node) node=1 ;;
    *) echo "build.sh: unknown argument $arg (only --node)" >&2; exit 2 ;;
  esac
done

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    [ -x "$candidate/go" ] && PATH="$candidate:$PATH" && break
  done
fi
command -v go >/dev/null 2>&1 || { echo "build.sh: the Go toolchain (go) is required to build the control plane" >&2; exit 2; }

# The key covers the pins and this script (its build flags), so either change rebuilds.
key="$(cat "$here/kube/go.mod" "$here/kube/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)"
k8s_version="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")"
bin="$cache/controlplane/$k8s_version-$key/bin"
mkdir -p "$bin"

# Test files start in parallel and each asks for the binaries: one builds, the others wait.
exec 9>"$cache/controlplane/.build.lock"
flock 9

export CGO_ENABLED=0
flags=(-trimpath -ldflags "-s -w")
# Kubernetes stamps its version at link time (hack/lib/version.sh); without it `kubectl version`
# and /version report v0.0.0-master. Only the link step changes, so the Go build cache still applies.
minor="$(cut -d. -f2 <<<"$k8s_version")"
vpkg=k8s.io/component-base/version
kube_flags=(-trimpath -ldflags "-s -w -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z")

have() { [ -x "$1/$2" ]; }
source_of() { # prints the directory a binary should be taken from, preferring KUBEBUILDER_ASSETS
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have "$KUBEBUILDER_ASSETS" "$1"; then echo "$KUBEBUILDER_ASSETS"; else echo "$bin"; fi
}

need_etcd=0; need_kube=()
have "$(source_of etcd)" etcd || need_etcd=1
for cmd in kube-apiserver kube-controller-manager kubectl; do
  have "$(source_of "$cmd")" "$cmd" || need_kube+=("$cmd")
done

if [ "$need_etcd" = 1 ]; then
  echo "building etcd into $bin (first time only)..." >&2
  (cd "$here/etcd" && go build "${flags[@]}" -o "$bin/etcd.tmp.$$" go.etcd.io/etcd/server/v3 && mv "$bin/etcd.tmp.$$" "$bin/etcd")
fi
if [ "$node" = 1 ]; then
  for cmd in kubelet kube-scheduler kube-proxy; do
    have "$bin" "$cmd" || need_kube+=("$cmd")
  done
fi
if [ "${#need_kube[@]}" -gt 0 ]; then
  # One `go build` for all of them: the packages they share are compiled once, in parallel.
  echo "building ${need_kube[*]} $k8s_version into $bin (first time only; many minutes on 2 cores)..." >&2
  tmp="$bin/.tmp.$$"
  mkdir -p "$tmp"
  pkgs=()
  for cmd in "${need_kube[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  (cd "$here/kube" && go build "${kube_flags[@]}" -o "$tmp/" "${pkgs[@]}")
  for cmd in "${need_kube[@]}"; do mv "$tmp/$cmd" "$bin/$cmd"; done
  rmdir "$tmp"
fi

# Binaries of earlier pins or flags are never used again; drop them (~280 MB each).
find "$cache/controlplane" -mindepth 1 -maxdepth 1 -type d ! -name "$k8s_version-$key" -exec rm -rf {} +

# One directory with all four, so callers need a single path.
for cmd in etcd kube-apiserver kube-controller-manager kubectl; do
  src="$(source_of "$cmd")"
  [ "$src" = "$bin" ] || ln -sf "$src/$cmd" "$bin/$cmd"
done
echo "$bin"
