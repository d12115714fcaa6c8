#!/usr/bin/env bash
# Run by `npm test` (pretest) before tap starts its clock: builds what the node tests need --
# kubelet, kube-scheduler and kube-proxy (test/controlplane/build.sh --node) and the runguard and
# pause images (build-images.sh) -- where those tests can run (root, packages installed by
# install-deps.sh). Elsewhere it says why it skips; the node tests then skip themselves too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "node tests: skipped (not root); the process-based tests still run" >&2
  exit 0
fi
for tool in containerd runc ctr umoci nsenter iptables; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "node tests: $tool missing; run test/node/install-deps.sh (the node tests will fail until then)" >&2
    exit 0
  fi
done
bash "$here/../controlplane/build.sh" --node >/dev/null
bash "$here/build-images.sh" >/dev/null
