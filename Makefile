# Two commands: `make demo` and `make test`. Both create their virtual environments when missing.
PYTHON ?= python3
VENV := .venv
VENV1 := .venv-gym1
PY := $(VENV)/bin/python
PY1 := $(VENV1)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: demo venvs test test-gym029 test-gym1 lint format type bench gallery clean

# Development environment: gymnasium 0.29 with neurogym (interop extra) and the RL extra.
$(VENV)/.installed: pyproject.toml constraints.txt constraints-gym029.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) -c constraints-gym029.txt -e '.[dev,neurogym,rl,analysis,ray]'
	touch $@

# The newest gymnasium 1.x, no neurogym and no Ray (the Ray sweep test runs in the dev venv only).
$(VENV1)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV1)
	$(PY1) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY1) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,rl,analysis]' 'gymnasium>=1,<2'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m mtrnn.agents.cli --task mtrnn/DelayAnti-v0 --out runs/demo --target-perf 0.95 --max-steps 3000 --eval-interval 10 --overwrite

# Both virtual environments are built side by side (pip waits on the network most of the time), then the suite
# runs once per gymnasium line.
venvs:
	$(MAKE) -j2 $(VENV)/.installed $(VENV1)/.installed

test: venvs
	$(MAKE) test-gym029
	$(MAKE) test-gym1

test-gym029: $(VENV)/.installed
	$(PY) -m pytest -n 2 -q

test-gym1: $(VENV1)/.installed
	$(PY1) -m pytest -n 2 -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

type: $(VENV)/.installed
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m mtrnn.benchmarks.envs_speed
	$(PY) -m mtrnn.benchmarks.update_speed
	$(PY) -m mtrnn.benchmarks.train_delayanti

gallery: $(VENV)/.installed
	$(PY) -m mtrnn.envs.gallery --out docs/tasks

clean:
	rm -rf $(VENV) $(VENV1) build dist *.egg-info
