#!/usr/bin/env bash
# GET /users/me under wrk: the cost of authenticating a request (verify the JWT, then
# one store call for the token's user and, since issue 15, its session's liveness).
#
# usage: benchmarks/users_me_wrk.sh [PATH_TO_PORTICO_BINARY]   (default target/release/portico)
# env:   SECONDS_PER_RUN (10), CONNECTIONS (64), PORT (18089)
# Needs wrk (apt-get install -y wrk) and curl. Starts the binary on a fresh SQLite file
# with rate limiting off, registers and logs in one user, runs
# `wrk -t1 -cCONNECTIONS -dSECONDS_PER_RUNs` with its bearer token, and stops the server.
set -euo pipefail

binary=${1:-target/release/portico}
port=${PORT:-18089}
seconds=${SECONDS_PER_RUN:-10}
connections=${CONNECTIONS:-64}
workdir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$workdir"' EXIT

PORTICO_BIND=127.0.0.1:$port \
DATABASE_URL="sqlite://$workdir/bench.db" \
JWT_SECRET=benchmark-secret-0123456789-abcdefghijklmnop \
RATE_LIMIT_ENABLED=false \
BCRYPT_COST=4 \
RUST_LOG=warn \
    "$binary" >"$workdir/server.log" 2>&1 &
server=$!

base=http://127.0.0.1:$port
for _ in $(seq 1 100); do
    curl -fs "$base/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done

curl -fs -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"correct horse battery"}' \
    "$base/register" >/dev/null
token=$(curl -fs -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"correct horse battery"}' \
    "$base/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
test "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "$base/users/me")" = 200

wrk -t1 -c"$connections" -d"${seconds}s" --latency \
    -H "authorization: Bearer $token" "$base/users/me"
