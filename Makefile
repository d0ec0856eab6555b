# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WEB_PORT ?= 8000
export WEB_PORT

PHONY_BENCH := bench bench-eventstore bench-projections bench-http bench-hops bench-orders bench-tracing bench-tracing-overhead bench-cluster bench-sending wrk mutate
.PHONY: $(PHONY_BENCH) run test test-browser test-cluster stack-down-cluster fuzz tracing-up metrics-up unit pytest lint venv stack-up stack-down stack-status stack-reset migrate topics clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

venv: $(STAMP)

stack-up: $(STAMP)
	$(PY) stack/stack.py up

# STACK_ARGS=--force also stops servers another checkout of the project started.
stack-down:
	@if test -x $(PY); then $(PY) stack/stack.py down $(STACK_ARGS); else $(PYTHON) stack/stack.py down $(STACK_ARGS); fi

# Zipkin's server on 127.0.0.1:9411, a trace backend to open in a browser (its jar fetched from
# Maven Central once per machine; spans kept in memory). Then run with OTEL_TRACES_EXPORTER=zipkin.
tracing-up: $(STAMP)
	$(PY) stack/stack.py up zipkin
	@echo "  Zipkin      http://127.0.0.1:9411/zipkin/   (OTEL_TRACES_EXPORTER=zipkin make run)"

# Prometheus (Debian's package), scraping the processes `make run` starts and evaluating the alert
# rules in docker/prometheus/alerts.yml.
metrics-up: $(STAMP)
	$(PY) stack/stack.py up prometheus
	@echo "  Prometheus  http://127.0.0.1:9090/   (targets: /targets, alerts: /alerts)"

stack-status:
	@if test -x $(PY); then $(PY) stack/stack.py status; else $(PYTHON) stack/stack.py status; fi

stack-reset:
	@if test -x $(PY); then $(PY) stack/stack.py reset; else $(PYTHON) stack/stack.py reset; fi

migrate: stack-up
	$(PY) manage.py migrate --noinput

topics: stack-up
	$(PY) manage.py ensure_topics

run: migrate
	$(PY) manage.py collectstatic --noinput -v 0
	@echo
	@echo "  API         http://127.0.0.1:$(WEB_PORT)/api/v1/"
	@echo "  API docs    http://127.0.0.1:$(WEB_PORT)/api/docs/   (schema: /api/schema/)"
	@echo "  Admin       http://127.0.0.1:$(WEB_PORT)/admin/      (first admin: $(PY) manage.py create_admin --email you@example.com)"
	@echo "  Health      http://127.0.0.1:$(WEB_PORT)/healthz  and  /readyz"
	@echo "  Console     http://127.0.0.1:$(WEB_PORT)/admin/console/   (staff: consumers, lag, event streams)"
	@echo "  Metrics     http://127.0.0.1:$(WEB_PORT)/metrics   (worker, follower, relay, beat: ports 9101-9104)"
	@echo
	$(VENV)/bin/honcho start -f Procfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Everything but the browser suite (its own target below; CI runs both).
pytest: stack-up
	$(VENV)/bin/pytest --ignore=tests/browser --ignore=tests/cluster $(PYTEST_ARGS)

# Kafka and RabbitMQ as clusters: three brokers (ports 19092-19097) and three RabbitMQ nodes
# (16672, 16674, 16676) of their own, files under .stack/cluster/, the default stack for the
# rest; tests/cluster runs against them, then they stop.
CLUSTER_STACK_DIR := $(CURDIR)/.stack/cluster
CLUSTER_ENV := STACK_DIR=$(CLUSTER_STACK_DIR) STACK_KAFKA_BROKERS=3 STACK_RABBITMQ_NODES=3 \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096 \
	RABBITMQ_PORT=16672 RABBITMQ_NODES=127.0.0.1:16672,127.0.0.1:16674,127.0.0.1:16676
test-cluster: stack-up
	$(CLUSTER_ENV) STACK_SKIP_TOPICS=1 $(PY) stack/stack.py up kafka rabbitmq
	$(CLUSTER_ENV) KAFKA_CLUSTER_STACK_DIR=$(CLUSTER_STACK_DIR) \
	RABBITMQ_CLUSTER_STACK_DIR=$(CLUSTER_STACK_DIR) KAFKA_REPLICATION_FACTOR=3 \
	$(VENV)/bin/pytest tests/cluster $(PYTEST_ARGS); rc=$$?; \
	$(CLUSTER_ENV) $(PY) stack/stack.py down kafka rabbitmq; exit $$rc

# Stops the clusters of test-cluster and bench-cluster if a run left them up (STACK_ARGS=--force
# for clusters another checkout started).
stack-down-cluster:
	$(CLUSTER_ENV) $(PY) stack/stack.py down kafka rabbitmq $(STACK_ARGS)

# The pages people open, in Debian's chromium driven by Playwright (installed when missing; no
# browser download): docs, admin login, catalog action, projection status, dead letters.
# Screenshots of failures land in .browser-artifacts/.
test-browser: stack-up
	$(PY) stack/stack.py browser
	BROWSER_REQUIRED=1 $(VENV)/bin/pytest tests/browser $(PYTEST_ARGS)

# The API fuzz with a random seed and more cases (make test runs a fixed seed, 12 cases per
# operation and role). The seed is printed: API_FUZZ_SEED=<it> replays a run.
fuzz: stack-up
	API_FUZZ_SEED=$${API_FUZZ_SEED:-random} API_FUZZ_EXAMPLES=$${API_FUZZ_EXAMPLES:-40} \
		$(VENV)/bin/pytest tests/integration/api/test_fuzz.py -s -q $(PYTEST_ARGS)

test: lint pytest

# The unit tests alone: no server (domain rules, handlers through the bus on the in-memory store).
unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit -q --durations=5

# Mutation testing of the code that holds the guarantees (tests/mutation/targets.toml), within
# MUTATE_BUDGET seconds (default 1680); MUTATE_ARGS="--only NAME" runs one target.
MUTATE_STAMP := $(VENV)/.mutation-installed
$(MUTATE_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,mutation]"
	@touch $@

mutate: stack-up $(MUTATE_STAMP)
	$(PY) tests/mutation/run.py $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) staticfiles .mypy_cache .ruff_cache .pytest_cache

PEER_VENV := bench/.peer-venv

$(PEER_VENV)/.installed:
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q "eventsourcing[postgres]==9.5.6" "psycopg[binary]==3.3.9"
	@touch $@

# Event store and relay throughput beside raw psycopg/confluent-kafka and the eventsourcing
# library. BENCH_ARGS="--quick" for a short run.
bench-eventstore: stack-up $(PEER_VENV)/.installed
	$(PY) -m bench.eventstore_bench $(BENCH_ARGS)

# Projection throughput, replay and write-to-read lag beside raw Postgres/Redis writes.
bench-projections: stack-up
	$(PY) -m bench.projections_bench $(BENCH_ARGS)

# The load generator of the HTTP benchmark, from the OS packages.
wrk:
	@command -v wrk >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null)

bench-http: stack-up wrk
	$(PY) -m bench.http_bench $(BENCH_ARGS)

# Orders placed a second over HTTP, and placed-to-fulfilled latency, beside a price change.
bench-orders: stack-up wrk
	$(PY) -m bench.orders_bench $(BENCH_ARGS)

# Where a write's time goes, hop by hop (authenticate, input, load, decide, append, respond, the
# framework), the command beside the plain DRF + ORM update, in one process.
bench-hops: stack-up
	$(PY) -m bench.hops $(BENCH_ARGS)

# What tracing costs an unsampled request, in one process (CPU per request, off beside on):
# steadier than the HTTP bench; BENCH_ARGS=--profile adds a profile of the traced process.
bench-tracing-overhead: stack-up
	$(PY) -m bench.tracing_overhead $(BENCH_ARGS)

# Scaling out: lag with 1, 2 and 3 followers and through a follower's kill; what replication
# costs the relay: the single broker (one replica) beside the cluster of test-cluster (three
# replicas, two in sync), which the bench starts for it and stops after.
bench-cluster: stack-up
	$(PY) -m bench.cluster_bench $(BENCH_ARGS)

# Celery tasks sent one by one beside sent together (their confirms awaited once), on the stack's
# RabbitMQ; BENCH_ARGS=--cluster on the three nodes of test-cluster (started and stopped for it).
bench-sending: stack-up
	$(PY) -m bench.sending_bench $(BENCH_ARGS)

# The cost of tracing: commands over HTTP with tracing off, at 10% and at 100% sampling.
bench-tracing: stack-up wrk
	$(PY) -m bench.tracing_bench $(BENCH_ARGS)

# Every scenario, one report (JSON, markdown, charts) in bench/results/. BENCH_ARGS="--quick".
bench: stack-up wrk $(PEER_VENV)/.installed
	$(PY) -m bench.run $(BENCH_ARGS)
