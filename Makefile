# The two commands of the README: `make run` and `make test`. Each installs what it needs first.
.PHONY: run test build release setup setup-python e2e bench lint

run: release
	.build/release/ariadne serve $(ARGS)

test: setup-python build lint
	node --experimental-detect-module --test Tests/ui/
	swift test
	ARIADNE_BIN=.build/debug/ariadne .venv/bin/pytest -q Tests/e2e

# One formatting for the whole repository (.swift-format); `swift format -i -r Sources Tests` fixes it.
lint:
	swift format lint --strict -r Sources Tests Package.swift

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

setup:
	bash scripts/setup.sh

setup-python:
	bash scripts/setup.sh --python
