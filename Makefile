# Two commands on a fresh machine with Python 3.11:
#   make run    create .venv, install turnover, generate the demo pharmacy if absent, run the weekly flow
#   make test   create .venv if needed and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-scale clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/turnover run --demo

# The report test renders the HTML in headless Chromium (Debian's package): installed here when missing and
# apt-get is usable (root); otherwise that one test is skipped with its reason (CI requires it).
CHROMIUM := $(shell command -v chromium 2>/dev/null)

test: $(BIN)/.installed
ifeq ($(CHROMIUM),)
	-@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the report test"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not installed (needs root apt-get): the report's browser test will be skipped"; fi
endif
	$(BIN)/ruff check src flows tests benchmarks notebooks
	$(BIN)/python -m pytest

# Benchmarks (statsforecast is a benchmark-only extra): accuracy vs statsforecast, step timings, inventory replay.
bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/spine.py
	$(BIN)/python benchmarks/replay.py

# Chain scale (issue 7): 20 locations x 3,000 drugs = 60,000 series through the weekly run, with its cost curve
# from 6,000 series. The generated chain is cached in /tmp/turnover-scale (about 1.4 GB); SCALE=0.1 for a tenth.
SCALE ?= 1.0
bench-scale: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/scale.py --scale $(SCALE)

clean:
	rm -rf data/out data/warehouse.duckdb data/warehouse.duckdb.wal data/demo
