#!/usr/bin/env bash
# Builds the command-line tools the chart and monitoring tests run, from the Go modules pinned
# beside this script (one Go module per tool, like test/controlplane/):
#
#   helm      ./helm/go.mod      helm.sh/helm/v3/cmd/helm               (helm lint, template, install…)
#   promtool  ./promtool/go.mod  github.com/prometheus/prometheus/cmd/promtool (check/test rules)
#
# Usage: test/tools/build.sh TOOL…   Prints the path of each binary on stdout (one a line, in the
# order asked); progress goes to stderr. Output: $RUNGUARD_CACHE/tools/<tool>-<version>-<key>/<tool>
# where the key hashes the tool's go.mod, go.sum and this script, so a binary is rebuilt only when a
# pin or a build flag changes. Concurrent callers (tap runs test files in parallel) are serialised
# per tool with flock: one builds, the others wait and then reuse it. First builds on 2 cores:
# helm about 4 minutes, promtool 10–16 (its module graph carries every service discovery SDK).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${RUNGUARD_CACHE:-$root/.cache}"

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    [ -x "$candidate/go" ] && PATH="$candidate:$PATH" && break
  done
fi
command -v go >/dev/null 2>&1 || { echo "test/tools/build.sh: the Go toolchain (go) is required" >&2; exit 2; }
[ "$#" -gt 0 ] || { echo "usage: test/tools/build.sh helm|promtool…" >&2; exit 2; }

mkdir -p "$cache/tools"

export CGO_ENABLED=0

# The version a go.mod requires of a module, e.g. `pin helm/go.mod helm.sh/helm/v3` → v3.22.0.
pin() { awk -v m="$2" '($1 == "require" && $2 == m) || $1 == m { v = ($1 == "require") ? $3 : $2; print v; exit }' "$1"; }

build() { # tool → prints the binary's path
  local tool="$1" dir="$here/$1" pkg version ldflags key out
  case "$tool" in
    helm)
      pkg=helm.sh/helm/v3/cmd/helm
      version="$(pin "$dir/go.mod" helm.sh/helm/v3)"
      # Helm stamps its version and the Kubernetes version it assumes offline (`helm template`,
      # `helm lint`: .Capabilities.KubeVersion) at link time, from its k8s.io modules (Makefile).
      local client minor
      client="$(pin "$dir/go.mod" k8s.io/client-go)" # v0.37.0 → Kubernetes 1.37
      minor="$(cut -d. -f2 <<<"$client")"
      ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
      ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
      ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
      ;;
    promtool)
      pkg=github.com/prometheus/prometheus/cmd/promtool
      version="$(pin "$dir/go.mod" github.com/prometheus/prometheus)"
      ldflags="-s -w -X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Branch=module"
      ;;
    *) echo "test/tools/build.sh: unknown tool $tool (helm, promtool)" >&2; exit 2 ;;
  esac
  key="$(cat "$dir/go.mod" "$dir/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)"
  out="$cache/tools/$tool-$version-$key"
  # One lock per tool: a test waiting for helm never queues behind a promtool build.
  exec 9>"$cache/tools/.$tool.lock"
  flock 9
  if [ ! -x "$out/$tool" ]; then
    echo "building $tool $version into $out (first time only)..." >&2
    mkdir -p "$out"
    (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out/$tool.tmp.$$" "$pkg")
    mv "$out/$tool.tmp.$$" "$out/$tool"
    # Builds of earlier pins are never used again.
    find "$cache/tools" -mindepth 1 -maxdepth 1 -type d -name "$tool-*" ! -name "$tool-$version-$key" -exec rm -rf {} +
  fi
  exec 9>&-
  echo "$out/$tool"
}

for tool in "$@"; do build "$tool"; done
