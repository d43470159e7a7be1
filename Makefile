# The README's two commands: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench chaos clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Killwatch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/killwatch migrate
	$(BIN)/killwatch run

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

chaos: $(VENV)/.installed-test
	KILLWATCH_CHAOS=1 KILLWATCH_FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest -q -s tests/reliability

bench: $(VENV)/.installed-run
	$(BIN)/python -m bench.parse
	$(BIN)/python -m bench.universe
	$(BIN)/python -m bench.enrich
	$(BIN)/python -m bench.feeds
	$(BIN)/python -m bench.match
	$(BIN)/python -m bench.distances
	$(BIN)/python -m bench.discord
	$(BIN)/python -m bench.queries

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
