.DEFAULT_GOAL := help
SHELL := /bin/bash

help: ## List the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

pipeline: ## Main job: set up and run the pipeline on the bundled data (embedded defaults)
	scripts/run-pipeline.sh

test: ## Whole test suite: set up, start services, lint, run every test
	scripts/test.sh

lint: ## Lint only (ruff, shellcheck, hadolint, npm-groovy-lint)
	scripts/venv.sh dev
	scripts/lint.sh

venv: ## Create .venv from locks/dev.txt
	scripts/venv.sh dev

lock: ## Re-resolve locks/*.txt from pyproject.toml
	uv pip compile -q pyproject.toml -o locks/requirements.txt --python-version 3.11 --no-header
	uv pip compile -q pyproject.toml --extra dev -o locks/dev.txt --python-version 3.11 --no-header
	uv pip compile -q locks/serve.in -c locks/requirements.txt -o locks/serve.txt --python-version 3.11 --no-header
	uv pip compile -q locks/serve-sklearn.in -c locks/requirements.txt -o locks/serve-sklearn.txt --python-version 3.11 --no-header

dist: ## Build the mlci wheel and sdist into dist/ (docs/install.md)
	scripts/build-dist.sh dist

clean: ## Remove build outputs and the embedded state (.mlci/)
	rm -rf build .mlci dist

.PHONY: help pipeline test lint venv lock dist clean
