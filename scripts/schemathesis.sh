#!/usr/bin/env bash
# Runs schemathesis (pinned, from PyPI, in a venv outside the clone) against the OpenAPI
# document of a seeded `portico serve` on SQLite and on PostgreSQL, with a fixed seed.
# One worker, so a run depends less on scheduling. All checks: no 5xx, every status
# documented, responses match the schema, a request the document allows is accepted (or
# refused only for the state it meets) and one it does not allow is refused, authentication
# is not ignored, ...
#
#   scripts/schemathesis.sh                  # both backends (PostgreSQL skipped if unreachable, except under CI)
#   ST_MAX_EXAMPLES=200 scripts/schemathesis.sh
#   ST_CHECKS=not_a_server_error scripts/schemathesis.sh
#   ST_INCLUDE_PATH=/api/v1/audit scripts/schemathesis.sh        # one operation's path
#   ST_INCLUDE_PATH_REGEX=oidc scripts/schemathesis.sh           # operations whose path matches
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
SCHEMATHESIS_VERSION=4.32.5
VENV="$CARGO_TARGET_DIR/schemathesis-$SCHEMATHESIS_VERSION"
BIN="$CARGO_TARGET_DIR/debug/portico"
POSTGRES_URL="${PORTICO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
CHECKS="${ST_CHECKS:-all}"

if [ ! -x "$VENV/bin/st" ]; then
    echo "schemathesis.sh: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo build --locked --quiet

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# One member of the seeded organisation (the API has no call that creates members: they sign up
# or accept an invitation), so member operations reach their handlers.
SEED_MEMBER_SQL="INSERT INTO users (email, created_at) VALUES ('member@portico.test', 0);
INSERT INTO memberships (org_id, user_id, role, status, created_at)
    SELECT o.id, u.id, 'member', 'active', 0 FROM organisations o, users u
    WHERE o.slug = 'demo' AND u.email = 'member@portico.test';
INSERT INTO member_records (membership_id, updated_at) SELECT id, 0 FROM memberships;"

run_against() {
    local backend=$1 url=$2 sql=$3
    local port; port=$(free_port)
    export PORTICO_DATABASE_URL="$url" PORTICO_SECRET_KEY="schemathesis-secret-key-0123456789abcdef"
    export PORTICO_BIND="127.0.0.1:$port" PORTICO_LOG=error
    "$BIN" migrate >/dev/null
    echo "a long enough password" | "$BIN" staff create --email api@portico.test --password-stdin >/dev/null
    local token; token=$("$BIN" token create --staff api@portico.test)
    "$BIN" org create --slug demo --name Demo --signup open >/dev/null
    # Thousands of generated requests come from one client and one token.
    "$BIN" settings set security.invite_creates_per_client_per_minute 10000 >/dev/null
    "$BIN" settings set security.invite_limit_per_recipient_per_hour 1000 >/dev/null
    $sql "$SEED_MEMBER_SQL" || { echo "schemathesis.sh: seeding a member failed" >&2; return 1; }
    "$BIN" serve &
    local pid=$!
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$port/api/v1/orgs/demo/authorisations/woodshop', method='PUT', headers={'Authorization': 'Bearer $token'}))" >/dev/null
    echo "== schemathesis against $backend"
    local status=0
    # Every phase (examples, coverage, fuzzing, stateful). The email rule is several patterns
    # that must all hold, so many drawn values are filtered: that health check is off.
    "$VENV/bin/st" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/api/openapi.json" \
        --checks "$CHECKS" --suppress-health-check filter_too_much \
        -H "Authorization: Bearer $token" --seed 1 --workers 1 \
        --generation-allow-x00 true --max-examples "${ST_MAX_EXAMPLES:-150}" \
        ${ST_INCLUDE_PATH:+--include-path "$ST_INCLUDE_PATH"} \
        ${ST_INCLUDE_PATH_REGEX:+--include-path-regex "$ST_INCLUDE_PATH_REGEX"} || status=$?
    kill "$pid"; wait "$pid" 2>/dev/null || true
    return $status
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! command -v sqlite3 >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
    else
        echo "schemathesis.sh: sqlite3 is needed to seed a member (apt-get install sqlite3)" >&2
        exit 1
    fi
fi
run_against SQLite "sqlite://$dir/schemathesis.db" "sqlite3 $dir/schemathesis.db"

if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    schema="st_$(date +%s)_$$"
    psql -q "$POSTGRES_URL" -c "CREATE SCHEMA $schema" >/dev/null
    sep='?'; case "$POSTGRES_URL" in *\?*) sep='&';; esac
    status=0
    url="${POSTGRES_URL}${sep}options=-c%20search_path%3D$schema"
    run_against PostgreSQL "$url" "psql -q $url -v ON_ERROR_STOP=1 -c" || status=$?
    psql -q "$POSTGRES_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null || true
    exit $status
elif [ "${CI:-}" = "true" ]; then
    echo "schemathesis.sh: PostgreSQL is required under CI" >&2
    exit 1
else
    echo "schemathesis.sh: PostgreSQL not reachable; SKIPPING the PostgreSQL run" >&2
fi
