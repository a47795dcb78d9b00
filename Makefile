# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is
# installed by the targets below.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest system bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The tests start a real PostgreSQL, run Prometheus' promtool and print PDFs with
# Chromium; this installs them when they are missing.
system:
	bash scripts/install-system.sh

demo: $(STAMP)
	$(BIN)/prodloop demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP) system
	bash bench/run.sh

clean:
	rm -rf $(VENV) .prodloop .pytest_cache .mypy_cache .ruff_cache
