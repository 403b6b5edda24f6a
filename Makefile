# Two commands on a fresh machine with Python 3.11+, pip and make:
#   make run   — create .venv if missing, install, start the whole dev stack in the foreground
#   make test  — create .venv if missing, install with dev extras, run the whole test suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test install install-dev bench clean-data

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/etl-orchestrator dev

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python -m bench

clean-data:
	rm -rf .data
