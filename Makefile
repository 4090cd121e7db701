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

translations: $(STAMP)
	@for lang in $(LOCALES); do \
	  if [ -f src/twostep/locale/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel compile --use-fuzzy -q -d src/twostep/locale -l $$lang -D messages || exit 1; \
	  fi; done

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -q -F babel.cfg -k N_ -c Translators: -o src/twostep/locale/messages.pot src/twostep
	@for lang in $(LOCALES); do \
	  if [ -f src/twostep/locale/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -q --no-fuzzy-matching -i src/twostep/locale/messages.pot -d src/twostep/locale -l $$lang; \
	  else $(BIN)/pybabel init -q -i src/twostep/locale/messages.pot -d src/twostep/locale -l $$lang; fi; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

test: install lint types contracts
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
