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

.PHONY: run test chromium ruby node lint format migrate install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./clients/python
	touch $@

# The subscriber pages' translations: each committed catalogue (locale/<ll>/LC_MESSAGES/*.po)
# compiled to the .mo file Django reads, by Babel, so no GNU gettext is needed; again
# whenever its .po changes. A translation that lost a placeholder fails the build.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))

locale/%.mo: locale/%.po | $(VENV)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@.tmp -l $(firstword $(subst /, ,$*)) \
	  && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

install: $(VENV)/.installed $(MO_FILES)

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

# The Rails example's files are checked with `ruby -c`. Like Chromium, Ruby is fetched here
# as root with apt-get; otherwise the checks are reported as not run (MRRX_REQUIRE_RUBY=1
# makes that fail).
RUBY := ruby

ruby:
	@if ! command -v $(RUBY) >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Ruby for the Rails example's checks (apt-get install ruby)..."; \
	  log=$$(mktemp); \
	  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq ruby) >"$$log" 2>&1; then \
	    tail -n 5 "$$log"; \
	    echo "Installing Ruby failed; the Rails example's checks will be reported as not run."; \
	  fi; \
	  rm -f "$$log"; \
	fi

# The TypeScript client and the examples that use it: each package's dependencies from its
# lock file (again only when the lock file changes), then the builds that the Node tests run
# (tests/clients/test_node.py runs this itself).
NODE_PACKAGES := clients/node examples/express examples/nextjs

%/node_modules/.package-lock.json: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error

node: $(addsuffix /node_modules/.package-lock.json,$(NODE_PACKAGES))
	cd clients/node && npm run --silent build && npm run --silent build:test
	cd examples/express && npm run --silent build
	cd examples/nextjs && npm run --silent build

test: install chromium ruby
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
