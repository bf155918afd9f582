# MindSpore Frontiers: `make book` and `make test` are the two commands; `make lab` to explore.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The install stamp depends on pyproject.toml: a second `make` installs nothing.
STAMP := $(VENV)/.installed
EXTRAS := test,book,ui,anchors
# MindSpore reads GLOG_v only at import; 3 hides its WARNING lines.
export GLOG_v ?= 3
export PYDEVD_DISABLE_FILE_VALIDATION ?= 1

NBVAL_FLAGS := --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
               --nbval-sanitize-with tests/nbval_sanitize.cfg
# Both cores: chapters' smoke runs execute once each on one worker (tests/conftest.py), the
# other worker takes unit, findings, sweep and book tests; the 15 slowest are listed at the end.
TEST_FLAGS := -n 2 --dist loadgroup --durations=15

.PHONY: help install lab book test check nbval lint sweep clean

help:
	@echo "make book   - install, run every chapter at book settings, build book/_build/html"
	@echo "make test   - install, then the whole test suite (what CI runs, about 20 min)"
	@echo "make check  - lint, unit tests, contract and findings citations: no kernel (< 3 min)"
	@echo "make nbval  - nbval itself over notebooks/ (make test compares the same cells)"
	@echo "make lab    - JupyterLab with the kit importable and widgets working"
	@echo "make sweep CH=04 GRID='accuracy_order=4,6,8'  - a parameter sweep of one chapter"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

book: $(STAMP)
	$(BIN)/python -m kit book

test: $(STAMP)
	$(BIN)/python -m pytest tests $(TEST_FLAGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit tests/findings -m "not slow" -n 2 -q

nbval: $(STAMP)
	$(BIN)/python -m pytest notebooks $(NBVAL_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check .

sweep: $(STAMP)
	$(BIN)/python -m kit sweep $(CH) --grid $(GRID)

clean:
	rm -rf runs book/_build book/chapters book/results.md
