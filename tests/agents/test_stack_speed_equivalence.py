"""The fast paths of the env stack compute exactly what the plain formulations compute.

* :func:`agents.tier1.quadrature.prob_best_list` equals, bit for bit, the straightforward formulation of its
  scheme (kept below as the reference), on the posteriors the stack produces and on wide, peaked and tied ones.
* The weights memo shared by all bandits returns what a fresh computation returns.
* The wrappers follow no hidden protocol: with other wrappers in between, one of which hands out a single array
  rewritten in place at every call (as Gymnasium allows), the stack gives identical steps, and no step's
  observation shares memory with another's.
* ``RiskManager`` keeps no extra state (the live brain serialises ``vars(risk)``).
"""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
from scipy.special import betainc

from agents.stack import base_env, fit_detector, wrap
from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier1 import bandit as tier1
from agents.tier1 import quadrature as tier1_quadrature
from agents.tier1.quadrature import (
    _GL_NODES,
    _HALF_PI,
    _RANGE_SD,
    _cumulative,
    _level,
    _others,
    _panels,
    prob_best_list,
)
from agents.tier2 import RegimeWrapper
from envs.data import load
from envs.risk import RiskManager
from tests.agents.small import SMALL


def reference_prob_best(a: list[float], b: list[float]) -> list[float]:
    """The scheme of agents.tier1.quadrature written plainly (as it was before the fast path)."""
    k = len(a)
    pairs = list(zip(a, b, strict=True))
    n_distinct = len(set(pairs))
    if n_distinct == 1:
        return [1.0 / k] * k
    lo, hi = 0.0, 0.0
    coef: list[float] = []
    spread: list[tuple[float, float]] = []
    for x, y in pairs:
        m, s = math.asin(math.sqrt(x / (x + y))), 0.5 / math.sqrt(x + y + 1.0)
        lo, hi = max(lo, m - _RANGE_SD * s), max(hi, m + _RANGE_SD * s)
        spread.append((m + _RANGE_SD * s, s))
        coef += (2.0 * x - 1.0, 2.0 * y - 1.0, 1.0, math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y))
    finest = min([s for top, s in spread if top > lo])
    n_panels, p0, p1 = _panels(lo, min(hi, _HALF_PI), finest)
    h, basis = _level(n_panels)
    dens = np.exp(np.array(coef).reshape(k, 4) @ basis[:, p0 * _GL_NODES : p1 * _GL_NODES])
    cdf = dens @ _cumulative(p1 - p0)
    if p0 > 0:
        cdf += betainc(a, b, math.sin(p0 * h) ** 2)[:, None]
    p = [max(x, 0.0) for x in np.vecdot(dens, np.multiply.reduce(cdf[_others(k)], axis=1)).tolist()]
    if n_distinct < k:
        sums: dict[tuple[float, float], list[float]] = {}
        for pair, x in zip(pairs, p, strict=True):
            sums.setdefault(pair, []).append(x)
        p = [sum(sums[pair]) / len(sums[pair]) for pair in pairs]
    total = sum(p)
    return [x / total for x in p]


def _posteriors(rng: np.random.Generator, n: int) -> list[tuple[list[float], list[float]]]:
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 7))
        scale = 10 ** rng.uniform(-0.3, 4.0)  # from about the prior to very peaked (many panels, p0 > 0)
        a = (rng.uniform(0.5, 1.0, k) * scale).tolist()
        b = (rng.uniform(0.3, 1.0, k) * scale).tolist()
        if rng.random() < 0.2:
            a[1], b[1] = a[0], b[0]  # tied components
        if rng.random() < 0.2:
            a[0], b[0] = 1.0, 1.0  # one at the prior
        out.append((a, b))
    return out


def _bandit_rows(n_trades: int, seed: int) -> list[tuple[list[float], list[float]]]:
    """Posterior rows as the stack's bandit produces them (gamma 0.97 and 1, per regime)."""
    rng = np.random.default_rng(seed)
    rows = []
    for gamma in (0.97, 1.0):
        bandit = ComponentBandit(gamma=gamma, per_regime=True)
        for _ in range(n_trades):
            scores = rng.uniform(-1, 1, 4)
            bandit.update(scores, float(rng.normal(0.001, 0.01)), str(rng.choice(["bull_momentum", "choppy"])))
            rows += [(list(bandit._a[r]), list(bandit._b[r])) for r in range(6)]
    return rows


def test_prob_best_list_is_bit_identical_to_the_plain_formulation():
    cases = _posteriors(np.random.default_rng(0), 1500) + _bandit_rows(150, seed=1)
    for a, b in cases:
        assert prob_best_list(list(a), list(b)) == reference_prob_best(list(a), list(b)), (a, b)


def test_weights_memo_returns_what_a_fresh_computation_returns():
    rng = np.random.default_rng(2)
    first = ComponentBandit(gamma=0.97, per_regime=True)
    trades = [(rng.uniform(-1, 1, 4), float(rng.normal(0, 0.01)), "choppy") for _ in range(30)]
    memo_weights = []
    for scores, ret, regime in trades:
        first.update(scores, ret, regime)
        memo_weights.append(first.weights(regime))
    tier1._weights_memo.clear()
    second = ComponentBandit(gamma=0.97, per_regime=True)
    for (scores, ret, regime), expected in zip(trades, memo_weights, strict=True):
        second.update(scores, ret, regime)
        tier1._weights_memo.clear()  # computed afresh at every step
        np.testing.assert_array_equal(second.weights(regime), expected)
    # the memo is keyed by the shrinkage and the bounds too
    other = ComponentBandit(gamma=0.97, per_regime=True, shrink=0.3)
    for scores, ret, regime in trades:
        other.update(scores, ret, regime)
    assert not np.array_equal(other.weights("choppy"), second.weights("choppy"))


class _Opaque(gym.Wrapper):
    """A wrapper that passes everything through."""


class _ReusingObs(gym.Wrapper):
    """Hands out one observation array and one info dict, rewritten in place at every call."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._obs = np.zeros(env.observation_space.shape, dtype=np.float32)
        self._info: dict = {}

    def _out(self, obs, info):
        self._obs[:] = obs
        self._info.clear()
        self._info.update(info)
        return self._obs, self._info

    def reset(self, **kwargs):
        return self._out(*self.env.reset(**kwargs))

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return (*self._out(obs, info)[:1], reward, terminated, truncated, self._info)


def _run(env: gym.Env, steps: int, seed: int) -> list[tuple]:
    actions = np.random.default_rng(seed).uniform(-1.1, 1.1, (steps, 4)).astype(np.float32)
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            out.append(env.reset())
    return out


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [x.dtype.str, x.tolist()]
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


@pytest.mark.parametrize("split", ["train", "test"])
def test_wrappers_in_between_and_reused_arrays_give_identical_steps(split):
    data = load(SMALL.data)
    detector = fit_detector(SMALL, data, split, cache=True)
    plain = wrap(base_env(SMALL, data, split), SMALL, detector)
    reusing = _Opaque(_ReusingObs(base_env(SMALL, data, split)))
    mixed_t2 = _ReusingObs(_Opaque(RegimeWrapper(reusing, detector, fit_bars=SMALL.tiers.tier2_fit_bars)))
    mixed = ComponentWeightWrapper(
        mixed_t2, ComponentBandit(gamma=SMALL.tiers.tier1_gamma, per_regime=True), reset_each_episode=True
    )
    a, b = _run(plain, 400, seed=3), _run(mixed, 400, seed=3)
    assert json.dumps(_plain(a), default=repr) == json.dumps(_plain(b), default=repr)
    for steps in (a, b):
        observations = [step[0] for step in steps]
        for i in range(1, len(observations)):
            assert not np.shares_memory(observations[i], observations[i - 1])


def test_risk_manager_keeps_no_extra_state():
    risk = RiskManager()
    risk.mark(0.99, 1)
    risk.open_bar(2, 0.5, 0.01, 0.0003)
    assert risk.breaker_level() == 0.0 and risk.drawdown == pytest.approx(0.01)
    state = {k: v for k, v in vars(risk).items() if k not in ("limits", "state", "events")}
    json.dumps(state)  # what experiments.live.state writes
    assert set(state) == {
        "_daily_floor",
        "hwm",
        "equity",
        "day",
        "day_start_equity",
        "blocked_day",
        "_rets",
        "_pos",
        "_count",
        "_sum",
        "_sumsq",
        "periods_per_year",
    }


def test_quadrature_module_is_the_one_tier1_uses():
    assert tier1.prob_best_list is tier1_quadrature.prob_best_list
