"""Property tests (hypothesis): the risk layer holds for arbitrary action sequences, also on crash paths."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flat_then
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.layout import REGIMES
from envs.risk import RiskLimits
from envs.trading_env import TradingEnv

ACTIONS = st.lists(st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=4, max_size=4), min_size=5, max_size=60)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _crash_bars(kind: str, seed: int = 0) -> list[tuple[float, float, float, float]]:
    """'gap20': calm, then a -20% opening gap; 'slide2008': a 55% slide over 250 bars with 3% daily vol."""
    rng = np.random.default_rng(seed)
    if kind == "gap20":
        rets = np.r_[rng.normal(0.0005, 0.01, 40), -0.2, rng.normal(0.0, 0.03, 40)]
        gap_at = 40
    else:
        rets = rng.normal(np.log(0.45) / 250, 0.03, 250)
        gap_at = -1
    bars, prev = [], 100.0
    for i, r in enumerate(rets):
        o = prev * (np.exp(r) if i == gap_at else np.exp(rng.normal(0, 0.004)))
        c = prev * np.exp(r)
        hi, lo = max(o, c) * (1 + abs(rng.normal(0, 0.01))), min(o, c) * (1 - abs(rng.normal(0, 0.01)))
        bars.append((o, hi, lo, c))
        prev = c
    return bars


DATA = {k: flat_then(_crash_bars(k)) for k in ("gap20", "slide2008")}


def _run(env: TradingEnv, actions, regimes=None):
    """Step through ``actions`` (ignoring episode ends), yield (info, crisis flag at decision)."""
    env.reset(seed=0)
    for i, a in enumerate(actions):
        if env.bar >= env._end:
            break
        crisis = False
        if regimes is not None:
            env.set_regime(regimes[i % len(regimes)])
            crisis = env.risk.is_crisis(env.regime_probs, REGIMES.index("crisis"))
        _, _, term, _, info = env.step(np.asarray(a, dtype=np.float32))
        yield info, crisis, term


@pytest.mark.parametrize("kind", ["gap20", "slide2008"])
@SETTINGS
@given(actions=ACTIONS)
def test_position_never_exceeds_cap_and_daily_loss_is_bounded(kind, actions):
    data = DATA[kind]
    env = TradingEnv(data, window=(120, None))
    lim = env.limits
    for info, _, _ in _run(env, actions):
        assert info["approved_size"] <= lim.max_position + 1e-12
        if "trade" in info:
            t = info["trade"]
            eq_before = env.equity_curve[t["decision_bar"]]
            assert t["shares"] * t["entry_price"] <= lim.max_position * eq_before * (1 + 1e-12)
    curve = env.equity_curve
    for j in range(121, len(data)):
        if np.isnan(curve[j]) or np.isnan(curve[j - 1]):
            continue
        gap = max(0.0, 1.0 - data.open[j] / data.close[j - 1])
        # the position (<= cap, at most +20% since entry) loses at most the limit plus that bar's gap, plus costs
        bound = lim.daily_loss + lim.max_position * 1.2 * gap + 1e-3
        assert 1.0 - curve[j] / curve[j - 1] <= bound


@pytest.mark.parametrize("kind", ["gap20", "slide2008"])
@SETTINGS
@given(actions=ACTIONS)
def test_halt_stops_all_trading_until_reset(kind, actions):
    limits = RiskLimits(max_drawdown=0.03, reduce_drawdown=0.02, recover_drawdown=0.01)
    env = TradingEnv(DATA[kind], window=(120, None), limits=limits)
    halted = False
    for info, _, term in _run(env, actions * 4):
        if halted:
            assert "trade" not in info and info["approved_size"] == 0.0 and info["breaker"] == "HALTED"
        halted = halted or term
    if halted:
        env.reset_breaker("property test")
        assert env.risk.approve(0.1).size > 0 or env.risk.blocked_day == env.risk.day


@pytest.mark.parametrize("kind", ["gap20", "slide2008"])
@SETTINGS
@given(
    actions=ACTIONS,
    regimes=st.lists(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=5, max_size=5).filter(lambda p: sum(p) > 0.1),
        min_size=1,
        max_size=10,
    ),
)
def test_crisis_regime_never_opens_a_trade(kind, actions, regimes):
    env = TradingEnv(DATA[kind], window=(120, None))
    probs = [np.asarray(p) / sum(p) for p in regimes]
    for info, crisis, _ in _run(env, actions, probs):
        if crisis:
            assert "trade" not in info and info["approved_size"] == 0.0


def test_slide_path_actually_halts_a_full_size_policy():
    """Guard that the property tests above exercise the halt: a max-size policy on the slide must halt."""
    limits = RiskLimits(max_drawdown=0.03, reduce_drawdown=0.02, recover_drawdown=0.01)
    env = TradingEnv(DATA["slide2008"], window=(120, None), limits=limits)
    terms = [term for _, _, term in _run(env, [[1.0, 1.0, 1.0, 1.0]] * 200)]
    assert any(terms)
