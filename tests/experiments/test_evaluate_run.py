"""One tiny trained run (Tiers 1 and 2 off, observations normalised), backtested with the best and the final model.

What it checks: the validation learning curve equals a direct backtest of the checkpoint it scored; TensorBoard's
HParams record lists every train.* setting and the test metrics, whose scalars equal metrics.json; `--model final`
adds ppo_final beside ppo instead of overwriting it; a report of a run with the tiers off draws no tier charts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from agents.stack import make_env
from experiments.cli import main
from experiments.config import TrainConfig, load_config
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.policies import load_policy
from experiments.evaluation.runfiles import VAL_CURVE
from experiments.reporting.evaluate import load_metrics, policy_name
from experiments.reporting.hparams import result_scalars, result_tags, tensorboard_dir
from experiments.training.learning_curve import COLUMNS

TINY = [
    "stack.train=['2005-01-01', '2007-01-01']",
    "stack.val=['2007-01-01', '2007-07-01']",
    "stack.test=['2007-07-01', '2008-07-01']",
    "stack.episode_bars=60",
    "stack.tiers.tier1=false",
    "stack.tiers.tier2=false",
    "ppo.n_steps=128",
    "ppo.batch_size=64",
    "ppo.n_epochs=2",
    "train.total_timesteps=512",
    "train.n_envs=2",
    "train.eval_freq=160",  # an evaluation every 80 calls of 2 envs: 3 checkpoints scored
    "train.checkpoint_freq=0",
    "train.normalize_obs=true",
    *("stack.action=box", "ppo.full_info=0", "ppo.gamma=0.99", "stack.reward.kind=dsr"),  # the Box learner
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Train, backtest the best model, keep its metrics, then backtest the final model."""
    tmp = tmp_path_factory.mktemp("runs")
    args = ["train"]
    for item in [*TINY, f"runs_dir={tmp}"]:
        args += ["--set", item]
    assert main(args) == 0
    (run_dir,) = tmp.iterdir()
    assert main(["backtest", "--run", str(run_dir)]) == 0
    after_best = json.loads((run_dir / "metrics.json").read_text())
    best_trades = (run_dir / "trades.csv").read_text()
    assert main(["backtest", "--run", str(run_dir), "--model", "final"]) == 0
    return {"dir": run_dir, "after_best": after_best, "best_trades": best_trades}


def _scalars(run_dir: Path) -> EventAccumulator:
    folder = tensorboard_dir(run_dir)
    assert folder is not None and folder.parent == run_dir / "tb"
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def test_the_val_curve_equals_a_direct_backtest_of_the_checkpoint_it_scored(run):
    run_dir = run["dir"]
    curve = pd.read_csv(run_dir / VAL_CURVE)
    assert list(curve.columns) == list(COLUMNS)
    with np.load(run_dir / "best" / "evaluations.npz") as log:
        assert curve["timesteps"].tolist() == log["timesteps"].tolist() == [160, 320, 480]
        np.testing.assert_array_equal(curve["eval_reward"].to_numpy(), log["results"][:, 0])
    # the best model is the checkpoint with the highest eval reward (the first one on ties)
    row = curve.iloc[int(np.argmax(curve["eval_reward"].to_numpy()))]
    cfg = load_config(run_dir / "config.yaml")
    direct = run_backtest(make_env(cfg.stack, "val"), load_policy(run_dir / "best" / "best_model.zip"), n_boot=10)
    assert row["val_sharpe"] == direct.metrics["sharpe_annual"]
    assert row["val_total_return"] == direct.metrics["total_return_frac"]
    assert row["val_max_drawdown"] == direct.metrics["max_drawdown_frac"]
    assert row["trade_count"] == direct.metrics["trade_count"] > 0
    # and in TensorBoard, at the evaluation's step (float32)
    logged = {e.step: e.value for e in _scalars(run_dir).Scalars("eval/sharpe")}
    assert logged == {int(t): np.float32(s) for t, s in zip(curve["timesteps"], curve["val_sharpe"], strict=True)}


def test_hparams_list_every_train_setting_and_the_test_metrics_equal_metrics_json(run):
    run_dir = run["dir"]
    acc = _scalars(run_dir)
    records = {
        tag: plugin_data_pb2.HParamsPluginData.FromString(content)
        for tag, content in acc.PluginTagToContent("hparams").items()
    }
    experiment = records["_hparams_/experiment"].experiment
    declared = {m.name.tag for m in experiment.metric_infos}
    assert {*result_tags("test"), *result_tags("test_final"), "eval/sharpe"} <= declared
    hparams = records["_hparams_/session_start_info"].session_start_info.hparams
    for field in dataclasses.fields(TrainConfig):
        assert f"train.{field.name}" in hparams, f"train.{field.name} missing from the HParams record"
    assert hparams["train.eval_freq"].number_value == 160 and hparams["train.normalize_obs"].number_value == 1
    metrics = load_metrics(run_dir)
    for name, prefix in (("ppo", "test"), ("ppo_final", "test_final")):
        expected = result_scalars(name, metrics)
        assert set(expected) == set(result_tags(prefix))  # all finite in this run
        for tag, value in expected.items():
            (event,) = acc.Scalars(tag)
            assert event.value == np.float32(value), tag
    assert acc.Scalars("test/sharpe")[0].value == np.float32(metrics["ppo"]["sharpe_annual"])
    cap_diff = metrics["ppo"]["sharpe_annual"] - metrics["buy_and_hold_cap"]["sharpe_annual"]
    assert acc.Scalars("test/sharpe_diff_vs_buy_and_hold_cap")[0].value == np.float32(cap_diff)
    assert acc.Scalars("test/sharpe")[0].step == 480 and acc.Scalars("test_final/sharpe")[0].step == 512


def test_the_final_model_is_kept_beside_the_best(run):
    run_dir = run["dir"]
    assert policy_name(run_dir, run_dir / "best" / "best_model.zip") == "ppo"
    assert policy_name(run_dir, run_dir / "model.zip") == "ppo_final"
    for name in ("ppo", "ppo_final"):
        assert (run_dir / "backtest" / name / "equity.csv").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics)[:2] == ["ppo", "ppo_final"]
    assert metrics["ppo"] == run["after_best"]["ppo"]  # the final model's backtest left the best's alone
    assert metrics["ppo"]["n_trials"] == 3 and metrics["ppo_final"]["n_trials"] == 1
    assert (run_dir / "trades.csv").read_text() == run["best_trades"]
    report = (run_dir / "report.md").read_text()
    assert "| ppo |" in report and "| ppo_final |" in report
    assert "**`ppo` beat" in report and "**`ppo_final` beat" in report
    assert "(DSR): 3 (1 configuration x 3 checkpoints" in report and "`ppo_final`: 1 (1 configuration x 1" in report
    assert "`ppo`: best/best_model.zip; `ppo_final`: model.zip" in report


def test_the_report_command_rebuilds_both_models_and_says_the_tiers_were_off(run, tmp_path):
    run_dir = Path(shutil.copytree(run["dir"], tmp_path / run["dir"].name))
    (run_dir / "report.md").unlink()
    (run_dir / "weights.png").write_bytes(b"stale")  # a chart left by some earlier report must not survive
    assert main(["report", "--run", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert "| ppo |" in report and "| ppo_final |" in report
    assert "Tier 1 was off" in report and "Tier 2 was off" in report
    assert not (run_dir / "weights.png").exists() and not (run_dir / "regimes.png").exists()
    assert "](weights.png)" not in report and "](regimes.png)" not in report
    assert (run_dir / "learning_curve.png").exists() and "](learning_curve.png)" in report
    assert "each of the 3 evaluations" in report


def test_a_run_without_the_val_curve_says_so_instead_of_plotting(run, tmp_path):
    run_dir = Path(shutil.copytree(run["dir"], tmp_path / run["dir"].name))
    (run_dir / VAL_CURVE).unlink()
    assert main(["report", "--run", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert "No learning curve: this run has no `val_curve.csv`" in report and "](learning_curve.png)" not in report
    assert not (run_dir / "learning_curve.png").exists()


def test_test_metrics_skip_undefined_values():
    metrics = {"ppo": {"sharpe_annual": math.nan, "trade_count": 0.0}, "buy_and_hold_cap": {"sharpe_annual": 0.5}}
    scalars = result_scalars("ppo", metrics)
    assert scalars == {"test/trade_count": 0.0}
