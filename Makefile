# make run  : set up, make the default data set if missing, serve the app on 127.0.0.1
# make test : set up, then the whole test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DATA := data/toy
PORT ?= 8501

.PHONY: setup run test data checkpoints clean-venv

setup: $(STAMP)

# Reinstalls only when requirements.txt changes (the stamp is newer otherwise).
$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

data: setup
	$(PY) -m asdcore data toy --out $(DATA) --preset default --seed 0 --replace-outdated

# scripts/serve.py is `streamlit run app.py` with the first page's imports done before it listens
run: data
	$(PY) scripts/serve.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# Retrain every recipe's quick preset on the default data and re-bundle checkpoints/, plus training
# seeds 1 and 2 of six recipes for the spread (about 1 h 45 min on 2 cores).
checkpoints: data
	$(PY) scripts/make_checkpoints.py

# The bundled runs refer to clips under data/toy, so the suite makes the default data set first.
test: setup data
	$(PY) -m pytest tests

clean-venv:
	rm -rf $(VENV)
