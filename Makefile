# The two commands a student or instructor needs (see README):
#   make lab    open the course in JupyterLab (ARGS=--no-browser for a headless machine)
#   make test   run every test: pytest tests/ and strict nbval over every notebook
# Both create .venv and install the project into it on first use: torch's CPU build by default,
# its CUDA build and CuPy with GPU=1 (make lab GPU=1). tools/install.py prints what and how big.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NBS    := $(shell find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# Two pytest workers; --dist loadfile keeps every notebook's cells on one kernel.
XDIST  ?= -n 2 --dist loadfile
GPU    ?=
FLAVOUR := $(if $(GPU),gpu,cpu)
MIN_PYTHON := $(shell sed -n 's/^min_python *= *//p' settings.ini 2>/dev/null)

.PHONY: help venv lab test export nbs clean site bench FORCE

help:
	@echo "make lab     open the course in JupyterLab (ARGS=--no-browser when headless; GPU=1: CUDA torch + CuPy)"
	@echo "make test    run all tests: pytest tests/ + nbval over every notebook"
	@echo "make nbs     re-run notebooks and store their outputs (NB=nbs/01_tensor.ipynb for one)"
	@echo "make export  notebooks -> course_lib/ (nbdev's exporter, tools/export.py)"
	@echo "make clean   before committing: links from settings.ini, nbval markers into tags, chapter table, metadata"
	@echo "make site    build the website with Quarto into _site/"
	@echo "make bench   benchmark course_lib vs NumPy vs torch (QUICK=1 for a short run)"

# Before a venv is made: stop in one line when $(PYTHON) is missing or older than settings.ini's min_python.
ifeq ($(wildcard $(STAMP)),)
ifneq ($(filter-out help,$(or $(MAKECMDGOALS),help)),)
PY_FOUND := $(shell $(PYTHON) -c "import sys; print('%d.%d' % sys.version_info[:2])" 2>/dev/null)
PY_OK    := $(shell $(PYTHON) -c "import sys; print(int(sys.version_info[:2] >= tuple(map(int, '$(MIN_PYTHON)'.split('.')))))" 2>/dev/null)
ifneq ($(PY_OK),1)
$(error course_lib needs Python >= $(MIN_PYTHON), but $(PYTHON) is $(or $(PY_FOUND),not found); run e.g. make $(or $(MAKECMDGOALS),venv) PYTHON=python3.12)
endif
endif
endif

# GPU=1 on a venv set up for the CPU: install the CUDA build over it.
ifeq ($(GPU)$(if $(wildcard $(STAMP)),$(or $(shell cat $(STAMP)),cpu)),1cpu)
$(STAMP): FORCE
endif

# The stamp is written last, so a venv without it is half-made (a failed or interrupted install):
# it is removed and made again, never reused.
$(STAMP): settings.ini setup.py pyproject.toml
	@if [ -d $(VENV) ] && [ ! -f $(STAMP) ]; then \
	  echo "removing $(VENV): an earlier set-up did not finish"; rm -rf $(VENV); fi
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON) (Python $$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'))"; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) tools/install.py $(if $(GPU),--gpu)
	@echo $(FLAVOUR) > $(STAMP)

venv: $(STAMP)

# Jupyter refuses to run as root unless told to (containers, CI machines, Colab-like sandboxes).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# Opens on the course's home page (the printed URL too), not the Launcher; OPEN=00_pytorch_basics.ipynb for another.
OPEN ?= index.ipynb
lab: venv
	$(PY) tools/export.py
	$(VENV)/bin/jupyter lab --notebook-dir=nbs --LabApp.default_url=/lab/tree/$(OPEN) $(ALLOW_ROOT) $(ARGS)

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

# Before committing: links from settings.ini's git_url, nbval's comment markers into cell tags, the home
# page's chapter table from the chapters' titles, then the metadata JupyterLab writes and counts 1..N.
clean: venv
	$(PY) tools/sync_repo.py
	$(PY) tools/markers_to_tags.py
	$(PY) tools/callouts.py
	$(PY) tools/split_imports.py
	$(PY) tools/chapter_table.py
	$(PY) tools/nbclean.py

site: venv
	$(PY) tools/build_site.py

bench: venv
	$(PY) bench/bench.py $(if $(QUICK),--quick)
