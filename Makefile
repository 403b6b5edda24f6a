# Two commands on a fresh machine with Python 3.11+, pip and make:
#   make run   — create .venv if missing, install, start the whole dev stack in the foreground
#   make test  — create .venv if missing, install with dev extras, run the whole test suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test install install-dev proto bench clean-data

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

# The gRPC code of proto/etl/v1/etl.proto (generated, never committed). The virtual include path makes
# protoc write the modules into the package with package-relative imports; api/grpc/codegen.py runs
# the same command on first import when the code is missing (pip install -e . without make).
GRPC_GENERATED := src/etl_orchestrator/api/grpc/generated
$(GRPC_GENERATED)/etl_pb2.py: proto/etl/v1/etl.proto | $(VENV)/.installed
	$(BIN)/python -m grpc_tools.protoc -Ietl_orchestrator/api/grpc/generated=proto/etl/v1 --python_out=src --pyi_out=src --grpc_python_out=src etl_orchestrator/api/grpc/generated/etl.proto

proto: $(GRPC_GENERATED)/etl_pb2.py

install: $(VENV)/.installed proto
install-dev: $(VENV)/.installed-dev proto

run: install
	$(BIN)/etl-orchestrator dev

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python -m bench

clean-data:
	rm -rf .data
