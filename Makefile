# The two commands: `make run` (the whole product on the embedded default) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
# honcho gives each process a PORT of its own, so the web port travels under another name.
export MRRX_WEB_PORT = $(PORT)
export PUBLIC_BASE_URL ?= http://localhost:$(PORT)
# Where every process of the run counts its metrics (prometheus-client's multiprocess mode,
# README: Metrics); `run` empties it before starting them, never a process itself.
export PROMETHEUS_MULTIPROC_DIR ?= $(or $(MRRX_VAR_DIR),$(CURDIR)/var)/prometheus

.PHONY: run test chromium lint format migrate install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./clients/python
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	mkdir -p "$(PROMETHEUS_MULTIPROC_DIR)" && rm -f "$(PROMETHEUS_MULTIPROC_DIR)"/*.db
	PYTHONUNBUFFERED=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.dev start

# The browser tests drive Debian's Chromium. As root with apt-get it is fetched here; anywhere
# else (or if that fails) the rest of the suite still runs, and pytest's last line says how
# many browser tests did not run and what to install (MRRX_REQUIRE_BROWSER=1 makes it fail).
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Chromium for the browser tests (apt-get install chromium)..."; \
	  log=$$(mktemp); \
	  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq chromium) >"$$log" 2>&1; then \
	    tail -n 5 "$$log"; \
	    echo "Installing Chromium failed; the browser tests will be reported as not run."; \
	  fi; \
	  rm -f "$$log"; \
	fi

test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf var staticfiles
