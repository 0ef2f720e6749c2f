"""Fixtures of the live path: one tiny training run and its bundle, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    "train.total_timesteps=256",
    "train.n_envs=1",
    "train.eval_freq=0",
    "train.checkpoint_freq=0",
]
"""A run small enough to train in a few seconds: sp500, train 2005-2006, test 2007-07 .. 2008-06."""


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A trained run folder (config.yaml, model.zip)."""
    from experiments.config import load_config
    from experiments.training.train import train

    cfg = load_config("quickstart", overrides=[*TINY, f"runs_dir={tmp_path_factory.mktemp('runs')}"])
    return train(cfg, progress=False).run_dir


BOX = ["stack.action=box", "ppo.full_info=0", "ppo.gamma=0.99", "stack.reward.kind=dsr"]
"""The learner of the presets before 2026-12-06: PPO's Gaussian policy on the env's 4-dim Box."""


@pytest.fixture(scope="session")
def tiny_box_run(tmp_path_factory) -> Path:
    """A trained run folder of the Box learner (the quick start's default is the bracket menu)."""
    from experiments.config import load_config
    from experiments.training.train import train

    cfg = load_config("quickstart", overrides=[*TINY, *BOX, f"runs_dir={tmp_path_factory.mktemp('box_runs')}"])
    return train(cfg, progress=False).run_dir


@pytest.fixture(scope="session")
def tiny_market_run(tmp_path_factory) -> Path:
    """A trained run folder whose Tier 1 learns from the market (``stack.tiers.tier1_learns_from: market``)."""
    from experiments.config import load_config
    from experiments.training.train import train

    sets = [*TINY, "stack.tiers.tier1_learns_from=market", f"runs_dir={tmp_path_factory.mktemp('market_runs')}"]
    return train(load_config("quickstart", overrides=sets), progress=False).run_dir


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> Path:
    """The run's bundle (policy.onnx, warmup.json, bundle.json)."""
    from experiments.live.export import export_bundle

    out = tmp_path_factory.mktemp("bundle") / "bundle"
    export_bundle(tiny_run, out, which="final", n_check=500)
    return out


TINY_META = [
    *TINY[:6],
    "stack.test=['2007-07-01', '2010-01-01']",
    "meta.maml.iterations=2",
    "meta.maml.meta_batch=2",
    "meta.maml.k_support=4",
    "meta.maml.k_query=4",
    "meta.selector_tasks=3",
    "meta.eval_tasks=0",
    "meta.n_bars=200",
    "meta.adapt_bars=80",
    "meta.backtest=false",
    "meta.rule_tasks=4",
    "meta.rule_bars=300",
]
"""A `tradebrain meta-train` run in seconds on the tiny run's windows, tested to 2010 (the bundle's replay)."""


@pytest.fixture(scope="session")
def tier4_run(tmp_path_factory) -> Path:
    """A meta-train run folder (config.yaml, tier4/)."""
    from experiments.training.meta import load_meta, run_meta_train

    mc, cfg = load_meta("meta", overrides=TINY_META)
    root = tmp_path_factory.mktemp("meta") / "run"
    run_meta_train(mc, cfg, root)
    return root


@pytest.fixture(scope="session")
def tier4_bundle(tier4_run, tmp_path_factory) -> Path:
    """The meta-train run's bundle (specialist_*.onnx, selector.onnx, warmup.json, bundle.json)."""
    from experiments.cli import main

    out = tmp_path_factory.mktemp("bundle4") / "bundle"
    assert main(["export", "--run", str(tier4_run), "--out", str(out)]) == 0
    return out
