# Each target builds its own virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,demo]"
	touch $@

demo: $(VENV)/.installed
	$(PY) notebooks/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --durations=15

clean:
	rm -rf $(VENV) demo_output
