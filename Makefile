# Manhattan — the two commands that matter are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-report jepsen proto proto-check clean install

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: start a local Manhattan node with a demo tenant and dataset (foreground).
run: $(STAMP)
	$(VENV)/bin/manhattan demo

## make test: the whole suite (unit, property and real-process integration tests), in
## TEST_WORKERS processes (pytest-xdist; each test file on one worker).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

## make bench: benchmarks that print ratios against baselines measured in the same run,
## then BENCHMARKS.md and bench/plots/ re-rendered from bench/results/*.json.
bench: $(STAMP)
	$(PY) -m manhattan.bench.run
	$(PY) -m manhattan.bench.cli_startup

## make bench-report: re-render BENCHMARKS.md and the plots from existing results only.
bench-report: $(STAMP)
	$(PY) -m manhattan.bench.report

## make jepsen: the long fault-injection runs.
jepsen: $(STAMP)
	$(PY) jepsen-style/run.py $(if $(SEED),--seed $(SEED)) $(if $(DURATION),--duration $(DURATION)) \
		$(if $(NODES),--nodes $(NODES)) $(if $(RF),--rf $(RF)) $(if $(CHECKS),--checks $(CHECKS))

## make proto: regenerate the checked-in protobuf/gRPC code.
proto: $(STAMP)
	$(PY) tools/gen_proto.py

proto-check: $(STAMP)
	$(PY) tools/gen_proto.py --check

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
