"""Walk-forward on the bundled S&P 500 data at a real (reduced) budget; skipped by default (``pytest -m slow``).

The full default ablation (12 folds x 3 seeds x every tier set at 400,000 PPO steps) takes hours on 2 cores: run it
with ``make ablate``. This test runs the ablation on the last two test years, one seed, 20,000 steps per unit.
"""

from __future__ import annotations

import json

import pytest

from experiments.cli import main
from experiments.walkforward.plan import ABLATION, PLAN

pytestmark = pytest.mark.slow


def test_reduced_sp500_ablation_keeps_every_risk_layer_policy_inside_the_drawdown_limit(tmp_path):
    root = tmp_path / "wf"
    sets = [
        "walkforward.first_test_year=2017",
        "walkforward.seeds=[0]",
        "train.total_timesteps=20000",
        "train.eval_freq=5000",
        "walkforward.meta_iterations=50",
    ]
    argv = ["ablate", "--run", str(root), "--jobs", "2"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    plan = json.loads((root / PLAN).read_text())
    assert len(plan["units"]) == 2 * (len(ABLATION) + 1)
    for unit in plan["units"]:
        payload = json.loads((root / "units" / f"{unit['key']}.json").read_text())
        for name, pol in payload["policies"].items():
            if name != "buy_and_hold_full":  # the market benchmark is outside the risk layer by definition
                assert pol["metrics"]["max_drawdown_frac"] <= 0.15 + 1e-9, (unit["key"], name)
    page = (root / "results.md").read_text()
    assert all(f"| {t} | 2 |" in page for t in ABLATION)
