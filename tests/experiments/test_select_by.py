"""``train.select_by``: the best model is the checkpoint with the highest validation Sharpe, or reward."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from agents.stack import make_env
from experiments.config import ConfigError, load_config
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.policies import load_policy
from experiments.evaluation.runfiles import VAL_CURVE, checkpoints_scored
from experiments.training.train import train

TINY = [
    "stack.train=['2005-01-01', '2007-01-01']",
    "stack.val=['2007-01-01', '2007-07-01']",
    "stack.test=['2007-07-01', '2008-07-01']",
    "stack.episode_bars=60",
    "stack.tiers.tier1=false",
    "stack.tiers.tier2=false",
    "ppo.n_steps=64",
    "ppo.batch_size=64",
    "ppo.n_epochs=2",
    "ppo.learning_rate=3e-3",  # large steps: the checkpoints differ
    "train.total_timesteps=640",
    "train.n_envs=1",
    "train.eval_freq=128",  # 5 checkpoints scored
    "train.checkpoint_freq=0",
    "train.normalize_obs=true",
]


@pytest.mark.parametrize("select_by", ["sharpe", "reward"])
def test_the_best_model_is_the_checkpoint_that_maximises_the_chosen_measure(select_by, tmp_path):
    cfg = load_config("quickstart", [*TINY, f"train.select_by={select_by}", f"runs_dir={tmp_path}"])
    result = train(cfg, progress=False)
    curve = pd.read_csv(result.run_dir / VAL_CURVE)
    assert len(curve) == checkpoints_scored(result.run_dir) == 5  # every scored checkpoint is a trial either way
    column = "val_sharpe" if select_by == "sharpe" else "eval_reward"
    values = curve[column].fillna(-np.inf).to_numpy()
    picked = int(np.argmax(values))  # the first of equal maxima: a later one must beat it strictly
    assert result.best_model_path is not None
    bt = run_backtest(make_env(dataclasses.replace(cfg.stack), "val"), load_policy(result.best_model_path), seed=0)
    assert bt.metrics["sharpe_annual"] == pytest.approx(curve["val_sharpe"][picked], rel=1e-9, nan_ok=True)
    assert (result.run_dir / "best" / "obs_norm.json").exists()


def test_select_by_is_checked():
    with pytest.raises(ConfigError, match=r"train.select_by='return' is not one of \['reward', 'sharpe'\]"):
        load_config("quickstart", ["train.select_by=return"])
