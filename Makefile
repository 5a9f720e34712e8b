# One entry point per job; each creates and reuses .venv, so a fresh clone needs only Python.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: test lint typecheck pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: every check: pytest (unit, property, docker when an engine is there), ruff, mypy --strict on the kernel and adapters
test: $(STAMP) lint typecheck pytest

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src/relaunch/kernel src/relaunch/adapters src/relaunch/fleet src/relaunch/aio

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache

.PHONY: demo
PLOT_STAMP := $(VENV)/.installed-plot

$(PLOT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[plot]'
	touch $(PLOT_STAMP)

## demo: the main job: compare policies on ToolHive #5171's flapping daemon, plot to out/daemon-flaps.png;
## then on a service that hangs, each policy without and with a health check, plot to out/hang.png
demo: $(PLOT_STAMP)
	mkdir -p out
	$(VENV)/bin/relaunch compare --scenario daemon-flaps --plot out/daemon-flaps.png
	@echo
	$(VENV)/bin/relaunch compare --scenario hang --plot out/hang.png

## bench: the benchmark suite (benchmarks/README.md); writes benchmarks/results.json and results.md.
## BENCH_ARGS passes options through (e.g. BENCH_ARGS="--only sliding"). bench-smoke: each row once,
## printed only, so that the committed results.md always comes from a full run.
.PHONY: bench bench-smoke
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks.run --json benchmarks/results.json --md benchmarks/results.md $(BENCH_ARGS)

bench-smoke: $(BENCH_STAMP)
	$(PY) -m benchmarks.run --smoke $(BENCH_ARGS)
