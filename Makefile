# vps_d2 — one-command workflows. See README.md.
SHELL := /bin/bash
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python

.PHONY: setup test quickstart clean

setup:  ## create/refresh the environment: pinned deps, detectron2, vps_d2 + extension (idempotent)
	@bash dev/setup_env.sh

test: setup  ## run the test suite (what CI runs)
	$(PY) -m pytest -q --durations=10 tests

quickstart: setup  ## synthetic end-to-end job
	@bash dev/quickstart.sh

clean:  ## remove build outputs (keeps .venv and datasets)
	rm -rf build dist *.egg-info vps_d2/_C*.so
