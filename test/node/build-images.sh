#!/usr/bin/env bash
# Builds runguard's container image and the pod sandbox ("pause") image as OCI image archives,
# without a Docker daemon or a registry: the files are laid out here and umoci (Debian package)
# turns them into layers and an image config.
#
#   build-images.sh            -> prints the folder holding runguard.oci.tar, pause.oci.tar, image.json
#
# The runguard image holds what the Dockerfile's final stage holds:
#   /app/dist          `npm run build` (tsc -p tsconfig.build.json) in a copy of the build stage's
#                      /src, source maps included
#   /app/node_modules  `npm ci --omit=dev --ignore-scripts`
#   /app/package.json
#   /usr/local/bin/node  Node 24: the Linux binary of the npm `node` package already installed in
#                        node_modules (never downloaded), with the glibc/libstdc++ it links, copied
#                        from this Debian 12 machine -- the libraries node:24-bookworm-slim has
# and the same config: USER 65532:65532, WORKDIR /app, the final stage's ENV lines (and PATH,
# NODE_VERSION as in the node image), ENTRYPOINT ["node","--","/app/dist/src/cli.js"], CMD
# ["webhook"], EXPOSE 8443 9090 9091. No shell and no package manager: nothing in it writes outside
# /tmp, so it runs with a read-only root filesystem. test/integration/node-image.test.ts proves the
# Dockerfile and this script describe the same image.
#
# Layers mirror the Dockerfile (base, dependencies, compiled output), every file is owned by root
# with its mtime set to 0, and the history and config carry a fixed date, so the same inputs give
# the same image digest. The result is cached under $RUNGUARD_CACHE/images/<hash of the inputs>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${RUNGUARD_CACHE:-$root/.cache}"
export PATH="$root/node_modules/node/bin:$PATH" # Node 24 for npm and tsc, as npm scripts get it
for tool in umoci go tar sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    [ "$tool" = go ] && for c in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$c/go" ] && PATH="$c:$PATH" && break; done
    command -v "$tool" >/dev/null 2>&1 || { echo "build-images.sh: $tool is required (test/node/install-deps.sh installs umoci)" >&2; exit 2; }
  fi
done

node_bin="$root/node_modules/node/bin/node"
[ -x "$node_bin" ] || { echo "build-images.sh: $node_bin missing; run npm ci first" >&2; exit 2; }
node_version="$("$node_bin" --version)"; node_version="${node_version#v}"
app_version="$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$root/package.json" | head -n1)"

# Everything the images are made from; any change gives a new folder.
key="$(
  cd "$root"
  {
    find src webhooks -type f -print0 | sort -z | xargs -0 sha256sum
    sha256sum package.json package-lock.json tsconfig.json tsconfig.build.json Dockerfile "$here/build-images.sh" "$here/pause/main.go" "$here/pause/go.mod"
    echo "node $node_version $(uname -m) $(umoci --version)"
  } | sha256sum | cut -c1-16
)"
out="$cache/images/$key"
mkdir -p "$cache/images"
exec 9>"$cache/images/.build.lock"
flock 9
if [ -f "$out/image.json" ]; then echo "$out"; exit 0; fi

work="$(mktemp -d "$cache/images/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
epoch=1970-01-01T00:00:00Z
normalise() { chown -R 0:0 "$1"; find "$1" -exec touch -h -d "$epoch" {} +; }
started=$SECONDS

# --- pause ---------------------------------------------------------------------------------------
echo "build-images: pause" >&2
mkdir -p "$work/pause-root"
(cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/pause-root/pause" .)
normalise "$work/pause-root"
umoci init --layout "$work/pause"
umoci new --image "$work/pause:build"
umoci insert --image "$work/pause:build" --history.created "$epoch" --history.created_by "pause (test/node/pause)" "$work/pause-root/pause" /pause
umoci config --image "$work/pause:build" --tag 1 --created "$epoch" --history.created "$epoch" \
  --os linux --architecture amd64 --config.user 65535:65535 --config.entrypoint /pause
umoci rm --image "$work/pause:build"
umoci gc --layout "$work/pause"

# --- runguard: compiled output and production dependencies, as the Dockerfile makes them -----------
echo "build-images: runguard: npm run build" >&2
# The Dockerfile's build stage: package files, tsconfigs, src and webhooks in a folder of their own
# (its /src), `npm run build` there -- so the output, source maps included, is the same bytes.
stage="$work/build"
mkdir -p "$stage" "$work/app"
(cd "$root" && cp package.json package-lock.json tsconfig.json tsconfig.build.json "$stage/" && cp -R src webhooks "$stage/")
ln -s "$root/node_modules" "$stage/node_modules" # the stage's `npm ci`: the dev toolchain, already here
(cd "$stage" && npm run --silent build >&2)
mv "$stage/dist" "$work/app/dist"
cp "$root/package.json" "$root/package-lock.json" "$work/app/"
echo "build-images: runguard: npm ci --omit=dev" >&2
(cd "$work/app" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error >&2)
rm "$work/app/package-lock.json" # the Dockerfile's final stage copies package.json only

# --- runguard: base (what node:24-bookworm-slim contributes that runguard uses) -------------------
base="$work/base"
mkdir -p "$base/usr/local/bin" "$base/usr/lib/x86_64-linux-gnu" "$base/usr/lib64" "$base/etc" "$base/tmp" "$base/app"
ln -s usr/lib "$base/lib"
ln -s usr/lib64 "$base/lib64"
chmod 1777 "$base/tmp"
cp "$node_bin" "$base/usr/local/bin/node"
# The shared libraries the binary links (ldd), from this Debian 12 system, under their own names.
while read -r lib; do
  real="$(readlink -f "$lib")"
  name="$(basename "$lib")"
  cp "$real" "$base/usr/lib/x86_64-linux-gnu/$(basename "$real")"
  [ "$(basename "$real")" = "$name" ] || ln -sf "$(basename "$real")" "$base/usr/lib/x86_64-linux-gnu/$name"
done < <(ldd "$node_bin" | sed -nE 's/.*=> (\/[^ ]+) .*/\1/p; s/^[[:space:]]*(\/[^ ]+) \(.*/\1/p')
[ -e "$base/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] || { echo "build-images: no dynamic loader found" >&2; exit 1; }
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$base/usr/lib64/ld-linux-x86-64.so.2"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
normalise "$base"
normalise "$work/app"
chmod 1777 "$base/tmp"

echo "build-images: runguard: layers" >&2
img="$work/runguard"
umoci init --layout "$img"
umoci new --image "$img:build"
umoci insert --image "$img:build" --history.created "$epoch" --history.created_by "base: Node $node_version (npm package node) + glibc, libstdc++ (Debian 12)" "$base" /
umoci insert --image "$img:build" --history.created "$epoch" --history.created_by "npm ci --omit=dev --ignore-scripts" "$work/app/node_modules" /app/node_modules
umoci insert --image "$img:build" --history.created "$epoch" --history.created_by "npm run build" "$work/app/dist" /app/dist
umoci insert --image "$img:build" --history.created "$epoch" --history.created_by "package.json" "$work/app/package.json" /app/package.json
# Every ENV of the Dockerfile's final stage (KEY=value lines; this one has no quoted values).
image_env=()
while IFS= read -r setting; do image_env+=(--config.env "$setting"); done < <(
  awk '/^FROM /{stage++} /^ENV [A-Za-z_][A-Za-z0-9_]*=/{sub(/^ENV /, ""); print stage "\t" $0}' "$root/Dockerfile" |
    awk -F '\t' -v last="$(grep -c '^FROM ' "$root/Dockerfile")" '$1 == last {print $2}'
)
umoci config --image "$img:build" --tag "$app_version" --created "$epoch" --history.created "$epoch" \
  --os linux --architecture amd64 \
  --config.user 65532:65532 --config.workingdir /app \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env NODE_VERSION="$node_version" \
  "${image_env[@]}" \
  --config.entrypoint node --config.entrypoint=-- --config.entrypoint /app/dist/src/cli.js \
  --config.cmd webhook \
  --config.exposedports 8443/tcp --config.exposedports 9090/tcp --config.exposedports 9091/tcp
umoci rm --image "$img:build"
umoci gc --layout "$img"

mkdir -p "$work/out"
tar -C "$work/pause" -cf "$work/out/pause.oci.tar" .
tar -C "$img" -cf "$work/out/runguard.oci.tar" .
# Sizes: the compressed layers (what a registry would store and a node pull) and unpacked.
layers_gz=0
manifest="$(sed -nE 's/.*"digest":"sha256:([0-9a-f]+)".*/\1/p' "$img/index.json" | head -n1)"
for d in $(grep -oE '"digest":"sha256:[0-9a-f]+"' "$img/blobs/sha256/$manifest" | sed -E 's/.*sha256:([0-9a-f]+)"/\1/'); do
  layers_gz=$((layers_gz + $(stat -c %s "$img/blobs/sha256/$d")))
done
unpacked=$(( $(du -sb "$base" | cut -f1) + $(du -sb "$work/app" | cut -f1) ))
cat >"$work/out/image.json" <<JSON
{
  "runguard": {"archive": "runguard.oci.tar", "name": "docker.io/library/runguard:$app_version", "tag": "$app_version", "manifestDigest": "sha256:$manifest", "compressedBytes": $layers_gz, "unpackedBytes": $unpacked, "nodeVersion": "$node_version"},
  "pause": {"archive": "pause.oci.tar", "name": "localhost/runguard-pause:1", "tag": "1"},
  "buildSeconds": $((SECONDS - started))
}
JSON
rm -rf "$out"
mv "$work/out" "$out"
# Older builds are never used again.
find "$cache/images" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name '.work.*' -exec rm -rf {} +
echo "build-images: done in $((SECONDS - started)) s -> $out" >&2
echo "$out"
