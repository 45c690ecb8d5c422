# Two commands do all the set-up on a fresh machine:
#   make train   installs, then trains InfoGAN on MNIST (runs/mnist-seed0/)
#   make test    installs, then runs the test suite
# MNIST is read from $(INFOGAN_DATA)/mnist, else ~/.cache/infogan/mnist, else downloaded there.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
TORCH ?= torch==2.13.0
export INFOGAN_DATA ?= $(abspath $(wildcard ../shared/data))

.PHONY: install train test lint bench

install:
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[test]"

train: install
	infogan train --preset mnist $(ARGS)

test: install
	$(PYTHON) -m pytest -q $(ARGS)

lint:
	ruff check src tests benchmarks
