# engage — two entry points: `make run` and `make test`. Both (re)build .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEVSTAMP := $(VENV)/.installed-dev-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck install dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEVSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP)

install: $(STAMP)
dev: $(DEVSTAMP)

## run: the main job on SQLite (no credentials needed)
run: $(STAMP)
	$(BIN)/engage db upgrade
	@echo ""
	@echo "engage is starting on http://127.0.0.1:8000 (SQLite under ./var, SMS to the development outbox)."
	@echo "In another terminal, play a resident:   .venv/bin/engage chat --from +15550001111"
	@echo "Watch outbound messages:                .venv/bin/engage outbox --follow"
	@echo ""
	$(BIN)/engage serve --host 127.0.0.1 --port 8000

## test: lint, type-check (mypy --strict, paths in pyproject), then the whole suite
test: $(DEVSTAMP)
	$(BIN)/ruff check engage tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(DEVSTAMP)
	$(BIN)/ruff check engage tests bench

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

bench: $(DEVSTAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
