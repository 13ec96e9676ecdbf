# Suiyuan — the two commands are `make run` and `make test` (see README).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := backend:create_app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-dev migrate seed serve lint clean bench faults

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files make a second `make run` skip the install when nothing changed.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/flask db upgrade heads

seed: migrate
	$(BIN)/flask seed

## make run: set up everything and serve the backend on the embedded defaults, with the periodic jobs
## (campaign expiry and settlement, order expiry, reports) running in the same process.
run: seed
	@echo "Suiyuan API on http://$(HOST):$(PORT)/api/v1/ (OpenAPI: /api/v1/openapi.json, UI: /api/v1/docs)"
	$(BIN)/flask serve --host $(HOST) --port $(PORT)

## make test: install what the tests need and run the whole suite.
test: install-dev
	$(BIN)/python -m pytest

## make bench: gunicorn + PostgreSQL + Redis + RQ on loopback, wrk load; writes docs/BENCHMARKS.md. Then the
## cluster run (bench/cluster_bench.py, when haproxy is installed): through HAProxy on two nodes ÷ one node.
## bench.shed: the claim rush at 2 × capacity with and without admission control.
bench: install-dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.shed
	$(BIN)/python -m bench.payouts
	$(BIN)/python -m bench.cluster_bench
	$(BIN)/python -m bench.transit

## make faults: one fault per run (worker kills, Redis/PostgreSQL restarts, dropped connections) under load,
## then prove no money was lost or doubled; writes docs/FAULTS.md. Restarts the machine's Redis and PostgreSQL.
faults: install-dev
	$(BIN)/python -m bench.faults --shared-services

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache

## make consumer-app / make merchant-app: run the Kivy apps against the local backend (`make run`).
SUIYUAN_API ?= http://127.0.0.1:5000/api/v1
.PHONY: consumer-app merchant-app
consumer-app: install
	SUIYUAN_API=$(SUIYUAN_API) $(BIN)/python -m consumer_app

merchant-app: install
	SUIYUAN_API=$(SUIYUAN_API) $(BIN)/python -m merchant_app

## make cluster: HAProxy in front of two app nodes (gunicorn + RQ worker each, one rq cron), a PostgreSQL primary
## and a streaming replica of the project's own, a private Redis, all on 127.0.0.1; prints the URL. `make
## cluster-down` stops it and deletes its data (instance/cluster/). Needs Debian's haproxy (see .ci/run).
.PHONY: cluster cluster-down
cluster: install
	$(BIN)/python -m bench.cluster up

cluster-down:
	$(BIN)/python -m bench.cluster down
