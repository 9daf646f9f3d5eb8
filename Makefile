# The README's two commands: `make run` (the main job) and `make test` (every check). Both set up
# what they need first (virtual environment, npm packages, a dbt profile) and are safe to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON_STAMP := $(VENV)/.installed
NODE_STAMP := embedded/node_modules/.package-lock.json
REPORT_NODE_STAMP := reports/node_modules/.package-lock.json

.PHONY: setup run report report-serve test test-fast lint docs pytest profile clean

setup: $(PYTHON_STAMP) $(NODE_STAMP) $(REPORT_NODE_STAMP) profile

$(PYTHON_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NODE_STAMP): embedded/package.json embedded/package-lock.json
	cd embedded && npm ci --no-audit --no-fund --loglevel=error

# The report site's chart libraries (Vega-Lite), copied into the site at build.
$(REPORT_NODE_STAMP): reports/package.json reports/package-lock.json
	cd reports && npm ci --no-audit --no-fund --loglevel=error

# dbt and the loader read profiles.yml here, else ~/.dbt/profiles.yml; without either, use the example
# (its default target is the embedded TimescaleDB).
profile:
	@if [ -z "$$DBT_PROFILES_DIR" ] && [ ! -f profiles.yml ] && \
	    ! grep -qs '^battery_telemetry:' "$$HOME/.dbt/profiles.yml"; then \
	    cp profiles.yml.example profiles.yml && echo "Created profiles.yml from profiles.yml.example"; fi

# Main job: start the embedded database if the dbt target is 'embedded', land data/, build, summarise.
run: setup
	$(BIN)/loader db start --if-needed
	$(BIN)/loader load
	$(BIN)/loader build
	$(BIN)/loader summary
	@echo "Pictures of these results: make report (builds reports/build/), then make report-serve."

# The report site from the configured database into reports/build/ (after `make run` or a build).
report: setup
	$(BIN)/loader report build

# Serve reports/build/ on http://127.0.0.1:8000/ until Ctrl-C.
report-serve: setup
	$(BIN)/loader report serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/sqlfluff lint dbt_project/models docs/templates reports/queries

# The docs site into site/ (`$(BIN)/mkdocs serve` to read it while writing); --strict fails on a
# broken link or page.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# pytest exits 5 when it collected no tests; that is a failure here, not a pass. Tests run in
# PYTEST_WORKERS processes (pytest-xdist), each with its own embedded and throwaway databases.
PYTEST_WORKERS ?= 3
pytest: setup
	@$(BIN)/pytest -n $(PYTEST_WORKERS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing the run"; exit 1; fi; \
	exit $$status

test: lint docs pytest

# Every test that needs no database server (parser, generator, CLI help, settings, project structure):
# seconds, for the edit-test loop. conftest.py refuses a test that starts a server without the
# `integration` marker, so this tier never starts one. `make test` (CI's command) runs everything.
test-fast: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not integration"

clean:
	rm -rf target logs site reports/build out .pytest_cache .ruff_cache .mypy_cache
