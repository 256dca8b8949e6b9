# Two commands: `make up` runs the local stack, `make test` runs the whole test suite.
# Both install whatever is missing first (Debian packages, TimescaleDB, the venv).
VENV   ?= .venv
VAR    ?= var
PYTHON ?= python3
PYTEST_ARGS ?=

STAMP := $(VENV)/.sru-installed

.PHONY: up test deps venv clean-var restore

deps:
	@bash scripts/install-deps.sh

# No `pip install --upgrade pip`: the venv's own pip (23.x on Debian 12) installs the project
# editable, and the upgrade cost every fresh run a download (47 s at load 12 here).
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

venv: $(STAMP)

up: deps venv
	@$(VENV)/bin/python scripts/up.py --var $(VAR)

test: deps venv
	@$(VENV)/bin/ruff check --quiet .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

# Restore $(VAR)/pg from the pgBackRest repository of `make up` (stop `make up` first): to the end of
# the WAL archive, or to TIME (ISO 8601 with a zone, e.g. TIME=2026-03-01T12:00:00Z). The next
# `make up` replays the archive, then runs the stack. docs/operations.md.
TIME ?=
restore: venv
	@install -d -o postgres -g postgres -m 0700 $(VAR)/pg
	@$(VENV)/bin/sru db restore --pgbackrest-config $(VAR)/pgbackrest/pgbackrest.conf --pg-data $(abspath $(VAR))/pg \
		--delta $(if $(TIME),--time $(TIME))

clean-var:
	rm -rf $(VAR)
