# The two commands of the README: `make up` (set up and run everything) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up test install browser models lint typecheck constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The services and the shared libraries, each its own distribution (see README "Layout").
LOCAL_PACKAGES := libs/config libs/queue libs/telemetry libs/faces libs/store libs/modelbuild \
	services/capture services/inference services/gallery services/trainer
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(LOCAL_PACKAGES))

$(STAMP): $(PYPROJECTS) constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	# pip installs the root's local dependencies as copies; link each to this checkout instead.
	$(BIN)/pip install --quiet --no-deps $(addprefix -e ./,$(LOCAL_PACKAGES))
	# The `compare` extra (face_recognition beside dlib-bin) must skip its dlib sdist dependency.
	$(BIN)/pip install --quiet --no-deps face-recognition==1.3.0
	touch $(STAMP)

install: $(STAMP)

## Set up and run the whole system on embedded defaults (models are built first when missing).
up: $(STAMP)
	$(BIN)/amyplant up

models: $(STAMP)
	$(BIN)/amyplant models build

# Debian's Chromium for the web site's browser tests (tests/web): installed when missing and this user may
# (root with apt-get); otherwise those tests skip and say why.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else \
	    echo "make: $(CHROMIUM) is missing: the browser tests will skip (apt-get install chromium)"; \
	  fi; \
	fi

## Run the whole test suite (unit, integration, models, end to end, the web site in a browser).
test: $(STAMP) browser
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src libs services tests bench docker
	$(BIN)/ruff format --check src libs services tests bench docker

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests docker

## Pin the third-party versions of a fresh install (after a dependency was added or changed).
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -viE '^(amyplant|face.recognition==)'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf .state .cache/test-models
