#!/usr/bin/env bash
# The whole test suite: unit tests, then every integration test against SQLite and again
# against PostgreSQL (a fresh schema per test), then the browser tests in headless Chromium.
# PostgreSQL is started if it is installed but stopped. Without PostgreSQL or Chromium that part
# is skipped with a message, except under CI, where both are required (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PORTICO_TEST_POSTGRES_URL="${PORTICO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Each stage says how long it took, and the run ends with the list (CI must stay under 25 min).
stage_name=""
stage_started=$SECONDS
stage_times=()
stage() {
    if [ -n "$stage_name" ]; then
        stage_times+=("$(printf '%5d s  %s' $((SECONDS - stage_started)) "$stage_name")")
        echo "== $stage_name: $((SECONDS - stage_started)) s"
    fi
    stage_name="$1"
    stage_started=$SECONDS
    [ -n "$1" ] && echo "== $1"
    return 0
}
report_times() {
    stage ""
    echo "== stage times (total $SECONDS s)"
    printf '%s\n' "${stage_times[@]}"
}
trap report_times EXIT

postgres_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}

ensure_postgres() {
    postgres_up && return 0
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "test.sh: starting PostgreSQL"
        for version in /etc/postgresql/*; do
            pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
        done
        for _ in $(seq 1 30); do postgres_up && return 0; sleep 1; done
    fi
    return 1
}

drop_old_test_schemas() {
    command -v psql >/dev/null 2>&1 || return 0
    psql -q "$PORTICO_TEST_POSTGRES_URL" -v ON_ERROR_STOP=0 -c "DO \$\$ DECLARE s text; BEGIN
        FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\_%' LOOP
            EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END \$\$;" >/dev/null 2>&1 || true
}

stage "build (tests)"
cargo test --locked --no-run --quiet

stage "SQLite: unit and integration tests"
PORTICO_TEST_BACKEND=sqlite cargo test --locked

if ensure_postgres; then
    drop_old_test_schemas
    stage "PostgreSQL ($PORTICO_TEST_POSTGRES_URL): integration tests"
    PORTICO_TEST_BACKEND=postgres cargo test --locked --tests
    drop_old_test_schemas
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: PostgreSQL is required under CI but is not reachable at 127.0.0.1:5432" >&2
    exit 1
else
    echo "test.sh: PostgreSQL is not reachable at 127.0.0.1:5432; SKIPPING the PostgreSQL run" >&2
fi

# Short mode checks every workload for errors, never speed, so it runs on the debug build the
# tests already made (a release build of the server took 5-8 of CI's minutes); the figures in
# docs/benchmarks.md come from release builds (`cargo bench --bench load`).
stage "build (load harness, debug)"
cargo bench --locked --profile dev --bench load --no-run --quiet

stage "load harness, short mode (fails on errors only, never on speed)"
BENCH_SHORT=1 cargo bench --locked --profile dev --bench load
if postgres_up; then
    BENCH_SHORT=1 BENCH_DATABASE=postgres cargo bench --locked --profile dev --bench load
    drop_old_test_schemas
fi

stage "OpenAPI conformance (schemathesis)"
if command -v python3 >/dev/null 2>&1; then
    ./scripts/schemathesis.sh
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: python3 is required under CI for schemathesis" >&2
    exit 1
else
    echo "test.sh: python3 not found; SKIPPING schemathesis" >&2
fi

stage "OpenID Connect interoperability (Authlib)"
if command -v python3 >/dev/null 2>&1; then
    AUTHLIB_VENV="$CARGO_TARGET_DIR/authlib-1.6.5"
    if [ ! -x "$AUTHLIB_VENV/bin/python" ]; then
        python3 -m venv "$AUTHLIB_VENV"
        "$AUTHLIB_VENV/bin/pip" install --quiet "authlib==1.6.5" "requests==2.34.2"
    fi
    cargo build --locked --quiet
    PORTICO_BIN="$CARGO_TARGET_DIR/debug/portico" "$AUTHLIB_VENV/bin/python" e2e/interop_authlib.py
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: python3 is required under CI for the Authlib interoperability test" >&2
    exit 1
else
    echo "test.sh: python3 not found; SKIPPING the Authlib interoperability test" >&2
fi

stage "deploy: systemd unit, compose example, container image run under chroot"
if command -v podman >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1; then
    cargo build --locked --quiet
    deploy/check.sh "$CARGO_TARGET_DIR/debug/portico"
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: podman and systemd-analyze are required under CI (apt-get install podman systemd)" >&2
    exit 1
else
    echo "test.sh: podman or systemd-analyze not found; SKIPPING the deploy checks" >&2
fi

stage "browser tests (headless Chromium)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ] && command -v npm >/dev/null 2>&1; then
    cargo build --locked --quiet
    (cd e2e && npm ci --no-audit --no-fund --silent \
        && CHROMIUM="$CHROMIUM" PORTICO_BIN="$CARGO_TARGET_DIR/debug/portico" node --test --test-concurrency=1 .)
    echo "test.sh: screenshots in target/e2e-screenshots/"
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: Chromium ($CHROMIUM) and npm are required under CI" >&2
    exit 1
else
    echo "test.sh: Chromium not found at $CHROMIUM (apt-get install chromium); SKIPPING the browser tests" >&2
fi
