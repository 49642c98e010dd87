# Every target creates .venv and installs into it by itself: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv native demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The tracker's announce path compiled with mypyc; a no-op while it matches the sources.
native: $(STAMP)
	$(PY) tools/build_native.py

demo: native
	$(VENV)/bin/peerpipe demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint native
	$(PY) -m pytest -q -p no:cacheprovider

bench: native
	@for script in $(wildcard bench/*.py); do \
		echo "== $$script"; \
		$(PY) $$script $(BENCH_ARGS) || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build/native tracker/native.json
	rm -f tracker/*.so
