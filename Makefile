# Two entry points, both from a fresh clone:
#   make demo   install everything, synthesise the horizon set, train, evaluate
#   make test   install the test extras (and headless Chromium, where it can) and run the whole test suite
#   make test-fast  the unit tests only (nothing that trains more than a few steps), between edits
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/segtrain demo

test: $(STAMP)
	sh tests/reporting/install_browser.sh
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs build src/*.egg-info
