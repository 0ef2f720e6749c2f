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
    cfg = RewardConfig(drawdown_penalty=5.0, clip_penalty=0.5, bar_cost=0.01)
    env = TradingEnv(synthetic_sample.data, reward=cfg)
    rows = _run(env, actions)
    assert any(not info["reward_terms"]["flat"] for _, info, _, _ in rows)
    bar = env.window[0]  # _run resets at the window start
    for reward, info, _, _ in rows:
        t = info["reward_terms"]
        assert reward == pytest.approx(t["base"] - t["drawdown_penalty"] - t["clip_penalty"] - t["bar_cost"], abs=1e-12)
        assert t["drawdown_penalty"] >= 0 and t["clip_penalty"] >= 0
        # the bar cost is paid for every bar the step spans: 1 when flat, decision to exit when trading
        spanned = info["bar"] - bar
        assert spanned == 1 if t["flat"] else spanned >= 1
        assert t["bar_cost"] == pytest.approx(0.01 * spanned, abs=1e-15)
        bar = info["bar"]


def test_bar_cost_moves_no_trade_and_sums_to_a_constant_per_bar(synthetic_sample, actions):
    """The per-bar opportunity cost changes what a decision is paid, not what happens: the same actions give
    the same equity path, and the rewards differ by exactly ``bar_cost`` x the bars each step spans."""
    env = TradingEnv(synthetic_sample.data, reward=RewardConfig(kind="log_return"))
    plain = _run(env, actions)
    costly = _run(TradingEnv(synthetic_sample.data, reward=RewardConfig(kind="log_return", bar_cost=0.02)), actions)
    assert [r[3] for r in plain] == [r[3] for r in costly]  # equity after every step
    bars = [info["bar"] for _, info, _, _ in plain]
    spans = np.diff([env.window[0], *bars])
    diffs = np.array([p[0] - c[0] for p, c in zip(plain, costly, strict=True)])
    np.testing.assert_allclose(diffs, 0.02 * spans, atol=1e-12)
    assert diffs.sum() == pytest.approx(0.02 * (bars[-1] - env.window[0]), abs=1e-9)


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
