# Both targets create their own virtual environment (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,postgres,sim,dask,plot,sensitivity,docs
# Mozilla's ical.js (the parser Thunderbird uses), an independent reader for the calendar tests.
ICALJS_VERSION := 2.2.1
ICALJS := $(VENV)/node/.installed-ical.js-$(ICALJS_VERSION)

.PHONY: demo test lint typecheck unit docs clean icaljs mutate

$(BIN)/.installed-$(EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

## The main job on the embedded default (SQLite): check a program, then run it end to end
## on synthetic participants in ./iopcore-demo (safe to run again).
demo: $(BIN)/.installed-$(EXTRAS)
	$(BIN)/iopcore check examples/programs/adult-evening.toml
	$(BIN)/iopcore demo --dir iopcore-demo

## The whole test suite: ruff, import-linter (the layers), mypy --strict, pytest (with doctests),
## the docs site (--strict).
test: lint typecheck unit docs

lint: $(BIN)/.installed-$(EXTRAS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(BIN)/.installed-$(EXTRAS)
	$(BIN)/mypy

unit: $(BIN)/.installed-$(EXTRAS) $(ICALJS)
	$(BIN)/pytest

## ical.js for tests/test_calendar_readers.py (needs node and npm; installs into the venv).
icaljs: $(ICALJS)

$(ICALJS): $(BIN)/.installed-$(EXTRAS)
	npm install --prefix $(VENV)/node --no-audit --no-fund --no-save ical.js@$(ICALJS_VERSION)
	touch $@

docs: $(BIN)/.installed-$(EXTRAS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

## Mutation testing of the clinical rules (dose, intensity, screening, cadence; [tool.mutmut]
## in pyproject.toml): slow, so not part of `make test`. Prints each module's score.
mutate: $(BIN)/.installed-$(EXTRAS)
	env -u PYTHONPATH $(BIN)/mutmut run --max-children 2
	env -u PYTHONPATH $(BIN)/mutmut results --all true | awk -F': ' \
	  '{ split($$1, a, "__mutmut_"); split(a[1], p, "."); m = p[3]; n[m]++ } \
	   $$2 == "killed" || $$2 == "timeout" { k[m]++ } \
	   END { for (m in n) printf "%-10s %4d of %4d mutants killed (%.1f%%)\n", m, k[m], n[m], 100 * k[m] / n[m] }'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
