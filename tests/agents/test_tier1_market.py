"""Tier 1 learning from the market (``tier1_learns_from: market``): causal, one implementation, what it learns.

* The weights at bar ``t`` over a prefix of the data equal those over the whole series (no look-ahead), and a
  planted future change moves no weight before its outcome has closed.
* The single stack's wrapper and the batched stack give the same observations, step for step
  (``tests/agents/test_batch_stack.py``, parametrized with ``learns_from="market"``).
* On a market where one component's sign predicts the next bars, its weight rises to the cap.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents.config import TierConfig
from agents.stack import make_env
from agents.tier1 import ComponentBandit
from agents.tier1.market import MarketTier1, market_weights
from envs.data import load
from tests.agents.small import SMALL

MARKET = dataclasses.replace(SMALL, tiers=dataclasses.replace(SMALL.tiers, tier1_learns_from="market"))


def _series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    comps = rng.uniform(-1, 1, (n, 4))
    comps[:7] = np.nan  # warm-up: no evidence
    ret = rng.normal(0.0, 0.01, n)
    return 100.0 * np.exp(np.cumsum(ret)), comps


@pytest.mark.parametrize("regimes", [False, True])
def test_market_weights_are_prefix_invariant(regimes):
    close, comps = _series(400, 0)
    names = [("choppy", "crisis", None)[t % 3] for t in range(400)] if regimes else None
    bandit = ComponentBandit(per_regime=True)
    full = market_weights(bandit, close, comps, 5, names)
    for cut in (1, 6, 57, 250):
        part = market_weights(bandit, close[:cut], comps[:cut], 5, None if names is None else names[:cut])
        assert np.array_equal(part, full[:cut])
    # a change after bar t moves no weight at bars <= t + horizon - 1 ... its outcome closes at t + horizon
    t = 200
    close2 = close.copy()
    close2[t + 1 :] *= 1.5
    moved = market_weights(bandit, close2, comps, 5, names)
    assert np.array_equal(moved[: t + 1], full[: t + 1])
    assert not np.array_equal(moved[t + 1 :], full[t + 1 :])


def test_market_weights_follow_the_component_that_predicts():
    rng = np.random.default_rng(1)
    n, h = 600, 3
    comps = rng.uniform(-1, 1, (n, 4))
    ret = rng.normal(0.0, 0.002, n)
    ret[h:] += 0.01 * np.sign(comps[:-h, 2]) / h  # ai's sign at t predicts the return over t .. t + h
    close = 100.0 * np.exp(np.cumsum(ret))
    w = market_weights(ComponentBandit(), close, comps, h)
    assert np.allclose(w[:h], 0.25)  # nothing known before the first outcome
    late = w[-200:].mean(axis=0)
    assert late.argmax() == 2 and late[2] > 0.5 and w.max() == pytest.approx(0.7)  # the cap


def test_step_checks_its_inputs():
    learner = MarketTier1(ComponentBandit(), 2)
    with pytest.raises(ValueError, match="close"):
        learner.step(0.0, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="scores has 3"):
        learner.step(1.0, [0, 0, 0])
    with pytest.raises(ValueError, match="horizon"):
        MarketTier1(ComponentBandit(), 0)


def test_config_names_the_field_on_a_bad_value():
    with pytest.raises(ValueError, match="tier1_learns_from='trade'"):
        TierConfig(tier1_learns_from="trade")
    with pytest.raises(ValueError, match="tier1_horizon=0"):
        TierConfig(tier1_horizon=0)


def test_weights_do_not_depend_on_the_agents_trades_and_carry_across_episodes():
    data = load(MARKET.data)
    env = make_env(MARKET, "train", data=data)
    path = env.get_wrapper_attr("path")
    assert path is not None and len(path) == len(data)
    seen = []
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        bar = env.unwrapped.bar
        assert np.array_equal(obs[15:19], path[bar].astype(np.float32))
        for _ in range(20):
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            assert np.array_equal(obs[15:19], path[env.unwrapped.bar].astype(np.float32))
            if term or trunc:
                break
        seen.append(bar)
    assert not np.allclose(path[seen[0]], 0.25) or not np.allclose(path[seen[1]], 0.25)  # learned before the start


def test_a_regime_is_learned_only_where_tier2_probabilities_differ():
    from agents.tier1.market import learned_regime, no_regime
    from envs.layout import REGIMES

    rows = np.array([[0.2] * 5, [0.1, 0.6, 0.1, 0.1, 0.1]])
    assert no_regime(rows).tolist() == [True, False]
    assert learned_regime(rows[0]) is None and learned_regime(rows[1]) == REGIMES[1]
    with pytest.raises(ValueError, match="expected"):
        learned_regime([0.5, 0.5])
