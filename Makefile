# standby's two front doors (see README.md):
#   make demo   run standby on its embedded demo configuration, in the foreground
#   make test   lint, type-check and run the whole test suite
# Both create .venv (python3 -m venv) and install the project there, editable, with its
# `test` extra; a stamp file makes that step instant once done (redone if pyproject.toml
# changes). Needs only Python 3.11+ and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.standby-installed
# The compiled parts (setup.py): the C fast path of the head parsers and the hot path's
# modules compiled by mypyc (src/standby/compiled.py). Python prefers them to the sources
# beside them, so they are rebuilt in place whenever any source changes (mypyc compiles
# against the types of every module the hot path imports).
SOURCES := src/standby/http1/_speedups.c $(shell find src/standby -name '*.py')
BUILT := $(VENV)/.standby-built
# Extra arguments for `make bench`, e.g. BENCH_ARGS="--duration 5 --rounds 1".
BENCH_ARGS ?=
# Extra arguments for `make robustness`, e.g. ROBUSTNESS_ARGS="-k slowloris".
# Tests outside tests/robustness whose scenarios record figures for docs/robustness.md
# (real processes with several workers: a stuck worker, a flood towards a stopped one; a
# restart on systemd's sockets under load).
ROBUSTNESS_ALSO := tests/integration/test_supervision_live.py tests/integration/test_workers_stale.py \
	tests/process/test_systemd_activation.py::test_restart_under_load_refuses_nobody
ROBUSTNESS_ARGS ?=
# How long `make fuzz` runs, in seconds: `make fuzz FUZZ_SECONDS=3600` for an hour.
FUZZ_SECONDS ?= 600

.PHONY: demo test bench robustness fuzz demo-primary-down demo-primary-up demo-standby-down demo-standby-up \
	demo-status venv clean pound-testsuite ha-demo

venv: $(BUILT)

$(BUILT): $(STAMP) $(SOURCES)
	$(BIN)/python setup.py --quiet build_ext --inplace
	@touch $@

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "standby needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." \
			"Run e.g. 'make PYTHON=python3.12 $(MAKECMDGOALS)'." >&2; exit 1; }
	@# A venv without a working pip (e.g. an interrupted first run) is rebuilt.
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || { \
		echo "cannot create $(VENV). On Debian/Ubuntu: apt-get install python3-venv" >&2; \
		rm -rf $(VENV); exit 1; }
	@# Compiled by the next rule, once (STANDBY_PURE=1: the install itself compiles nothing).
	STANDBY_PURE=1 $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

demo: $(BUILT)
	$(BIN)/standby --demo

# From another terminal while `make demo` runs (same STANDBY_DEMO_* variables, if any).
demo-primary-down: $(BUILT)
	@$(BIN)/python -m standby.demo primary down
demo-primary-up: $(BUILT)
	@$(BIN)/python -m standby.demo primary up
demo-standby-down: $(BUILT)
	@$(BIN)/python -m standby.demo standby down
demo-standby-up: $(BUILT)
	@$(BIN)/python -m standby.demo standby up
demo-status: $(BUILT)
	@$(BIN)/python -m standby.demo primary status
	@$(BIN)/python -m standby.demo standby status

# Any failing step fails the target; pytest's status 5 ("no tests collected") included.
# pytest includes a bounded 60-second run of the fuzzer (tests/fuzz/test_fuzz.py).
test: $(BUILT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest
	@# The proxying tests again with the fast lane off (src/standby/server/lane.py) and the
	@# hot path interpreted (src/standby/compiled.py): the general path alone must pass
	@# them, and so must the very source the compiled modules come from.
	STANDBY_LANE=0 STANDBY_PURE=1 $(BIN)/pytest -q tests/server tests/integration tests/upstream

bench: $(BUILT)
	$(BIN)/python bench/throughput.py $(BENCH_ARGS)

# The robustness suite (its CI part also runs inside `make test`), then its report
# docs/robustness.md from this run's results only. The report is written even when a
# scenario fails, and the target fails then. Soak: `make robustness STANDBY_SOAK=1 STANDBY_SOAK_SECONDS=1800`.
robustness: $(BUILT)
	@$(BIN)/python -m tests.robustness.report --clear
	@status=0; $(BIN)/pytest tests/robustness $(ROBUSTNESS_ALSO) $(ROBUSTNESS_ARGS) || status=$$?; \
		$(BIN)/python -m tests.robustness.report || status=1; exit $$status

# The fuzzer of the C head parsers (tests/fuzz/run.py): _speedups.c built with ASan and
# UBSan under libFuzzer (atheris), every C entry point against its Python reference. Needs
# clang (Debian: clang libclang-rt-14-dev). Its corpus grows in build/fuzz/corpus from run
# to run, crashes are kept in build/fuzz/crashes; the summary ends the output.
fuzz: $(BUILT)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS)

# The Debian package dist/standby_VERSION-1_ARCH.deb (tools/build_deb.py, no debhelper):
# compiled for Debian's /usr/bin/python3 (needs python3-dev, python3-venv, dpkg-deb), with
# its build requirements and bundled libraries taken from this venv, offline.
# tests/packaging/test_deb.py builds it, lints it, installs it and purges it.
.PHONY: deb
deb: $(BUILT)
	$(BIN)/python tools/build_deb.py

# Pound 4.23's own test suite against standby, through contrib/pound-compat's `pound` and
# `poundctl` (Pound's source is fetched to a temporary directory, never into the repo; set
# POUND_SRC=DIR to use a local copy). Needs perl JSON + IO::FDPass and autoconf. Prints each
# group's result; POUND_TESTSUITE_FLAGS passes testsuite options (-j2, a group list, -k KEY).
POUND_TESTSUITE_FLAGS ?= -j2
pound-testsuite: $(BUILT)
	tools/pound-testsuite.sh $(POUND_TESTSUITE_FLAGS)

# The HA pair of docs/ha.md (tests/ha/pair.py): two standby proxies with keepalived in
# network namespaces (root; Debian: keepalived, iproute2), each failure case, a planned
# switchover and a split brain under load from a client namespace; prints the figures and
# writes them into docs/ha.md. Addresses exist only inside the namespaces it makes.
ha-demo: $(BUILT)
	$(BIN)/python -m tests.ha.pair

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
