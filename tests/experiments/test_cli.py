"""End to end through the CLI: a tiny training run, its TensorBoard events read back, backtest and report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.cli import main
from experiments.config import load_config
from experiments.evaluation.policies import load_model
from experiments.training.train import train

TINY = [
    "stack.train=['2005-01-01', '2007-01-01']",
    "stack.val=['2007-01-01', '2007-07-01']",
    "stack.test=['2007-07-01', '2008-07-01']",
    "stack.episode_bars=60",
    "stack.tiers.tier2_restarts=2",
    "stack.tiers.tier2_fit_bars=500",
    "ppo.n_steps=128",
    "ppo.batch_size=64",
    "ppo.n_epochs=2",
    "train.total_timesteps=512",
    "train.n_envs=2",
    "train.eval_freq=160",  # 512 steps over 2 envs = 256 calls; an evaluation every 80: 3 checkpoints scored
    "train.checkpoint_freq=512",
]


def _overrides(tmp_path: Path) -> list[str]:
    return [*TINY, f"runs_dir={tmp_path}"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("runs")
    args = ["quickstart"]
    for item in _overrides(tmp):
        args += ["--set", item]
    assert main(args) == 0
    (run_dir,) = tmp.iterdir()
    return run_dir


def test_tensorboard_has_trading_weight_regime_and_risk_tags(quick_run):
    (tb,) = (quick_run / "tb").iterdir()
    acc = EventAccumulator(str(tb))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "trading/net_return",
        "trading/sharpe",
        "trading/max_drawdown",
        "trading/win_rate",
        "trading/trade_count",
        "tier1/w_theme",
        "tier1/w_sentiment",
        "tier2/p_crisis",
        "tier2/p_bull_momentum",
        "eval/mean_reward",
        "risk/halts",
    ):
        assert tag in tags, f"{tag} missing from {sorted(tags)}"
    weights = [e.value for e in acc.Scalars("tier1/w_theme")]
    assert all(0.0 < w < 1.0 for w in weights)
    assert any(e.value != 0 for e in acc.Scalars("trading/trade_count"))


def test_run_folder_holds_what_the_design_lists(quick_run):
    for name in (
        "config.yaml",
        "model.zip",
        "metrics.json",
        "trades.csv",
        "report.md",
        "equity.png",
        "drawdown.png",
        "regimes.png",
        "weights.png",
        "best/best_model.zip",
    ):
        assert (quick_run / name).exists(), name
    assert any((quick_run / "checkpoints").iterdir())
    report = (quick_run / "report.md").read_text()
    for policy in (
        "ppo",
        "buy_and_hold_cap",
        "ma_trend",
        "vol_target",
        "fixed_bracket",
        "random",
        "composite_score",
        "buy_and_hold_full",
    ):
        assert f"| {policy} |" in report
    assert load_config(quick_run / "config.yaml").train.total_timesteps == 512


def test_report_command_rebuilds_from_files(quick_run, capsys):
    (quick_run / "report.md").unlink()
    assert main(["report", "--run", str(quick_run)]) == 0
    report = (quick_run / "report.md").read_text()
    assert "| ppo |" in report
    assert "Trials counted for the deflated Sharpe ratio (DSR): 3 (1 configuration x 3 checkpoints" in report


def test_the_checkpoints_scored_on_validation_are_counted_as_trials(quick_run):
    with np.load(quick_run / "best" / "evaluations.npz") as log:
        assert len(log["timesteps"]) == 3
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert metrics["ppo"]["n_trials"] == 3
    assert all(metrics[name]["n_trials"] == 1 for name in metrics if name != "ppo")  # fixed rules: no search
    assert "Trials counted for the deflated Sharpe ratio (DSR): 3" in (quick_run / "report.md").read_text()


def test_the_final_model_was_not_picked_so_counts_one_trial(quick_run, tmp_path):
    run = Path(shutil.copytree(quick_run, tmp_path / quick_run.name))
    assert main(["backtest", "--run", str(run), "--model", "final"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ppo_final"]["n_trials"] == 1 and metrics["ppo"]["n_trials"] == 3  # the best model's row stays
    assert "`ppo_final`: 1 (1 configuration x 1 (the final model" in (run / "report.md").read_text()


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--set", "ppo.learning_rat=0.1"]) == 2
    assert "did you mean 'ppo.learning_rate'" in capsys.readouterr().err
    assert main(["backtest", "--run", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_bad_windows_stop_the_cli_with_one_line_and_exit_code_2(tmp_path, capsys):
    tiny = ["train.total_timesteps=64", "train.n_envs=1", "ppo.n_steps=64", "ppo.batch_size=64"]
    tiny += ["train.eval_freq=0", "train.checkpoint_freq=0", f"runs_dir={tmp_path / 'runs'}"]
    args = ["train"]
    for item in [*TINY[:5], *tiny, "stack.val=['2006-06-01', '2007-07-01']"]:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "tradebrain train: error: stack.train=['2005-01-01', '2007-01-01'] overlaps stack.val=" in err
    assert not (tmp_path / "runs").exists()  # stopped before any run folder was made
    # a run folder whose config.yaml has a reversed window (edited by hand): the same one clear line
    (tmp_path / "config.yaml").write_text("stack:\n  test: ['2019-01-01', '2015-01-01']\n")
    assert main(["backtest", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "stack.test=['2019-01-01', '2015-01-01'] is empty or reversed" in err


def test_same_seed_gives_identical_actions(tmp_path):
    quiet = [*_overrides(tmp_path), "train.eval_freq=0", "train.checkpoint_freq=0"]
    models = [
        load_model(train(load_config("quickstart", overrides=[*quiet, f"seed={seed}"]), progress=False).model_path)
        for seed in (0, 0, 1)
    ]
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 27)).astype(np.float32)
    act_a, act_b, act_c = (m.predict(obs, deterministic=True)[0] for m in models)
    np.testing.assert_array_equal(act_a, act_b)
    assert not np.array_equal(act_a, act_c)


def test_the_quick_start_report_opens_with_the_verdict_and_did_it_learn(quick_run):
    report = (quick_run / "report.md").read_text()
    assert report.index("## Verdict") < report.index("## Did it learn?") < report.index("## Run")
    section = report[report.index("## Did it learn?") : report.index("## Run")]
    assert "Flat decisions (no trade opened) on the test window: `ppo`" in section
    assert "](learning_curve.png)" in section and " kept |" in section
    curve = pd.read_csv(quick_run / "best" / "val_curve.csv")
    assert len(curve) == 3 and curve["train_episodes"].gt(0).all()  # training episodes end between evaluations
    assert curve["train_flat_share"].between(0, 1).all() and np.isfinite(curve["train_reward"]).all()


def _doc(name: str) -> str:
    return (Path(__file__).resolve().parents[2] / "docs" / name).read_text()


def test_every_tensorboard_tag_of_a_run_is_explained_in_the_docs(quick_run):
    """docs/tensorboard.md's tables name every scalar tag the quick start writes (training, evaluation, test)."""
    (tb,) = (quick_run / "tb").iterdir()
    acc = EventAccumulator(str(tb))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"reward/flat_share", "risk/breaker_REDUCING", "test/sharpe", "eval/sharpe"} <= tags
    rows = [line for line in _doc("tensorboard.md").splitlines() if line.startswith("| `")]
    documented = {tag for row in rows for tag in re.findall(r"`([\w/]+)`", row.split("|")[1])}
    assert tags <= documented, sorted(tags - documented)
    assert "running counts" in _doc("tensorboard.md")  # risk/breaker_*: counts of state changes, not states


def test_the_tensorboard_snippet_reads_a_run_without_a_browser(quick_run, tmp_path):
    (snippet,) = re.findall(r"^```python\n(.*?)^```", _doc("tensorboard.md"), re.M | re.S)
    shutil.copytree(quick_run, tmp_path / "runs" / quick_run.name)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == quick_run.name
    flat = next(line for line in lines if line.startswith("reward/flat_share "))
    acc = EventAccumulator(str(next((quick_run / "tb").iterdir())))
    acc.Reload()
    points = acc.Scalars("reward/flat_share")
    assert f"{len(points):4} points" in flat and f"{points[-1].value:10.4g} at {points[-1].step:>7,}" in flat
    empty = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path / "runs", env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert empty.returncode == 0 and empty.stdout.startswith("no run under runs/")
