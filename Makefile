# Each target builds its own virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test quick examples notebooks bench clean

BENCH_VENV ?= .venv-bench
BPY := $(BENCH_VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,demo,examples]"
	touch $@

demo: $(VENV)/.installed
	$(PY) notebooks/demo.py

# Three pytest runs, each with fresh workers: every XLA:CPU executable keeps a few
# memory mappings for the life of its process, and workers that ran the whole suite
# reached the kernel's limit (vm.max_map_count, 65530) and segfaulted inside a
# compilation. The last run takes everything the first two did not.
FIRST := tests/test_contract.py tests/test_strict_modes.py tests/test_export.py
SECOND := tests/special tests/test_families.py tests/test_truncated.py tests/test_mixture.py
PYTEST := $(PY) -m pytest -q -n 2 --dist loadgroup --durations=10

test: $(VENV)/.installed
	$(PYTEST) $(FIRST)
	$(PYTEST) $(SECOND)
	$(PYTEST) $(foreach f,$(FIRST) $(SECOND),--ignore=$(f))

# The edit loop: the contract battery, the public API and the doctests (about 2 min).
quick: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadgroup tests/test_contract.py tests/test_public_api.py tests/test_api.py irt_jax

# Executed .ipynb beside each teaching notebook (outputs and figures embedded).
notebooks: $(VENV)/.installed
	$(PY) notebooks/build.py

# The full notebook and VAE runs, with their CPU-time budgets (not part of `make test`).
examples: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 -m examples tests/test_notebooks.py tests/test_vae.py

# Benchmarks against the peers (TFP on JAX, NumPyro, Distrax, PyTorch CPU) in
# their own environment; results to benchmarks/results/ (JSON + PNG).
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BPY) -m pip install --quiet --upgrade pip
	$(BPY) -m pip install --quiet "torch==2.13.0"
	$(BPY) -m pip install --quiet -e ".[bench,test]"
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BPY) benchmarks/speed.py
	$(BPY) benchmarks/accuracy.py
	$(BPY) benchmarks/scaling.py
	$(BPY) benchmarks/compile.py
	$(BPY) benchmarks/elbo_finite.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo_output
