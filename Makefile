# Tollhouse: `make run` starts the IdP on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format clean bench demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tollhouse serve --seed-demo $(ARGS)

# The IdP, the Grid-Monitor web client, the sensors API and the field technician SPA
# on 127.0.0.1 (docs/demo.md).
demo: $(STAMP)
	$(BIN)/python -m demo.run

# pytest-xdist: one worker per CPU; --dist loadfile keeps a module's tests (and the
# server its module-scoped fixture starts) on one worker. TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# Every test server and CLI command is a new interpreter: with PYTHONDONTWRITEBYTECODE
# set (as on CI images) each would compile src/ from source again. compileall writes the
# caches regardless of it and skips what is up to date.
BYTECODE := $(BIN)/python -m compileall -q src tests bench demo

test: $(STAMP)
	$(BYTECODE)
	$(PYTEST) $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow (CI and `make test` run them all).
test-fast: $(STAMP)
	$(BYTECODE)
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# The whole benchmark once, each script writing its section of bench/RESULTS.md (and
# run.py the README's table): bench/all.py says what runs and what it needs. Hours on a
# quiet machine, the soak alone BENCH_SOAK_SECONDS (3600); BENCH_MODE=short: minutes.
bench: $(STAMP)
	$(BIN)/python bench/all.py

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
