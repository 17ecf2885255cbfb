# Every target bootstraps .venv with the machine's python3 if it is missing, then installs
# the project with all extras (.[dev]). Reinstalls only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck docs pytest docs-examples pythons corpora corpora-clients \
	corpora-specs corpora-specs-prism bench clean httpx2 bench-httpx2

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: run the example project's tests, then grade its clients and print the scorecards
demo: $(STAMP)
	$(BIN)/python -m pytest -p apiharness -c examples/pytest.ini examples -q -rA --no-header
	cd examples && ../$(BIN)/python demo.py

## test: lint, type-check, build the documentation strictly and run the whole suite in parallel
test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests/typing
	$(BIN)/mypy benchmarks

## docs: build the documentation site into site/; any warning fails the build
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The examples-from-the-wheel tests (marker `wheel`) build and install the wheel: see docs-examples.
pytest: $(STAMP)
	$(BIN)/python -m pytest -n auto -q -m "not wheel"

## docs-examples: every example in README.md and docs/ runs from the built wheel, in an empty folder
docs-examples: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m wheel tests/docs

## pythons: the suite on Python 3.12 and 3.13 with nox (3.11 is .venv's, run by `make pytest`).
# pyenv's shims hide every version but the selected one; name them all so nox finds python3.1x.
pythons: $(STAMP)
	PYENV_VERSION="$$(pyenv version-name 2>/dev/null):$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[23]\.' | paste -sd: -)" \
		$(BIN)/nox -s tests-3.12 tests-3.13

## httpx2: the httpx2 parts of the suite with openai 3 and anthropic 2, beside httpx and with
## httpx2 alone (nox; venvs without mitmproxy, whose h11 pin excludes httpx2)
httpx2: $(STAMP)
	$(BIN)/nox -s httpx2 httpx2_only

## corpora: the slow real-world corpora: real retry libraries graded by the conformance suite,
## and public OpenAPI descriptions served by the mock and judged by Schemathesis
corpora: corpora-clients corpora-specs

corpora-clients: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q --corpora -m corpus

## bench: side-by-side benchmarks against the tools users would pick instead
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

## bench-httpx2: the httpx2 benchmark beside httpx (nox, where httpx2 is installed)
bench-httpx2: $(STAMP)
	$(BIN)/nox -s bench_httpx2 -- $(BENCH_ARGS)

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
