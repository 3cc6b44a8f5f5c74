#!/usr/bin/env bash
# Builds Portico's container image from scratch (no base image to pull): the binary, stripped,
# the shared libraries `ldd` lists for it, CA certificates, a passwd entry for the unprivileged
# user 10001 and an empty /data. Needs podman (Debian's package); runs without a daemon.
#
#   deploy/build-image.sh [BINARY] [TAG]      (defaults: target/release/portico, localhost/portico:latest)
set -euo pipefail
binary="${1:-target/release/portico}"
tag="${2:-localhost/portico:latest}"
podman=(podman ${PODMAN_STORAGE_DRIVER:+--storage-driver "$PODMAN_STORAGE_DRIVER"})
[ -x "$binary" ] || { echo "build-image: no binary at $binary (cargo build --release)" >&2; exit 1; }

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$context/data"
strip -o "$root/usr/local/bin/portico" "$binary"
# The dynamic loader and every library it loads for the binary, at the paths ldd resolves.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/sbin/nologin\nportico:x:10001:10001:Portico:/data:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nportico:x:10001:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
chmod 1777 "$root/tmp"
chmod 0750 "$context/data"
cp "$(dirname "$0")/Containerfile" "$context/Containerfile"
"${podman[@]}" build --quiet --format docker -f "$context/Containerfile" -t "$tag" "$context"
echo "built $tag"
