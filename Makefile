# regrade: `make demo` runs the service end to end, `make test` runs ruff and the test suite.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The machine's pip config points at local wheel folders; their "is ignored" notices are noise.
PIP_QUIET := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: venv test lint demo clean-demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "regrade needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing regrade and its dev extras into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | $(PIP_QUIET)
	@$(BIN)/python -c 'import torch, torchvision.ops, timm, lightgbm, mlflow, bentoml'
	@touch $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/regrade demo

clean-demo:
	rm -rf var data/sample data/sample-sales
