# benchstone: `make demo` sets everything up and runs the bundled demo in containers;
# `make test` sets everything up and runs the whole test suite against the real engine;
# `make check` is the inner loop: lint and every quick test that needs no engine (under a minute).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test check lint docs perf redteam engine clean

$(BIN)/bench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/bench

# Install and start the Docker engine if needed (as root), build the runner image if missing.
engine: $(BIN)/bench
	$(BIN)/bench doctor --fix --offline

# The engine target first: bench demo alone starts an engine but installs no host tools.
demo: engine
	$(BIN)/bench demo

test: engine
	BENCHSTONE_REQUIRE_DOCKER=1 $(BIN)/pytest -q

lint: $(BIN)/bench
	$(BIN)/ruff check benchstone tests

# The command reference, generated from every command's --help (tests/test_docs.py checks it).
docs: $(BIN)/bench
	$(BIN)/python -m benchstone.cli.reference > docs/cli.md

# Temporary files go to memory where the system has it: the suite writes and syncs thousands
# of small files (stores, logs, project copies).
CHECK_TMPDIR ?= $(firstword $(wildcard /dev/shm) $(or $(TMPDIR),/tmp))

# Tests marked `slow` (whole flows through shells, the service or many commands; simulations;
# building a wheel) run only in `make test`: the inner loop stays under a minute. Bytecode is
# written even where PYTHONDONTWRITEBYTECODE is set: the suite starts hundreds of Python
# processes, and each would compile benchstone again. Work stealing keeps both workers busy to
# the end, as tests range from milliseconds to seconds.
check: lint
	TMPDIR=$(CHECK_TMPDIR) PYTHONDONTWRITEBYTECODE= \
	    $(BIN)/pytest -q -m "not docker and not slow" -n auto --dist worksteal

perf: engine
	$(BIN)/python tests/perf/run_all.py

redteam: engine
	BENCHSTONE_REQUIRE_DOCKER=1 $(BIN)/python tests/redteam/run.py

clean:
	$(BIN)/bench gc || true
	rm -rf $(VENV) .pytest_cache .ruff_cache
