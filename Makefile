# `make test` and `make lab` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
DOCS_STAMP := $(VENV)/.installed-docs
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg
# JupyterLab refuses to run as root unless told (containers, CI machines)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# The browser tests drive Debian's Chromium, and apt-get install it when it is missing
# (as root). `make test SKIP_BROWSER=1` leaves them out.
SKIP_BROWSER ?=
CHROMIUM := /usr/bin/chromium
BROWSER_NOTE := make: $(CHROMIUM) is missing: the browser tests will now install Debian's \
	chromium with apt-get (needs root, takes minutes). To skip them: make test SKIP_BROWSER=1

.PHONY: test test-downstream test-browser screenshots lab notebooks docs lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml setup.py seamless_core/_speedups.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,jupyter]"
	touch $(LAB_STAMP)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,docs]"
	touch $(DOCS_STAMP)

# ruff (lint and format), the layers contract, mypy, the test suite, the browser tests (in their own process:
# Playwright's sync API keeps an event loop running in the thread that uses it), then the
# tutorial notebooks under nbval (their stored outputs are the expected ones).
test: $(STAMP)
	$(BIN)/python -m ruff check seamless_core tests benchmarks docs
	$(BIN)/python -m ruff format --check seamless_core tests benchmarks docs
	$(BIN)/lint-imports
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest --ignore=tests/browser --ignore=tests/downstream
ifeq ($(SKIP_BROWSER),)
	@test -x $(CHROMIUM) || echo "$(BROWSER_NOTE)"
	$(BIN)/python -m pytest tests/browser
else
	@echo "make: browser tests skipped (SKIP_BROWSER=$(SKIP_BROWSER))"
endif
	SEAMLESS_DOWNSTREAM=1 timeout 1500 $(BIN)/python -m pytest tests/downstream -q
	$(BIN)/python -m pytest $(NBVAL) notebooks

# Only the released Seamless packages on us (also part of `make test`): seamless-transformer
# 0.6.1's own test suite against the tests that pass on 0.1.4
# (tests/downstream/baseline-0.1.4.txt), transformations in workers, the seamless-remote bridge.
test-downstream: $(STAMP)
	SEAMLESS_DOWNSTREAM=1 $(BIN)/python -m pytest tests/downstream -q

# Only the real-browser tests: JupyterLab in headless Chromium (installed when missing).
test-browser: $(STAMP)
	@test -x $(CHROMIUM) || echo "$(BROWSER_NOTE)"
	$(BIN)/python -m pytest tests/browser -m browser

# The browser tests again, keeping their dashboard screenshots as the documentation's pictures.
screenshots: $(STAMP)
	SEAMLESS_SCREENSHOTS=$(CURDIR)/docs/_static $(BIN)/python -m pytest tests/browser -m browser

# JupyterLab (with ipywidgets) on the tutorial notebooks.
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ROOT)

# Run the notebooks again and store their outputs (after changing a notebook or a view),
# without this machine's memory size or temporary folders (notebooks/scrub_outputs.py).
notebooks: $(LAB_STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace $(NOTEBOOKS)
	$(BIN)/python notebooks/scrub_outputs.py $(NOTEBOOKS)

# The documentation site, from the stored notebook outputs; any warning fails the build.
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

# ruff, the layers contract of docs/architecture.md (import-linter, configured in
# pyproject.toml), and mypy.
lint: $(STAMP)
	$(BIN)/python -m ruff check seamless_core tests benchmarks docs
	$(BIN)/python -m ruff format --check seamless_core tests benchmarks docs
	$(BIN)/lint-imports
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build .venv-downstream .venv-downstream-014 .venv-downstream-remote .downstream-sdists
