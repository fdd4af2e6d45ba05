# The two commands (see README): `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test bench clean messages

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
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest

# Languages of the pages (docs/pages.md, "Languages"): extract the English strings from the templates and
# page modules, then merge them into every catalogue (new ones are created). Translate the new
# empty entries in matcher/web/locale/<code>/LC_MESSAGES/messages.po; the test suite fails until then.
LANGS := ar es fr ru uk
messages: $(VENV)/.base
	cd matcher/web && ../../$(VENV)/bin/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output --project matcher -o locale/messages.pot .
	for l in $(LANGS); do \
	  if [ -f matcher/web/locale/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel -q update --no-fuzzy-matching --ignore-obsolete -i matcher/web/locale/messages.pot -d matcher/web/locale -l $$l; \
	  else \
	    $(VENV)/bin/pybabel -q init -i matcher/web/locale/messages.pot -d matcher/web/locale -l $$l; \
	  fi; \
	done

bench: $(VENV)/.dev
	$(PY) scripts/bench_pipeline.py

clean:
	rm -rf $(VENV) var .pytest_cache
