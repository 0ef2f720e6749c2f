"""Trading metrics as pure functions of the equity curve and the trades.

Conventions (stated once, used everywhere in this module):

* **Bars and periods.** ``equity`` is the account value at the close of each bar (numpy array, list, or a
  ``pd.Series`` whose index, e.g. a DatetimeIndex, only names bad bars in errors). ``n`` equity values give
  ``n - 1`` periods. A year has ``periods_per_year`` periods (252 by default: trading days).
* **Returns.** Simple per-bar returns ``r[t] = equity[t + 1] / equity[t] - 1`` (:func:`bar_returns`).
  Return-based statistics (volatility, Sharpe, Sortino, PSR/DSR, bootstrap) take these returns so they can be
  resampled; level-based ones (total return, CAGR, drawdowns, Calmar) take the equity.
* **Risk-free rate.** ``risk_free_annual`` (0 by default) is an annual simple rate, made per-period
  arithmetically: ``rf = risk_free_annual / periods_per_year``.
* **Sharpe** is arithmetic: ``mean(r - rf) / std(r, ddof=1) * sqrt(periods_per_year)``.
* **Sortino** divides by the downside deviation ``sqrt(mean(min(r - rf, 0) ** 2))`` (mean over all periods),
  annualized the same way.
* **CAGR** is geometric: ``(equity[-1] / equity[0]) ** (periods_per_year / (n - 1)) - 1``.
* **Max drawdown** is a positive fraction of the running peak (0.1 means 10 % below the peak).
* **Calmar** is ``CAGR / max drawdown``.
* **Trades** are a list of dicts or a DataFrame with ``net_return`` (fractional return of the trade on equity
  at entry), ``pnl`` (currency), ``size`` (fraction of equity), ``entry_bar`` and ``exit_bar`` (integer bar
  positions in the equity curve). A trade holds a position on bars ``entry_bar .. exit_bar`` inclusive; a NaN
  ``exit_bar`` means it is still open at the last bar. Profit factor uses ``pnl``, win rate ``net_return``.
* **PSR / DSR** use the *per-period* (not annualized) Sharpe ratio, as in Bailey and López de Prado.

Too little data never raises: a statistic that needs more bars than given returns ``nan`` (stated per
function). Bad values raise ``ValueError``: non-finite or non-positive equity, non-finite returns, bad trades.

References:
    Bailey and López de Prado (2012). The Sharpe ratio efficient frontier. Journal of Risk 15(2).
    Bailey and López de Prado (2014). The deflated Sharpe ratio. Journal of Portfolio Management 40(5).
    Politis and Romano (1994). The stationary bootstrap. JASA 89(428).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from arch.bootstrap import StationaryBootstrap
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

Trades: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any]]

_EULER_GAMMA = 0.5772156649015329
_TRADE_COLUMNS = ("net_return", "pnl", "size", "entry_bar", "exit_bar")

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


# Input checks ---------------------------------------------------------------------------------------------


def _label(values: ArrayLike, i: int) -> str:
    if isinstance(values, pd.Series):
        stamp = values.index[i]
        stamp = stamp.date() if isinstance(stamp, pd.Timestamp) else stamp
        return f"[{i}] ({stamp})"
    return f"[{i}]"


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be 1-D (array or Series), not a DataFrame; pass one column")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric; got {type(values).__name__} ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}; flatten it or pass one column")
    return arr


def _as_equity(equity: ArrayLike) -> np.ndarray:
    """Validate an equity curve: 1-D, finite and > 0 on every bar."""
    arr = _as_1d(equity, "equity")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"equity{_label(equity, i)} is {arr[i]}; equity must be the account value per bar, finite and "
            "> 0 (not P&L or returns); drop or fill that bar, or rebuild it as start_cash + cumulative P&L"
        )
    return arr


def _as_returns(returns: ArrayLike, name: str = "returns") -> np.ndarray:
    """Validate per-period returns: 1-D and finite."""
    arr = _as_1d(returns, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}{_label(returns, i)} is {arr[i]}; returns must be finite; "
            "compute them with bar_returns(equity) from a valid equity curve"
        )
    return arr


def _check_ppy(periods_per_year: float) -> float:
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be finite and > 0; got {periods_per_year}; 252 for daily")
    return float(periods_per_year)


def _check_count(value: int, name: str, minimum: int) -> int:
    try:
        count = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer; got {value!r}") from exc
    if count < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {count}")
    return count


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed; got {rng!r}")


def _trades_frame(trades: Trades, needed: Sequence[str]) -> pd.DataFrame:
    """Trades as a DataFrame with the ``needed`` columns as floats (empty frame if there are no trades)."""
    frame = trades if isinstance(trades, pd.DataFrame) else pd.DataFrame(list(trades))
    if len(frame) == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in needed})
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"trades lack column(s) {missing} (have {list(frame.columns)}); each trade needs {list(_TRADE_COLUMNS)}"
        )
    out = pd.DataFrame(index=range(len(frame)))
    for col in needed:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        bad = np.isinf(values) | (np.isnan(values) & frame[col].notna().to_numpy())
        if col != "exit_bar":  # a missing exit_bar means the trade is still open
            bad |= np.isnan(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"trade {i} has {col}={frame[col].iloc[i]!r}; it must be a finite number")
        out[col] = values
    return out


# Equity and return statistics -----------------------------------------------------------------------------


def bar_returns(equity: ArrayLike) -> np.ndarray:
    """Simple per-bar returns of an equity curve.

    Args:
        equity: Account value per bar, shape ``(n,)``, finite and > 0.

    Returns:
        ``equity[1:] / equity[:-1] - 1``, shape ``(max(n - 1, 0),)``.

    Raises:
        ValueError: If any equity value is non-finite or <= 0 (the message names the bar).
    """
    eq = _as_equity(equity)
    return eq[1:] / eq[:-1] - 1.0


def total_return(equity: ArrayLike) -> float:
    """Total return as a fraction: ``equity[-1] / equity[0] - 1``; ``nan`` for an empty curve."""
    eq = _as_equity(equity)
    return float(eq[-1] / eq[0] - 1.0) if eq.size else math.nan


def cagr(equity: ArrayLike, *, periods_per_year: float = 252) -> float:
    """Compound annual growth rate as a fraction (geometric).

    ``(equity[-1] / equity[0]) ** (periods_per_year / (n - 1)) - 1``; ``n - 1`` is the number of periods,
    so 253 equity values (252 daily periods) make exactly one year.

    Args:
        equity: Account value per bar, shape ``(n,)``.
        periods_per_year: Periods in one year.

    Returns:
        The CAGR; ``nan`` if there are fewer than 2 bars.
    """
    ppy = _check_ppy(periods_per_year)
    eq = _as_equity(equity)
    if eq.size < 2:
        return math.nan
    years = (eq.size - 1) / ppy
    return float((eq[-1] / eq[0]) ** (1.0 / years) - 1.0)


def volatility(returns: ArrayLike, *, periods_per_year: float = 252) -> float:
    """Annualized volatility: ``std(returns, ddof=1) * sqrt(periods_per_year)``; ``nan`` for < 2 returns."""
    ppy = _check_ppy(periods_per_year)
    r = _as_returns(returns)
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(ppy))


def _is_zero_spread(std: float, r: np.ndarray) -> bool:
    """True if a dispersion is zero up to float round-off (so a ratio over it is meaningless)."""
    return std <= 1e-12 * max(1.0, float(np.max(np.abs(r))))


def sharpe(returns: ArrayLike, *, periods_per_year: float = 252, risk_free_annual: float = 0.0) -> float:
    """Annualized arithmetic Sharpe ratio.

    ``mean(r - rf) / std(r, ddof=1) * sqrt(periods_per_year)``, ``rf = risk_free_annual / periods_per_year``.

    Args:
        returns: Per-period simple returns, shape ``(T,)``.
        periods_per_year: Periods in one year; ``periods_per_year=1`` gives the per-period Sharpe.
        risk_free_annual: Annual risk-free rate (simple).

    Returns:
        The Sharpe ratio; ``nan`` for fewer than 2 returns or zero volatility.
    """
    ppy = _check_ppy(periods_per_year)
    r = _as_returns(returns)
    if r.size < 2:
        return math.nan
    std = float(np.std(r, ddof=1))
    if _is_zero_spread(std, r):
        return math.nan
    excess = r - risk_free_annual / ppy
    return float(np.mean(excess) / std * math.sqrt(ppy))


def sortino(returns: ArrayLike, *, periods_per_year: float = 252, risk_free_annual: float = 0.0) -> float:
    """Annualized Sortino ratio.

    ``mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(periods_per_year)``; the downside mean runs over
    all periods, not only the losing ones.

    Args:
        returns: Per-period simple returns, shape ``(T,)``.
        periods_per_year: Periods in one year.
        risk_free_annual: Annual risk-free rate (simple), also the downside target.

    Returns:
        The Sortino ratio; ``inf`` if no period is below the target and the mean excess is > 0; ``nan`` for
        fewer than 2 returns or when there is no downside and no positive mean.
    """
    ppy = _check_ppy(periods_per_year)
    r = _as_returns(returns)
    if r.size < 2:
        return math.nan
    excess = r - risk_free_annual / ppy
    mean = float(np.mean(excess))
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return math.inf if mean > 0 else math.nan
    return mean / downside * math.sqrt(ppy)


def drawdown_series(equity: ArrayLike) -> np.ndarray:
    """Drawdown per bar as a positive fraction of the running peak: ``1 - equity / cummax(equity)``.

    Args:
        equity: Account value per bar, shape ``(n,)``.

    Returns:
        Array of shape ``(n,)`` in ``[0, 1)``; 0 on new highs.
    """
    eq = _as_equity(equity)
    return 1.0 - eq / np.maximum.accumulate(eq) if eq.size else np.empty(0)


def max_drawdown(equity: ArrayLike) -> float:
    """Maximum drawdown as a positive fraction (0.1 = 10 % below the peak); ``nan`` for an empty curve."""
    dd = drawdown_series(equity)
    return float(np.max(dd)) if dd.size else math.nan


def calmar(equity: ArrayLike, *, periods_per_year: float = 252) -> float:
    """Calmar ratio: ``cagr / max_drawdown``.

    Returns:
        The ratio; ``inf`` if there was no drawdown and CAGR > 0; ``nan`` for fewer than 2 bars or no
        drawdown and CAGR <= 0.
    """
    growth = cagr(equity, periods_per_year=periods_per_year)
    if math.isnan(growth):
        return math.nan
    mdd = max_drawdown(equity)
    if mdd == 0.0:
        return math.inf if growth > 0 else math.nan
    return growth / mdd


# Trade statistics -----------------------------------------------------------------------------------------


def trade_count(trades: Trades) -> int:
    """Number of trades (closed or still open)."""
    return len(trades)


def win_rate(trades: Trades) -> float:
    """Share of trades with ``net_return > 0``; ``nan`` if there are no trades."""
    net = _trades_frame(trades, ["net_return"])["net_return"].to_numpy()
    return float(np.mean(net > 0)) if net.size else math.nan


def profit_factor(trades: Trades) -> float:
    """Gross profit over gross loss, from ``pnl`` (currency).

    Returns:
        ``sum(pnl > 0) / -sum(pnl < 0)``; ``inf`` if there are winning trades and no losses; ``nan`` if there
        are no trades or every trade broke even.
    """
    pnl = _trades_frame(trades, ["pnl"])["pnl"].to_numpy()
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss == 0.0:
        return math.inf if gross_profit > 0 else math.nan
    return gross_profit / gross_loss


def _trade_bars(trades: Trades, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit bars as ints; open trades (NaN exit) run to the last bar. Checks they fit the curve."""
    frame = _trades_frame(trades, ["entry_bar", "exit_bar"])
    entry = frame["entry_bar"].to_numpy()
    exit_ = np.where(np.isnan(frame["exit_bar"].to_numpy()), n_bars - 1, frame["exit_bar"].to_numpy())
    not_int = (entry != np.round(entry)) | (exit_ != np.round(exit_))
    bad = (entry < 0) | (exit_ < entry) | (exit_ > n_bars - 1) | not_int
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"trade {i} has entry_bar={entry[i]}, exit_bar={exit_[i]}; bars must be integers with "
            f"0 <= entry_bar <= exit_bar <= {n_bars - 1}; pass the equity curve the trades were made on"
        )
    return entry.astype(np.int64), exit_.astype(np.int64)


def exposure(trades: Trades, n_bars: int, *, position: ArrayLike | None = None) -> float:
    """Share of bars with an open position.

    Args:
        trades: Trades with ``entry_bar`` and ``exit_bar``; a trade covers bars ``entry_bar .. exit_bar``
            inclusive, overlapping trades count once. Ignored if ``position`` is given.
        n_bars: Number of bars in the equity curve.
        position: Optional position per bar, shape ``(n_bars,)``; a bar is exposed where it is non-zero.

    Returns:
        A fraction in ``[0, 1]``; ``nan`` if ``n_bars`` is 0.
    """
    n_bars = _check_count(n_bars, "n_bars", 0)
    if position is not None:
        pos = _as_returns(position, "position")
        if pos.size != n_bars:
            raise ValueError(f"position has {pos.size} values but n_bars={n_bars}; they must match")
        return float(np.mean(pos != 0)) if n_bars else math.nan
    if n_bars == 0:
        return math.nan
    entry, exit_ = _trade_bars(trades, n_bars)
    open_count = np.zeros(n_bars + 1, dtype=np.int64)
    np.add.at(open_count, entry, 1)
    np.add.at(open_count, exit_ + 1, -1)
    return float(np.mean(np.cumsum(open_count[:-1]) > 0))


def turnover(trades: Trades, n_bars: int, *, periods_per_year: float = 252) -> float:
    """Annual turnover: sum of ``|size|`` traded per year, entries and exits both counted.

    A closed trade of size 0.5 adds 1.0 (0.5 in, 0.5 out); a trade still open at the end adds only its entry.
    Years are ``(n_bars - 1) / periods_per_year``, as for :func:`cagr`.

    Args:
        trades: Trades with ``size`` and ``exit_bar``.
        n_bars: Number of bars in the equity curve.
        periods_per_year: Periods in one year.

    Returns:
        Traded fraction of equity per year; ``nan`` if ``n_bars < 2``.
    """
    ppy = _check_ppy(periods_per_year)
    n_bars = _check_count(n_bars, "n_bars", 0)
    frame = _trades_frame(trades, ["size", "exit_bar"])
    if n_bars < 2:
        return math.nan
    size = np.abs(frame["size"].to_numpy())
    closed = ~np.isnan(frame["exit_bar"].to_numpy())
    traded = float(size.sum() + size[closed].sum())
    return traded / ((n_bars - 1) / ppy)


# Probabilistic and deflated Sharpe (per-period Sharpe) ----------------------------------------------------


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


# Stationary bootstrap -------------------------------------------------------------------------------------


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


# Summary --------------------------------------------------------------------------------------------------


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
