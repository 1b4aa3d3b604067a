# Every target builds .venv from requirements.txt first when it is missing or stale, so
# `make demo` and `make test` are each one command on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEMO_DIR ?= demo_out
# Two workers, a test file per worker (module fixtures are built once): CI's machine has 2 cores.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: venv demo test test-fast test-slow lint bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo "==> building $(VENV) from requirements.txt (a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps --disable-pip-version-check -r requirements.txt
	@# The project itself is put on the path with a .pth file (an editable install without a
	@# build step); Beam's multi-processing workers use the same interpreter, so they see it too.
	echo "$(CURDIR)" > $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/palm_pipeline.pth
	$(PY) -c "import apache_beam, seqio, jax, flax, optax, orbax.checkpoint, gin"
	@touch $(STAMP)

# Test-only packages (torch CPU, transformers: the export exactness tests), on top of the runtime
# lock; `make demo` never installs them.
$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install --quiet --no-deps --disable-pip-version-check -r requirements-test.txt
	$(PY) -c "import torch, transformers"
	@touch $(TEST_STAMP)

demo: $(STAMP)
	$(PY) -m launch.demo --output_dir $(DEMO_DIR)

# The linter, then the whole suite, slow tests included (CI runs this).
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# ruff, configured in pyproject.toml (the rules and why).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/bench_prep.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .hypothesis
