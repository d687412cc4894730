# Two commands set everything up on a fresh machine (see README):
#   make demo   -> creates .venv, installs pocusiq, runs the demo on simulated data
#   make test   -> creates .venv if needed, installs every extra (dev), runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pocusiq-installed

.PHONY: demo test install browser clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and alone, from the pin (a CPU wheel); then everything that depends on it.
	$(BIN)/python -m pip install -q -c constraints.txt torch
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pocusiq demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The browser tests (tests/view/test_browser.py) drive Debian's chromium package through Playwright
# (never 'playwright install'); install it where we may (root + apt-get), else they skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
	  echo "make: could not install chromium; the browser tests will be skipped"; \
	else echo "make: chromium is not installed and cannot be installed here (needs root and apt-get); the browser tests will be skipped"; fi

clean-venv:
	rm -rf $(VENV)
