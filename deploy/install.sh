#!/usr/bin/env bash
# Installs Portico as a systemd service: the binary in /usr/local/bin, the example configuration
# in /etc/portico (kept if there is one), a new secret key (kept if there is one, readable by root
# alone: the unit hands it to the service as a credential), the unit; then enables and starts it.
#
#   deploy/install.sh BINARY            (as root)
#   DESTDIR=/tmp/root deploy/install.sh BINARY
#
# With DESTDIR everything goes under that directory and the unit is only enabled there (no
# systemd needs to run): deploy/check.sh installs this way and checks the result.
set -euo pipefail
binary="${1:?usage: deploy/install.sh BINARY}"
here="$(cd "$(dirname "$0")" && pwd)"
root="${DESTDIR:-}"

install -D -m 0755 "$binary" "$root/usr/local/bin/portico"
install -d -m 0750 "$root/etc/portico"
[ -e "$root/etc/portico/portico.toml" ] || install -m 0640 "$here/portico.toml" "$root/etc/portico/portico.toml"
if [ ! -e "$root/etc/portico/secret_key" ]; then
    (umask 077 && openssl rand -hex 32 > "$root/etc/portico/secret_key")
fi
install -D -m 0644 "$here/portico.service" "$root/etc/systemd/system/portico.service"

if [ -n "$root" ]; then
    systemctl --root="$root" enable portico.service
elif [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now portico.service
else
    echo "install.sh: systemd is not running here: the unit is installed, not started" >&2
fi
echo "installed: ${root}/usr/local/bin/portico, ${root}/etc/portico/, ${root}/etc/systemd/system/portico.service"
