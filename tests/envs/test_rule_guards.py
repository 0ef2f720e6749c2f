"""Guards on four rules whose boundaries nothing else pins: each test fails if its rule is bent by one step."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flat_then

from envs.layout import REGIMES, ActionMap, TradeParams
from envs.risk import Breaker, RiskLimits, RiskManager
from envs.trading_env import TradingEnv
from experiments.evaluation.metrics import sharpe

K = REGIMES.index("crisis")


# ---------------------------------------------------------------- crisis: "at or above" the threshold
@pytest.mark.parametrize("threshold", [0.5, 0.25, 1.0])
def test_crisis_probability_exactly_at_the_threshold_is_a_crisis(threshold):
    rm = RiskManager(RiskLimits(crisis_threshold=threshold))
    rest = (1.0 - threshold) / 4  # exact in binary for these thresholds
    at = (rest, rest, rest, threshold, rest)
    assert sum(at) == 1.0 and at[K] == threshold
    assert rm.is_crisis(at, K)
    below = np.nextafter(threshold, 0.0)
    assert not rm.is_crisis((rest, rest, rest, below, rest + (threshold - below)), K)


def test_crisis_tied_for_the_largest_probability_is_a_crisis():
    """Ties go to caution: P(crisis) = P(bull) = 0.5 means cash."""
    assert RiskManager().is_crisis((0.5, 0.0, 0.0, 0.5, 0.0), K)


def test_env_refuses_to_trade_with_p_crisis_exactly_at_the_threshold():
    env = TradingEnv(flat_then([(100.0, 100.5, 99.5, 100.0)] * 10), window=(129, None))
    env.reset(seed=0)
    env.set_regime((0.125, 0.125, 0.125, 0.5, 0.125))
    _, _, _, _, info = env.step(np.ones(4, dtype=np.float32))
    assert "trade" not in info and info["risk_reasons"] == ("crisis regime: cash only",)


# ---------------------------------------------------------------- breaker hysteresis
def test_reducing_breaker_stays_reducing_between_recover_and_reduce_drawdowns():
    rm = RiskManager(RiskLimits(reduce_drawdown=0.10, recover_drawdown=0.05, sharpe_window=60))
    rm.reset_account(100.0, day=0)
    rm.mark(89.0, bar=1)  # 11% drawdown -> REDUCING
    assert rm.state is Breaker.REDUCING
    for bar, equity in enumerate([93.0, 91.0, 94.9, 90.5], start=2):  # drawdowns 7%, 9%, 5.1%, 9.5%
        rm.mark(equity, bar=bar)
        assert rm.state is Breaker.REDUCING, f"recovered at drawdown {1 - equity / 100:.1%}"
    assert rm.rolling_sharpe == 0.0  # window not full: the Sharpe condition (>= 0) holds, only drawdown binds
    rm.mark(95.5, bar=6)  # 4.5% drawdown: below recover_drawdown -> ACTIVE
    assert rm.state is Breaker.ACTIVE and [e.new for e in rm.events] == ["REDUCING", "ACTIVE"]


def test_active_breaker_stays_active_between_recover_and_reduce_drawdowns():
    rm = RiskManager(RiskLimits(reduce_drawdown=0.10, recover_drawdown=0.05))
    rm.reset_account(100.0, day=0)
    rm.mark(93.0, bar=1)  # 7% drawdown from ACTIVE: not yet REDUCING
    assert rm.state is Breaker.ACTIVE
    rm.mark(89.9, bar=2)  # 10.1%: REDUCING
    assert rm.state is Breaker.REDUCING


# ---------------------------------------------------------------- rolling Sharpe: the project's Sharpe
@pytest.mark.parametrize(("window", "periods_per_year"), [(60, 252.0), (20, 52.0), (2, 252.0)])
def test_rolling_sharpe_equals_the_metrics_sharpe_of_the_last_window(window, periods_per_year):
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0004, 0.011, 150)
    rm = RiskManager(RiskLimits(sharpe_window=window), periods_per_year=periods_per_year)
    rm.reset_account(100.0)
    equity = 100.0 * np.cumprod(1.0 + returns)
    for bar, e in enumerate(equity):
        rm.mark(float(e), bar=bar)
        if bar + 1 >= window:
            expected = sharpe(returns[bar + 1 - window : bar + 1], periods_per_year=periods_per_year)
            assert rm.rolling_sharpe == pytest.approx(expected, rel=1e-9, abs=1e-12), bar
    assert rm.rolling_sharpe != 0.0


def test_rolling_sharpe_by_hand_on_four_returns():
    """Returns 1%, -1%, 2%, 0%: mean 0.5%, sample variance (ddof=1) 1.6667e-4, annualised with sqrt(252)."""
    rm = RiskManager(RiskLimits(sharpe_window=4))
    rm.reset_account(100.0)
    equity = 100.0
    for bar, r in enumerate([0.01, -0.01, 0.02, 0.0]):
        equity *= 1 + r
        rm.mark(equity, bar=bar)
    var = (0.005**2 + 0.015**2 + 0.015**2 + 0.005**2) / 3
    assert rm.rolling_sharpe == pytest.approx(0.005 / var**0.5 * 252**0.5, rel=1e-9)


# ---------------------------------------------------------------- time exit on the window's last bar
FLAT = (100.0, 100.5, 99.5, 100.0)


@pytest.mark.parametrize("window_end", [None, 136])  # to the end of the data, or an explicit integer stop
def test_a_hold_ending_exactly_on_the_last_bar_is_a_time_exit(window_end):
    data = flat_then([FLAT] * 7)  # bars 129..135
    last = (len(data) if window_end is None else window_end) - 1
    for hold, reason in [(3, "time"), (4, "end_of_data")]:
        env = TradingEnv(data, window=(129, window_end))
        env.reset(options={"start": last - 3})
        _, _, term, trunc, info = env.step(ActionMap().encode(TradeParams(0.2, hold, 0.10, 0.20)))
        t = info["trade"]
        assert (t["decision_bar"], t["exit_bar"], t["exit_reason"]) == (last - 3, last, reason)
        assert trunc and not term


def test_a_hold_ending_on_the_last_bar_of_an_episode_cap_is_a_time_exit():
    env = TradingEnv(flat_then([FLAT] * 30), window=(129, None), episode_bars=10)
    env.reset(options={"start": 130})  # the episode ends at bar 140
    for _ in range(5):
        env.step(np.full(4, -1.0, dtype=np.float32))  # flat bars up to 135
    _, _, _, trunc, info = env.step(ActionMap().encode(TradeParams(0.2, 5, 0.10, 0.20)))
    assert (info["trade"]["exit_bar"], info["trade"]["exit_reason"], trunc) == (140, "time", True)
