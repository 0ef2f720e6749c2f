"""Tier 1 is causal in every context: the observations at bar t do not change when the data after t + k is cut.

The full stack (TradingEnv -> RegimeWrapper -> ComponentWeightWrapper, built by :func:`agents.stack.wrap`) runs
once on the bundled S&P 500 data and once on the same data cut after bar ``T + K``, with the same Tier 2
detector (fitted on bars before the window), the same episode starts and the same actions. Every observation
at a bar <= T, and the weights recorded in every trade decided by T, must be identical (DESIGN.md sections 4
and 7). The cut env's window ends inside the cut data, K bars after T, with K > max_hold, so no trade decided
by T is closed differently by the cut.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from agents.config import StackConfig, TierConfig
from agents.stack import wrap
from agents.tier2 import RegimeDetector
from envs.data import MarketData, load
from envs.layout import OBS_LAYOUT
from envs.trading_env import TradingEnv

TIER1 = OBS_LAYOUT.group_slice("tier1")
W0 = 1500  # window start (bar)
T = W0 + 300  # the cut: observations at bars <= T are compared
K = 40  # the cut env's window ends at T + K (> max_hold = 20 bars)
CFG = StackConfig(episode_bars=60, tiers=TierConfig(tier2_fit_bars=750))


@pytest.fixture(scope="module")
def sp500() -> MarketData:
    return load("sp500")


@pytest.fixture(scope="module")
def detector(sp500: MarketData) -> RegimeDetector:
    det = RegimeDetector(n_restarts=2, random_state=0)  # converges on these 750 bars
    return det.fit(sp500.close[W0 - 750 : W0])


def _stack(data: MarketData, stop: int, detector: RegimeDetector, *, train: bool) -> gym.Env:
    base = TradingEnv(data, window=(W0, stop), random_start=train, episode_bars=CFG.episode_bars if train else None)
    return wrap(base, CFG, detector)


def _run(env: gym.Env, starts: list[int | None], seeds: list[int]) -> tuple[list[tuple[int, int]], dict, list]:
    """Run one episode per start, episode ``e`` with actions seeded by ``seeds[e]``; returns what was observed.

    Returns:
        keys ``(episode, bar)`` in order, ``{key: obs}``, and ``(episode, decision_bar, weights)`` of every trade.
    """
    keys, obs_at, trades = [], {}, []
    for e, (start, seed) in enumerate(zip(starts, seeds, strict=True)):
        actions = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(200, 4)).astype(np.float32)
        obs, info = env.reset(options=None if start is None else {"start": start})
        for action in actions:
            keys.append((e, info["bar"]))
            obs_at[keys[-1]] = obs
            obs, _, terminated, truncated, info = env.step(action)
            if "trade" in info:
                trades.append((e, info["trade"]["decision_bar"], dict(info["trade"]["weights"])))
            if terminated or truncated:
                break
    return keys, obs_at, trades


def _assert_same_up_to_t(full: tuple, cut: tuple) -> int:
    """Observations at bars <= T and trades decided by T agree; returns how many observations were compared."""
    (keys_f, obs_f, trades_f), (keys_c, obs_c, trades_c) = full, cut
    early_f, early_c = [k for k in keys_f if k[1] <= T], [k for k in keys_c if k[1] <= T]
    assert early_f == early_c
    for key in early_f:
        np.testing.assert_array_equal(obs_f[key], obs_c[key], err_msg=f"episode {key[0]}, bar {key[1]}")
    assert [t for t in trades_f if t[1] <= T] == [t for t in trades_c if t[1] <= T]
    return len(early_f)


def _learned_something(obs_at: dict[Any, np.ndarray]) -> bool:
    return any(not np.allclose(obs[TIER1], 0.25) for (_, bar), obs in obs_at.items() if bar <= T)


def test_training_episodes_with_random_starts_are_prefix_invariant(sp500, detector):
    cut = sp500.slice(0, T + K + 1)
    # starts before and after T, in mixed order; episodes after T run past the cut in the full env only
    starts = [T - 50, T + 10, T - 120, T - 30, T + 25, T - 45, T - 5]
    seeds = list(range(len(starts)))
    full_run = _run(_stack(sp500, W0 + 800, detector, train=True), starts, seeds)
    cut_run = _run(_stack(cut, T + K, detector, train=True), starts, seeds)
    assert _assert_same_up_to_t(full_run, cut_run) > 20
    assert _learned_something(full_run[1])  # the weights moved away from the prior: the test has teeth


def test_repeated_evaluation_passes_are_prefix_invariant_and_start_identically(sp500, detector):
    cut = sp500.slice(0, T + K + 1)
    full_env = _stack(sp500, W0 + 500, detector, train=False)
    full_run = _run(full_env, [None, None, None], [7, 7, 7])  # a deterministic policy: the same actions each pass
    cut_run = _run(_stack(cut, T + K, detector, train=False), [None, None, None], [7, 7, 7])
    assert _assert_same_up_to_t(full_run, cut_run) > 60
    assert _learned_something(full_run[1])
    keys, obs_at, _ = full_run
    first = [obs_at[next(k for k in keys if k[0] == e)] for e in range(3)]
    for obs in first[1:]:  # every evaluation pass starts from the same weights (the prior)
        np.testing.assert_array_equal(obs[TIER1], first[0][TIER1])
    np.testing.assert_array_equal(first[0][TIER1], np.full(4, 0.25, dtype=np.float32))
    # same actions, same data, same starting state: the passes are identical in full
    for e in (1, 2):
        np.testing.assert_array_equal(
            np.array([obs_at[k] for k in keys if k[0] == e]), np.array([obs_at[k] for k in keys if k[0] == 0])
        )
