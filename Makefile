# Clickmask: `make run` installs and opens the app; `make test` installs and runs the tests.
# Everything goes into a virtual environment in .venv (override with VENV=...).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch is installed first and pinned: 2.13.0 is the CPU wheel on our machines, while a bare
# `torch` requirement would pull several GB of CUDA packages.
TORCH ?= torch==2.13.0

.PHONY: install install-test run test samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/clickmask

test: install-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

samples: install
	$(BIN)/python scripts/make_samples.py

clean:
	rm -rf $(VENV) build dist *.egg-info
