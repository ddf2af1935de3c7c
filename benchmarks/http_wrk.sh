#!/usr/bin/env bash
# The HTTP set of issue 19: GET /health/live (the stack's own limit) and GET /users/me
# (verify the JWT, then one store read: the token's live session joined with its user)
# under wrk, with the server's CPU time per request, printed as one table.
#
# usage: benchmarks/http_wrk.sh [PATH_TO_PORTICO_BINARY]   (default target/release/portico)
# env:   ROUTES ("/health/live /users/me"), SECONDS_PER_RUN (10), CONNECTIONS (64),
#        THREADS (1), PORT (18090),
#        PORTICO_ENV_EXTRA ("NAME=value …" added to the server's environment),
#        SERVER_CPUS (a taskset list for the server, e.g. 0-7), WRK_CPUS (same, for wrk)
#
# Starts the binary on a fresh SQLite file with rate limiting off, registers and logs in
# one user, warms each route for 2 s, then runs `wrk -tTHREADS -cCONNECTIONS
# -dSECONDS_PER_RUNs --latency` on each. CPU µs/request is the server's own CPU time
# (utime + stime from /proc/PID/stat, both its threads' and reaped children's) over the
# run divided by the requests wrk completed; switches/req the context switches of the
# server's threads over the run (from /proc/PID/task/*/status; a thread that ends
# during the run takes its count with it) divided the same way. The load average at the
# start of each run is printed beside them, since the figures mean little on a busy
# machine.
# Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

binary=${1:-target/release/portico}
port=${PORT:-18090}
seconds=${SECONDS_PER_RUN:-10}
connections=${CONNECTIONS:-64}
threads=${THREADS:-1}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS_PER_RUN must be a positive integer" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }
[[ -x $binary ]] || { echo "no executable at $binary (cargo build --release)" >&2; exit 2; }

pin() { # pin CPUS COMMAND…: run COMMAND on CPUS when a list is given
    local cpus=$1; shift
    if [[ -n $cpus ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

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

# `env` and `taskset` exec what they run, so $! is the server's own pid.
pinned=()
[[ -n ${SERVER_CPUS:-} ]] && pinned=(taskset -c "$SERVER_CPUS")
# shellcheck disable=SC2086 # PORTICO_ENV_EXTRA is a list of NAME=value words
env PORTICO_BIND=127.0.0.1:$port \
    DATABASE_URL="sqlite://$workdir/bench.db" \
    JWT_SECRET=benchmark-secret-0123456789-abcdefghijklmnop \
    RATE_LIMIT_ENABLED=false \
    BCRYPT_COST=4 \
    RUST_LOG=warn \
    ${PORTICO_ENV_EXTRA:-} \
    "${pinned[@]}" "$binary" >"$workdir/server.log" 2>&1 &
server=$!

base=http://127.0.0.1:$port
for _ in $(seq 1 100); do
    curl -fs "$base/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "$base/health/ready" >/dev/null || { cat "$workdir/server.log" >&2; exit 1; }

credentials='{"email":"bench@example.com","password":"correct horse battery"}'
curl -fs -H 'content-type: application/json' -d "$credentials" "$base/register" >/dev/null
token=$(curl -fs -H 'content-type: application/json' -d "$credentials" "$base/login" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')
status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "$base/users/me")
[[ $status == 200 ]] || { echo "GET /users/me answered $status" >&2; exit 1; }

cpu_ticks() { # the server's utime + stime (+ reaped children's), in clock ticks
    # Fields after the ")" that ends the command name: utime is the 12th, stime 13th,
    # cutime 14th, cstime 15th.
    awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$server/stat"
}
ticks_per_second=$(getconf CLK_TCK)
switches() { # context switches of the server's live threads, voluntary and not
    cat /proc/"$server"/task/*/status 2>/dev/null |
        awk '/ctxt_switches/ { total += $2 } END { print total + 0 }'
}

printf '| route | req/s | p50 | p99 | CPU µs/req | switches/req | load average at start |\n'
printf '|---|---|---|---|---|---|---|\n'
for route in ${ROUTES:-/health/live /users/me}; do
    pin "${WRK_CPUS:-}" wrk -t1 -c"$connections" -d2s -H "authorization: Bearer $token" \
        "$base$route" >/dev/null
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    before=$(cpu_ticks)
    switched=$(switches)
    pin "${WRK_CPUS:-}" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
        -H "authorization: Bearer $token" "$base$route" >"$workdir/wrk.out"
    after=$(cpu_ticks)
    switched=$(($(switches) - switched))
    if grep -q 'Non-2xx' "$workdir/wrk.out"; then
        echo "$route: some answers were not 2xx:" >&2
        cat "$workdir/wrk.out" >&2
        exit 1
    fi
    requests=$(awk '/requests in/ { print $1 }' "$workdir/wrk.out")
    rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$workdir/wrk.out")
    p50=$(awk '$1 == "50%" { print $2 }' "$workdir/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$workdir/wrk.out")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" \
        'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    per_request=$(awk -v s="$switched" -v n="$requests" 'BEGIN { printf "%.2f", s / n }')
    printf '| `GET %s` | %s | %s | %s | %s | %s | %s |\n' \
        "$route" "$rate" "$p50" "$p99" "$cpu_us" "$per_request" "$load"
done
