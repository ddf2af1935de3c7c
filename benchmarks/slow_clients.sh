#!/usr/bin/env bash
# The slow-client flood of issue 18, measured: N connections from one address, each
# sending a request head and then one body byte every 2 s, against a release build of
# Portico on loopback. Prints the server's resident memory (VmRSS from /proc) and open
# descriptors before, at the peak during, and after the flood, what the connections got
# (admitted, refused with 429, cut off with 408), and how long /health/ready took while
# the flood was on. Rate limiting is off (RATE_LIMIT_ENABLED=false): its budgets would
# answer most of these requests with 429 at once, and an attacker with many addresses
# gets past them; what is measured here is what the edge does on its own.
#
#   N=2000 bash benchmarks/slow_clients.sh                      # the defaults: 128 per address
#   N=10000 PORTICO_ENV_EXTRA="HTTP_MAX_CONNECTIONS_PER_IP=100000" bash benchmarks/slow_clients.sh
#
# Variables: N (connections, default 2000), HOLD (seconds the clients keep trickling,
# default 20), SETTLE (seconds after the flood before the "after" figure, default 10),
# PORTICO_ENV_EXTRA (space-separated NAME=value pairs for the server), BIN (the binary;
# default target/release/portico, built if missing). Needs python3 and `ulimit -n` above N.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-2000}
HOLD=${HOLD:-20}
SETTLE=${SETTLE:-10}
PORT=${PORT:-18090}
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portico}

for value in "$N" "$HOLD" "$SETTLE"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "N, HOLD and SETTLE must be positive integers" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
    echo "==> building $BIN" >&2
    (cd "$ROOT" && timeout 1800 cargo build --release --bin portico)
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < N + 100 )); then
    echo "ulimit -n is $(ulimit -n): too low for N=$N clients" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-slow.XXXXXX")
SERVER=""
cleanup() {
    if [[ -n $SERVER ]]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # PORTICO_ENV_EXTRA is a list of NAME=value words.
env PORTICO_BIND=127.0.0.1:$PORT DATABASE_URL="sqlite://$WORK/portico.db" \
    JWT_SECRET=benchmark-secret-0123456789-abcdefghijklmnop LOG_FORMAT=json RUST_LOG=warn \
    RATE_LIMIT_ENABLED=false \
    ${PORTICO_ENV_EXTRA:-} "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!

python3 - "$SERVER" "$PORT" "$N" "$HOLD" "$SETTLE" <<'PY'
import asyncio, os, sys, time

pid, port, n, hold, settle = (int(a) for a in sys.argv[1:])

def rss_mib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

def descriptors():
    return len(os.listdir(f"/proc/{pid}/fd"))

async def ready_latency():
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        writer.write(b"GET /health/ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.read(12), 30)
        writer.close()
        return time.monotonic() - started, head.decode(errors="replace")
    except (OSError, asyncio.TimeoutError) as error:
        return time.monotonic() - started, f"failed: {error!r}"

outcomes = {}

async def slow_client(deadline):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as error:
        outcomes[f"connect failed ({error.strerror})"] = outcomes.get(f"connect failed ({error.strerror})", 0) + 1
        return
    writer.write(b"POST /login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n")
    outcome = "held until the clients stopped"
    answer = asyncio.ensure_future(reader.read(12))
    try:
        while time.monotonic() < deadline:
            writer.write(b" ")
            await writer.drain()
            done, _ = await asyncio.wait({answer}, timeout=2)
            if done:
                head = answer.result()
                outcome = f"answered {head[9:12].decode()}" if head else "closed without an answer"
                break
    except OSError:
        outcome = "closed without an answer"
    answer.cancel()
    writer.close()
    outcomes[outcome] = outcomes.get(outcome, 0) + 1

async def main():
    while True:  # wait for the server to listen
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    before = (rss_mib(), descriptors())
    deadline = time.monotonic() + hold
    clients = []
    for _ in range(n):
        clients.append(asyncio.ensure_future(slow_client(deadline)))
        await asyncio.sleep(0)  # let each one connect before the next
    peak_rss, peak_fds, latencies = 0.0, 0, []
    while time.monotonic() < deadline:
        peak_rss, peak_fds = max(peak_rss, rss_mib()), max(peak_fds, descriptors())
        latencies.append(await ready_latency())
        await asyncio.sleep(0.5)
    await asyncio.gather(*clients)
    await asyncio.sleep(settle)
    after = (rss_mib(), descriptors())
    print(f"connections opened by one address : {n}, trickling for {hold} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<33}: {count}")
    print(f"server RSS before / peak / after  : {before[0]:.1f} / {peak_rss:.1f} / {after[0]:.1f} MiB (after = {settle} s after the flood)")
    print(f"server descriptors before/peak/after: {before[1]} / {peak_fds} / {after[1]}")
    worst = max(latencies, key=lambda pair: pair[0])
    print(f"/health/ready during the flood    : {len(latencies)} probes, slowest {worst[0]*1000:.0f} ms ({worst[1].strip()})")

asyncio.run(main())
PY
echo "server log lines: $(wc -l <"$WORK/server.log") ($(grep -c '"level":"ERROR"' "$WORK/server.log" || true) at ERROR)"
