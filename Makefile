# The two commands of the README: `make up` (set up and run everything) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up test install models lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	# The `compare` extra (face_recognition beside dlib-bin) must skip its dlib sdist dependency.
	$(BIN)/pip install --quiet --no-deps face-recognition==1.3.0
	touch $(STAMP)

install: $(STAMP)

## Set up and run the whole system on embedded defaults (models are built first when missing).
up: $(STAMP)
	$(BIN)/amyplant up

models: $(STAMP)
	$(BIN)/amyplant models build

## Run the whole test suite (unit, integration, models, end to end).
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests

clean:
	rm -rf .state .cache/test-models
