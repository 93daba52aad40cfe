# Kyso: `make run` serves on http://127.0.0.1:8080, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export SOFTHSM2_CONF ?= $(CURDIR)/var/softhsm2.conf

.PHONY: help setup run test test-fast lint bench clean

help:
	@echo "make run    set up (packages, .venv, token, database, CA) and serve on 127.0.0.1:8080"
	@echo "make test   set up and run the whole test suite (SQLite and PostgreSQL)"
	@echo "make test-fast  the edit loop: tests without a database world or a process (SQLite, two workers)"
	@echo "make lint   ruff, mypy and the import contracts (lint-imports)"
	@echo "make bench  benchmarks (bench/*.py)"
	@echo "make clean  remove .venv and caches (var/ with the token and database is kept)"

setup:
	@scripts/setup.sh

test test-fast bench: export KYSO_SETUP_TEST_TOOLS := 1

run: setup
	@scripts/run.sh

test: setup
	@scripts/test.sh

test-fast: setup
	@KYSO_TEST_FAST=1 scripts/test.sh

lint: setup
	.venv/bin/ruff check kyso hsm ca_admin signer verification axis app tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python bench/hsm_sign.py
	.venv/bin/python bench/issuance.py
	.venv/bin/python bench/crl.py
	.venv/bin/python bench/tsa.py
	.venv/bin/python bench/ocsp.py
	.venv/bin/python bench/sign.py
	.venv/bin/python bench/verify.py
	.venv/bin/python bench/edxml.py
	.venv/bin/python bench/sign_recheck.py
	.venv/bin/python bench/verify_dos.py
	.venv/bin/python bench/corpus.py

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
