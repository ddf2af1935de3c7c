# Everyday commands. `make help` lists them.
.PHONY: help run test test-postgres lint deny coverage bench fmt

help:
	@echo "run       serve on 127.0.0.1:8080 with SQLite under ./data (no configuration needed)"
	@echo "test      every test of the workspace: unit, adapter and end-to-end"
	@echo "          (the PostgreSQL suites only if PORTICO_TEST_POSTGRES_URL is set)"
	@echo "test-postgres  the same with a throwaway PostgreSQL cluster, as CI runs it"
	@echo "          (installs the postgresql package if missing: needs root or sudo)"
	@echo "lint      rustfmt check and clippy with warnings as errors"
	@echo "deny      dependency policy: licences, banned crates, sources (cargo deny)"
	@echo "coverage  line coverage with cargo llvm-cov (HTML in target/llvm-cov/html)"
	@echo "bench     criterion micro-benchmarks"
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

coverage:
	cargo llvm-cov --workspace --html
	cargo llvm-cov report --summary-only

bench:
	cargo bench --workspace

fmt:
	cargo fmt --all
