"""A short synthetic market and a tiny walk-forward config: two folds (test years 2004, 2005), two seeds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

from envs.synthetic import SyntheticMarket

TINY = {
    "name": "wf",
    "walkforward": {
        "first_test_year": 2004,
        "last_test_year": 2005,
        "train_years": 3,
        "val_years": 1,
        "min_fit_bars": 250,
        "seeds": [0, 1],
        "tier_sets": ["tier1+2+3"],
        "baselines": True,
        "n_boot": 50,
        "meta_iterations": 2,
        "meta_selector_tasks": 2,
        "rule_tasks": 4,
        "rule_bars": 300,
    },
    "stack": {
        "episode_bars": 60,
        "tiers": {"tier2_restarts": 3, "tier2_fit_bars": 250},
    },
    "ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "train": {"total_timesteps": 128, "n_envs": 1, "eval_freq": 64, "checkpoint_freq": 0},
}


@pytest.fixture(scope="session")
def market_csv(tmp_path_factory) -> Path:
    """1,560 synthetic bars from 2000-01-03 to the end of 2005 (regimes with known labels)."""
    sample = SyntheticMarket.three_regime(student_df=5.0).generate(n_bars=1560, seed=3)
    path = tmp_path_factory.mktemp("data") / "market.csv"
    sample.data.to_frame().rename_axis("date").to_csv(path)
    return path


@pytest.fixture(scope="session")
def tiny_config(market_csv, tmp_path_factory) -> Path:
    tree = {**TINY, "stack": {**TINY["stack"], "data": str(market_csv)}}
    path = tmp_path_factory.mktemp("cfg") / "wf_tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def shared_once(tmp_path_factory, name: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
    """Run ``make(folder)`` once per test session, even across pytest-xdist workers (a file lock on a folder that
    all workers share); returns the folder and the JSON that ``make`` returned.

    Module fixtures run once per xdist worker; the walk-forward runs are the slow part of this folder, so the
    workers share them (the recipe of pytest-xdist's documentation).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = shared / f"shared-{name}", shared / f"shared-{name}.json"
    with FileLock(str(shared / f"shared-{name}.lock")):
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps(make(folder)))
    return folder, json.loads(done.read_text())


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Callable[[str, Callable[[Path], Any]], tuple[Path, Any]]:
    """:func:`shared_once` bound to this session's temporary folders: ``shared(name, make)``."""
    return lambda name, make: shared_once(tmp_path_factory, name, make)
