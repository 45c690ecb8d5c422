# Two commands do all the set-up on a fresh machine:
#   make train   installs torch and the package, then trains InfoGAN on MNIST (runs/mnist-seed0/)
#   make test    installs the same plus the test tools, then runs the test suite
# TORCH_INDEX=<url> installs torch (only torch) from that index, e.g. the CPU-only build:
#   make train TORCH_INDEX=https://download.pytorch.org/whl/cpu
# MNIST is read from $(INFOGAN_DATA)/mnist, else ~/.cache/infogan/mnist, else downloaded there.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
export INFOGAN_DATA ?= $(abspath $(wildcard ../shared/data))

.PHONY: torch install install-test train test lint bench

torch:
	$(PIP) install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))

install: torch
	$(PIP) install -q -e .

install-test: torch
	$(PIP) install -q -e ".[test]"

train: install
	infogan train --preset mnist $(ARGS)

test: install-test
	$(PYTHON) -m pytest -q $(ARGS)

lint:
	ruff check src tests benchmarks
