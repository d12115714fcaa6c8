#!/usr/bin/env bash
# Installs the Debian packages the real-node tests and `npm start` need: containerd (the CRI the
# kubelet talks to), runc, the CNI plugins, iptables/conntrack (kube-proxy, the kubelet's chains),
# umoci (assembles the runguard and pause images as OCI layouts, no Docker daemon) and the tools
# the harness calls (ip, nsenter, mount). Idempotent: packages already present are left alone and
# the script returns at once; otherwise it runs `apt-get update` (once) and `apt-get install`.
#
# The distribution's containerd is never started as a service: the harness runs private instances
# with their own root, state and socket under its work directory.
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables conntrack umoci iproute2 util-linux mount kmod)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all present (${packages[*]})" >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root: sudo $0" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get here (Debian/Ubuntu only)" >&2
  exit 2
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Do not let the package start its own containerd (policy-rc.d is honoured by invoke-rc.d; on a
# machine without an init system nothing would start anyway).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
cleanup() { [ "$created_policy" = 1 ] && rm -f "$policy"; true; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
