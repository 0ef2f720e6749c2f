from __future__ import annotations

import pytest

from envs.layout import REGIMES
from envs.risk import Breaker, RiskLimits, RiskManager


def test_approve_caps_and_reasons():
    rm = RiskManager(RiskLimits(max_position=0.2, max_gross=0.5))
    a = rm.approve(0.35)
    assert a.size == 0.2 and a.clipped == pytest.approx(0.15) and "position cap" in a.reasons[0]
    a = rm.approve(0.2, exposure_elsewhere=0.4)
    assert a.size == pytest.approx(0.1) and "gross cap" in a.reasons[0]
    assert rm.approve(0.1, crisis=True).size == 0.0
    assert rm.approve(0.05).size == 0.05 and rm.approve(0.05).reasons == ()


def test_crisis_rule_needs_largest_and_threshold():
    rm = RiskManager()
    k = REGIMES.index("crisis")
    assert rm.is_crisis((0.1, 0.1, 0.1, 0.6, 0.1), k)
    assert not rm.is_crisis((0.55, 0.0, 0.0, 0.45, 0.0), k)
    assert not rm.is_crisis((0.2, 0.2, 0.2, 0.2, 0.2), k)


def test_daily_loss_blocks_the_rest_of_the_day_only():
    rm = RiskManager()
    rm.reset_account(100.0, day=1)
    rm.new_bar(2)
    rm.mark(97.9, bar=1)  # -2.1% on day 2
    assert rm.daily_loss_used > 1.0
    assert rm.approve(0.1).size == 0.0 and "daily loss" in rm.approve(0.1).reasons[0]
    rm.new_bar(3)
    assert rm.approve(0.1).size == 0.1
    assert rm.daily_loss_used == 0.0


def test_breaker_reduces_recovers_halts_latches_and_logs():
    rm = RiskManager(RiskLimits(sharpe_window=5))
    rm.reset_account(100.0, day=0)
    rm.mark(89.0, bar=1)  # 11% drawdown (and the day's loss limit: blocked today)
    assert rm.state is Breaker.REDUCING and rm.approve(0.2).size == 0.0
    rm.new_bar(1)
    assert rm.approve(0.2).size == pytest.approx(0.1)
    rm.mark(99.0, bar=2)  # 1% drawdown, window not full: Sharpe 0 -> recover
    assert rm.state is Breaker.ACTIVE
    rm.mark(84.9, bar=3)
    assert rm.state is Breaker.HALTED and rm.approve(0.2).size == 0.0
    rm.mark(120.0, bar=4)  # a new high does not unlatch
    assert rm.state is Breaker.HALTED
    with pytest.raises(ValueError, match="reason"):
        rm.reset_breaker("")
    rm.reset_breaker("operator test", bar=5)
    rm.new_bar(2)
    assert rm.state is Breaker.ACTIVE and rm.approve(0.2).size == 0.2
    assert [(e.old, e.new) for e in rm.events] == [
        ("ACTIVE", "REDUCING"),
        ("REDUCING", "ACTIVE"),
        ("ACTIVE", "HALTED"),
        ("HALTED", "ACTIVE"),
    ]
    assert "drawdown" in rm.events[0].reason and rm.events[3].reason == "reset: operator test"
    assert [e.bar for e in rm.events] == [1, 2, 3, 5]


def test_negative_rolling_sharpe_reduces():
    rm = RiskManager(RiskLimits(sharpe_window=10))
    rm.reset_account(100.0)
    eq = 100.0
    for i, r in enumerate([-0.002, 0.001] * 5):
        eq *= 1 + r
        rm.mark(eq, bar=i)
    assert rm.rolling_sharpe < -0.5 and rm.state is Breaker.REDUCING
    assert "Sharpe" in rm.events[-1].reason


def test_stop_level_solves_the_limit_equation():
    rm = RiskManager(RiskLimits(daily_loss=0.02, max_drawdown=0.15))
    rm.reset_account(100_000.0, day=0)
    cash, shares, cost = 80_000.0, 200.0, 0.0003
    level, why = rm.stop_level(cash, shares, cost)
    assert why == "daily_loss"
    assert cash + shares * level * (1 - cost) == pytest.approx(98_000.0)
    rm.hwm = 120_000.0  # far above: the drawdown level is now the tighter one
    level, why = rm.stop_level(cash, shares, cost)
    assert why == "drawdown" and cash + shares * level * (1 - cost) == pytest.approx(120_000 * 0.85)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_position": 0.0},
        {"max_position": 1.5},
        {"max_gross": 0.1},
        {"reduce_drawdown": 0.2},
        {"sharpe_window": 1},
    ],
)
def test_bad_limits(kwargs):
    with pytest.raises(ValueError, match="RiskLimits"):
        RiskLimits(**kwargs)


def test_breaker_reduces_at_exactly_the_reduce_drawdown():
    """'At or above' as for the halt, although 1 - 90 / 100 is 0.09999999999999998 in floating point."""
    rm = RiskManager(RiskLimits(reduce_drawdown=0.10))
    rm.reset_account(100.0, day=0)
    rm.mark(90.0, bar=1)
    assert rm.state is Breaker.REDUCING


@pytest.mark.parametrize("hwm, equity, max_drawdown", [(100.0, 90.0, 0.10), (100.0, 75.0, 0.25), (100.0, 85.0, 0.15)])
def test_drawdown_halts_at_or_above_the_limit(hwm, equity, max_drawdown):
    """A drawdown equal to the limit halts: ``1 - 90 / 100`` is 0.09999999999999998 in floating point, still HALTED."""
    rm = RiskManager(RiskLimits(max_drawdown=max_drawdown, reduce_drawdown=min(0.10, max_drawdown)))
    rm.reset_account(hwm, day=0)
    rm.mark(equity * (1.0 + 1e-9), bar=1)
    assert rm.state is not Breaker.HALTED  # just above the limit's equity: not yet
    rm.mark(equity, bar=2)
    assert rm.state is Breaker.HALTED
    assert rm.approve(0.2).size == 0.0
