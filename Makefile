# The README's two commands are `make demo` and `make test`; both begin with `make setup`.
.PHONY: setup infra test test-fast lint typecheck demo migrate stop bench

PULSE := .venv/bin/pulse

setup:
	bash scripts/setup.sh

infra: setup
	$(PULSE) infra start

test: infra
	.venv/bin/pytest $(PYTEST_ARGS)

# Pure tests only (no broker, no database): fast feedback while editing.
test-fast: setup
	.venv/bin/pytest -m "not db and not kafka" $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy

migrate: infra
	$(PULSE) migrate

demo: infra
	$(PULSE) migrate
	$(PULSE) up --demo

stop:
	$(PULSE) infra stop
