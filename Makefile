# twostep — `make run` serves on SQLite, `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCALES := pl nl sv
export TWOSTEP_DATA_DIR ?= ./var

.PHONY: run test install lint types contracts unit translations extract-messages clean

run: install
	$(BIN)/twostep serve

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations

node_modules/axe-core: package-lock.json
	npm ci --no-audit --no-fund --silent
	touch node_modules/axe-core

translations: $(STAMP)
	@for lang in $(LOCALES); do \
	  $(BIN)/pybabel -q compile -d src/twostep/locale -l $$lang -D messages || exit 1; done

# Rebuild the template from the sources (paths in babel.cfg are relative to the repository root), then
# merge it into each catalog: new messages arrive empty, reworded ones fuzzy with the old msgid kept
# (#| lines) -- translate them and drop the fuzzy flag. Untranslated and fuzzy messages fall back to
# English; tests/unit/test_translations_complete.py fails until every one is translated.
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

test: install node_modules/axe-core lint types contracts
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
