# The two commands a student or instructor needs (see README):
#   make lab    open the course in JupyterLab (ARGS=--no-browser for a headless machine)
#   make test   run every test: pytest tests/ and strict nbval over every notebook
# Both create .venv and install the project into it on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NBS    := $(shell find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# Two pytest workers; --dist loadfile keeps every notebook's cells on one kernel.
XDIST  ?= -n 2 --dist loadfile

.PHONY: help venv lab test export nbs clean site bench

help:
	@echo "make lab     open the course in JupyterLab (ARGS=--no-browser when headless)"
	@echo "make test    run all tests: pytest tests/ + nbval over every notebook"
	@echo "make nbs     re-run notebooks and store their outputs (NB=nbs/01_tensor.ipynb for one)"
	@echo "make export  notebooks -> course_lib/ (nbdev's exporter, tools/export.py)"
	@echo "make clean   strip volatile notebook metadata, keep outputs, renumber counts"
	@echo "make site    build the website with Quarto into _site/"
	@echo "make bench   benchmark course_lib vs NumPy vs torch (QUICK=1 for a short run)"

$(STAMP): settings.ini setup.py pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# Jupyter refuses to run as root unless told to (containers, CI machines, Colab-like sandboxes).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: venv
	$(PY) tools/export.py
	$(VENV)/bin/jupyter lab --notebook-dir=nbs $(ALLOW_ROOT) $(ARGS)

# The library is never exported here: tests/test_export.py exports into a temporary
# folder and fails when course_lib/ differs from the notebooks.
test: venv
	$(PY) -m pytest $(XDIST) --nbval --nbval-current-env \
	  --nbval-sanitize-with nbval_sanitize.cfg tests $(NBS) $(ARGS)

# nbdev's exporter, writing every module a notebook names (see tools/export.py for why not plain nbdev_export)
export: venv
	$(PY) tools/export.py

nbs: venv
	$(PY) tools/run_nbs.py $(NB)
	$(PY) tools/export.py

clean: venv
	$(PY) tools/nbclean.py

site: venv
	$(PY) tools/build_site.py

bench: venv
	$(PY) bench/bench.py $(if $(QUICK),--quick)
