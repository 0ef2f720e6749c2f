"""Every fill is a price its bar traded: entries at the open, exits inside the exit bar's [low, high]."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flat_then
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.data import MarketData
from envs.layout import ActionMap, TradeParams
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

REL = 1e-9
DECISION = 129  # last flat bar of flat_then(); hand-made bars start at 130


def _gappy_bars(seed: int) -> list[tuple[float, float, float, float]]:
    """A seeded OHLC path with opening gaps both ways, a -25% crash gap, a slide and long-range bars."""
    rng = np.random.default_rng(seed)
    bars, prev = [], 100.0
    for i in range(220):
        gap = rng.choice([0.0, 0.0, 0.0, -0.06, 0.05]) if i % 7 == 3 else rng.normal(0.0, 0.004)
        if i == 60:
            gap = -0.25  # crash at the open
        drift = -0.02 if 100 <= i < 130 else 0.0  # a slide
        o = prev * np.exp(gap)
        c = o * np.exp(drift + rng.normal(0.0, 0.02))
        spread = abs(rng.normal(0.0, 0.02)) + (0.08 if i % 11 == 0 else 0.0)  # some very wide bars
        bars.append((o, max(o, c) * (1 + spread), min(o, c) * (1 - spread), c))
        prev = c
    return bars


DATA = [flat_then(_gappy_bars(seed)) for seed in (0, 1)]
ACTIONS = st.lists(st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=4, max_size=4), min_size=5, max_size=40)
COSTS = st.builds(
    Costs,
    commission_bps=st.one_of(st.just(0.0), st.floats(0.0, 50.0)),
    slippage_bps=st.one_of(st.just(0.0), st.floats(0.0, 999.0), st.sampled_from([100.0, 500.0, 999.0])),
)


def check_fills(env: TradingEnv, data: MarketData, info: dict) -> None:
    """The fill rules for the trade in ``info`` (if any): in-bar prices and equity consistent with them."""
    if "trade" not in info:
        return
    t, slip, comm = info["trade"], env.costs.slippage, env.costs.commission
    entry_ref = t["entry_price"] / (1.0 + slip)
    assert t["entry_bar"] == t["decision_bar"] + 1
    assert entry_ref == pytest.approx(data.open[t["entry_bar"]], rel=REL)
    j, ref = t["exit_bar"], t["exit_price"] / (1.0 - slip)
    assert data.low[j] * (1 - REL) <= ref <= data.high[j] * (1 + REL), (t["exit_reason"], data.low[j], data.high[j])
    if t["exit_reason"] in ("time", "end_of_data"):
        assert ref == pytest.approx(data.close[j], rel=REL)
    if t["exit_reason"] in ("gap_stop", "gap_target", "crisis"):
        assert ref == pytest.approx(data.open[j], rel=REL)
    if t["exit_reason"] in ("stop", "gap_stop", "daily_loss", "drawdown"):  # a sell stop fills at or below the open
        assert ref <= data.open[j] * (1 + REL)
    if t["exit_reason"] in ("target", "gap_target"):
        assert ref >= data.open[j] * (1 - REL)
    # equity from the fill prices: pre-trade equity - cost of the shares + proceeds, commission on both sides
    eq0 = env.equity_curve[t["decision_bar"]]
    notional_in, notional_out = t["shares"] * t["entry_price"], t["shares"] * t["exit_price"]
    assert info["equity"] == pytest.approx(eq0 - notional_in * (1 + comm) + notional_out * (1 - comm), rel=1e-12)
    assert env.equity_curve[j] == info["equity"] and t["pnl"] == pytest.approx(info["equity"] - eq0, rel=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(0, len(DATA) - 1),
    costs=COSTS,
    daily_loss=st.sampled_from([0.005, 0.02, 0.2]),
    actions=ACTIONS,
)
def test_entries_at_the_open_and_exits_inside_the_exit_bar(which, costs, daily_loss, actions):
    data = DATA[which]
    limits = RiskLimits(daily_loss=daily_loss, max_drawdown=0.5, reduce_drawdown=0.3, recover_drawdown=0.1)
    env = TradingEnv(data, window=(120, None), costs=costs, limits=limits)
    env.reset(seed=0)
    for a in actions * 3:
        if env.bar >= env._end:
            break
        *_, term, _, info = env.step(np.asarray(a, dtype=np.float32))
        check_fills(env, data, info)
        if term:
            break


def _hand(bars: list[tuple[float, float, float, float]], costs: Costs, **kw: object) -> TradingEnv:
    env = TradingEnv(flat_then(bars + [(100.0, 100.5, 99.5, 100.0)] * 5), window=(DECISION, None), costs=costs, **kw)
    env.reset(seed=0)
    return env


def test_entry_bar_stop_above_the_open_fills_at_the_open():
    """Slippage 5% and a 0.5% stop put the stop at 104.5 on a bar trading 98-101: it fills at the open, 100."""
    costs = Costs(commission_bps=0.0, slippage_bps=500.0)
    limits = RiskLimits(daily_loss=0.5, max_drawdown=0.6, reduce_drawdown=0.5, recover_drawdown=0.1)
    env = _hand([(100.0, 101.0, 98.0, 100.5), (100.5, 101.0, 100.0, 100.5)], costs, limits=limits)
    action = ActionMap().encode(TradeParams(0.2, 5, 0.005, 0.20))
    _, _, _, _, info = env.step(action)
    t = info["trade"]
    assert (t["exit_bar"], t["exit_reason"]) == (130, "stop")
    assert t["exit_price"] == pytest.approx(100.0 * 0.95, rel=1e-12)
    shares = 0.2 * 100_000 / 105.0
    assert info["equity"] == pytest.approx(100_000 - 0.2 * 100_000 + shares * 95.0, rel=1e-12)


def test_entry_bar_daily_loss_level_above_the_open_fills_at_the_open():
    """Entry costs alone (slippage 9.99%) cross a 1% daily-loss level: out at the open, reason daily_loss."""
    costs = Costs(commission_bps=10.0, slippage_bps=999.0)
    env = _hand([(100.0, 100.2, 99.9, 100.0), (100.0, 100.2, 99.9, 100.0)], costs, limits=RiskLimits(daily_loss=0.01))
    _, _, _, _, info = env.step(ActionMap().encode(TradeParams(0.2, 5, 0.10, 0.20)))
    t = info["trade"]
    assert (t["exit_bar"], t["exit_reason"]) == (130, "daily_loss")
    assert t["exit_price"] / (1 - 0.0999) == pytest.approx(100.0, rel=1e-12)
    check_fills(env, env.data, info)
