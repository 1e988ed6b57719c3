# shopmind — every target sets up .venv itself, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# GrowthBook's statistics engine (gbstats 0.8 pins pandas < 2 and numpy < 2): an oracle for the
# experiments' statistics, in an environment of its own, fed and read through files
PEERS       := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
DEMO_WORKSPACE ?= .shopmind-demo
DEMO_CUSTOMERS ?= 5000
DEMO_DAYS      ?= 90
DEMO_AS_OF     ?= 2026-04-01
# a first run four weeks earlier, so the dashboard and `customers moved` show segment movement
DEMO_EARLIER   ?= 2026-03-04

.PHONY: help setup peers demo demo-spark serve test check lint format bench clean

help:
	@echo "make demo   - set up .venv, generate + load the synthetic Korean demo shop, understand its customers, and run a win-back campaign into outbox files"
	@echo "make demo-spark - the demo shop's customer intelligence run again with Apache Spark as the engine (local[*]; needs Java)"
	@echo "make serve  - after make demo: a demo owner account, then the dashboard, API and demo shop on http://127.0.0.1:8000"
	@echo "make test   - set up .venv and run the whole test suite"
	@echo "make check  - ruff, mypy and the import-layer contracts"
	@echo "make bench  - benchmarks, each beside a peer measured in the same run"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(PEERS_STAMP): Makefile
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet "gbstats==0.8.0" "pandas<2" "numpy<2" "scipy<2"
	touch $(PEERS_STAMP)

setup: $(STAMP)

peers: $(PEERS_STAMP)

demo: $(STAMP)
	$(BIN)/shopmind init --workspace $(DEMO_WORKSPACE)
	$(BIN)/shopmind demo --workspace $(DEMO_WORKSPACE) --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) --seed 42
	$(BIN)/shopmind status --workspace $(DEMO_WORKSPACE)
	$(BIN)/shopmind run --workspace $(DEMO_WORKSPACE) --as-of $(DEMO_EARLIER) --churn-horizon 21
	$(BIN)/shopmind run --workspace $(DEMO_WORKSPACE) --as-of $(DEMO_AS_OF) --churn-horizon 21
	$(BIN)/shopmind customers at-risk --workspace $(DEMO_WORKSPACE) --limit 5
	$(BIN)/shopmind customers lookalikes --workspace $(DEMO_WORKSPACE) --limit 5
	$(BIN)/shopmind recommend rules --workspace $(DEMO_WORKSPACE) --min-support 0.002 --min-confidence 0.2 --limit 8
	$(BIN)/shopmind recommend for new-visitor --workspace $(DEMO_WORKSPACE) --session P00001 --region 강원 --temp-c -5 --n 5
	$(BIN)/shopmind demo-campaign --workspace $(DEMO_WORKSPACE) --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) --seed 42
	$(BIN)/shopmind demo-experiments --workspace $(DEMO_WORKSPACE) --seed 42
	@echo "next: make serve  - the dashboard (http://127.0.0.1:8000/dashboard), the API and a demo shop page (/demo/)"

# every job with Spark reading the demo shop's facts from its Parquet lake (.shopmind-demo/lake),
# the results into the same store: `shopmind customers ...` then shows the Spark run's
demo-spark: $(STAMP)
	test -f $(DEMO_WORKSPACE)/shop.duckdb || ($(BIN)/shopmind init --workspace $(DEMO_WORKSPACE) && \
		$(BIN)/shopmind demo --workspace $(DEMO_WORKSPACE) --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) --seed 42)
	$(BIN)/shopmind run --workspace $(DEMO_WORKSPACE) --as-of $(DEMO_AS_OF) --churn-horizon 21 --engine spark --spark-master 'local[*]'

serve: $(STAMP)
	test -f $(DEMO_WORKSPACE)/shop.duckdb || $(MAKE) demo
	$(BIN)/shopmind users create --login demo --role owner --generate-password --exists-ok --workspace $(DEMO_WORKSPACE)
	@echo "open http://127.0.0.1:8000/dashboard (sign in as demo with the password above) and http://127.0.0.1:8000/demo/"
	$(BIN)/shopmind serve --workspace $(DEMO_WORKSPACE) --demo

test: $(STAMP) $(PEERS_STAMP)
	SHOPMIND_REQUIRE_PEERS=1 $(BIN)/python -m pytest -n 2 -q

check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(PEERS) $(DEMO_WORKSPACE) .pytest_cache .mypy_cache .ruff_cache .hypothesis
