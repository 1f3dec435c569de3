# Each target builds its own virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

BENCH_VENV ?= .venv-bench
BPY := $(BENCH_VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,demo,examples]"
	touch $@

demo: $(VENV)/.installed
	$(PY) notebooks/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --durations=15

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

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo_output
