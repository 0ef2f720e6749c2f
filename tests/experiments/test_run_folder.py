"""Run folders: named after the config and the data, and not left behind by a run that failed before saving a model."""

from __future__ import annotations

import importlib

import pytest

from experiments.config import load_config
from experiments.training.train import new_run_dir, train

FAST = ["stack.tiers.tier2=false", "train.total_timesteps=64", "train.n_envs=1", "ppo.n_steps=64", "ppo.batch_size=64"]


def test_run_folders_are_named_after_the_config_and_the_data(tmp_path, sp500):
    from experiments.training.train import data_label

    sp500.slice(0, 2600).to_frame().to_csv(tmp_path / "my_bars.csv")
    own = load_config("quickstart", [f"runs_dir={tmp_path / 'runs'}", *FAST], data=tmp_path / "my_bars.csv")
    bundled = load_config("quickstart", [f"runs_dir={tmp_path / 'runs'}", *FAST])
    assert new_run_dir(own).name.startswith("quickstart-my_bars-20")
    assert new_run_dir(bundled).name.startswith("quickstart-sp500-20")
    assert data_label("synthetic:planted_edge:3") == "synthetic_planted_edge_3"
    assert data_label("sp500+vix") == "sp500+vix"


class _Broken(RuntimeError):
    pass


def test_a_run_that_fails_before_saving_a_model_leaves_no_folder(tmp_path, monkeypatch):
    module = importlib.import_module("experiments.training.train")  # the package exports a function of that name

    def broken(*args, **kwargs):
        raise _Broken("the learner could not be built")

    monkeypatch.setattr(module.algos, "make_model", broken)
    cfg = load_config("quickstart", [f"runs_dir={tmp_path / 'runs'}", *FAST])
    with pytest.raises(_Broken):
        train(cfg, progress=False)
    assert list((tmp_path / "runs").iterdir()) == []  # not even a folder holding only config.yaml


def test_a_failed_run_with_a_saved_model_is_kept(tmp_path):
    from experiments.training.train import discard_failed_run

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: x\n")
    (run / "checkpoints" / "ppo_100_steps.zip").write_bytes(b"model")
    assert discard_failed_run(run) is False and (run / "checkpoints" / "ppo_100_steps.zip").exists()
    (run / "checkpoints" / "ppo_100_steps.zip").unlink()
    assert discard_failed_run(run) is True and not run.exists()
