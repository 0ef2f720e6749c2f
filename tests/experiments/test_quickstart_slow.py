"""The real quick-start budget (what `make run` does), behind the `slow` marker: `make test-slow`."""

from __future__ import annotations

import json

import pytest

from experiments.cli import main


@pytest.mark.slow
def test_quickstart_full_budget_trains_and_evaluates(tmp_path):
    assert main(["quickstart", "--set", f"runs_dir={tmp_path}"]) == 0
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"ppo", "buy_and_hold_full", "composite_score", "random"}
    assert metrics["ppo"]["trade_count"] > 0
    assert metrics["buy_and_hold_full"]["total_return_frac"] == pytest.approx(0.2195, abs=0.01)
    assert (run_dir / "best" / "best_model.zip").exists()
