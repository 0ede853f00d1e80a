# regogate: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
GOBIN := $(shell go env GOPATH 2>/dev/null || echo $(HOME)/go)/bin
export PATH := $(CURDIR)/.venv/bin:$(GOBIN):$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup demo test lint native-check policy-check pytest pg-suites pg-suites-run bench

setup:
	@scripts/setup.sh

demo: setup
	regogate demo

lint:
	ruff check regogate tests bench
	ruff format --check regogate tests bench
	mypy

native-check:
	cargo fmt --check --manifest-path native/writer/Cargo.toml
	cargo fmt --check --manifest-path native/hotpath/Cargo.toml
	cargo test --quiet --release --locked --manifest-path native/writer/Cargo.toml
	cargo test --quiet --release --locked --manifest-path native/hotpath/Cargo.toml
	python -c 'import regogate._native'  # built by setup; the hot path tests need it

policy-check:
	opa fmt --list --fail policies/rego
	opa check --strict policies/rego
	opa test policies/rego --coverage --threshold 90 --format=json > /dev/null && opa test policies/rego

pytest:
	pytest -q --ignore=tests/suites $(PYTEST_ARGS)

test: setup lint native-check policy-check pytest pg-suites-run

# PostgreSQL's own regression and isolation suites (217 and 115 tests), directly and
# through regogate; every test must pass through the gateway. Part of `make test` (5-9
# minutes on 2 cores, by the machine's load); times and ratios gateway/direct (goal 3x:
# not met reliably yet, 2.95-4.3x for the regression suite on a shared machine) go to
# .cache/suites-timing.json, numbers and not assertions (tests/suites/README.md,
# docs/benchmarks.md). scripts/setup.sh installs their sources and regress.so.
pg-suites: setup pg-suites-run

pg-suites-run:
	scripts/suites/setup-pg-suites.sh
	pytest -q tests/suites $(PYTEST_ARGS)

bench: setup
	REGOGATE_WITH_PGBOUNCER=1 scripts/setup.sh
	python bench/run.py $(BENCH_ARGS)
