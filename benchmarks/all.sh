#!/usr/bin/env bash
# Issue 19's whole set in one go, printed as one table at the end: the criterion
# micro-benchmarks (cargo bench --workspace --bench '*'), then the HTTP set (benchmarks/http_wrk.sh)
# and the rooms set (benchmarks/rooms.sh), each against a freshly started release server
# on a fresh SQLite file. `make bench` runs it.
#
# usage: benchmarks/all.sh
# env:   CRITERION_ARGS (passed to every criterion bench, e.g. "--warm-up-time 1
#        --measurement-time 2" for a quicker pass), SKIP ("criterion", "http" and/or
#        "rooms" to leave a set out), and whatever http_wrk.sh and rooms.sh take
#        (SECONDS_PER_RUN, MEMBERS, RATES, IDLE, SERVER_CPUS, …).
# Needs wrk for the HTTP set (skipped, and said so, without it).
set -euo pipefail
cd "$(dirname "$0")/.."

skip=" ${SKIP:-} "
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

echo "== issue 19's benchmarks: $(date -u '+%F %T') UTC, $(nproc) cores, $(uname -sr)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ $skip != *" criterion "* ]]; then
    echo "== criterion (cargo bench --workspace --bench '*')"
    # shellcheck disable=SC2086 # CRITERION_ARGS is a list of words
    cargo bench --workspace --bench '*' -- ${CRITERION_ARGS:-} 2>&1 | tee "$workdir/criterion.out"
fi

echo "== release build"
cargo build --release --bin portico --example rooms

if [[ $skip != *" http "* ]]; then
    if command -v wrk >/dev/null; then
        echo "== HTTP (benchmarks/http_wrk.sh)"
        bash benchmarks/http_wrk.sh target/release/portico | tee "$workdir/http.out"
    else
        echo "== HTTP skipped: wrk is not installed (apt-get install -y wrk)" |
            tee "$workdir/http.out"
    fi
fi

if [[ $skip != *" rooms "* ]]; then
    echo "== rooms (benchmarks/rooms.sh)"
    bash benchmarks/rooms.sh target/release/portico | tee "$workdir/rooms.out"
fi

# One table. Criterion prints a benchmark's id, then `time: [low median high]` on the
# same line or, for a long id, the next; the median is the middle figure.
echo
echo "== summary"
echo "| set | case | figure |"
echo "|---|---|---|"
if [[ -f $workdir/criterion.out ]]; then
    awk '
        /^Benchmarking / { next }
        # The change since the last saved run, in per cent: not a figure of this run.
        /(time|thrpt):.*%/ { next }
        /time:[[:space:]]*\[/ {
            line = $0
            if (line ~ /^[^[:space:]]/) { id = line; sub(/[[:space:]]+time:.*/, "", id) }
            else { id = last }
            sub(/.*time:[[:space:]]*\[/, "", line); sub(/\].*/, "", line)
            split(line, f, " ")
            printf "| criterion | %s | median %s %s (%s %s – %s %s) |\n", id, f[3], f[4], f[1], f[2], f[5], f[6]
            next
        }
        /thrpt:[[:space:]]*\[/ {
            line = $0
            sub(/.*thrpt:[[:space:]]*\[/, "", line); sub(/\].*/, "", line)
            split(line, f, " ")
            printf "| criterion | %s, throughput | median %s %s |\n", id, f[3], f[4]
            next
        }
        /^[^[:space:]]/ && !/^(Found|Gnuplot|Running|Compiling|Finished|warning|Benchmarking|==)/ { last = $0 }
    ' "$workdir/criterion.out"
fi
# The HTTP and rooms scripts print markdown tables already: their rows, cells joined.
for set in http rooms; do
    [[ -f $workdir/$set.out ]] || continue
    awk -v set="$set" -F'|' '
        /^== HTTP skipped/ { printf "| http | skipped | wrk is not installed |\n"; next }
        /^\| (route|scenario) \|/ {
            for (i = 3; i < NF; i++) { head[i] = $i; gsub(/^ +| +$/, "", head[i]) }
            next
        }
        /^\| / && !/^\|---/ {
            figure = ""
            for (i = 3; i < NF; i++) {
                cell = $i; gsub(/^ +| +$/, "", cell)
                # The HTTP cells are bare numbers: name them by their column.
                if (set == "http" && cell != "") cell = head[i] " " cell
                if (cell != "") figure = figure (figure == "" ? "" : "; ") cell
            }
            name = $2; gsub(/^ +| +$/, "", name)
            printf "| %s | %s | %s |\n", set, name, figure
        }
    ' "$workdir/$set.out"
done
