# tradebrain: `make run` (quick-start experiment) and `make test` (test suite) work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: setup browser lint test test-slow run bench ablate clean

setup: $(STAMP)

# torch==2.13.0 first: it resolves to the local CPU wheel; anything else would pull CUDA builds.
# --no-compile: Python compiles a module when it is first imported instead of pip compiling every file it installs
# (torch alone has thousands). `make run` needs the package alone; the test and lint tools (the `dev` extra: ray,
# pyarrow, schemathesis, selenium, ...) are about half of the install time and come with `make setup` / `make test`
# (docs/results/speed.md#make-setup).
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip install --quiet --no-compile
$(RUN_STAMP): setup.cfg pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PIP) -e '.[dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy envs agents meta --ignore-missing-imports

# Debian's chromium and chromium-driver for the dashboard's browser test (tests/live/test_dashboard_browser.py);
# installed with apt when missing and this is root on Debian, else that one test is skipped with the reason.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium and chromium-driver for the dashboard browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium/chromedriver missing and no root apt: the dashboard browser test will be skipped"; fi

test: setup browser
	$(BIN)/python -m pytest -n 2 -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

run: $(RUN_STAMP)
	$(BIN)/tradebrain quickstart

# Benchmarks print their settings and results and write JSON under runs/bench/ (about 36 minutes in all;
# the Tier 4 adaptation benchmark is 3 of them).
bench: setup
	$(BIN)/python -m experiments.benchmarks.env_throughput --out runs/bench/env_throughput.json
	$(BIN)/python -m experiments.benchmarks.ppo_overhead --out runs/bench/ppo_overhead_sb3.json
	$(BIN)/python -m experiments.benchmarks.ppo_overhead --ppo quickstart --out runs/bench/ppo_overhead_quickstart.json
	$(BIN)/python -m experiments.benchmarks.tier1_learning --out runs/bench/tier1_learning.json
	$(BIN)/python -m experiments.benchmarks.tier2_regimes --out runs/bench/tier2_regimes.json
	$(BIN)/python -m experiments.benchmarks.regime_report --out runs/bench/regime_report.json --png runs/bench/regime_report.png
	$(BIN)/python -m experiments.benchmarks.quickstart_seeds --out runs/bench/quickstart_seeds.json
	$(BIN)/python -m experiments.benchmarks.planted_edge --variants default dsr --out runs/bench/planted_edge.json
	$(BIN)/python -m experiments.benchmarks.learning_curve --out runs/bench/learning_curve.json
	$(BIN)/python -m experiments.benchmarks.live_latency --out runs/bench/live_latency.json
	$(BIN)/python -m experiments.benchmarks.adaptation --out runs/bench/adaptation

# The walk-forward ablation (every tier set and baseline, 12 folds x 3 seeds; hours at the default PPO budget) into
# runs/walkforward/results.md; running it again resumes. Reduced runs: docs/walkforward.md.
ablate: setup
	$(BIN)/tradebrain ablate --jobs 2

clean:
	rm -rf $(VENV) runs .pytest_cache
