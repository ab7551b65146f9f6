# pss-harness: `make run` (the main job) and `make test` (the test suite) work on a fresh machine
# with Python 3.11+ and Go 1.26+. The first run builds the control plane (~9 min on 2 cores).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
# Allure 3 (the npm package) renders Allure results; the test suite renders a run with it. Installed once here.
NPM_CACHE ?= $(HOME)/.cache/pss-harness/npm
ALLURE3   ?= allure@3

.PHONY: setup controlplane controlplane-old allure3 tools run test unit clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

controlplane: setup
	$(BIN)/pss-harness cluster build

controlplane-old: controlplane
	$(BIN)/pss-harness cluster build --k8s-version 1.34

allure3:
	@if [ -x $(NPM_CACHE)/node_modules/.bin/allure ]; then \
	  echo "Allure 3 $$($(NPM_CACHE)/node_modules/.bin/allure --version) in $(NPM_CACHE)"; \
	elif command -v npm >/dev/null; then \
	  npm install --prefix $(NPM_CACHE) --no-audit --no-fund --loglevel=error $(ALLURE3); \
	else echo "npm not found: the Allure 3 rendering test will be skipped (apt-get install nodejs npm)"; fi

## helm, kustomize and actionlint for the deploy and CI-template tests, built from their Go modules
## (cached under ~/.cache/pss-harness/tools; cold: ~2 min for helm, ~30 s kustomize, ~15 s actionlint)
tools: setup
	$(BIN)/python tests/integration/_tools.py helm kustomize actionlint

## the main job: the attack corpus against the embedded cluster; each run's reports under reports/
## (evidence/<run-id>/, runs/<run-id>/{junit.xml,allure-results/}, history.sqlite; reports/latest: the last run)
run: controlplane
	$(BIN)/pytest scenarios -n $(JOBS) --dist loadfile -p no:cacheprovider -p no:hypothesispytest

## the whole test suite: unit tests, integration tests and the full default matrix; its reports go to
## test-reports/ (tests/conftest.py), never into the main job's reports/
## (PSS_HARNESS_IN_CLUSTER=0: a CI job running in a pod tests the embedded plane, not the pod's cluster)
test: controlplane-old allure3 tools
	PSS_HARNESS_IN_CLUSTER=0 $(BIN)/pytest -n $(JOBS) --dist loadfile -p no:cacheprovider

## fast tests only (no cluster)
unit: setup
	$(BIN)/pytest tests/unit -p no:cacheprovider

clean:
	rm -rf $(VENV) reports/evidence reports/runs reports/latest test-reports
