"""Statistics of a policy's results: the probabilistic and deflated Sharpe ratios, the stationary bootstrap and
its intervals, the paired Sharpe difference, and :func:`summarize` (every metric of a run in one dict).

The conventions (bars, periods per year, returns) are those of :mod:`experiments.evaluation.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from arch.bootstrap import StationaryBootstrap
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from experiments.evaluation.metrics import (
    Trades,
    _as_equity,
    _as_generator,
    _as_returns,
    _check_count,
    _check_ppy,
    _is_zero_spread,
    bar_returns,
    cagr,
    calmar,
    exposure,
    max_drawdown,
    profit_factor,
    sharpe,
    sortino,
    total_return,
    trade_count,
    turnover,
    volatility,
    win_rate,
)

_EULER_GAMMA = 0.5772156649015329


SUMMARY_KEYS: tuple[str, ...] = (
    # equity curve
    "n_bars",
    "total_return_frac",
    "cagr_frac",
    "vol_annual",
    "sharpe_annual",
    "sortino_annual",
    "max_drawdown_frac",
    "calmar_ratio",
    # trades
    "win_rate_frac",
    "profit_factor",
    "trade_count",
    "exposure_frac",
    "turnover_annual",
    # inference on the Sharpe ratio
    "sharpe_ci_low_annual",
    "sharpe_ci_high_annual",
    "psr_prob",
    "dsr_prob",
    "n_trials",
    # against the benchmark (paired stationary bootstrap)
    "benchmark_sharpe_annual",
    "sharpe_diff_annual",
    "sharpe_diff_ci_low_annual",
    "sharpe_diff_ci_high_annual",
    "sharpe_diff_p_le_zero",
)
"""Keys of :func:`summarize`, in order. Always all present; ``nan`` where a value is undefined."""


@dataclass(frozen=True)
class SharpeDifference:
    """Result of :func:`paired_sharpe_difference`.

    Attributes:
        diff_sharpe_annual: Sharpe(a) - Sharpe(b), annualized, on the original series.
        ci_low_annual: Lower end of the percentile bootstrap interval of the difference.
        ci_high_annual: Upper end of the percentile bootstrap interval of the difference.
        p_le_zero: Share of bootstrap differences <= 0 (a one-sided p-value-like number for "a beats b").
    """

    diff_sharpe_annual: float
    ci_low_annual: float
    ci_high_annual: float
    p_le_zero: float


def _sharpe_moments(r: np.ndarray) -> tuple[float, float, float] | None:
    """Per-period Sharpe (ddof=1), skewness and (non-excess) kurtosis; None if undefined."""
    if r.size < 2:
        return None
    std = float(np.std(r, ddof=1))
    if _is_zero_spread(std, r):
        return None
    z = (r - r.mean()) / np.std(r)
    return float(r.mean() / std), float(np.mean(z**3)), float(np.mean(z**4))


def probabilistic_sharpe(returns: ArrayLike, sr_benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey and López de Prado, 2012).

    ``PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR ** 2))`` where ``SR`` is the
    per-period Sharpe (``mean / std(ddof=1)``), ``g3`` the skewness and ``g4`` the (non-excess) kurtosis of
    the returns (population moments), ``T`` the number of returns.

    Args:
        returns: Per-period simple returns, shape ``(T,)``.
        sr_benchmark: Benchmark Sharpe ``SR*`` **per period** (annual / ``sqrt(periods_per_year)``).

    Returns:
        Probability that the true Sharpe exceeds ``sr_benchmark``; 0.5 when ``SR == SR*``; ``nan`` for fewer
        than 2 returns or zero volatility.
    """
    r = _as_returns(returns)
    moments = _sharpe_moments(r)
    if moments is None:
        return math.nan
    sr, skew, kurt = moments
    spread = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if spread <= 0.0:
        return math.nan
    return float(ndtr((sr - sr_benchmark) * math.sqrt(r.size - 1) / math.sqrt(spread)))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of ``n_trials`` per-period Sharpe estimates of skill-less strategies.

    Bailey and López de Prado (2014), with the Euler-Mascheroni constant ``g``:

    ``sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``; 0 for a single trial.

    Args:
        n_trials: Number of strategies tried, N >= 1.
        sr_variance: Variance V of the per-period Sharpe estimates across the trials, >= 0.

    Returns:
        The expected maximum per-period Sharpe under the null.
    """
    n = _check_count(n_trials, "n_trials", 1)
    if not (math.isfinite(sr_variance) and sr_variance >= 0):
        raise ValueError(f"sr_variance must be finite and >= 0; got {sr_variance}")
    if n == 1:
        return 0.0
    quantiles = (1.0 - _EULER_GAMMA) * ndtri(1.0 - 1.0 / n) + _EULER_GAMMA * ndtri(1.0 - 1.0 / (n * math.e))
    return float(math.sqrt(sr_variance) * quantiles)


def deflated_sharpe(returns: ArrayLike, n_trials: int, sr_variance: float | None = None) -> float:
    """Deflated Sharpe ratio (Bailey and López de Prado, 2014).

    The PSR against the expected maximum Sharpe of ``n_trials`` skill-less trials
    (:func:`expected_max_sharpe`). With one trial it equals ``probabilistic_sharpe(returns, 0)``; it falls as
    ``n_trials`` grows.

    Args:
        returns: Per-period simple returns of the selected strategy, shape ``(T,)``.
        n_trials: Number of strategies/configurations tried to find this one, counted by the caller; >= 1.
        sr_variance: Variance of the per-period Sharpe ratios across the trials. If None, ``1 / (T - 1)``: the
            sampling variance of a zero-Sharpe strategy's estimate over ``T`` returns, i.e. as if the trials
            were independent and skill-less. Pass the observed cross-trial variance when you have it.

    Returns:
        The DSR, a probability; ``nan`` for fewer than 2 returns or zero volatility.

    Raises:
        ValueError: If ``n_trials < 1`` or ``sr_variance`` is negative or non-finite.
    """
    n = _check_count(n_trials, "n_trials", 1)
    r = _as_returns(returns)
    if r.size < 2:
        return math.nan
    variance = 1.0 / (r.size - 1) if sr_variance is None else float(sr_variance)
    return probabilistic_sharpe(r, sr_benchmark=expected_max_sharpe(n, variance))


def stationary_bootstrap_indices(n: int, mean_block: float, n_boot: int, rng: np.random.Generator | int) -> np.ndarray:
    """Resampling indices of the stationary bootstrap (Politis and Romano, 1994).

    Blocks start at uniform positions, have geometric lengths with mean ``mean_block`` and wrap around the
    end. The resampling is done by ``arch.bootstrap.StationaryBootstrap`` (maintained, tested, already a
    dependency); this function only collects its indices so that several series can share them.

    Args:
        n: Length of the series, >= 1.
        mean_block: Mean block length, >= 1 (1 gives the iid bootstrap).
        n_boot: Number of bootstrap samples, >= 1.
        rng: A numpy Generator (consumed) or an int seed.

    Returns:
        Integer array of shape ``(n_boot, n)`` with values in ``[0, n)``.
    """
    n = _check_count(n, "n", 1)
    n_boot = _check_count(n_boot, "n_boot", 1)
    if not (math.isfinite(mean_block) and mean_block >= 1):
        raise ValueError(f"mean_block must be finite and >= 1; got {mean_block}; try n ** (1/3)")
    # arch draws a new block with probability 1 / block_size, so a non-integer mean length is exact.
    resampler = StationaryBootstrap(mean_block, np.empty(n), seed=_as_generator(rng))  # type: ignore[arg-type]
    out = np.empty((n_boot, n), dtype=np.int64)
    for b, _ in enumerate(resampler.bootstrap(n_boot)):
        out[b] = np.asarray(resampler.index)
    return out


def _default_block(n: int, mean_block: float | None) -> float:
    return max(1.0, n ** (1.0 / 3.0)) if mean_block is None else float(mean_block)


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}; e.g. 0.95")
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_ci(
    returns: ArrayLike,
    stat_fn: Callable[[np.ndarray], float],
    *,
    mean_block: float | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of a statistic under the stationary bootstrap.

    Example:
        >>> from functools import partial
        >>> low, high = bootstrap_ci(r, partial(sharpe, periods_per_year=252), rng=7)

    Args:
        returns: Per-period returns, shape ``(T,)``.
        stat_fn: Maps a resampled returns array to a float (``nan`` results are dropped).
        mean_block: Mean block length; default ``T ** (1/3)`` (at least 1).
        n_boot: Number of bootstrap samples.
        confidence: Two-sided coverage, e.g. 0.95.
        rng: A numpy Generator or an int seed; the same seed gives the same interval.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for fewer than 2 returns or if every resample gives ``nan``.
    """
    r = _as_returns(returns)
    if r.size < 2:
        return math.nan, math.nan
    indices = stationary_bootstrap_indices(r.size, _default_block(r.size, mean_block), n_boot, rng)
    stats = np.array([stat_fn(r[idx]) for idx in indices], dtype=np.float64)
    return _percentile_interval(stats, confidence)


def paired_sharpe_difference(
    returns_a: ArrayLike,
    returns_b: ArrayLike,
    *,
    periods_per_year: float = 252,
    mean_block: float | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int = 0,
) -> SharpeDifference:
    """Sharpe(a) - Sharpe(b) with a paired stationary-bootstrap interval.

    Both series are resampled with the same indices, so their correlation is kept (e.g. a strategy against
    buy-and-hold on the same bars).

    Args:
        returns_a: Per-period returns of the candidate, shape ``(T,)``.
        returns_b: Per-period returns of the benchmark on the same bars, shape ``(T,)``.
        periods_per_year: Periods in one year (the difference is annualized).
        mean_block: Mean block length; default ``T ** (1/3)``.
        n_boot: Number of bootstrap samples.
        confidence: Two-sided coverage of the interval.
        rng: A numpy Generator or an int seed.

    Returns:
        A :class:`SharpeDifference`; all fields ``nan`` for fewer than 2 returns.
    """
    a, b = _as_returns(returns_a, "returns_a"), _as_returns(returns_b, "returns_b")
    if a.size != b.size:
        raise ValueError(f"returns_a has {a.size} values and returns_b {b.size}; pass both on the same bars")
    if a.size < 2:
        return SharpeDifference(math.nan, math.nan, math.nan, math.nan)

    def diff_fn(idx: np.ndarray | slice) -> float:
        ppy = periods_per_year
        return sharpe(a[idx], periods_per_year=ppy) - sharpe(b[idx], periods_per_year=ppy)

    indices = stationary_bootstrap_indices(a.size, _default_block(a.size, mean_block), n_boot, rng)
    boot = np.array([diff_fn(idx) for idx in indices], dtype=np.float64)
    low, high = _percentile_interval(boot, confidence)
    finite = boot[np.isfinite(boot)]
    p_le_zero = float(np.mean(finite <= 0)) if finite.size else math.nan
    return SharpeDifference(diff_fn(slice(None)), low, high, p_le_zero)


def _curve_stats(eq: np.ndarray, r: np.ndarray, ppy: float, risk_free_annual: float) -> dict[str, float]:
    return {
        "n_bars": float(eq.size),
        "total_return_frac": total_return(eq),
        "cagr_frac": cagr(eq, periods_per_year=ppy),
        "vol_annual": volatility(r, periods_per_year=ppy),
        "sharpe_annual": sharpe(r, periods_per_year=ppy, risk_free_annual=risk_free_annual),
        "sortino_annual": sortino(r, periods_per_year=ppy, risk_free_annual=risk_free_annual),
        "max_drawdown_frac": max_drawdown(eq),
        "calmar_ratio": calmar(eq, periods_per_year=ppy),
    }


def _trade_stats(trades: Trades, n_bars: int, ppy: float, position: ArrayLike | None) -> dict[str, float]:
    return {
        "win_rate_frac": win_rate(trades),
        "profit_factor": profit_factor(trades),
        "trade_count": float(trade_count(trades)),
        "exposure_frac": exposure(trades, n_bars, position=position),
        "turnover_annual": turnover(trades, n_bars, periods_per_year=ppy),
    }


def _inference_stats(excess: np.ndarray, ppy: float, n_trials: int, n_boot: int, seed: int) -> dict[str, float]:
    def annual_sharpe(x: np.ndarray) -> float:
        return sharpe(x, periods_per_year=ppy)

    low, high = bootstrap_ci(excess, annual_sharpe, n_boot=n_boot, rng=seed)
    return {
        "sharpe_ci_low_annual": low,
        "sharpe_ci_high_annual": high,
        "psr_prob": probabilistic_sharpe(excess),
        "dsr_prob": deflated_sharpe(excess, n_trials),
        "n_trials": float(n_trials),
    }


def _benchmark_stats(
    excess: np.ndarray, bench_excess: np.ndarray | None, ppy: float, n_boot: int, seed: int
) -> dict[str, float]:
    diff, bench_sharpe = SharpeDifference(math.nan, math.nan, math.nan, math.nan), math.nan
    if bench_excess is not None:
        diff = paired_sharpe_difference(excess, bench_excess, periods_per_year=ppy, n_boot=n_boot, rng=seed)
        bench_sharpe = sharpe(bench_excess, periods_per_year=ppy)
    return {
        "benchmark_sharpe_annual": bench_sharpe,
        "sharpe_diff_annual": diff.diff_sharpe_annual,
        "sharpe_diff_ci_low_annual": diff.ci_low_annual,
        "sharpe_diff_ci_high_annual": diff.ci_high_annual,
        "sharpe_diff_p_le_zero": diff.p_le_zero,
    }


def summarize(
    equity: ArrayLike,
    trades: Trades,
    *,
    periods_per_year: float = 252,
    benchmark_returns: ArrayLike | None = None,
    n_trials: int = 1,
    seed: int = 0,
    risk_free_annual: float = 0.0,
    position: ArrayLike | None = None,
    n_boot: int = 1000,
) -> dict[str, float]:
    """Every metric of this module in one flat dict with the stable keys :data:`SUMMARY_KEYS` (in that order).

    Args:
        equity: Account value per bar, shape ``(n,)``.
        trades: The run's trades (see the module docstring for the columns).
        periods_per_year: Periods in one year.
        benchmark_returns: Per-bar returns of the benchmark (e.g. buy-and-hold) on the same bars, shape
            ``(n - 1,)``; if None the ``benchmark_*`` and ``sharpe_diff_*`` keys are ``nan``.
        n_trials: Number of configurations tried to find this one (for the DSR), >= 1.
        seed: Seed of the bootstrap; the same seed gives the same dict.
        risk_free_annual: Annual risk-free rate; every Sharpe-based entry (CI, PSR, DSR, benchmark
            comparison) uses returns in excess of it.
        position: Optional position per bar, shape ``(n,)``, for the exposure.
        n_boot: Number of bootstrap samples for the intervals.

    Returns:
        ``{key: float}``; undefined entries are ``nan`` (see each function).
    """
    ppy = _check_ppy(periods_per_year)
    n_trials = _check_count(n_trials, "n_trials", 1)
    eq = _as_equity(equity)
    r = bar_returns(eq)
    rf = risk_free_annual / ppy
    bench_excess = None
    if benchmark_returns is not None:
        bench_excess = _as_returns(benchmark_returns, "benchmark_returns") - rf
        if bench_excess.size != r.size:
            raise ValueError(
                f"benchmark_returns has {bench_excess.size} values but the equity curve gives {r.size} "
                "returns; pass the benchmark's bar_returns over the same bars"
            )
    out = _curve_stats(eq, r, ppy, risk_free_annual)
    out |= _trade_stats(trades, eq.size, ppy, position)
    out |= _inference_stats(r - rf, ppy, n_trials, n_boot, seed)
    out |= _benchmark_stats(r - rf, bench_excess, ppy, n_boot, seed)
    return {key: out[key] for key in SUMMARY_KEYS}
