"""Fills and costs on hand-made bars: each expected number is computed by hand in the test."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flat_then

from envs.layout import REGIMES, ActionMap, TradeParams
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

S, C = 0.001, 0.0005  # slippage 10 bp, commission 5 bp per side
COSTS = Costs(commission_bps=5.0, slippage_bps=10.0)
E0 = 100_000.0
DECISION = 129  # last flat bar; scenario bars start at 130
TAIL = [(100.0, 100.5, 99.5, 100.0)] * 5


def _env(bars, **kw) -> TradingEnv:
    env = TradingEnv(flat_then(list(bars) + TAIL), window=(DECISION, None), costs=COSTS, **kw)
    env.reset(seed=0)
    return env


def _act(size, hold, stop, target) -> np.ndarray:
    return ActionMap().encode(TradeParams(size, hold, stop, target))


def _params(action: np.ndarray) -> TradeParams:
    """What the env will read from a (float32) action: hand computations use these exact values."""
    return ActionMap().decode(action)


def _round_trip(size: float, entry_open: float, exit_level: float) -> float:
    """Final equity of one trade, by hand: buy at open*(1+S) paying C, sell at level*(1-S) paying C."""
    entry = entry_open * (1 + S)
    shares = size * E0 / entry
    cash = E0 - size * E0 * (1 + C)
    return cash + shares * exit_level * (1 - S) * (1 - C)


def test_entry_at_next_open_time_exit_at_close_and_equity_by_hand():
    env = _env([(101, 102, 100.5, 101.5), (101.5, 102.5, 101, 102), (102, 103, 101.5, 102.5)])
    _, _, term, trunc, info = env.step(_act(0.2, 2, 0.10, 0.20))
    t = info["trade"]
    assert (t["decision_bar"], t["entry_bar"], t["exit_bar"], t["exit_reason"]) == (129, 130, 131, "time")
    assert t["entry_price"] == pytest.approx(101 * (1 + S))
    assert t["exit_price"] == pytest.approx(102 * (1 - S))
    assert info["equity"] == pytest.approx(_round_trip(0.2, 101, 102), rel=1e-12)
    # mark-to-market at the entry bar's close, entry costs included
    shares = 0.2 * E0 / (101 * (1 + S))
    assert env.equity_curve[130] == pytest.approx(E0 - 0.2 * E0 * (1 + C) + shares * 101.5)
    assert t["net_return"] == pytest.approx(info["equity"] / E0 - 1)
    assert t["regime"] is None  # no Tier 2 wrapper set a regime
    assert info["bar"] == 131 and not term and not trunc


def test_stop_fills_first_when_stop_and_target_touched_in_one_bar():
    env = _env([(100, 100.5, 99.8, 100.2), (100.2, 110, 90, 100)])
    a = _act(0.1, 5, 0.03, 0.05)
    _, _, _, _, info = env.step(a)
    stop_px = 100 * (1 + S) * (1 - _params(a).stop)
    assert info["trade"]["exit_reason"] == "stop" and info["trade"]["exit_bar"] == 131
    assert info["equity"] == pytest.approx(_round_trip(0.1, 100, stop_px), rel=1e-12)


def test_gap_through_stop_fills_at_the_open():
    env = _env([(100, 100.5, 99.8, 100), (95, 96, 94, 95.5)])
    _, _, _, _, info = env.step(_act(0.1, 5, 0.03, 0.05))
    assert info["trade"]["exit_reason"] == "gap_stop"
    assert info["equity"] == pytest.approx(_round_trip(0.1, 100, 95), rel=1e-12)


def test_target_and_gap_through_target():
    env = _env([(100, 100.5, 99.8, 100), (100.5, 106, 99, 104)])
    a = _act(0.1, 5, 0.03, 0.05)
    _, _, _, _, info = env.step(a)
    assert info["trade"]["exit_reason"] == "target"
    assert info["equity"] == pytest.approx(_round_trip(0.1, 100, 100 * (1 + S) * (1 + _params(a).target)), rel=1e-12)
    env = _env([(100, 100.5, 99.8, 100), (107, 108, 106, 107)])
    _, _, _, _, info = env.step(_act(0.1, 5, 0.03, 0.05))
    assert info["trade"]["exit_reason"] == "gap_target"
    assert info["equity"] == pytest.approx(_round_trip(0.1, 100, 107), rel=1e-12)


def test_daily_loss_level_closes_the_position_and_blocks_the_day():
    env = _env([(100, 100.5, 99.8, 100), (99, 99.5, 80, 85), (85, 86, 84, 85)])
    _, _, _, _, info = env.step(_act(0.2, 10, 0.10, 0.20))
    assert info["trade"]["exit_reason"] == "daily_loss" and info["trade"]["exit_bar"] == 131
    day_start = env.equity_curve[130]
    assert info["equity"] == pytest.approx(day_start * 0.98, rel=1e-12)  # exactly the 2% limit, costs included
    _, _, _, _, info = env.step(_act(0.2, 10, 0.10, 0.20))  # decided on the blocked day
    assert "trade" not in info and info["approved_size"] == 0.0 and "daily loss" in info["risk_reasons"][0]
    _, _, _, _, info = env.step(_act(0.2, 1, 0.10, 0.20))  # next day trades again
    assert "trade" in info


def test_gap_through_the_daily_level_loses_the_limit_plus_the_gap():
    env = _env([(100, 100.5, 99.8, 100), (80, 81, 79, 80)])
    _, _, _, _, info = env.step(_act(0.2, 10, 0.10, 0.20))
    assert info["trade"]["exit_reason"] == "daily_loss"
    assert info["equity"] == pytest.approx(_round_trip(0.2, 100, 80), rel=1e-12)
    assert 1 - info["equity"] / env.equity_curve[130] > 0.02


def test_drawdown_limit_halts_terminates_and_blocks_until_reset():
    limits = RiskLimits(max_drawdown=0.015, reduce_drawdown=0.01, recover_drawdown=0.005, daily_loss=0.10)
    env = _env([(100, 100.5, 99.8, 100), (99, 99.5, 80, 85)] + [(85, 86, 84, 85)] * 4, limits=limits)
    _, _, term, trunc, info = env.step(_act(0.2, 10, 0.10, 0.20))
    assert info["trade"]["exit_reason"] == "drawdown" and term and not trunc
    assert info["equity"] == pytest.approx(E0 * 0.985, rel=1e-12) and info["breaker"] == "HALTED"
    assert [e["new"] for e in info["breaker_events"]][-1] == "HALTED"
    for _ in range(2):
        _, _, _, _, info = env.step(_act(0.2, 1, 0.10, 0.20))
        assert "trade" not in info and "halted" in info["risk_reasons"][0]
    env.reset_breaker("test operator")
    _, _, _, _, info = env.step(_act(0.2, 1, 0.10, 0.20))
    assert "trade" in info and env.risk.events[-1].reason == "reset: test operator"


def test_window_end_closes_the_trade_at_the_last_close_and_truncates():
    data = flat_then([(100, 100.5, 99.8, 100), (100, 101, 99.5, 100.5), (100.5, 101, 100, 101)])
    env = TradingEnv(data, window=(DECISION, None), costs=COSTS)
    env.reset()
    _, _, term, trunc, info = env.step(_act(0.2, 20, 0.10, 0.20))
    assert info["trade"]["exit_reason"] == "end_of_data" and info["trade"]["exit_bar"] == 132
    assert trunc and not term
    assert info["equity"] == pytest.approx(_round_trip(0.2, 100, 101), rel=1e-12)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_act(0.2, 1, 0.1, 0.2))


def test_small_size_and_crisis_stay_flat_one_bar():
    env = _env([(100, 100.5, 99.8, 100)] * 3)
    _, reward, _, _, info = env.step(_act(0.005, 5, 0.03, 0.05))
    assert "trade" not in info and info["bar"] == 130 and info["equity"] == E0 and reward == 0.0
    env.set_regime([0.05, 0.05, 0.05, 0.8, 0.05])
    _, reward, _, _, info = env.step(_act(0.2, 5, 0.03, 0.05))
    assert "trade" not in info and info["risk_reasons"] == ("crisis regime: cash only",)
    assert reward == pytest.approx(-env.reward_config.clip_penalty)  # the whole request was cut
    with pytest.raises(ValueError, match="summing to 1"):
        env.set_regime([0.5, 0.5, 0.5, 0.0, 0.0])
    assert REGIMES[3] == "crisis"


def test_costs_are_inside_the_reward():
    bars = [(100, 100.5, 99.8, 100), (100, 100.5, 99.8, 100)] + [(100, 100.5, 99.5, 100)] * 30
    free = TradingEnv(flat_then(bars), window=(DECISION, None), costs=Costs(0.0, 0.0))
    paid = TradingEnv(flat_then(bars), window=(DECISION, None), costs=Costs(20.0, 20.0))
    rewards = []
    for env in (free, paid):
        env.reset()
        for _ in range(25):  # past the reward warm-up
            env.step(_act(0.0, 1, 0.1, 0.2))
        rewards.append(env.step(_act(0.2, 1, 0.10, 0.20))[1])
    assert free.account.equity == pytest.approx(E0) and paid.account.equity < E0
    assert rewards[1] < rewards[0]
