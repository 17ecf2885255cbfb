# Every target bootstraps .venv with the machine's python3 if it is missing, then installs
# the project with all extras (.[dev]). Reinstalls only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest corpora corpora-clients bench corpora-specs corpora-specs-prism clean

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

## corpora: the slow real-world corpora: real retry libraries graded by the conformance suite,
## and public OpenAPI descriptions served by the mock and judged by Schemathesis
corpora: corpora-clients corpora-specs

corpora-clients: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q --corpora -m corpus

## bench: side-by-side benchmarks against the tools users would pick instead
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

## corpora-specs: `apiharness mock` on 17 public descriptions, judged by Schemathesis (fails on any
## failure). CORPUS_ARGS adds options, e.g. CORPUS_ARGS="--only train-travel --logs /tmp/st".
CORPUS_EXAMPLES ?= 10
corpora-specs: $(STAMP)
	$(BIN)/python tests/contract/corpus/run_specs.py --max-examples $(CORPUS_EXAMPLES) $(CORPUS_ARGS)

## corpora-specs-prism: the same, side by side with Prism (`prism mock`, npm @stoplight/prism-cli).
## Needs npm; CI has none, so CI runs only corpora-specs. Prism is installed under .corpora/.
PRISM_VERSION ?= 5.14.2
PRISM := .corpora/node_modules/.bin/prism
$(PRISM):
	npm install --silent --no-save --prefix .corpora @stoplight/prism-cli@$(PRISM_VERSION)

corpora-specs-prism: $(STAMP) $(PRISM)
	-$(BIN)/python tests/contract/corpus/run_specs.py --max-examples $(CORPUS_EXAMPLES) \
		--prism $(PRISM) $(CORPUS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .corpora
