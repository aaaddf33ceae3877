# fcbench: every target sets itself up. `make test` and `make bench` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp is keyed on pyproject.toml: editing the dependencies re-installs, nothing else does.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# A CPU build of torch lies on this machine's disk; a bare `torch` would pull a multi-GB CUDA build.
TORCH_CPU := torch==2.13.0

.PHONY: setup test perf perf-data data validate score-example bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing a CUDA build of torch"; \
		$(PY) -m pip install --quiet "torch>=2.13.0"; \
	else \
		echo "No NVIDIA GPU: installing the CPU build $(TORCH_CPU)"; \
		$(PY) -m pip install --quiet "$(TORCH_CPU)"; \
	fi
	@$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

test: setup
	$(VENV)/bin/pytest -q

perf: setup
	$(PY) -m benchmark.perf

# Generators: 10,000 synthetic records, then the preprocessing check against the benchmark.
data: setup
	$(VENV)/bin/fcbench generate --n 10000 --seed 0 --out data

validate: data
	$(VENV)/bin/fcbench validate data/train.jsonl data/validation.jsonl --against benchmark --out data/validated

perf-data: setup
	$(PY) -m generators.perf

score-example: setup
	$(VENV)/bin/fcbench score --benchmark examples/benchmark.jsonl --predictions examples/predictions.jsonl --out results/example

# The whole loop; stages are added here as they land (generate, train, eval, leaderboard).
bench: validate score-example perf perf-data

clean:
	rm -rf $(VENV) results
