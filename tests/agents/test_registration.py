"""``tradebrain/TradingBrainStack-v2``: the Tier 1 + Tier 2 stack through ``gym.make`` and ``gym.make_vec``.

Determinism and the env checkers: the Tier 1 bandit learns online from closed trades, but it restarts from its
prior at every ``reset()`` (``reset_each_episode=True``), so two resets with the same seed followed by the same
actions give the same steps even though the weights move within the episode. Gymnasium's
``check_reset_seed_determinism`` / ``check_step_determinism`` and SB3's checker therefore pass with learning on;
they are run with ``tier1_learn`` on and off, and
:func:`test_same_seed_same_actions_give_the_same_steps_while_tier1_learns` shows that the weights do move (the
check is not vacuous).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from agents import stack
from agents.config import StackConfig, TierConfig
from agents.stack import STACK_KEYWORDS, make_env, make_stack_env, stack_config
from agents.tier1 import ComponentWeightWrapper
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.data import load
from envs.layout import OBS_LAYOUT

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "train": ("2004-01-01", "2006-01-01"),
    "val": ("2006-01-01", "2006-07-01"),
    "test": ("2006-07-01", "2007-01-01"),
    "episode_bars": 60,
    "tier2_restarts": 2,
    "tier2_fit_bars": 500,
}
"""Keywords of a small stack: short windows, a cheap detector fit."""

SMALL_CFG = StackConfig(
    train=SMALL["train"],
    val=SMALL["val"],
    test=SMALL["test"],
    episode_bars=60,
    tiers=TierConfig(tier2_restarts=2, tier2_fit_bars=500),
)


def _rollout(env: gym.Env, seed: int, n: int) -> list[tuple[np.ndarray, float, bool, bool]]:
    """``n`` steps with seeded random actions; the env is reset (unseeded) when an episode ends."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False, False)]
    for _ in range(n):
        obs, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        out.append((obs, float(reward), terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((obs, 0.0, False, False))
    return out


def test_import_envs_registers_both_ids():
    assert envs.STACK_ENV_ID == "tradebrain/TradingBrainStack-v2"
    assert gym.spec(envs.STACK_ENV_ID).entry_point == "agents.stack:make_stack_env"
    assert gym.spec(envs.ENV_ID).entry_point == "envs.trading_env:TradingEnv"


@pytest.mark.parametrize("split", ["train", "test"])
def test_gym_make_equals_make_env_for_the_same_config_and_seed(split):
    made = gym.make(envs.STACK_ENV_ID, split=split, **SMALL)
    assert isinstance(made.unwrapped, envs.TradingEnv) and made.spec.id == envs.STACK_ENV_ID
    inner = made.env.env  # gym.make's OrderEnforcing(PassiveEnvChecker(stack))
    assert isinstance(inner, ComponentWeightWrapper) and isinstance(inner.env, RegimeWrapper)
    a, b = _rollout(made, 5, 150), _rollout(make_env(SMALL_CFG, split), 5, 150)
    assert len(a) == len(b) > 150
    for (oa, ra, ta, ua), (ob, rb, tb, ub) in zip(a, b, strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert (ra, ta, ua) == (rb, tb, ub)


def test_keywords_config_and_mapping_give_the_same_config():
    by_keywords = stack_config(**SMALL)
    assert by_keywords == SMALL_CFG
    assert stack_config(dict(SMALL)) == SMALL_CFG
    assert stack_config({"train": list(SMALL["train"])}).train == SMALL["train"]  # a YAML list becomes a tuple
    cfg = stack_config(SMALL_CFG, tier1=False, commission_bps=0.5, limits={"max_position": 0.1}, reward={"eta": 0.02})
    assert (cfg.tiers.tier1, cfg.tiers.tier2_restarts, cfg.costs.commission_bps) == (False, 2, 0.5)
    assert (cfg.limits.max_position, cfg.reward.eta, cfg.train) == (0.1, 0.02, SMALL["train"])
    # within a section, a plain keyword wins over the section's mapping
    assert stack_config(tiers={"tier1": True, "tier2": False}, tier1=False).tiers == TierConfig(
        tier1=False, tier2=False
    )
    assert stack_config(tiers=TierConfig(tier2=False), tier2_states=4).tiers == TierConfig(tier2=False, tier2_states=4)


def test_plain_keywords_name_one_field_of_one_section():
    top = {f.name for f in dataclasses.fields(StackConfig)}
    assert not top & set(STACK_KEYWORDS)
    for name, section in STACK_KEYWORDS.items():
        assert name in {f.name for f in dataclasses.fields(getattr(StackConfig(), section))}
    assert {"tier1", "tier2", "tier2_restarts", "commission_bps", "max_position", "eta"} <= set(STACK_KEYWORDS)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"tier_1": True}, r"unknown keyword 'tier_1'; did you mean 'tier1'\? valid keywords: config, split, data, "),
        ({"trian": ("2002-01-01", "2013-01-01")}, r"unknown keyword 'trian'; did you mean 'train'\?"),
        (
            {"tiers": {"tier3": True}},
            r"unknown keyword 'tiers.tier3'; did you mean 'tiers.tier2'\? valid keywords: tiers",
        ),
        ({"costs": 1.0}, r"costs must be a Costs or a mapping of its fields, got 1.0"),
        ({"train": "2002-01-01"}, r"train='2002-01-01' must be a \(start, stop\) pair of dates"),
        ({"tier1_learn": "yes"}, r"tier1_learn must be a bool, got 'yes'"),
    ],
)
def test_bad_keywords_are_type_errors_that_name_them(kwargs, pattern):
    with pytest.raises(TypeError, match=pattern) as info:
        make_stack_env(**kwargs)
    assert "tradebrain/TradingBrainStack-v2" in str(info.value)
    with pytest.raises(TypeError, match=pattern):  # the same message through gym.make
        gym.make(envs.STACK_ENV_ID, **kwargs)


def test_every_valid_keyword_is_listed_once():
    with pytest.raises(TypeError) as info:
        make_stack_env(nonsense=1)
    listed = str(info.value).split("valid keywords: ", 1)[1].split(", ")
    assert len(listed) == len(set(listed))
    assert set(listed) == {*stack.ENV_KEYWORDS, *(f.name for f in dataclasses.fields(StackConfig)), *STACK_KEYWORDS}


def test_bad_split_and_bad_values_are_value_errors():
    with pytest.raises(ValueError, match="split='validation'; choose 'train', 'val' or 'test'"):
        make_stack_env(split="validation", **SMALL)
    with pytest.raises(ValueError, match=r"Costs.commission_bps=-1.0 must be in \[0, 1000\)"):
        make_stack_env(commission_bps=-1.0, **SMALL)


@pytest.mark.parametrize("tier1_learn", [True, False])
@pytest.mark.parametrize("split", ["train", "val"])
def test_gymnasium_and_sb3_checkers_pass_with_warnings_as_errors(split, tier1_learn):
    made = gym.make(envs.STACK_ENV_ID, split=split, tier1_learn=tier1_learn, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(made.unwrapped)  # the base env, as Gymnasium recommends
        # The stack's behaviour is in its wrappers, so the checker also runs on the env gym.make returns; the only
        # warning let through is the checker's note that it was handed a wrapped env.
        warnings.filterwarnings("ignore", message=r".*is different from the unwrapped version", category=UserWarning)
        gym_check_env(gym.make(envs.STACK_ENV_ID, split=split, tier1_learn=tier1_learn, **SMALL))
        sb3_check_env(made, warn=True)


def test_same_seed_same_actions_give_the_same_steps_while_tier1_learns():
    env = gym.make(envs.STACK_ENV_ID, split="test", **SMALL)
    frozen = gym.make(envs.STACK_ENV_ID, split="test", tier1_learn=False, **SMALL)
    first, second, still = _rollout(env, 3, 80), _rollout(env, 3, 80), _rollout(frozen, 3, 80)
    for (oa, ra, *_), (ob, rb, *_) in zip(first, second, strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb
    tier1 = OBS_LAYOUT.group_slice("tier1")
    weights = np.array([obs[tier1] for obs, *_ in first])
    assert np.ptp(weights, axis=0).max() > 0.01  # the bandit learned: the weights moved
    np.testing.assert_allclose(np.array([obs[tier1] for obs, *_ in still]), 0.25)  # learning off: the prior


def test_make_vec_sync_and_async_step_with_the_right_shapes_and_agree():
    kwargs = {"split": "train", **SMALL}
    sync = gym.make_vec(envs.STACK_ENV_ID, num_envs=2, vectorization_mode="sync", **kwargs)
    asyn = gym.make_vec(envs.STACK_ENV_ID, num_envs=2, vectorization_mode="async", **kwargs)
    assert asyn.single_observation_space.shape == (27,) and asyn.single_action_space.shape == (4,)
    try:
        obs_s, _ = sync.reset(seed=7)
        obs_a, _ = asyn.reset(seed=7)
        assert obs_a.shape == (2, 27) and obs_a.dtype == np.float32
        np.testing.assert_array_equal(obs_s, obs_a)
        assert not np.array_equal(obs_a[0], obs_a[1])  # seeds 7 and 8: two random starts
        rng = np.random.default_rng(0)
        for _ in range(60):
            action = rng.uniform(-1, 1, (2, 4)).astype(np.float32)
            out_s, out_a = sync.step(action), asyn.step(action)
            for name, s, a in zip(("obs", "reward", "terminated", "truncated"), out_s[:4], out_a[:4], strict=True):
                assert a.shape == ((2, 27) if name == "obs" else (2,)), name
                np.testing.assert_array_equal(s, a, err_msg=name)
    finally:
        sync.close()
        asyn.close()


def test_async_workers_started_fresh_import_the_entry_point():
    """``spawn`` workers share nothing with this process: they import ``agents.stack`` and fit their detector."""
    vec = gym.make_vec(
        envs.STACK_ENV_ID, num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"}, **SMALL
    )
    try:
        obs, _ = vec.reset(seed=1)
        direct = make_env(SMALL_CFG, "train")
        np.testing.assert_array_equal(obs[0], direct.reset(seed=1)[0])
        obs, reward, *_ = vec.step(np.zeros((2, 4), dtype=np.float32))
        assert obs.shape == (2, 27) and reward.shape == (2,)
    finally:
        vec.close()


def test_module_prefixed_id_works_in_a_fresh_interpreter():
    code = (
        "import gymnasium as gym\n"
        "assert 'tradebrain/TradingBrainStack-v2' not in gym.registry\n"
        "env = gym.make('envs:tradebrain/TradingBrainStack-v2', split='test', tier2=False, tier1=False)\n"
        "print(type(env.unwrapped).__name__, env.spec.id, env.reset(seed=0)[0].shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["TradingEnv", "tradebrain/TradingBrainStack-v2", "(27,)"]
    env = gym.make("agents.stack:tradebrain/TradingBrainStack-v2", split="test", tier2=False)
    assert env.spec.id == envs.STACK_ENV_ID


def test_market_data_and_a_fitted_detector_can_be_passed_in():
    data = load("sp500")
    detector = stack.fit_detector(SMALL_CFG, data, "test")
    env = make_stack_env(split="test", data=data, detector=detector, **SMALL)
    assert env.unwrapped.data is data and env.env.detector is detector
    np.testing.assert_array_equal(env.reset(seed=0)[0], make_env(SMALL_CFG, "test").reset(seed=0)[0])


def test_the_detector_cache_returns_a_copy_of_the_same_fit(monkeypatch):
    data = load("sp500")
    stack.clear_detector_cache()
    fits = []
    real_fit = RegimeDetector.fit
    monkeypatch.setattr(RegimeDetector, "fit", lambda self, *a: fits.append(1) or real_fit(self, *a))
    first = stack.fit_detector(SMALL_CFG, data, "test", cache=True)
    second = stack.fit_detector(SMALL_CFG, data, "test", cache=True)
    assert len(fits) == 1 and second is not first
    for name in ("transmat_", "startprob_", "means_"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    first.transmat_[:] = 0.0  # a caller changing its detector leaves the cached one alone
    third = stack.fit_detector(SMALL_CFG, data, "test", cache=True)
    np.testing.assert_array_equal(third.transmat_, second.transmat_)
    stack.fit_detector(dataclasses.replace(SMALL_CFG, tiers=TierConfig(tier2_restarts=1)), data, "test", cache=True)
    stack.fit_detector(SMALL_CFG, data, "val", cache=True)  # other bars
    stack.fit_detector(SMALL_CFG, data, "test", cache=False)
    assert len(fits) == 4
    refit = stack.fit_detector(SMALL_CFG, data, "test")
    np.testing.assert_array_equal(refit.transmat_, second.transmat_)  # a hit equals a refit
    stack.clear_detector_cache()
