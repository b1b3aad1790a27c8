# Everything starts from a fresh checkout: `make demo` and `make test` create .venv and install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-browser lint bench docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned here (the CPU build on this machine's disk); pyproject.toml declares a range.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,recipes,serve,export]'
	# the C step kernels of the fused GRU/RNN (about a second; without a compiler rnnkit runs without them)
	$(BIN)/python -c "import rnnkit.layers.fast.native as n; n.main()"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo

lint: $(STAMP)
	$(BIN)/ruff check rnnkit tests benchmarks
	$(BIN)/mypy rnnkit
	$(BIN)/mypy tests
	$(BIN)/mypy tests/recipes/video/conftest.py  # the second conftest.py, checked on its own: pyproject.toml [tool.mypy] says why

test: $(STAMP) lint
	$(BIN)/pytest -q

test-all: $(STAMP) lint
	$(BIN)/pytest -q -m 'not browser'

# the playground in a real browser: Debian's chromium (apt) driven by Playwright for Python (pip);
# Playwright's own browser download is not used (it cannot reach its servers from here)
test-browser: $(STAMP)
	[ -x /usr/bin/chromium ] || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); $$S apt-get update && $$S apt-get install -y chromium; }
	$(BIN)/pip install --quiet -e '.[browser]'
	$(BIN)/pytest -q -m browser tests/browser

# the documentation site into site/, offline and strict (a broken link or reference fails): the lessons
# are executed at full size first (a few minutes; `make docs LESSONS=--small` for a quick look)
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/python lessons/execute.py --out docs/lessons $(LESSONS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# layers against torch.nn (~5-15 min), then the char-LM against a plain torch.nn script (~8 min)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_layers.py
	$(BIN)/python benchmarks/bench_charlm.py --budget 150

clean:
	rm -rf $(VENV) build *.egg-info
