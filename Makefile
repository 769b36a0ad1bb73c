# make run       : set up, make the default data sets if missing, serve the app on 127.0.0.1
# make test      : set up, then the suite without its long end-to-end tests (minutes)
# make test-all  : set up, then every test, the long ones included (what CI runs)
# make serve-shared: the app for a class on 0.0.0.0 (every machine on the network), in shared mode (ASD_SHARED=1)
# make lab       : set up, then JupyterLab on notebooks/ (the lessons and the tour) on 127.0.0.1:8888
# make lint      : ruff over the package, the app, the scripts and the tests
# make bench     : speed and memory figures on this machine (scripts/bench.py; makes data/scale-5k first)
# make gpu-check : on a CUDA machine, what only a GPU can check, in 10 min (scripts/gpu_check.py; bench/gpu-*.json)
# make screenshot: the README's picture of the app (scripts/screenshot.py)
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
DATA := data/toy
PORT ?= 8501

.PHONY: setup setup-dev run serve-shared lab test test-all lint data data-shift data-bench bench gpu-check checkpoints screenshot clean-venv

# The runtime: requirements.txt's exact versions, then this package (editable: the checkout is
# what runs), which also installs the `asdcore` command into .venv/bin.
setup: $(STAMP)

# Reinstalls only when a requirements file or pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	@# compile UMAP's numba code and the fused PReLU backward now, not in the first run (asdcore/jit_warmup.py)
	$(PY) -m asdcore warm-up
	touch $(STAMP)

# Tests, the notebook runner, Playwright and ruff on top of the runtime.
setup-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $(DEV_STAMP)

data: setup
	$(PY) -m asdcore data toy --out $(DATA) --preset default --seed 0 --replace-outdated

# The domain-shift preset (DCASE 2022 layout, source and target domains; ~2 min), which the bundled
# shift-* runs were trained on
data-shift: setup
	$(PY) -m asdcore data toy --out data/toy-domain --preset domain-shift --seed 0 --replace-outdated

# An eighth of dcase-scale for `make bench`: 5 125 training and 920 test clips of 10 s (1.9 GB)
data-bench: setup
	$(PY) -m asdcore data toy --out data/scale-5k --preset scale-5k --seed 0 --replace-outdated

# Speed and memory figures on this machine (scripts/bench.py): prints them, writes bench/*.json and *.png
bench: setup-dev data data-shift data-bench
	$(PY) scripts/bench.py

# On a CUDA machine, in at most 10 min: the CUDA-only tests, a bf16 step, torch.compile, torchrun with NCCL,
# a paper-preset epoch on 10 s clips and a reduced bench, each pass/fail in bench/gpu-<host>-<date>.json.
# Without CUDA it says so in one line and exits 0 (CI runs it anywhere).
gpu-check: setup-dev
	$(PY) scripts/gpu_check.py

# scripts/serve.py is `streamlit run app.py` with the first page's imports done before it listens
run: data data-shift
	$(PY) scripts/serve.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# Shared mode for a class (asdcore/shared_mode.py; docs/09-reliability-security.md): allowed data folders
# only, presets up to quick, a quota per session, a queue cap, a free-disk floor, cancel your own runs only.
# It listens on 0.0.0.0 so the class can reach it; there is no authentication: a trusted network only.
# ASD_SHARED_DATA, ASD_SHARED_MAX_PRESET, ASD_SHARED_QUOTA, ASD_SHARED_QUEUE_CAP, ASD_SHARED_MIN_FREE_GB
# from the environment pass through (make serve-shared ASD_SHARED_DATA=/srv/dcase works too).
serve-shared: data data-shift
	ASD_SHARED=1 $(PY) scripts/serve.py --server.address 0.0.0.0 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# The lessons as notebooks (notebooks/lessons/) and the tour; they read the bundled runs and data/toy
lab: setup-dev data
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port 8888 --notebook-dir notebooks

# Retrain every recipe's quick preset on the default data and re-bundle checkpoints/, plus training
# seeds 1 and 2 of six recipes for the spread (about 1 h 45 min on 2 cores).
checkpoints: data data-shift
	$(PY) scripts/make_checkpoints.py

# The bundled runs refer to clips under data/toy, so the suite makes the default data set first.
# Two processes (pytest-xdist), each test file on one of them (its module fixtures are made once);
# both print the 15 slowest tests.  `make test` leaves out the tests marked `long` (pyproject.toml).
PYTEST := $(PY) -m pytest -n 2 --dist loadfile --durations=15
test: setup-dev data
	$(PYTEST) -m "not long"

test-all: setup-dev data
	$(PYTEST)

# The README's screenshot: the Angles page on the bundled runs, in Chromium (docs/images/angles.png)
screenshot: setup-dev data
	$(PY) scripts/screenshot.py

# pyflakes, pycodestyle and bugbear checks as configured in pyproject.toml
lint: setup-dev
	$(VENV)/bin/ruff check .

clean-venv:
	rm -rf $(VENV)
