#!/usr/bin/env bash
# `npm run install-manifest`: writes manifests/install.yaml, the chart rendered with its defaults
# (release `runguard`, namespace `runguard-system`, plus the Namespace object itself) for
# `kubectl apply --server-side -f` users, like Kyverno's and Gatekeeper's release manifests.
# Committed, so it can be applied straight from a tag; test/unit/chart.test.ts fails when it is
# not what this script writes now. `--check` compares instead of writing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
helm="$(bash "$root/test/tools/build.sh" helm)"
export HELM_CACHE_HOME="${TMPDIR:-/tmp}/runguard-helm-cache" HELM_CONFIG_HOME="${TMPDIR:-/tmp}/runguard-helm-config" HELM_DATA_HOME="${TMPDIR:-/tmp}/runguard-helm-data"
render() {
  cat <<'HEADER'
# runguard — static install manifest: `helm template runguard charts/runguard --namespace
# runguard-system --set namespace.create=true`, written by `npm run install-manifest`; do not edit.
#   kubectl apply --server-side -k manifests/crds     # or the crds-patch component (README)
#   kubectl apply --server-side -f manifests/install.yaml
# Settings: edit the env of deploy/runguard (README "Configure") or install the chart instead.
HEADER
  "$helm" template runguard "$root/charts/runguard" --namespace runguard-system --set namespace.create=true
}
out="$root/manifests/install.yaml"
if [ "${1:-}" = "--check" ]; then
  diff -u "$out" <(render) >&2 || { echo "manifests/install.yaml is out of date: run npm run install-manifest" >&2; exit 1; }
  exit 0
fi
render > "$out.tmp" && mv "$out.tmp" "$out"
echo "wrote manifests/install.yaml"
