# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: run test install install-dev lint typecheck unit bench lock clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first: its CPU wheel lies on this machine's disk; anything else would pull a CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[read-aloud]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/interviewer serve --load-samples

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# The suite on every core, at most 4 workers (each loads its own models), TEST_WORKERS=0 for one
# process; each test file stays on one worker so that its module fixtures (servers, models) start once.
TEST_WORKERS ?= auto
# Load tests (marked `alone`) run afterwards in one process: next to another worker they time out.
unit: install-dev
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile -m "not alone"
	$(BIN)/pytest -q -m alone

test: lint typecheck unit

# Regenerate the pinned versions after changing dependencies in pyproject.toml.
lock: install-dev
	$(BIN)/pip freeze --exclude-editable | grep -v '^interviewer' > constraints.txt

# HR's workspace translations: extract the strings of the templates (the workspace's and the campaign
# pages') and of N_()/_() in bot/hr, then
# add them to each catalog (bot/hr/locale/*/LC_MESSAGES/messages.po) for a translator to fill in.
messages: install-dev
	$(BIN)/pybabel extract -F bot/hr/babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 -k pgettext:1c,2 \
		--no-location --sort-output --omit-header -o var/hr-messages.pot .
	$(BIN)/pybabel update -i var/hr-messages.pot -d bot/hr/locale --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
