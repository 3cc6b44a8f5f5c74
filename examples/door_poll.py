#!/usr/bin/env python3
"""Reference door client for Portico's access list (standard library only).

Long-polls GET /api/v1/orgs/{org}/access-list with the device token, keeps the newest list in a
JSON file (replaced atomically, so a reader never sees half a file) and keeps the last good list
when Portico cannot be reached: a door should go on opening for the members it knew about.

    PORTICO_DEVICE_TOKEN=pdv_... ./door_poll.py --base https://portico.example.org \
        --org space --out /var/lib/door/access-list.json

Protocol: send the version you hold as If-None-Match ("VERSION"); 304 means it is current;
200 carries {version, generated_at, credentials: [{tag, member, name}]} and ETag "VERSION".
With ?wait=N (at most 60) Portico holds a 304-bound request until the list changes, so a
revocation arrives within about a second. Every request tells Portico which version this
door holds: that is the proof staff see that a revocation reached it.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request


def read_version(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def write_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".access-list-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def poll_once(base, org, token, held, wait):
    """One request: (status, list or None)."""
    url = f"{base.rstrip('/')}/api/v1/orgs/{org}/access-list?wait={wait}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    if held:
        request.add_header("If-None-Match", f'"{held}"')
    try:
        with urllib.request.urlopen(request, timeout=wait + 15) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="Portico's base URL")
    parser.add_argument("--org", required=True, help="organisation slug")
    parser.add_argument("--out", required=True, help="where the list is kept")
    parser.add_argument("--wait", type=int, default=30, help="seconds Portico may hold a poll (0-60)")
    parser.add_argument("--once", action="store_true", help="poll once and exit (for tests and cron)")
    args = parser.parse_args()
    token = os.environ.get("PORTICO_DEVICE_TOKEN")
    if not token:
        sys.exit("set PORTICO_DEVICE_TOKEN to the device token (portico device create)")
    held = read_version(args.out)
    backoff = 1
    while True:
        try:
            status, data = poll_once(args.base, args.org, token, held, args.wait)
        except (OSError, ValueError) as e:
            # Unreachable, timed out or garbled: keep the last list and try again later.
            print(f"poll failed ({e}); keeping list {held}; retry in {backoff}s", file=sys.stderr)
            status, data = None, None
        if status == 200 and data is not None:
            write_atomically(args.out, data)
            held = data["version"]
            print(f"list {held}: {len(data['credentials'])} credential(s)", file=sys.stderr)
            backoff = 1
        elif status == 304:
            backoff = 1
        elif status in (401, 403):
            sys.exit(f"Portico refused this device ({status}): is the token revoked or for another organisation?")
        elif status is not None:
            print(f"Portico answered {status}; retry in {backoff}s", file=sys.stderr)
        if args.once:
            return
        if status not in (200, 304):
            time.sleep(backoff)
            backoff = min(backoff * 2, 60)


if __name__ == "__main__":
    main()
