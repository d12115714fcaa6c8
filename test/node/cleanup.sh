#!/usr/bin/env bash
# Tears down a test node cluster started by test/harness/node.ts, from its state file
# (/run/runguard-node/<netns>.env). Idempotent and safe on a half-built cluster; the harness runs it
# on stop(), its watchdog runs it when the test process dies (even by SIGKILL), and the next start
# runs it for any state file whose owner is gone -- so a second run always starts clean.
#
# What a node leaves on the host, and how each goes:
#   processes   containerd, kubelet, kube-proxy, kube-scheduler, the control plane: recorded process
#               groups, then anything whose command line names the work directory (containerd's
#               shims live in their own groups); containers: every PID in the nodes' cgroup trees
#   mounts      the kubelet's root dir bind mount, volumes (tmpfs), container rootfs overlays, pod
#               network namespaces (containerd keeps them under its state dir): all under DIR
#   network     the network namespace (the bridges, veths and iptables rules live and die with it)
#               and the veth's host end
#   cgroups     the nodes' cgroup roots, deepest first, in every v1 hierarchy (or the v2 tree)
#   sysctls     kernel.panic & co. the kubelet sets: restored when the last node cluster goes
#   files       DIR itself, unless KEEP=1 (logs stay for a look)
set -uo pipefail
state="${1:?usage: cleanup.sh /run/runguard-node/<name>.env}"
[ -f "$state" ] || exit 0
DIR= NETNS= VETH= CGROUP_ROOTS= CNI_NETWORKS= KEEP=0 OWNER_PID=
# shellcheck disable=SC1090
. "$state"
registry="$(dirname "$state")"
[ -n "$DIR" ] || { rm -f "$state"; exit 0; }
self_and_parents=" $$ $PPID "

kill_groups() {
  [ -f "$DIR/pgids" ] || return 0
  local g
  for g in $(cat "$DIR/pgids"); do kill -KILL -- "-$g" 2>/dev/null; done
}

cgroup_dirs() { # every cgroup root of the cluster, in every hierarchy
  local r h
  for r in $CGROUP_ROOTS; do
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
      [ -d "/sys/fs/cgroup/$r" ] && echo "/sys/fs/cgroup/$r"
    else
      for h in /sys/fs/cgroup/*/; do [ -d "$h$r" ] && echo "$h$r"; done
    fi
  done
}

kill_cgroup_members() {
  local d pids found=1 try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    found=0
    for d in $(cgroup_dirs); do
      pids="$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
      if [ -n "$pids" ]; then found=1; kill -KILL $pids 2>/dev/null; fi
    done
    [ "$found" = 0 ] && return 0
    sleep 0.2
  done
}

kill_by_cmdline() { # containerd shims and anything else started with DIR in its arguments
  local p cmd
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    case "$self_and_parents" in *" $p "*) continue ;; esac
    cmd="$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" || continue
    case "$cmd" in
      *cleanup.sh*) continue ;;
      *containerd-shim*"$DIR/"*) remove_shim_socket "$cmd"; kill -KILL "$p" 2>/dev/null ;;
      *"$DIR/"*) kill -KILL "$p" 2>/dev/null ;;
    esac
  done
}

# containerd 1.6 puts each shim's socket at /run/containerd/s/<sha256(address/namespace/id)>,
# whatever its own state dir; a killed shim leaves it behind.
remove_shim_socket() {
  local ns id address
  ns="$(sed -nE 's/.* -namespace ([^ ]+).*/\1/p' <<<"$1")"
  id="$(sed -nE 's/.* -id ([^ ]+).*/\1/p' <<<"$1")"
  address="$(sed -nE 's/.* -address ([^ ]+).*/\1/p' <<<"$1")"
  [ -n "$ns" ] && [ -n "$id" ] && [ -n "$address" ] || return 0
  rm -f "/run/containerd/s/$(printf '%s' "$address/$ns/$id" | sha256sum | cut -d' ' -f1)"
}

unmount_all() {
  local m try
  for try in 1 2 3; do
    # mountinfo field 5 is the mount point; deepest first (the harness's paths have no spaces).
    mapfile -t mounts < <(awk -v d="$DIR/" 'index($5, d) == 1 || $5 == substr(d, 1, length(d) - 1) { print $5 }' /proc/self/mountinfo | sort -r)
    [ "${#mounts[@]}" -eq 0 ] && return 0
    for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done
  done
}

kill_groups
kill_cgroup_members
kill_by_cmdline
kill_groups
sleep 0.3
kill_cgroup_members
unmount_all

if [ -n "$NETNS" ]; then
  ip netns pids "$NETNS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  ip netns del "$NETNS" 2>/dev/null
fi
[ -n "$VETH" ] && ip link del "$VETH" 2>/dev/null

# What containerd and the kubelet keep outside their configured folders: libcni's result cache
# (/var/lib/cni/results/<network>-<sandbox>-<ifname>) and the kubelet's /var/log/containers links.
for net in $CNI_NETWORKS; do rm -f /var/lib/cni/results/"$net"-* 2>/dev/null; done
# containerd's own loopback network caches one result per pod sandbox: cni-loopback-<sandbox>-lo.
for sandbox in "$DIR"/*/containerd/root/io.containerd.grpc.v1.cri/sandboxes/* "$DIR"/*/containerd/state/io.containerd.grpc.v1.cri/sandboxes/*; do
  [ -e "$sandbox" ] && rm -f "/var/lib/cni/results/cni-loopback-$(basename "$sandbox")-lo"
done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null # only when empty
if [ -d /var/log/containers ]; then
  for link in /var/log/containers/*.log; do
    [ -L "$link" ] && case "$(readlink "$link")" in "$DIR/"*) rm -f "$link" ;; esac
  done
fi

for d in $(cgroup_dirs); do
  for try in 1 2 3 4 5; do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] || break
    kill_cgroup_members
    sleep 0.2
  done
done

if [ "$KEEP" != 1 ]; then
  rm -rf "$DIR" 2>/dev/null || { unmount_all; rm -rf "$DIR"; }
fi
rm -f "$state"
rmdir /run/containerd/s /run/containerd 2>/dev/null # only when empty (no other containerd uses them)

# The kubelet sets kernel.panic, kernel.panic_on_oops, vm.overcommit_memory, ... (host-wide); put
# back what was there before the first node cluster started, once the last one is gone.
if [ -f "$registry/sysctl.orig" ] && ! ls "$registry"/*.env >/dev/null 2>&1; then
  while read -r key value; do
    [ -n "$key" ] && sysctl -q -w "$key=$value" >/dev/null 2>&1
  done <"$registry/sysctl.orig"
  rm -f "$registry/sysctl.orig"
fi
exit 0
