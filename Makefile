# The two commands of the README: `make run` and `make test`. Each installs what it needs first.
.PHONY: run test build release setup setup-python e2e bench bench-clickhouse bench-cluster bench-security lint fuzz demo demo-test

run: release
	.build/release/ariadne serve $(ARGS)

test: setup-python build lint
	node --experimental-detect-module --test Tests/ui/
	swift test
	ARIADNE_BIN=.build/debug/ariadne .venv/bin/pytest -q Tests/e2e
	bash scripts/fuzz.sh 8

# Coverage-guided fuzzing of every wire decoder and the engine's files, SECONDS per target.
fuzz:
	bash scripts/fuzz.sh $(or $(SECONDS),60)

# The demo shop (Swift services on swift-otel, a Python Flask service, a NATS hop) beside
# Ariadne, with a load driver; prints where to look. Ctrl-C stops it.
demo: release
	bash scripts/setup.sh --demo
	cd demo && swift build
	demo/.venv/bin/python demo/demo.py $(ARGS)

# The demo's end-to-end test: one dispatch is one trace across Swift, Python and NATS. Apart from
# `make test` because the demo's first build (swift-otel) takes several minutes.
demo-test: build
	bash scripts/setup.sh --demo
	cd demo && swift build
	cd demo && ARIADNE_BIN=../.build/debug/ariadne .venv/bin/pytest -q test_demo.py

# One formatting for the whole repository (.swift-format); `swift format -i -r Sources Tests` fixes it.
lint:
	swift format lint --strict -r Sources Tests Package.swift demo/Sources demo/Package.swift

build: setup
	swift build

release: setup
	swift build -c release --product ariadne

# Only the end-to-end tests, against the debug binary.
e2e: setup-python build
	ARIADNE_BIN=.build/debug/ariadne .venv/bin/pytest -q Tests/e2e

# Decode throughput and end-to-end ingest rate on the release build.
bench: release
	bash scripts/bench.sh

# Ariadne on ClickHouse: end-to-end ingest, bytes per span, by-id and search latency (SPANS=N).
bench-clickhouse: release
	bash scripts/setup.sh --python
	bash scripts/bench-clickhouse.sh $(or $(SPANS),1000000)

# The ingest cost of TLS + API-key auth: plain vs secured, interleaved, gRPC and HTTP (SPANS=N).
bench-security: release
	bash scripts/bench-security.sh $(or $(SPANS),500000)

# The cluster on loopback (scripts/cluster.sh): end-to-end rate, CPU per role, publish-to-queryable latency.
bench-cluster: release
	bash scripts/setup.sh --python
	bash scripts/bench-cluster.sh $(or $(SPANS),1000000)

setup:
	bash scripts/setup.sh

setup-python:
	bash scripts/setup.sh --python
