# Every target bootstraps .venv with the machine's python3 if it is missing, then installs
# the project with all extras (.[dev]). Reinstalls only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest corpora bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: run the example project's tests, then grade its clients and print the scorecards
demo: $(STAMP)
	$(BIN)/python -m pytest -p apiharness -c examples/pytest.ini examples -q -rA --no-header
	cd examples && ../$(BIN)/python demo.py

## test: lint, type-check and run the whole suite in parallel
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests/typing

pytest: $(STAMP)
	$(BIN)/python -m pytest -n auto -q

## corpora: the slow real-world corpora (real retry libraries graded by the conformance suite)
corpora: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q --corpora -m corpus

## bench: side-by-side benchmarks against the tools users would pick instead
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
