# The few commands a newcomer needs. Each one installs what it uses, so each works on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TASK ?= Read orders.csv, create a table orders (order_id INTEGER, customer TEXT, amount REAL) and insert every row, then query the total amount per customer and write the totals to totals.csv with the header customer,total.

.PHONY: install demo test lint bench bench-tasks bench-synthesis conformance clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# llama-cpp-python ships only as source. Built "native", it uses every instruction the CPU
# advertises, and on these VMs that includes AMX, which the hypervisor then traps (SIGILL at
# the first evaluation). scripts/llama_cmake_args.sh asks for what native would pick, minus
# AMX. The wheel is built once per machine and flag set into a folder of its own (pip's own
# cache would hand back whatever was built first).
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := $(shell bash scripts/llama_cmake_args.sh)
LLAMA_WHEELS ?= $(HOME)/.cache/nexthop/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo "$(LLAMA_CMAKE_ARGS)" | sha256sum | cut -c1-12)

install: $(PY)  ## nexthop with the embedded model, plus the test tools
	@if ! $(PY) -c "import llama_cpp" 2>/dev/null; then \
	  if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	    echo "building llama-cpp-python $(LLAMA_VERSION) (about 8 minutes on 2 cores, once per machine)"; \
	    CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	  fi; \
	  $(PIP) install -q $(LLAMA_WHEELS)/llama_cpp_python-*.whl; \
	fi
	$(PIP) install -q -e '.[local,dev]'

demo: install  ## the main job: a real task over two real MCP servers, embedded model, no API key
	bash examples/setup.sh
	$(VENV)/bin/nexthop run --config examples/servers.json "$(TASK)"
	$(PY) examples/check.py

test: install  ## lint and type-check, then every test: unit, integration over real servers, end-to-end with the embedded model
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/pyright -p pyproject.toml
	bash examples/setup.sh
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)  # the synthesis sandbox
	! command -v pg_ctlcluster >/dev/null || pg_ctlcluster 15 main start 2>/dev/null || true  # the run store's PostgreSQL tests
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)  # nexthop report's browser test
	NEXTHOP_REQUIRE_CHROMIUM=1 $(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/pyright -p pyproject.toml

conformance: install  ## the official MCP conformance suite against nexthop serve (prints counts; see docs/conformance.md)
	bash scripts/conformance.sh

bench: install  ## benchmarks that print figures
	$(PY) benchmarks/bench_host.py
	$(PY) benchmarks/bench_local_model.py
	$(PY) benchmarks/bench_decoding.py

bench-tasks: install  ## the task benchmark: 44 real tasks, nexthop beside a plain ReAct baseline (hours on 2 cores; BENCH_ARGS='--limit 3 --json out.json')
	bash examples/setup.sh
	$(PY) -m benchmarks.tasks --agent both $(BENCH_ARGS)

bench-synthesis: install  ## tool synthesis: 22 tasks no server tool can do, synthesis on and off, embedded model (long)
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)
	$(PY) -m benchmarks.synthesis $(BENCH_ARGS)

clean:
	rm -rf $(VENV) examples/work
