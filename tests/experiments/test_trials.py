"""Trials counted for the deflated Sharpe ratio: configurations tried x checkpoints scored to pick the model."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.config import load_config
from experiments.evaluation.runfiles import EVALUATIONS, checkpoints_scored
from experiments.reporting.evaluate import TrialCount, trials_counted


def _run_dir(tmp_path, evaluations: int | None):
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "best_model.zip").write_bytes(b"")
    (tmp_path / "model.zip").write_bytes(b"")
    if evaluations is not None:
        steps = np.arange(1, evaluations + 1) * 100
        np.savez(tmp_path / EVALUATIONS, timesteps=steps, results=np.zeros((evaluations, 1)))
    return tmp_path


def test_best_model_counts_configurations_times_checkpoints_scored(tmp_path):
    run = _run_dir(tmp_path, evaluations=3)
    cfg = load_config("quickstart", overrides=["n_trials=2"])
    assert checkpoints_scored(run) == 3
    best = trials_counted(cfg, run, run / "best" / "best_model.zip")
    assert best == TrialCount(2, 3) and best.total == 6
    assert best.describe() == "2 configurations x 3 checkpoints scored on the validation window"


def test_final_model_was_not_picked_so_it_counts_configurations_only(tmp_path):
    run = _run_dir(tmp_path, evaluations=3)
    cfg = load_config("quickstart", overrides=["n_trials=2"])
    final = trials_counted(cfg, run, run / "model.zip")
    assert final.total == 2 and not final.picked
    assert "final model" in final.describe()


def test_a_run_without_the_evaluation_log_is_counted_from_its_config(tmp_path):
    run = _run_dir(tmp_path, evaluations=None)
    # quick start: 400000 steps in rollouts of 256 x 4 envs (391 rollouts = 400384 steps), evaluations every
    # 40000 // 4 = 10000 calls of the 100096 calls -> 10 evaluations
    cfg = load_config("quickstart")
    with pytest.warns(UserWarning, match="evaluations.npz is missing.*counting 10"):
        assert trials_counted(cfg, run, run / "best" / "best_model.zip").total == 10
