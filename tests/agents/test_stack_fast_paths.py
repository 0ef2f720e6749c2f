"""The second round of fast paths in the env stack computes exactly what the plain formulations compute.

* ``ComponentBandit.update`` (the four components written out, and a trade record's scores taken as they are)
  gives the posteriors of the plain loop, bit for bit, for records, mappings and arrays, with missing, NaN-free,
  tiny and zero scores and zero returns; bad scores still raise.
* The env's win rate (a running count of wins) equals ``sum(wins) / len(wins)``, and a trade's ``regime`` is the
  first largest of its ``regime_probs`` (set by a path or by ``set_regime``).
* The wrappers write their own tier slots at every step, also after ``set_regime_path`` or ``set_weights`` were
  called on the base env from outside.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.stack import base_env, fit_detector, wrap
from agents.tier1 import ComponentBandit
from envs.data import load
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES
from envs.records import Record
from tests.agents.small import SMALL

TIER1, TIER2 = OBS_LAYOUT.group_slice("tier1"), OBS_LAYOUT.group_slice("tier2")


def reference_update(bandit: ComponentBandit, scores: list[float], net_return: float, regime: str | None) -> None:
    """The update as the plain loop wrote it (scores already in COMPONENTS order, NaN for a missing one)."""
    lo, up = bandit.min_abs_score, net_return > 0.0
    success, failure = [], []
    for x in scores:
        if x == x and abs(x) >= lo:
            hit = (x > 0.0) == up
            success.append(1.0 if hit else 0.0)
            failure.append(0.0 if hit else 1.0)
        else:
            success.append(0.0)
            failure.append(0.0)
    if net_return == 0.0 or not (any(success) or any(failure)):
        return
    pa, pb, g = float(bandit.prior[0]), float(bandit.prior[1]), bandit.gamma
    rows = (len(REGIMES),) if regime is None else (len(REGIMES), REGIMES.index(regime))
    for k in rows:
        bandit._a[k] = [pa + g * (x - pa) + e for x, e in zip(bandit._a[k], success, strict=True)]
        bandit._b[k] = [pb + g * (x - pb) + e for x, e in zip(bandit._b[k], failure, strict=True)]
        bandit._n[k] += 1
        bandit._cache.pop(k, None)


def _score(rng: np.random.Generator) -> float:
    kind = rng.integers(0, 5)
    if kind == 0:
        return float(rng.uniform(-0.06, 0.06))  # around min_abs_score
    if kind == 1:
        return float(rng.choice([0.0, -0.0, 0.05, -0.05]))
    return float(rng.uniform(-1.0, 1.0))


@pytest.mark.parametrize("gamma", [0.97, 1.0, 0.5])
def test_bandit_update_equals_the_plain_loop(gamma):
    rng = np.random.default_rng(11)
    fast = ComponentBandit(gamma=gamma, per_regime=True, prior=(0.7, 1.3))
    slow = ComponentBandit(gamma=gamma, per_regime=True, prior=(0.7, 1.3))
    slow._ensure_state()
    for i in range(600):
        scores = [_score(rng) for _ in COMPONENTS]
        ret = float(rng.choice([0.0, -0.0, 1e-300, float(rng.normal(0.0, 0.01))]))
        regime = None if rng.random() < 0.3 else str(rng.choice(REGIMES))
        form = i % 4
        if form == 0:  # a record as the env writes it
            given = Record(zip(COMPONENTS, scores, strict=True))
            expected = scores
        elif form == 1:  # a plain mapping with a missing and a None component
            missing, none = rng.choice(len(COMPONENTS), 2, replace=False)
            given = {c: (None if j == none else x) for j, (c, x) in enumerate(zip(COMPONENTS, scores, strict=True))}
            del given[COMPONENTS[missing]]
            expected = [math.nan if j in (missing, none) else x for j, x in enumerate(scores)]
        elif form == 2:  # a record in another key order, with an int and a numpy score
            given = Record({"sentiment": np.float64(scores[3]), "ai": scores[2], "theme": scores[0], "technical": 0})
            expected = [scores[0], 0.0, scores[2], scores[3]]
        else:
            given = np.array(scores)
            expected = scores
        fast.update(given, ret, regime)
        reference_update(slow, expected, ret, regime)
        assert fast._a == slow._a and fast._b == slow._b and fast._n == slow._n, i
        np.testing.assert_array_equal(fast.weights(regime), slow.weights(regime))


def test_bandit_update_still_rejects_bad_scores():
    bandit = ComponentBandit()
    with pytest.raises(ValueError, match="not finite"):
        bandit.update(Record(theme=math.nan, technical=0.1, ai=0.1, sentiment=0.1), 0.01)
    with pytest.raises(ValueError, match="not finite"):
        bandit.update(Record(theme=math.inf, technical=0.1, ai=0.1, sentiment=0.1), 0.01)
    with pytest.raises(ValueError, match="unknown component"):
        bandit.update(Record(theme=0.1, technical=0.1, ai=0.1, sentiments=0.1), 0.01)
    with pytest.raises(ValueError, match="unknown regime"):
        bandit.update(Record(theme=0.1, technical=0.1, ai=0.1, sentiment=0.1), 0.01, "bull")
    with pytest.raises(TypeError, match="regime must be a str"):
        bandit.weights(3)  # type: ignore[arg-type]
    assert not bandit.n_trades_.any()


def test_win_rate_and_trade_regime_equal_their_plain_formulas():
    data = load(SMALL.data)
    env = base_env(SMALL, data, "test")
    env.win_rate_window = 3  # a short window: the running count drops old trades
    env._wins = type(env._wins)(maxlen=3)
    rng = np.random.default_rng(5)
    env.reset(seed=1)
    n_trades, regime_set = 0, False
    for t in range(300):
        if t % 7 == 3:
            env.set_regime(rng.dirichlet(np.ones(len(REGIMES))))
            regime_set = True
        if t % 11 == 5:
            env.set_regime(np.array([0.3, 0.3, 0.1, 0.0, 0.3]))  # ties: the first largest
            regime_set = True
        obs, _, terminated, truncated, info = env.step(rng.uniform(-0.2, 1.0, 4).astype(np.float32))
        wins = list(env._wins)
        expected = np.float32(sum(wins) / len(wins) if wins else 0.5)
        assert obs[OBS_LAYOUT.index("win_rate")] == expected
        trade = info.get("trade")
        if trade is not None:
            n_trades += 1
            probs = list(trade["regime_probs"].values())
            assert trade["regime"] == (REGIMES[int(np.argmax(probs))] if regime_set else None)
        if terminated or truncated:
            env.reset()
            regime_set = False
    assert n_trades > 20


def test_trade_regime_is_none_without_a_regime():
    env = base_env(SMALL, load(SMALL.data), "test")
    env.reset(seed=0)
    trade = None
    while trade is None:
        _, _, _, _, info = env.step(np.array([1.0, -1.0, 0.0, 0.0], dtype=np.float32))
        trade = info.get("trade")
    assert trade["regime"] is None


def test_wrappers_write_their_slots_again_after_outside_changes():
    data = load(SMALL.data)
    detector = fit_detector(SMALL, data, "test", cache=True)
    env = wrap(base_env(SMALL, data, "test"), SMALL, detector)
    base = env.unwrapped
    obs, _ = env.reset(seed=0)
    flat = np.array([-1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    obs, *_ = env.step(flat)
    # from outside: another regime path and other weights on the base env
    base.set_regime_path(np.tile(np.array([0.1, 0.1, 0.1, 0.1, 0.6]), (len(data), 1)))
    base.set_weights([0.7, 0.1, 0.1, 0.1])
    obs, _, _, _, info = env.step(flat)
    bar = base.bar
    np.testing.assert_array_equal(obs[TIER2], env.env.probs[bar].astype(np.float32))
    np.testing.assert_array_equal(obs[TIER1], np.array(list(info["weights"].values()), dtype=np.float32))
    assert list(info["regime"]["probs"].values()) == env.env.probs[bar].tolist()
