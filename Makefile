# Two commands on a fresh machine with Python 3.11:
#   make run    create .venv, install turnover, generate the demo pharmacy if absent, run the weekly flow
#   make test   create .venv if needed and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-extended bench bench-panels bench-scale bench-steady notebooks clean

# -qq: pip's own notices and the build backend's information boxes stay off the screen; errors still show.
$(BIN)/.installed: pyproject.toml
	@echo "installing turnover and its dependencies into $(VENV) (once: about 2 minutes)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[dev]'
	@touch $@

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

# The extended tests (minutes each: runs killed on purpose in subprocesses, the deployment with a worker, every
# notebook, a local Dask cluster, the tiny chain): CI runs them after make test. They need the notebooks extra.
test-extended: $(BIN)/.installed
	@$(BIN)/python -m pip install -qq -e '.[dev,notebooks]'
	$(BIN)/python -m pytest --extended -m "extended or deployment or dask"

# Benchmarks (statsforecast, also in the dev extra for the tests): accuracy vs statsforecast, step timings, inventory
# replay. `make bench-panels` scores the engine, run as `turnover run` runs it, against statsforecast on four real
# panels (../shared/datasets: pharma_sales weekly, PBS, NHS antidepressants, hospital products monthly; issue 13).
bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/spine.py
	$(BIN)/python benchmarks/replay.py

bench-panels: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/panels.py

# Chain scale (issue 7): 20 locations x 3,000 drugs = 60,000 series through the weekly run, with its cost curve
# from 6,000 series. The generated chain is cached in /tmp/turnover-scale (about 1.4 GB); SCALE=0.1 for a tenth.
SCALE ?= 1.0
bench-scale: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/scale.py --scale $(SCALE)

# A year of Mondays (issue 17): the chain's history, then WEEKS weekly runs in a row (each a fresh process, every fourth
# a full reselection, one killed on purpose), with time by step, peak RSS and warehouse size per run: printed, and
# saved as benchmarks/results/steady/steady_runs.csv, steady_summary.csv and steady.png. About 80 minutes at SCALE=1.0.
WEEKS ?= 52
bench-steady: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/steady.py --scale $(SCALE) --weeks $(WEEKS)

# Notebooks (docs/notebooks.md): JupyterLab (the `notebooks` extra, installed once) on notebooks/, where jupytext opens
# each .py as a notebook (on a double click too: jupytext-config sets the default viewer in the venv, not in ~/.jupyter)
# and pairs it with a git-ignored .ipynb. Serves this machine only unless JUPYTER_IP says otherwise; JUPYTER_PORT=8899
# make notebooks for another port.
JUPYTER_IP ?= 127.0.0.1
JUPYTER_PORT ?= 8888
notebooks: $(BIN)/.installed
	@if [ ! -f $(BIN)/.notebooks ] || [ pyproject.toml -nt $(BIN)/.notebooks ]; then \
		echo "installing JupyterLab and jupytext into $(VENV)"; \
		$(BIN)/python -m pip install -qq -e '.[dev,notebooks]' && touch $(BIN)/.notebooks; fi
	@$(BIN)/jupytext-config --settings-file $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json \
		set-default-viewer python
	@$(BIN)/python -c "from turnover.io.notebook import warehouse_path; print('the notebooks read', warehouse_path())" \
		2>/dev/null || echo "no warehouse yet: a weekly run writes it ('make run' for the demo), or set TURNOVER_DB"
	@echo "JupyterLab on http://$(JUPYTER_IP):$(JUPYTER_PORT)/lab (the link with its token follows; Ctrl-C stops it)"
	@$(BIN)/jupyter lab --no-browser --ip=$(JUPYTER_IP) --port=$(JUPYTER_PORT) --ServerApp.port_retries=0 \
		--ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf data/out data/warehouse.duckdb data/warehouse.duckdb.wal data/warehouse.duckdb.lock data/warehouse.log* data/demo
