# Two commands do all of the set-up on a fresh machine with Python 3.11:
#   make lab    open the course in JupyterLab
#   make test   run every test (unit, parity, checkers, every notebook)
# Both create the virtual environment in .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: lab test install doctor release clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e .
	touch $@

install: $(BIN)/.installed

lab: $(BIN)/.installed
	$(BIN)/jupyter lab chapters/

test: $(BIN)/.installed
	$(BIN)/python -m pytest

doctor: $(BIN)/.installed
	$(BIN)/python -m mmcourse doctor

release: $(BIN)/.installed
	$(BIN)/python -m mmcourse release

clean:
	rm -rf $(VENV) *.egg-info
