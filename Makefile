# Two commands do all the set-up on a fresh Debian 12 machine:
#   make demo   install what is missing, start the local PostGIS, load data, serve
#   make test   the same set-up, then lint and the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_VERSION ?= 15
APT_PACKAGES := postgresql-$(PG_VERSION) postgresql-$(PG_VERSION)-postgis-3 \
                postgresql-$(PG_VERSION)-pgrouting gdal-bin chromium nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

OSRM_VERSION ?= 26.10.0
OSRM := $(VENV)/osrm/osrm/bin/osrm-routed

.PHONY: help deps venv db demo test lint serve status clean-db

help:
	@echo "make demo   - install what is missing, start the local PostGIS, load data, serve on :8000"
	@echo "make test   - the same set-up, then ruff and the whole test suite"
	@echo "make deps   - only the Debian packages (PostgreSQL $(PG_VERSION), PostGIS 3, pgRouting,"
	@echo "              gdal-bin and chromium for the interoperability and browser tests,"
	@echo "              nginx for the reverse proxy and its test)"
	@echo "make venv   - only the Python virtual environment in $(VENV)"

# Debian packages: installed only when missing, so a second run is instant.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages present: $(APT_PACKAGES)"; fi

$(BIN)/locator: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# The OSRM routing engine: the osrm-bindings wheel's programs run on their own, so the
# wheel (built for Python >= 3.12) is unpacked for this venv whatever its Python.
$(OSRM):
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --target $(VENV)/osrm --python-version 3.12 \
	  --only-binary=:all: --no-deps --upgrade osrm-bindings==$(OSRM_VERSION)
	@touch $@

venv: $(BIN)/locator $(OSRM)

db: deps venv
	$(BIN)/locator db start

demo: deps venv
	$(BIN)/locator demo

serve: venv
	$(BIN)/locator serve

status: venv
	$(BIN)/locator status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: deps venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# Stops the embedded cluster and deletes it (all local data).
clean-db: venv
	-$(BIN)/locator db stop
	rm -rf .locator/pgdata .locator/run
