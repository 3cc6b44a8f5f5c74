#!/usr/bin/env bash
# Checks what deploy/ ships, as CI can: the systemd unit with `systemd-analyze verify` (no
# warning allowed) and its hardening score; the container image built from scratch, and its
# entrypoint run the way the image says (user, environment, command) under chroot, since this
# sandbox refuses to run containers, until `portico healthcheck` inside it reports ready.
#
#   deploy/check.sh BINARY
set -euo pipefail
binary="$(realpath "${1:?usage: deploy/check.sh BINARY}")"
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    podman --storage-driver vfs rm -f portico-check >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "deploy: systemd unit"
sed "s|/usr/local/bin/portico|$binary|" "$here/portico.service" > "$work/portico.service"
warnings=$(systemd-analyze verify "$work/portico.service" 2>&1 || true)
if [ -n "$warnings" ]; then
    echo "$warnings" >&2
    echo "deploy: systemd-analyze verify is not clean" >&2
    exit 1
fi
systemd-analyze security --offline=true --threshold=20 "$work/portico.service" | tail -1

echo "deploy: install.sh into a scratch root"
DESTDIR="$work/installed" "$here/install.sh" "$binary" >/dev/null 2>&1
for f in usr/local/bin/portico etc/portico/portico.toml etc/portico/secret_key etc/systemd/system/portico.service \
         etc/systemd/system/multi-user.target.wants/portico.service; do
    [ -e "$work/installed/$f" ] || [ -L "$work/installed/$f" ] || { echo "deploy: install.sh did not install $f" >&2; exit 1; }
done
[ "$(stat -c %a "$work/installed/etc/portico/secret_key")" = 600 ] || { echo "deploy: the secret key must be 0600" >&2; exit 1; }
# The installed binary reads the installed configuration and key as the unit hands them over.
env -i PATH="$PATH" PORTICO_CONFIG="$work/installed/etc/portico/portico.toml" \
    PORTICO_SECRET_KEY_FILE="$work/installed/etc/portico/secret_key" \
    PORTICO_DATABASE_URL="sqlite://$work/installed/var/lib/portico/portico.db" \
    "$work/installed/usr/local/bin/portico" migrate >/dev/null 2>&1 \
    || { echo "deploy: the installed portico does not start on its installed configuration" >&2; exit 1; }

echo "deploy: compose example"
python3 - "$here/compose.yaml" "$here/portico.toml" <<'PY'
import re, sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
assert {"portico", "postgres", "caddy", "backup"} <= set(services), services.keys()
# Every PORTICO_ variable it sets is one Portico reads: a key of the example configuration in
# capitals, or its _FILE form for a secret.
keys = {m.group(1).upper() for m in re.finditer(r"^(?:# )?([a-z_]+) = ", open(sys.argv[2]).read(), re.M)}
secrets = {"SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL", "DATABASE_URL"}
for name in services["portico"]["environment"]:
    bare = name.removeprefix("PORTICO_")
    assert bare in keys or (bare.endswith("_FILE") and bare[:-5] in secrets), name
for secret in services["portico"]["secrets"]:
    assert secret in compose["secrets"], secret
print("deploy: compose.yaml names only settings Portico reads")
PY

echo "deploy: container image"
PODMAN_STORAGE_DRIVER=vfs "$here/build-image.sh" "$binary" localhost/portico:check
inspect() { podman --storage-driver vfs image inspect localhost/portico:check --format "$1"; }
[ "$(inspect '{{.Config.User}}')" = "10001:10001" ] || { echo "deploy: the image must run as 10001" >&2; exit 1; }
inspect '{{.Config.Healthcheck.Test}}' | grep -q "portico healthcheck" \
    || { echo "deploy: the image has no HEALTHCHECK with portico healthcheck" >&2; exit 1; }
inspect '{{.Config.Volumes}}' | grep -q "/data" || { echo "deploy: the image has no /data volume" >&2; exit 1; }
podman --storage-driver vfs create --name portico-check localhost/portico:check >/dev/null
podman --storage-driver vfs export portico-check -o "$work/image.tar"
mkdir "$work/root"
tar -xf "$work/image.tar" -C "$work/root"
echo "deploy: image root $(du -sh "$work/root" | cut -f1)"

if [ "$(id -u)" != 0 ]; then
    echo "deploy: not root, so the entrypoint is not run under chroot; SKIPPING that part" >&2
    exit 0
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | grep .)
entrypoint=$(inspect '{{join .Config.Entrypoint " "}} {{join .Config.Cmd " "}}')
user=$(inspect '{{.Config.User}}')
# The image's environment, with the port moved off 8080 and a secret key as an operator gives one.
env -i "${image_env[@]}" PORTICO_BIND="127.0.0.1:$port" \
    PORTICO_SECRET_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    chroot --userspec="$user" "$work/root" $entrypoint > "$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if env -i "${image_env[@]}" PORTICO_BIND="127.0.0.1:$port" \
        chroot --userspec="$user" "$work/root" /usr/local/bin/portico healthcheck --timeout 2 >/dev/null 2>&1; then
        echo "deploy: the image's entrypoint answers (/readyz through portico healthcheck, as user $user)"
        [ -f "$work/root/data/portico.db" ] || { echo "deploy: no database in /data" >&2; exit 1; }
        exit 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
done
cat "$work/serve.log" >&2
echo "deploy: the image's entrypoint did not become ready" >&2
exit 1
