# The two commands (see README): `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test bench clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -e '.[dev]'
	touch $@

run: $(VENV)/.base
	$(VENV)/bin/matcher models
	$(VENV)/bin/matcher serve

test: $(VENV)/.dev
	$(VENV)/bin/ruff check matcher tests scripts
	$(VENV)/bin/ruff format --check matcher tests scripts
	$(PY) -m pytest

bench: $(VENV)/.dev
	$(PY) scripts/bench_pipeline.py

clean:
	rm -rf $(VENV) var .pytest_cache
