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
	$(VENV)/bin/mypy --strict src/relaunch/kernel src/relaunch/adapters

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache

.PHONY: demo
PLOT_STAMP := $(VENV)/.installed-plot

$(PLOT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[plot]'
	touch $(PLOT_STAMP)

## demo: the main job: compare policies on ToolHive #5171's flapping daemon, plot to out/daemon-flaps.png
demo: $(PLOT_STAMP)
	$(VENV)/bin/relaunch compare --scenario daemon-flaps --plot out/daemon-flaps.png
