"""``tradebrain tune``: an Optuna study on validation folds, resumable, with a loadable best config (issue 8)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from experiments.cli import main
from experiments.config import ConfigError, load_config
from experiments.tuning.tune import validation_folds

TINY = {
    "name": "tinytune",
    "seed": 0,
    "stack": {
        "data": "synthetic:planted_edge",
        "train": ["1993-01-01", "1995-07-01"],
        "val": ["1995-07-01", "1996-01-01"],
        "test": ["1996-01-01", "1997-01-01"],
        "tiers": {"tier1": True, "tier2": False},
    },
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "train": {"total_timesteps": 64, "n_envs": 1, "eval_freq": 0, "checkpoint_freq": 0},
}


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(TINY), "runs_dir": str(tmp_path / "runs")}))
    return path


def test_folds_roll_back_and_never_reach_the_test_window():
    cfg = load_config(copy.deepcopy(TINY))
    folds = validation_folds(cfg, 3)
    assert folds[0].stack == cfg.stack
    ends = [pd.Timestamp(f.stack.val[1]) for f in folds]
    assert ends == sorted(ends, reverse=True) and len(set(ends)) == 3  # each fold one validation length earlier
    for f in folds:
        assert f.stack.test == cfg.stack.test
        assert f.stack.train[1] == f.stack.val[0]
        assert pd.Timestamp(f.stack.val[1]) <= pd.Timestamp(cfg.stack.val[1]) <= pd.Timestamp(cfg.stack.test[0])
    with pytest.raises(ConfigError, match=r"fold \d would validate on .* less than a year of training"):
        validation_folds(cfg, 4)


def test_three_trials_then_resume_adds_to_the_same_study(config_file, tmp_path, capsys):
    import optuna

    out = tmp_path / "tune"
    assert main(["tune", "--config", str(config_file), "--trials", "3", "--folds", "2", "--out", str(out)]) == 0
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.load_study(study_name="tradebrain-tinytune", storage=storage)
    assert len(study.trials) == 3
    assert main(["tune", "--config", str(config_file), "--trials", "1", "--folds", "2", "--out", str(out)]) == 0
    study = optuna.load_study(study_name="tradebrain-tinytune", storage=storage)
    assert len(study.trials) == 4
    # the resumed call draws new parameters (a fixed sampler seed would replay trial 0's random start-up draw)
    assert study.trials[3].params["ppo.learning_rate"] not in [t.params["ppo.learning_rate"] for t in study.trials[:3]]
    for name in ("best.yaml", "trials.csv", "history.png"):
        assert (out / name).exists(), name
    best = load_config(out / "best.yaml")
    evaluated = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    assert best.n_trials == evaluated >= 3  # every evaluated trial counts for the deflated Sharpe ratio
    params = study.best_trial.params
    assert best.ppo.learning_rate == pytest.approx(params["ppo.learning_rate"])
    assert best.stack.reward.kind == params["stack.reward.kind"]
    assert best.train.normalize_obs == params["train.normalize_obs"]
    assert best.stack.test == tuple(TINY["stack"]["test"])
    for trial in study.trials:  # a trial that scored its last fold is complete, never pruned
        assert trial.state.name != "PRUNED" or "fold1_val_sharpe" not in trial.user_attrs, trial.user_attrs
    for trial in study.trials:  # trained on validation folds only: every fold's run ended before the test window
        for fold in (out / "trials" / str(trial.number)).glob("fold*"):
            cfg = load_config(fold / "config.yaml")
            assert pd.Timestamp(cfg.stack.val[1]) <= pd.Timestamp(cfg.stack.test[0])
    assert "best config" in capsys.readouterr().out


def test_bad_trial_count_is_one_line(config_file, capsys):
    assert main(["tune", "--config", str(config_file), "--trials", "0"]) == 2
    assert "trials=0 must be >= 1" in capsys.readouterr().err
