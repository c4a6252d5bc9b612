# Nekpijn CDS — the two commands of the README, plus maintenance targets.
#   make serve   install what the service needs and start it (ARGS="--host H --port P")
#   make test    install everything (Python test deps, SUSHI, FHIR core package, Chromium,
#                ChromeDriver, LHC-Forms and axe-core for the browser tests, PostgreSQL
#                binaries) and run all tests; the tests start a throw-away PostgreSQL
# Both work on a fresh machine from a fresh clone; set-up steps are skipped when done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: serve test knowledge examples check-knowledge setup setup-dev clean

serve: $(VENV)/.runtime
	$(BIN)/nekpijn-cds serve $(ARGS)

test: $(VENV)/.dev node_modules/.bin/sushi
	$(BIN)/python -m tools.core_package >/dev/null
	$(BIN)/python -m tools.browser >/dev/null
	$(BIN)/python -m tools.postgres >/dev/null
	@# curl and jq run the README's first calls (tests/test_readme.py); Debian's packages when missing
	@command -v curl >/dev/null && command -v jq >/dev/null || \
		$(BIN)/python -c "from tools.browser import _apt_install; _apt_install('curl', 'jq')"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Regenerate FSH from dak/ + knowledge/, compile with SUSHI, rebuild package and Bundle.
knowledge: $(VENV)/.dev node_modules/.bin/sushi
	$(BIN)/python -m tools.build_knowledge

check-knowledge: $(VENV)/.dev node_modules/.bin/sushi
	$(BIN)/python -m tools.build_knowledge --check

examples: $(VENV)/.dev
	$(BIN)/python -m tools.make_examples
	$(BIN)/python -m tools.make_hook_examples

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev node_modules/.bin/sushi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -qq -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -qq -e '.[test]'
	touch $(VENV)/.runtime $@

node_modules/.bin/sushi: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info
