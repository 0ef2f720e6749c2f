"""Tests for experiments.evaluation.metrics: every value is worked out by hand in a comment next to the assertion."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.evaluation import metrics as m
from experiments.evaluation import stats as s

# equity [100, 110, 99, 108.9]: returns 110/100-1 = 0.1, 99/110-1 = -0.1, 108.9/99-1 = 0.1
EQ = np.array([100.0, 110.0, 99.0, 108.9])
R = np.array([0.1, -0.1, 0.1])
SQRT252 = math.sqrt(252)


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _trades() -> list[dict[str, float]]:
    return [
        {"net_return": 0.02, "pnl": 20.0, "size": 0.5, "entry_bar": 2, "exit_bar": 4},
        {"net_return": -0.01, "pnl": -10.0, "size": 1.0, "entry_bar": 3, "exit_bar": 6},
        {"net_return": 0.03, "pnl": 30.0, "size": -0.25, "entry_bar": 8, "exit_bar": math.nan},
        {"net_return": 0.0, "pnl": 0.0, "size": 0.5, "entry_bar": 7, "exit_bar": 7},
    ]


# --- equity and return statistics ---------------------------------------------------------------------------


def test_bar_returns_hand_example() -> None:
    np.testing.assert_allclose(m.bar_returns(EQ), R, rtol=0, atol=1e-12)
    assert m.bar_returns(pd.Series(EQ)).shape == (3,)
    assert m.bar_returns([100.0]).shape == (0,)


def test_total_return() -> None:
    # 108.9 / 100 - 1 = 0.089
    assert m.total_return(EQ) == pytest.approx(0.089, abs=1e-12)


def test_drawdown_series_and_max_drawdown() -> None:
    # peaks 100, 110, 110, 110 -> 1 - eq/peak = 0, 0, 1 - 99/110 = 0.1, 1 - 108.9/110 = 0.01
    np.testing.assert_allclose(m.drawdown_series(EQ), [0.0, 0.0, 0.1, 0.01], atol=1e-12)
    assert m.max_drawdown(EQ) == pytest.approx(0.1, abs=1e-12)
    # a curve that only rises has no drawdown
    assert m.max_drawdown([1.0, 2.0, 3.0]) == 0.0


def test_cagr_over_exactly_one_and_two_years() -> None:
    # 253 values = 252 daily periods = 1 year: 100 -> 121 gives (1.21) ** 1 - 1 = 0.21
    one_year = np.geomspace(100.0, 121.0, 253)
    assert m.cagr(one_year) == pytest.approx(0.21, abs=1e-12)
    # 505 values = 504 periods = 2 years: 1.21 ** (1/2) - 1 = 0.1
    two_years = np.geomspace(100.0, 121.0, 505)
    assert m.cagr(two_years) == pytest.approx(0.10, abs=1e-12)
    # the hand example with 3 periods per year is one year: 108.9 / 100 - 1 = 0.089
    assert m.cagr(EQ, periods_per_year=3) == pytest.approx(0.089, abs=1e-12)


def test_volatility() -> None:
    # mean = 0.1/3; deviations 0.2/3, -0.4/3, 0.2/3; sum of squares = 0.24/9; / (3-1) = 0.04/3
    # vol = sqrt(0.04/3 * 252) = sqrt(3.36) = 1.8330302780
    assert m.volatility(R) == pytest.approx(math.sqrt(3.36), rel=1e-12)
    assert m.volatility(R) == pytest.approx(1.8330302780, rel=1e-9)


def test_sharpe_known_series() -> None:
    # mean / std = (1/30) / sqrt(0.04/3) = sqrt(3)/6 = 0.2886751346; * sqrt(252) = sqrt(756)/6 = 4.5825756950
    assert m.sharpe(R) == pytest.approx(math.sqrt(756) / 6, rel=1e-12)
    assert m.sharpe(R, periods_per_year=1) == pytest.approx(math.sqrt(3) / 6, rel=1e-12)
    # a risk-free rate of 252/30 per year is 1/30 per period: the excess mean is 0, so Sharpe is 0
    assert m.sharpe(R, risk_free_annual=252 / 30) == pytest.approx(0.0, abs=1e-12)


def test_sortino_known_series() -> None:
    # downside deviation = sqrt(mean([0, 0.01, 0])) = sqrt(0.01/3); (1/30) / sqrt(0.01/3) = 1/sqrt(3)
    # annualized: sqrt(252/3) = sqrt(84) = 9.1651513899
    assert m.sortino(R) == pytest.approx(math.sqrt(84), rel=1e-12)
    # target rf = 0.05 per period (12.6 a year): excess [0.05, -0.15, 0.05], mean -0.05/3,
    # downside sqrt(0.0225/3) = 0.15/sqrt(3) -> -sqrt(3)/9 per period;
    # * sqrt(252) = -sqrt(756)/9 = -3.0550504633
    assert m.sortino(R, risk_free_annual=252 * 0.05) == pytest.approx(-math.sqrt(756) / 9, rel=1e-12)
    # no period below 0 and a positive mean: no downside risk at all
    assert m.sortino([0.01, 0.02, 0.0]) == math.inf


def test_calmar() -> None:
    # CAGR over one year (3 periods/year) = 0.089, max drawdown = 0.1 -> 0.89
    assert m.calmar(EQ, periods_per_year=3) == pytest.approx(0.89, rel=1e-12)
    assert m.calmar([100.0, 101.0, 102.0]) == math.inf


def test_zero_volatility_gives_nan_not_a_huge_number() -> None:
    flat = np.full(50, 0.001)  # std is 0 up to round-off
    assert math.isnan(m.sharpe(flat))
    assert math.isnan(s.probabilistic_sharpe(flat))


# --- trade statistics ---------------------------------------------------------------------------------------


def test_win_rate_and_trade_count() -> None:
    # net returns 0.02, -0.01, 0.03, 0.0 -> winners (> 0): 2 of 4 = 0.5 (break-even is not a win)
    assert m.win_rate(_trades()) == 0.5
    assert m.win_rate(pd.DataFrame(_trades())) == 0.5
    assert m.trade_count(_trades()) == 4
    assert m.trade_count([]) == 0
    assert math.isnan(m.win_rate([]))


def test_profit_factor_with_and_without_losses() -> None:
    # gross profit 20 + 30 = 50, gross loss 10 -> 5
    assert m.profit_factor(_trades()) == pytest.approx(5.0)
    # winners only -> inf; no trades -> nan; only break-even trades -> 0/0 -> nan
    winners = [t for t in _trades() if t["pnl"] > 0]
    assert m.profit_factor(winners) == math.inf
    assert math.isnan(m.profit_factor([]))
    assert math.isnan(m.profit_factor([{"pnl": 0.0}]))


def test_exposure_from_trades_and_from_position() -> None:
    # 10 bars; trades cover 2..4 and 3..6 (union 2..6 = 5 bars), 7..7 (1 bar), 8..9 (open to the end, 2 bars)
    # -> 8 / 10 = 0.8
    assert m.exposure(_trades(), 10) == pytest.approx(0.8)
    # just the first two (overlapping) trades: bars 2..6 -> 5 / 10
    assert m.exposure(_trades()[:2], 10) == pytest.approx(0.5)
    # non-zero positions on bars 1, 2, 4 -> 3 / 10; trades are ignored when a position is given
    position = np.array([0, 1, 1, 0, -1, 0, 0, 0, 0, 0], dtype=float)
    assert m.exposure(_trades(), 10, position=position) == pytest.approx(0.3)
    assert m.exposure([], 10) == 0.0


def test_turnover_counts_entries_and_exits() -> None:
    # |size|: closed 0.5, 1.0, 0.5 in and out -> 2 * 2.0 = 4.0; open 0.25 only in -> 4.25 traded
    # 253 bars = 1 year -> 4.25 per year; 505 bars = 2 years -> 2.125 per year
    assert m.turnover(_trades(), 253) == pytest.approx(4.25)
    assert m.turnover(_trades(), 505) == pytest.approx(2.125)
    assert m.turnover([], 253) == 0.0


# --- probabilistic and deflated Sharpe ----------------------------------------------------------------------


def test_psr_is_one_half_when_sharpe_equals_benchmark() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 300)
    sr = m.sharpe(r, periods_per_year=1)
    assert s.probabilistic_sharpe(r, sr_benchmark=sr) == pytest.approx(0.5, abs=1e-12)
    assert s.probabilistic_sharpe(r, sr_benchmark=sr - 0.05) > 0.5


def test_psr_hand_value_symmetric_series() -> None:
    # r = [-0.01, 0.01, 0.03]: mean 0.01, std(ddof=1) = sqrt(0.0008/2) = 0.02 -> SR = 0.5
    # symmetric -> skew 0; z = [-sqrt(1.5), 0, sqrt(1.5)] -> kurtosis = mean(z^4) = (2.25 + 0 + 2.25)/3 = 1.5
    # spread = 1 - 0 + (1.5 - 1)/4 * 0.25 = 1.03125; stat = 0.5 * sqrt(3 - 1) / sqrt(1.03125)
    stat = 0.5 * math.sqrt(2) / math.sqrt(1.03125)
    assert s.probabilistic_sharpe([-0.01, 0.01, 0.03]) == pytest.approx(_phi(stat), rel=1e-12)


def test_expected_max_sharpe_formula() -> None:
    # N = 1 -> 0; N = 2, V = 1: (1 - g) * Phi^-1(0.5) + g * Phi^-1(1 - 1/(2e)) = g * Phi^-1(0.8160602794)
    gamma = 0.5772156649015329
    assert s.expected_max_sharpe(1, 1.0) == 0.0
    expected = gamma * NormalDist().inv_cdf(1 - 1 / (2 * math.e))
    assert s.expected_max_sharpe(2, 1.0) == pytest.approx(expected, rel=1e-9)
    # scales with sqrt(V): V = 4 doubles it
    assert s.expected_max_sharpe(2, 4.0) == pytest.approx(2 * expected, rel=1e-9)


def test_dsr_decreases_as_trials_increase() -> None:
    rng = np.random.default_rng(11)
    r = rng.normal(0.001, 0.01, 500)
    dsr = [s.deflated_sharpe(r, n) for n in (1, 2, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(dsr))
    # with one trial the expected maximum is 0, so DSR is the PSR against 0
    assert dsr[0] == pytest.approx(s.probabilistic_sharpe(r, 0.0), abs=1e-15)
    # a larger cross-trial variance deflates more
    assert s.deflated_sharpe(r, 10, sr_variance=0.01) < s.deflated_sharpe(r, 10, sr_variance=0.0001)


@pytest.mark.parametrize("bad", [0, -3])
def test_dsr_rejects_fewer_than_one_trial(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"n_trials must be >= 1; got {bad}"):
        s.deflated_sharpe(R, bad)


def test_dsr_rejects_non_integer_trials() -> None:
    with pytest.raises(TypeError, match="n_trials must be an integer"):
        s.deflated_sharpe(R, 2.5)  # type: ignore[arg-type]


# --- bootstrap ----------------------------------------------------------------------------------------------


def test_stationary_bootstrap_indices_shape_range_and_seed() -> None:
    idx = s.stationary_bootstrap_indices(50, 5.0, 20, 123)
    assert idx.shape == (20, 50)
    assert idx.min() >= 0 and idx.max() < 50
    same_seed = s.stationary_bootstrap_indices(50, 5.0, 20, np.random.default_rng(123))
    np.testing.assert_array_equal(idx, same_seed)
    assert not np.array_equal(idx, s.stationary_bootstrap_indices(50, 5.0, 20, 124))


def test_stationary_bootstrap_with_huge_blocks_is_one_circular_run() -> None:
    # mean block 1e12: a new block starts with probability 1e-12, so each row is start, start+1, ... mod n
    idx = s.stationary_bootstrap_indices(30, 1e12, 5, 0)
    assert np.all((idx[:, 1:] - idx[:, :-1]) % 30 == 1)


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.0008, 0.01, 400)

    def stat(x: np.ndarray) -> float:
        return m.sharpe(x)

    low, high = s.bootstrap_ci(r, stat, n_boot=400, rng=42)
    assert low < m.sharpe(r) < high
    assert (low, high) == s.bootstrap_ci(r, stat, n_boot=400, rng=42)
    assert (low, high) == s.bootstrap_ci(r, stat, n_boot=400, rng=np.random.default_rng(42))
    assert (low, high) != s.bootstrap_ci(r, stat, n_boot=400, rng=43)
    # a 50 % interval lies inside the 95 % one
    low50, high50 = s.bootstrap_ci(r, stat, n_boot=400, confidence=0.5, rng=42)
    assert low < low50 < high50 < high


def test_paired_sharpe_difference_with_itself_is_exactly_zero() -> None:
    r = np.random.default_rng(8).normal(0.0005, 0.01, 300)
    res = s.paired_sharpe_difference(r, r, n_boot=200, rng=1)
    assert res.diff_sharpe_annual == 0.0
    assert (res.ci_low_annual, res.ci_high_annual) == (0.0, 0.0)
    # every bootstrap difference is 0, and 0 <= 0
    assert res.p_le_zero == 1.0


def test_paired_sharpe_difference_detects_a_shifted_mean() -> None:
    b = np.random.default_rng(9).normal(0.0, 0.01, 500)
    a = b + 0.003
    # same std, so Sharpe(a) - Sharpe(b) = 0.003 / std(b) * sqrt(252)
    res = s.paired_sharpe_difference(a, b, n_boot=300, rng=2)
    assert res.diff_sharpe_annual == pytest.approx(0.003 / np.std(b, ddof=1) * SQRT252, rel=1e-9)
    assert res.ci_low_annual > 0
    assert res.p_le_zero == 0.0
    swapped = s.paired_sharpe_difference(b, a, n_boot=300, rng=2)
    assert swapped.diff_sharpe_annual == pytest.approx(-res.diff_sharpe_annual, rel=1e-12)
    with pytest.raises(ValueError, match="same bars"):
        s.paired_sharpe_difference(a, b[:-1])


# --- summary ------------------------------------------------------------------------------------------------


def test_summarize_keys_values_and_determinism() -> None:
    rng = np.random.default_rng(4)
    r = rng.normal(0.0005, 0.01, 252)
    eq = 100.0 * np.cumprod(np.r_[1.0, 1.0 + r])
    bench = r + rng.normal(0, 0.005, 252)
    out = s.summarize(eq, _trades(), benchmark_returns=bench, n_trials=5, seed=3, n_boot=200)
    assert tuple(out) == s.SUMMARY_KEYS
    assert out["sharpe_annual"] == pytest.approx(m.sharpe(r), rel=1e-9)
    assert out["total_return_frac"] == pytest.approx(eq[-1] / 100.0 - 1, rel=1e-12)
    assert out["turnover_annual"] == pytest.approx(4.25)  # 253 bars = 1 year, see the turnover test
    assert out["dsr_prob"] < out["psr_prob"]
    assert out["n_trials"] == 5.0
    assert out["sharpe_ci_low_annual"] < out["sharpe_annual"] < out["sharpe_ci_high_annual"]
    again = s.summarize(eq, _trades(), benchmark_returns=bench, n_trials=5, seed=3, n_boot=200)
    assert out == again


def test_summarize_uses_excess_returns_everywhere() -> None:
    r = np.random.default_rng(6).normal(0.0006, 0.01, 300)
    eq = 100.0 * np.cumprod(np.r_[1.0, 1.0 + r])
    out = s.summarize(eq, [], risk_free_annual=0.05, n_boot=200)
    assert out["sharpe_annual"] == pytest.approx(m.sharpe(r, risk_free_annual=0.05), rel=1e-9)
    # rf = 0.05 / 252 per period; the PSR is computed on r - rf, so it is lower than on r
    assert out["psr_prob"] == pytest.approx(s.probabilistic_sharpe(r - 0.05 / 252), rel=1e-12)
    assert out["psr_prob"] < s.probabilistic_sharpe(r)
    assert out["sharpe_ci_low_annual"] < out["sharpe_annual"] < out["sharpe_ci_high_annual"]


def test_summarize_without_benchmark_and_with_too_few_bars() -> None:
    out = s.summarize(EQ, [], n_boot=50)
    assert math.isnan(out["sharpe_diff_annual"]) and math.isnan(out["benchmark_sharpe_annual"])
    assert out["max_drawdown_frac"] == pytest.approx(0.1)
    tiny = s.summarize([100.0], [], n_boot=50)
    assert tuple(tiny) == s.SUMMARY_KEYS
    assert tiny["total_return_frac"] == 0.0
    for key in ("cagr_frac", "vol_annual", "sharpe_annual", "psr_prob", "dsr_prob", "sharpe_ci_low_annual"):
        assert math.isnan(tiny[key]), key


def test_too_few_bars_give_nan() -> None:
    assert math.isnan(m.sharpe([0.01]))
    assert math.isnan(m.sortino([0.01]))
    assert math.isnan(m.volatility([]))
    assert math.isnan(m.cagr([100.0]))
    assert math.isnan(m.total_return([]))
    assert math.isnan(m.max_drawdown([]))
    assert math.isnan(s.deflated_sharpe([0.01], 3))
    assert math.isnan(m.turnover(_trades(), 1))
    assert all(math.isnan(v) for v in s.bootstrap_ci([0.01], m.sharpe))


# --- input validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -5.0])
def test_bad_equity_names_the_bar(bad: float) -> None:
    with pytest.raises(ValueError, match=r"equity\[2\] is .*finite and\s+> 0"):
        m.max_drawdown([100.0, 101.0, bad, 102.0])


def test_bad_equity_in_a_series_names_the_date() -> None:
    eq = pd.Series([100.0, -1.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    with pytest.raises(ValueError, match=r"equity\[1\] \(2020-01-03\)"):
        s.summarize(eq, [])


def test_bad_shapes_and_values() -> None:
    with pytest.raises(ValueError, match="1-D"):
        m.bar_returns(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"returns\[1\] is inf"):
        m.sharpe([0.1, math.inf, 0.2])
    with pytest.raises(ValueError, match="periods_per_year"):
        m.cagr(EQ, periods_per_year=0)
    with pytest.raises(ValueError, match="mean_block"):
        s.stationary_bootstrap_indices(10, 0.5, 3, 0)
    with pytest.raises(ValueError, match="confidence"):
        s.bootstrap_ci(R, m.sharpe, confidence=1.5)
    with pytest.raises(TypeError, match="rng"):
        s.stationary_bootstrap_indices(10, 2.0, 3, "seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="benchmark_returns has 2 values"):
        s.summarize(EQ, [], benchmark_returns=[0.1, 0.2])


def test_bad_trades() -> None:
    with pytest.raises(ValueError, match=r"lack column\(s\) \['pnl'\]"):
        m.profit_factor([{"net_return": 0.1}])
    with pytest.raises(ValueError, match="trade 1 has net_return"):
        m.win_rate([{"net_return": 0.1}, {"net_return": "oops"}])
    with pytest.raises(ValueError, match=r"trade 0 has entry_bar=2\.0, exit_bar=12\.0.*<= 9"):
        m.exposure([{"entry_bar": 2, "exit_bar": 12}], 10)
    with pytest.raises(ValueError, match=r"trade 0 has entry_bar=5\.0, exit_bar=3\.0"):
        m.exposure([{"entry_bar": 5, "exit_bar": 3}], 10)
    with pytest.raises(ValueError, match="trade 0 has exit_bar='soon'"):
        m.exposure([{"entry_bar": 2, "exit_bar": "soon"}], 10)
    # a missing exit (None) is an open trade: bars 2..9 -> 8 / 10
    assert m.exposure([{"entry_bar": 2, "exit_bar": None}], 10) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="position has 3 values"):
        m.exposure([], 10, position=[0.0, 1.0, 0.0])


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=1, max_size=60))
def test_drawdown_properties(values: list[float]) -> None:
    eq = np.array(values)
    dd = m.drawdown_series(eq)
    assert np.all((dd >= 0) & (dd < 1))
    # the drawdown is zero exactly where the curve is at its running peak
    np.testing.assert_array_equal(dd == 0, eq == np.maximum.accumulate(eq))
    assert m.max_drawdown(eq) == dd.max()
