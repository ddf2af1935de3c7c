#!/usr/bin/env bash
# Side-by-side benchmark: Portico (release build) against the FastAPI reference
# implementation of the same HTTP contract (benchmarks/fastapi/app.py, two uvicorn workers).
#
#   SECONDS_PER_RUN=10 bash benchmarks/compare.sh
#
# Both servers listen on loopback only, each on a fresh SQLite database in a temporary
# directory, with rate limiting off and the same bcrypt cost (BCRYPT_COST, default 12) and
# JWT secret. Three scenarios run against each server with examples/load.rs:
#   (a) GET /users/me only  (b) POST /login only  (c) the flood: 64 logins + 16 readers.
# Every step is bounded in time; both servers are stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=${TMPDIR:-/tmp}
VENV=$TMP/portico-bench-venv
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
BCRYPT_COST=${BCRYPT_COST:-12}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
PORTICO_PORT=18080
FASTAPI_PORT=18081
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS_PER_RUN must be a positive integer" >&2; exit 2; }

WORK=$(mktemp -d "$TMP/portico-bench.XXXXXX")
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for log in "$WORK"/*.log; do
            [[ -s $log ]] && { echo "--- tail of $log" >&2; tail -n 20 "$log" >&2; }
        done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The Python side: a venv, created once and refreshed when requirements.txt changes.
REQUIREMENTS=$ROOT/benchmarks/fastapi/requirements.txt
STAMP=$VENV/.requirements.sha256
if [[ ! -x $VENV/bin/uvicorn ]] || ! sha256sum --quiet -c "$STAMP" >/dev/null 2>&1; then
    echo "==> Python venv at $VENV"
    [[ -x $VENV/bin/python ]] || timeout 120 python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    sha256sum "$REQUIREMENTS" > "$STAMP"
fi

# 2. The Rust side: Portico and the load driver, in release.
echo "==> cargo build --release --example load --bin portico"
(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --example load --bin portico)
LOAD=$TARGET/release/examples/load
PORTICO=$TARGET/release/portico

# 3. Start both servers on loopback, each on a fresh database, sharing one JWT secret.
for port in $PORTICO_PORT $FASTAPI_PORT; do
    if curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/"; then
        echo "port $port is already in use; stop whatever listens there first" >&2
        exit 1
    fi
done
JWT_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
export JWT_SECRET BCRYPT_COST

(cd "$WORK" && exec env RATE_LIMIT_ENABLED=false PORTICO_BIND=127.0.0.1:$PORTICO_PORT \
    DATABASE_URL="sqlite://$WORK/portico.db" LOG_FORMAT=json RUST_LOG=warn \
    "$PORTICO" > "$WORK/portico.log" 2>&1) &
PIDS+=($!)
(cd "$WORK" && exec env DATABASE_PATH="$WORK/fastapi.db" \
    "$VENV/bin/uvicorn" app:app --app-dir "$ROOT/benchmarks/fastapi" --workers 2 \
    --host 127.0.0.1 --port $FASTAPI_PORT --log-level warning > "$WORK/fastapi.log" 2>&1) &
PIDS+=($!)

wait_live() { # name port pid
    for _ in $(seq 120); do
        curl -fs --max-time 1 -o /dev/null "http://127.0.0.1:$2/health/live" && return 0
        kill -0 "$3" 2>/dev/null || { echo "$1 exited during start-up" >&2; return 1; }
        sleep 0.5
    done
    echo "$1 did not answer /health/live within 60 s" >&2
    return 1
}
wait_live portico $PORTICO_PORT "${PIDS[0]}"
wait_live fastapi $FASTAPI_PORT "${PIDS[1]}"

# 4. The scenarios, each server in turn, so their tables sit next to each other.
echo
echo "# Portico vs FastAPI — $(nproc) CPUs, BCRYPT_COST=$BCRYPT_COST, ${SECONDS_PER_RUN} s per run"
SCENARIOS=(
    "a|GET /users/me only|--login-clients 0 --me-clients 32"
    "b|POST /login only|--login-clients 16 --me-clients 0"
    "c|flood: logins and reads together|--login-clients 64 --me-clients 16"
)
for scenario in "${SCENARIOS[@]}"; do
    IFS='|' read -r key title clients <<< "$scenario"
    for server in portico fastapi; do
        port=$PORTICO_PORT; [[ $server == fastapi ]] && port=$FASTAPI_PORT
        echo
        echo "## ($key) $title — $server ($clients)"
        echo
        # shellcheck disable=SC2086 # $clients is a list of options
        timeout $((SECONDS_PER_RUN + 120)) "$LOAD" --url "http://127.0.0.1:$port" \
            --seconds "$SECONDS_PER_RUN" $clients | grep -v '^Options'
    done
done
