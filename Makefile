# The course's two commands (see README.md):
#   make lab    set everything up, then open the course in JupyterLab
#               (make lab LANG=zh_CN: the Chinese edition, in JupyterLab's Chinese interface)
#   make test   set everything up, then run every test (notebooks included)
# Both create .venv from the pinned requirements on first use; nothing else is needed
# but Python 3.11 and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tests: 2 workers (one per core), 1 torch thread each, notebooks in smoke mode, and a failing
# self-check raises (strict), as it does for a grader.
TEST_ENV := RNNLIB_SMOKE=1 RNNLIB_STRICT_CHECKS=1 RNNLIB_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg PYDEVD_DISABLE_FILE_VALIDATION=1
WORKERS ?= 2

.PHONY: lab test test-avx2 venv outputs results data student zh lint site clean

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml jupyterlab-settings/overrides.json \
          jupyterlab-settings/install.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), f"Python 3.11 or newer is needed, {sys.version.split()[0]} found: set PYTHON=python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# Register this environment's Python as the "python3" kernel, so notebooks never
	# run under another interpreter.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (rnn course)" >/dev/null
	$(BIN)/python jupyterlab-settings/install.py
	touch $(STAMP)

# allow_root: containers (Docker, some hubs) run as root; it changes nothing for other users.
# A Chinese locale (LANG=zh_CN, or zh_CN.UTF-8 from the environment) opens the Chinese edition
# in JupyterLab's Chinese interface (its settings: jupyterlab-settings/install.py).
ifneq ($(filter zh_CN%,$(LANG)),)
LAB_START := notebooks/zh-CN/00-welcome.ipynb
LAB_ENV   := JUPYTERLAB_SETTINGS_DIR=$(VENV)/share/jupyter/lab/user-settings-zh-CN
else
LAB_START := notebooks/00-welcome.ipynb
LAB_ENV   :=
endif
lab: $(STAMP)
	$(LAB_ENV) $(BIN)/jupyter lab --ServerApp.allow_root=True --ServerApp.root_dir=. \
	    --LabApp.default_url=/lab/tree/$(LAB_START)

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup -q

# The tests whose results depend on the CPU's reduced-precision kernels, and notebook 10, again
# on an emulated AVX2-only CPU (most laptops): torch's own kernels limited to AVX2, oneDNN's too.
AVX2_ENV := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
test-avx2: $(STAMP)
	$(TEST_ENV) $(AVX2_ENV) $(BIN)/python -m pytest -n $(WORKERS) -q \
	    tests/test_train_precision.py tests/test_notebooks.py -k "precision or efficiency"

lint: $(STAMP)
	$(BIN)/ruff check .

# Re-store the notebooks' outputs from a learner-mode run (all, or NOTEBOOK=notebooks/02-rnn.ipynb).
# The Chinese edition shares the outputs: it is regenerated after them.
outputs: $(STAMP)
	$(BIN)/python scripts/refresh_outputs.py $(NOTEBOOK)
	$(BIN)/python scripts/zh.py build

# Learner-mode run of every training notebook (as make outputs: their outputs are re-stored);
# figures, wall time and peak memory go to results/ and the README.
results: $(STAMP)
	$(BIN)/python scripts/run_results.py
	$(BIN)/python scripts/zh.py build

# The Chinese edition, notebooks/zh-CN/, from the English notebooks and their translations.
zh: $(STAMP)
	$(BIN)/python scripts/zh.py build

# Students' copies of the notebooks (solutions removed, self-checks kept) in student/ (English)
# and student/zh-CN/ (Chinese).
student: $(STAMP)
	$(BIN)/python scripts/make_student.py

# The course as a website in build/site/ (English; Chinese under zh-CN/), from the notebooks as
# stored: nothing is executed, nothing fetched (scripts/build_site.py, site/conf.py).
site: $(STAMP)
	$(BIN)/python scripts/build_site.py

# Re-create data/ from the named package versions (needs the network, never needed to learn).
data: $(STAMP)
	$(BIN)/python scripts/make_data.py

clean:
	rm -rf $(VENV) build *.egg-info
