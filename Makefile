# Everyday commands. `make help` lists them.
.PHONY: help run test test-postgres lint deny coverage coverage-gate bench bench-http bench-rooms fmt fuzz

help:
	@echo "run       serve on 127.0.0.1:8080 with SQLite under ./data (no configuration needed)"
	@echo "test      every test of the workspace: unit, adapter and end-to-end"
	@echo "          (the PostgreSQL suites only if PORTICO_TEST_POSTGRES_URL is set)"
	@echo "test-postgres  the same with a throwaway PostgreSQL cluster, as CI runs it"
	@echo "          (installs the postgresql package if missing: needs root or sudo)"
	@echo "lint      rustfmt check and clippy with warnings as errors"
	@echo "deny      dependency policy: licences, banned crates, sources (cargo deny)"
	@echo "coverage  line coverage with cargo llvm-cov (HTML in target/llvm-cov/html, LCOV in"
	@echo "          target/lcov.info)"
	@echo "coverage-gate  the same, then CI's gate: every line ran or is excluded with its reason"
	@echo "          (set PORTICO_TEST_POSTGRES_URL, or the PostgreSQL adapter's lines count as missed)"
	@echo "bench     the whole set, one table at the end: criterion, then bench-http and bench-rooms"
	@echo "          (benchmarks/all.sh; CRITERION_ARGS, SKIP and the scripts' variables pass through)"
	@echo "bench-http  wrk on /health/live and /users/me against a fresh release server (needs wrk)"
	@echo "bench-rooms seat, fan-out and idle WebSockets against a fresh release server (examples/rooms.rs)"
	@echo "fuzz      the cargo-fuzz targets, 60 s each (nightly and cargo-fuzz needed; docs/testing.md)"
	@echo "fmt       format the code"

run:
	cargo run --release

test:
	cargo test --workspace

# One shell, so that the trap stops the cluster however the tests end.
test-postgres:
	@.ci/postgres install
	@dir=$$(.ci/postgres start) && trap '.ci/postgres stop "$$dir"' EXIT && \
	  PORTICO_TEST_POSTGRES_URL=$$(cat "$$dir/url") PORTICO_TEST_POSTGRES_REQUIRED=1 \
	  cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

deny:
	cargo deny --locked check licenses bans sources

# One instrumented run, three reports of it; each report needs --workspace again, or it
# covers the root package only.
coverage:
	cargo llvm-cov --workspace --no-report
	cargo llvm-cov report --workspace --html
	cargo llvm-cov report --workspace --summary-only
	cargo llvm-cov report --workspace --lcov --output-path target/lcov.info

coverage-gate: coverage
	.ci/coverage-gate target/lcov.info

bench:
	bash benchmarks/all.sh

# A fresh server on a fresh database each time; SECONDS_PER_RUN, CONNECTIONS, SERVER_CPUS,
# WRK_CPUS and PORTICO_ENV_EXTRA are passed through (see benchmarks/http_wrk.sh).
bench-http:
	cargo build --release --bin portico
	bash benchmarks/http_wrk.sh target/release/portico

# A fresh server on a fresh database; MEMBERS, RATES, SECONDS_PER_RUN, IDLE, IDLE_USERS,
# SEAT_CONCURRENCY, SERVER_CPUS, DRIVER_CPUS and PORTICO_ENV_EXTRA are passed through
# (see benchmarks/rooms.sh).
bench-rooms:
	cargo build --release --bin portico --example rooms
	bash benchmarks/rooms.sh target/release/portico

fmt:
	cargo fmt --all

fuzz:
	cd fuzz && for target in websocket_frames json_bodies access_tokens; do \
		cargo +nightly fuzz run $$target -- -max_total_time=60 || exit 1; \
	done
