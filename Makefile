PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall only when a requirements file is newer than this stamp.
STAMP := $(VENV)/.requirements.stamp
TORCH_VERSION ?= 2.13.0

.PHONY: venv run test lint bench clean

## venv: create .venv with torch==$(TORCH_VERSION) first, then the app and test requirements
venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -r requirements-dev.txt
	touch $@

## run: start the app (opens on the bundled kang_pbmc dataset) at http://localhost:8501
run: venv
	$(BIN)/streamlit run app.py

## test: the whole suite (unit, AppTest, headless-Chromium end-to-end)
test: venv
	$(BIN)/python -m pytest tests

## lint: ruff, and the import contract of core/ (pyproject [tool.importlinter])
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## bench: every script in benchmarks/ (each prints its figures as JSON)
bench: venv
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

## clean: caches and test output (keeps .venv)
clean:
	rm -rf .pytest_cache .ruff_cache artifacts
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
