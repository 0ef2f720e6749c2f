"""`tradebrain report --run R1 --run R2 ...`: the seed spread of runs of one config (no training: rule runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envs.trading_env import TradingEnv
from experiments.cli import main
from experiments.config import RunConfig, to_yaml
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.baselines import BuyAndHold, RandomPolicy, buy_and_hold_full
from experiments.reporting.evaluate import save_results


def _fake_run(root: Path, sp500, seed: int, **changes) -> Path:
    """A run folder with a config of ``seed`` and backtests: a seeded random policy stands in for ``ppo``."""
    run_dir = root / f"run-{seed}"
    run_dir.mkdir(parents=True)
    cfg = RunConfig(seed=seed, name="spread", runs_dir=str(root), **changes)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    env = TradingEnv(sp500, window=(3000, 3300))
    bench = buy_and_hold_full(env.data, env.window, env.costs, n_boot=50)
    ppo = RandomPolicy(seed)
    ppo.name = "ppo"
    kw = {"benchmark_returns": bench.returns, "n_boot": 50, "seed": seed}
    results = {"ppo": run_backtest(env, ppo, **kw)}
    results["buy_and_hold_cap"] = run_backtest(env, BuyAndHold(env.action_map), **kw)
    results[bench.name] = bench
    save_results(run_dir, results)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sp500) -> list[Path]:
    root = tmp_path_factory.mktemp("seeds")
    return [_fake_run(root, sp500, seed) for seed in (2, 0, 1)]


def test_the_seed_spread_has_each_seed_its_median_and_range(runs, tmp_path, capsys):
    out = tmp_path / "spread"
    args = ["report", "--out", str(out)]
    for run in runs:
        args += ["--run", str(run)]
    assert main(args) == 0
    assert str(out / "seeds.md") in capsys.readouterr().out
    table = pd.read_csv(out / "seeds.csv")
    assert table["seed"].tolist() == [0, 1, 2]  # sorted by seed
    sharpes = [json.loads((r / "metrics.json").read_text())["ppo"]["sharpe_annual"] for r in runs]
    assert sorted(table["sharpe_annual"]) == sorted(sharpes)
    assert len(set(sharpes)) == 3  # the seeds do differ
    text = (out / "seeds.md").read_text()
    assert f"| **median** | {np.median(sharpes):.2f} |" in text
    assert f"| **min** | {min(sharpes):.2f} |" in text and f"| **max** | {max(sharpes):.2f} |" in text
    assert "](seeds_equity.png)" in text and (out / "seeds_equity.png").read_bytes()[:4] == b"\x89PNG"
    for run in runs:
        assert f"`{run}`" in text
    # each seed's verdict counts add up to its baselines (buy_and_hold_cap, buy_and_hold_full)
    assert (table[["beat", "lost", "none"]].sum(axis=1) == 2).all()


def test_without_out_the_spread_goes_into_the_first_run_and_leaves_its_report(runs, capsys):
    report = runs[0] / "report.md"
    assert not report.exists()
    assert main(["report", "--run", str(runs[0]), "--run", str(runs[1])]) == 0
    assert "the first run folder" in capsys.readouterr().out
    assert (runs[0] / "seeds.md").exists() and not report.exists()


def test_one_run_keeps_todays_report(runs):
    assert main(["report", "--run", str(runs[1])]) == 0
    assert "| ppo |" in (runs[1] / "report.md").read_text()
    assert not (runs[1] / "seeds.md").exists()


def test_runs_that_are_not_seeds_of_one_config_are_refused(runs, tmp_path, sp500, capsys):
    other = _fake_run(tmp_path, sp500, 5, n_trials=4)
    assert main(["report", "--run", str(runs[0]), "--run", str(other), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "differ in more than the seed: n_trials (1 vs 4)" in err and len(err.strip().splitlines()) == 1
    assert main(["report", "--run", str(runs[0]), "--run", str(runs[0]), "--out", str(tmp_path / "x")]) == 2
    assert "repeat a seed ([2, 2])" in capsys.readouterr().err
    assert not (tmp_path / "x" / "seeds.md").exists()
