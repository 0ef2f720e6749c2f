from __future__ import annotations

import warnings

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from agents.config import StackConfig, TierConfig
from agents.stack import make_env
from agents.tier1 import ComponentWeightWrapper
from agents.tier2 import RegimeWrapper
from agents.vec import make_vec_env
from envs.layout import OBS_LAYOUT
from tests.agents.small import SMALL


def test_full_stack_keeps_the_27_slot_space_and_passes_sb3_checker():
    env = make_env(SMALL, "test")
    assert isinstance(env, ComponentWeightWrapper) and isinstance(env.env, RegimeWrapper)
    assert env.observation_space.shape == (27,) and env.action_space.shape == (4,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make_env(SMALL, "val"))
    obs, info = env.reset(seed=0)
    assert obs[OBS_LAYOUT.group_slice("tier2")].sum() == pytest.approx(1.0, abs=1e-5)
    assert "regime" in info and "weights" in info


def test_tiers_off_leave_the_default_slots():
    cfg = StackConfig(**{**SMALL.__dict__, "tiers": TierConfig(tier1=False, tier2=False)})
    env = make_env(cfg, "train")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[OBS_LAYOUT.group_slice("tier1")], OBS_LAYOUT.default_tier1())
    np.testing.assert_allclose(obs[OBS_LAYOUT.group_slice("tier2")], 0.2)


def test_evaluation_windows_start_at_their_start_and_training_is_random():
    test_env = make_env(SMALL, "test")
    assert test_env.reset(seed=0)[1]["time"] == "2006-07-03"
    for kind in ("dummy", "batched"):
        venv = make_vec_env(SMALL, n_envs=2, seed=3, vec_env=kind)
        venv.reset()
        bars = venv.get_attr("bar") if kind == "dummy" else venv.venv.stack.core.is_[:, 0].tolist()
        assert bars[0] != bars[1]
        lo, hi = venv.get_attr("window")[0]
        assert all(lo <= b < hi for b in bars)


def test_detector_is_fitted_before_the_window_it_labels():
    env = make_env(SMALL, "test")
    base = env.unwrapped
    with pytest.raises(ValueError, match="bars before the test window"):
        make_env(StackConfig(**{**SMALL.__dict__, "test": ("1999-03-01", "2000-01-01")}), "test")
    assert base.window[0] == base.data.bar_at("2006-07-01")
