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
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

Trades: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any]]


_TRADE_COLUMNS = ("net_return", "pnl", "size", "entry_bar", "exit_bar")


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
