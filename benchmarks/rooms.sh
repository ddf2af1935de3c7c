#!/usr/bin/env bash
# The rooms set of issue 19: seat a 1,000-member room, fan out to it at 30 and 100
# publishes/s, then hold 10,000 idle authenticated connections; one table, printed by
# the driver (examples/rooms.rs), with the server's CPU µs per delivered message and its
# RSS, and the load average beside every row.
#
# usage: benchmarks/rooms.sh [PATH_TO_PORTICO_BINARY]   (default target/release/portico)
#        SERVER=socketio benchmarks/rooms.sh   the same driver against
#        benchmarks/socketio/server.js (Socket.IO 4.8, broadcast only; needs node and
#        npm, installs socket.io into a temporary directory)
# env:   MEMBERS (1000), RATES (30,100), SECONDS_PER_RUN (10), IDLE (10000),
#        IDLE_USERS (100), SEAT_CONCURRENCY (1), PORT (18091),
#        DRIVER (target/release/examples/rooms),
#        PORTICO_ENV_EXTRA ("NAME=value …" added to the server's environment),
#        SERVER_CPUS / DRIVER_CPUS (taskset lists, to pin the two apart)
#
# Starts the binary on a fresh SQLite file with rate limiting off (which also lifts the
# per-user socket cap and the upgrade rate), bcrypt cost 4 (accounts are set up, not
# measured) and a connection cap above what the run opens; both processes raise their
# soft open-file limit to the hard one (the server by itself, the driver with `rlimit`).
# Build first: cargo build --release --bin portico --example rooms (make bench-rooms does).
set -euo pipefail

binary=${1:-target/release/portico}
driver=${DRIVER:-target/release/examples/rooms}
port=${PORT:-18091}
members=${MEMBERS:-1000}
idle=${IDLE:-10000}
kind=${SERVER:-portico}
if [[ $kind == portico ]]; then
    [[ -x $binary ]] || { echo "no executable at $binary (cargo build --release)" >&2; exit 2; }
else
    command -v npm >/dev/null || { echo "SERVER=socketio needs node and npm" >&2; exit 2; }
fi
[[ -x $driver ]] || { echo "no driver at $driver (cargo build --release --example rooms)" >&2; exit 2; }

workdir=$(mktemp -d)
server=
cleanup() {
    if [[ -n $server ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pinned=()
[[ -n ${SERVER_CPUS:-} ]] && pinned=(taskset -c "$SERVER_CPUS")
driver_pinned=()
[[ -n ${DRIVER_CPUS:-} ]] && driver_pinned=(taskset -c "$DRIVER_CPUS")
connections=$((members + idle + 1000))
# `env` and `taskset` exec what they run, so $! is the server's own pid.
if [[ $kind == socketio ]]; then
    cp benchmarks/socketio/package.json benchmarks/socketio/package-lock.json \
        benchmarks/socketio/server.js "$workdir/"
    (cd "$workdir" && npm ci --no-audit --no-fund --silent)
    binary="node $(node --version) + socket.io"
    env PORT="$port" "${pinned[@]}" node "$workdir/server.js" >"$workdir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
else
# shellcheck disable=SC2086 # PORTICO_ENV_EXTRA is a list of NAME=value words
env PORTICO_BIND=127.0.0.1:$port \
    DATABASE_URL="sqlite://$workdir/bench.db" \
    JWT_SECRET=benchmark-secret-0123456789-abcdefghijklmnop \
    RATE_LIMIT_ENABLED=false \
    BCRYPT_COST=4 \
    HTTP_MAX_CONNECTIONS=$connections \
    HTTP_MAX_CONNECTIONS_PER_IP=$connections \
    RUST_LOG=warn \
    ${PORTICO_ENV_EXTRA:-} \
    "${pinned[@]}" "$binary" >"$workdir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null ||
    { cat "$workdir/server.log" >&2; exit 1; }
fi
base=http://127.0.0.1:$port

echo "$(date -u '+%F %T') UTC, $(nproc) cores, $(uname -sr), server $binary (pid $server)"
"${driver_pinned[@]}" "$driver" --url "$base" --server-pid "$server" \
    --members "$members" --rates "${RATES:-30,100}" --seconds "${SECONDS_PER_RUN:-10}" \
    --idle "$idle" --idle-users "${IDLE_USERS:-100}" \
    --seat-concurrency "${SEAT_CONCURRENCY:-1}" --protocol "$kind"
if grep -qiE 'error|panicked' "$workdir/server.log"; then
    echo "server log:" >&2
    grep -iE 'error|panicked' "$workdir/server.log" | head -20 >&2
fi
