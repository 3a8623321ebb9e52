# The README's two commands are `make demo` and `make test`; both begin with `make setup`.
.PHONY: setup infra test test-fast lint typecheck demo migrate stop bench telegraf

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

# History for the dashboard and the monthly report: the citizens' last 35 days (a few minutes), the cameras'
# today and yesterday (they fill in over about half an hour while the demo runs). BACKFILL=0 for none.
BACKFILL ?= 35

# The demo's API logs in as its own role, as a deployment's does (`pulse migrate` creates it; issue 31).
demo: export PULSE_API_DATABASE_URL ?= postgresql://pulse_api:pulse_api@127.0.0.1:5432/pulse
demo: infra
	$(PULSE) migrate
	$(PULSE) up --demo --backfill $(BACKFILL)

stop:
	$(PULSE) infra stop

# Telegraf with only the plugins of the ingest benchmark's peer (Kafka in, JSON, PostgreSQL out), built from the Go
# module proxy into the cache (a few minutes once); `bench.telegraf_peer` and `bench.ingest_throughput --peer` use it.
telegraf:
	bash scripts/build_telegraf.sh
