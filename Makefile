# Two entry points for a fresh machine: `make demo` and `make test`.
# Each installs what it needs (uv, the workspace, the Envoy/etcd/NATS packages).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
RUN := $(UV) run --no-sync
SRC_DIRS := $(wildcard libs/*/src) $(wildcard services/*/src) cli/src
PYTEST_DIRS := $(wildcard libs/*/tests) $(wildcard services/*/tests) $(wildcard cli/tests tests)
TEST_DIRS := $(wildcard libs/*/tests) $(wildcard services/*/tests) $(wildcard cli/tests tests bench)
PROTO_OUT := libs/protos/src

.PHONY: help uv sync lint typecheck test test-only proto proto-check bench clean

help:
	@echo "make demo   - install everything and run a local mesh with the Bookinfo sample"
	@echo "make test   - install everything, lint, type-check and run the whole test suite"
	@echo "make proto  - regenerate libs/protos from proto/"
	@echo "make bench  - run the benchmarks in bench/ (store, convergence, startup)"

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"

# xds-protos ships an old copy of opentelemetry/proto that overwrites opentelemetry-proto's
# files in site-packages (and breaks the OTLP exporter). Packages install in parallel, so the
# fix is a second sync that reinstalls opentelemetry-proto after everything else is in place.
sync: uv
	$(UV) sync --all-packages --quiet
	$(UV) sync --all-packages --quiet --reinstall-package opentelemetry-proto

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .

# Test directories are checked one at a time: each may hold its own conftest.py, and mypy sees
# test modules as top-level modules.
typecheck: sync
	$(RUN) mypy $(SRC_DIRS)
	@set -e; for dir in $(TEST_DIRS); do echo "mypy $$dir"; $(RUN) mypy $$dir; done

# One pytest process per test directory: grpc.aio keeps process-wide state across the many
# event loops of a long session, and one whole-suite process crashed (SIGSEGV inside grpc) in
# about one run of six; per-directory processes have not. Every directory runs; the exit status
# is non-zero if any failed.
test-only: sync
	@failed=""; for dir in $(PYTEST_DIRS); do \
		echo "== pytest $$dir"; \
		$(RUN) pytest -q $$dir || failed="$$failed $$dir"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED in:$$failed"; exit 1; fi

test: lint typecheck test-only

proto: sync
	$(RUN) python -m mizzen.protos.build

bench: sync
	$(RUN) python bench/store.py
	$(RUN) python bench/convergence.py
	$(RUN) python bench/startup.py

# `make demo` on a fresh machine: install everything (the sync above), then run `mizzen demo`
# in the foreground: a local mesh, Bookinfo and an ingress gateway on
# http://127.0.0.1:8080/productpage; Ctrl-C stops it all. Options go in DEMO_ARGS, e.g.
# `make demo DEMO_ARGS="--detach --port-offset 1000"`.
.PHONY: demo
demo: sync
	$(RUN) mizzen demo $(DEMO_ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
