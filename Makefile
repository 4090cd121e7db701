# twostep — `make run` serves on SQLite, `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
LOCALES := pl nl sv
export TWOSTEP_DATA_DIR ?= ./var

.PHONY: run test install install-run system-packages lint types contracts unit translations extract-messages clean

# `make run` installs only what serving needs (no test tools), then serves on SQLite.
run: install-run
	$(BIN)/twostep serve

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install-run: $(RUN_STAMP) translations

install: $(STAMP) translations

# Debian/Ubuntu packages the suite needs (browser, cross-checks, PostgreSQL and Redis servers).
system-packages:
	@sh scripts/system-packages.sh

node_modules/axe-core: package-lock.json
	npm ci --no-audit --no-fund --silent
	touch node_modules/axe-core

translations: $(RUN_STAMP)
	@for lang in $(LOCALES); do \
	  $(BIN)/pybabel -q compile -d src/twostep/locale -l $$lang -D messages || exit 1; done

# Rebuild the template from the sources (paths in babel.cfg are relative to the repository root), then
# merge it into each catalog: new messages arrive empty, reworded ones fuzzy with the old msgid kept
# (#| lines) -- translate them and drop the fuzzy flag. Untranslated and fuzzy messages fall back to
# English; tests/core/test_translations_complete.py fails until every one is translated.
extract-messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -c Translators: --project=twostep \
	  --ignore-dirs='.* ._ node_modules' -o src/twostep/locale/messages.pot .
	@for lang in $(LOCALES); do \
	  $(BIN)/pybabel -q update --init-missing --previous --ignore-obsolete \
	    -i src/twostep/locale/messages.pot -d src/twostep/locale -l $$lang -D messages || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

test: system-packages install node_modules/axe-core lint types contracts
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
