"""Reward kinds and the per-step reward terms (issue 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.reward import RewardConfig
from envs.trading_env import TradingEnv


def _run(env: TradingEnv, actions: np.ndarray) -> list[tuple[float, dict, float, float]]:
    env.reset(seed=0)
    out = []
    for a in actions:
        eq0 = env.account.equity
        _, reward, term, trunc, info = env.step(a)
        out.append((float(reward), info, eq0, env.account.equity))
        if term or trunc:
            break
    return out


@pytest.fixture
def actions():
    return np.random.default_rng(3).uniform(-1, 1, (300, 4)).astype(np.float32)


def test_reward_is_its_terms(synthetic_sample, actions):
    env = TradingEnv(synthetic_sample.data, reward=RewardConfig(drawdown_penalty=5.0, clip_penalty=0.5))
    rows = _run(env, actions)
    assert any(not info["reward_terms"]["flat"] for _, info, _, _ in rows)
    for reward, info, _, _ in rows:
        t = info["reward_terms"]
        assert reward == pytest.approx(t["base"] - t["drawdown_penalty"] - t["clip_penalty"], abs=1e-12)
        assert t["drawdown_penalty"] >= 0 and t["clip_penalty"] >= 0


def test_log_return_reward_is_scaled_log_growth(synthetic_sample, actions):
    env = TradingEnv(synthetic_sample.data, reward=RewardConfig(kind="log_return", scale=50.0, drawdown_penalty=0.0))
    rows = _run(env, actions)
    for reward, info, eq0, eq1 in rows:
        assert info["reward_terms"]["base"] == pytest.approx(50.0 * math.log(eq1 / eq0), abs=1e-12)
        if info["reward_terms"]["flat"]:
            assert reward == 0.0 or info["reward_terms"]["clip_penalty"] > 0  # a flat book earns exactly nothing


def test_log_return_pays_the_edge_and_dsr_does_not_depend_on_it(synthetic_sample):
    """The same trade path gives rewards of the sign of its growth under log_return (not so under dsr warm-up)."""
    env = TradingEnv(synthetic_sample.data, reward=RewardConfig(kind="log_return", drawdown_penalty=0.0))
    long = np.array([1.0, -0.6, 1.0, 1.0], dtype=np.float32)
    for reward, _, eq0, eq1 in _run(env, np.tile(long, (50, 1))):
        assert np.sign(reward) == np.sign(math.log(eq1 / eq0))


@pytest.mark.parametrize("bad", ["sharpe", "", 3])
def test_unknown_reward_kind_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"RewardConfig.kind=.*is not one of \['dsr', 'log_return'\]"):
        RewardConfig(kind=bad)


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match=r"RewardConfig.scale=0.0 must be > 0"):
        RewardConfig(kind="log_return", scale=0.0)
