"""Causal features: the six market features of the observation and the default component scores.

Every value at bar ``t`` is a function of bars ``0..t`` only (closes, highs, lows, VIX up to the close of ``t``),
computed either on a trailing window or by a forward recursion, so features computed on ``data[:t+1]`` equal
the ones computed on the full data (tested: prefix invariance). Before a feature's look-back is filled its value
is NaN; the env starts episodes after :data:`LOOKBACK` bars.

Market features (slots 5-10), see :data:`envs.layout.MARKET_FEATURES`:

===================  =================================================================================
``ret_1/5/20``       log(close_t / close_{t-k}), k = 1, 5, 20
``vol_20``           sample std of the last 20 one-bar log returns x sqrt(252)
``rsi_14``           Wilder's RSI(14) (seeded by the simple mean of the first 14 changes), (RSI - 50) / 50
``close_vs_sma_50``  close_t / mean(close_{t-49..t}) - 1
===================  =================================================================================

Default component scores (slots 11-14), used when the data carries no ``theme technical ai sentiment`` columns.
They are transparent, documented proxies, not claims of edge; users with their own signals pass them as columns.

* **theme**: persistent, narrative-driven trend = time-series momentum (Moskowitz, Ooi, Pedersen 2012):
  ``tanh(z)``, ``z`` = 120-bar log return / (daily vol over 120 bars x sqrt(120)).
* **technical**: MACD(12, 26, 9) histogram divided by (close x 20-bar daily vol), through ``tanh``.
* **ai**: stand-in for a learned forecaster: a rolling 60-bar least-squares AR(1) fit of the one-bar return on
  its previous value; the one-step forecast ``beta_t * r_t`` divided by the 20-bar daily vol, ``tanh(5 x .)``.
* **sentiment**: with VIX, falling fear is bullish: ``tanh(-z)``, ``z`` = (log VIX_t - mean) / std over 20
  bars. Without VIX, the same idea on realised vol: ``tanh(-2 log(vol_10 / vol_60))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from envs.data import MarketData

TRADING_DAYS = 252
LOOKBACK = 121
"""Bars of history a feature needs (the 120-bar theme return plus one); the first valid bar is ``LOOKBACK - 1``."""


def _trailing(x: np.ndarray, window: int, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply ``fn(windows, axis=-1)`` on trailing windows; NaN where the window is not full."""
    out = np.full(len(x), np.nan)
    if len(x) >= window:
        out[window - 1 :] = fn(sliding_window_view(x, window), axis=-1)
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    """One-bar log returns, shape ``(n,)``; element 0 is NaN."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    out[1:] = np.log(close[1:] / close[:-1])
    return out


def lag_log_return(close: np.ndarray, k: int) -> np.ndarray:
    """log(close_t / close_{t-k}), NaN for ``t < k``."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    out[k:] = np.log(close[k:] / close[:-k])
    return out


def realised_vol(close: np.ndarray, window: int = 20, *, annualise: bool = True) -> np.ndarray:
    """Sample std (ddof=1) of the last ``window`` one-bar log returns, x sqrt(252) when ``annualise``."""
    r = log_returns(close)
    vol = _trailing(r, window, lambda w, axis: np.std(w, axis=axis, ddof=1))
    return vol * np.sqrt(TRADING_DAYS) if annualise else vol


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing simple moving average."""
    return _trailing(np.asarray(x, dtype=np.float64), window, np.mean)


def ema(x: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average (alpha = 2 / (span + 1)), seeded with the first finite value; forward recursion."""
    x = np.asarray(x, dtype=np.float64)
    alpha = 2.0 / (span + 1.0)
    out = np.full(len(x), np.nan)
    finite = np.flatnonzero(np.isfinite(x))
    if finite.size == 0:
        return out
    start = int(finite[0])
    acc = x[start]
    out[start] = acc
    for i in range(start + 1, len(x)):
        acc = acc + alpha * (x[i] - acc)
        out[i] = acc
    return out


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI in [0, 100]; NaN for the first ``period`` bars."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if len(close) <= period:
        return out
    diff = np.diff(close)
    gain, loss = np.clip(diff, 0, None), np.clip(-diff, 0, None)
    avg_g, avg_l = gain[:period].mean(), loss[:period].mean()
    for t in range(period, len(close)):
        if t > period:
            avg_g = (avg_g * (period - 1) + gain[t - 1]) / period
            avg_l = (avg_l * (period - 1) + loss[t - 1]) / period
        total = avg_g + avg_l
        out[t] = 50.0 if total == 0 else 100.0 * avg_g / total
    return out


def market_features(close: np.ndarray) -> np.ndarray:
    """The six market features of slots 5-10, shape ``(n, 6)``, unclipped (NaN before their look-back)."""
    return np.column_stack(
        [
            lag_log_return(close, 1),
            lag_log_return(close, 5),
            lag_log_return(close, 20),
            realised_vol(close, 20),
            (rsi(close, 14) - 50.0) / 50.0,
            np.asarray(close) / sma(close, 50) - 1.0,
        ]
    )


def _rolling_ar1_beta(r: np.ndarray, window: int) -> np.ndarray:
    """Least-squares slope of r_s on r_{s-1} over the last ``window`` pairs ending at t."""
    x, y = r[:-1], r[1:]
    out = np.full(len(r), np.nan)
    if len(y) < window:
        return out
    xw, yw = sliding_window_view(x, window), sliding_window_view(y, window)
    xm, ym = xw.mean(axis=-1, keepdims=True), yw.mean(axis=-1, keepdims=True)
    num = ((xw - xm) * (yw - ym)).sum(axis=-1)
    den = ((xw - xm) ** 2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window:] = np.where(den > 0, num / den, 0.0)
    return out


def component_scores(close: np.ndarray, vix: np.ndarray | None = None) -> np.ndarray:
    """Default theme, technical, ai and sentiment scores in [-1, 1], shape ``(n, 4)`` (see module docstring)."""
    close = np.asarray(close, dtype=np.float64)
    r = log_returns(close)
    daily_vol_20 = realised_vol(close, 20, annualise=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        theme = np.tanh(lag_log_return(close, 120) / (realised_vol(close, 120, annualise=False) * np.sqrt(120)))
        macd = ema(close, 12) - ema(close, 26)
        technical = np.tanh((macd - ema(macd, 9)) / (close * daily_vol_20))
        ai = np.tanh(5.0 * _rolling_ar1_beta(r, 60) * r / daily_vol_20)
        if vix is not None:
            lv = np.log(np.asarray(vix, dtype=np.float64))
            z = (lv - sma(lv, 20)) / _trailing(lv, 20, lambda w, axis: np.std(w, axis=axis, ddof=1))
            sentiment = np.tanh(-z)
        else:
            sentiment = np.tanh(-2.0 * np.log(realised_vol(close, 10) / realised_vol(close, 60)))
    out = np.column_stack([theme, technical, ai, sentiment])
    # A zero-variance window (flat prices) has no signal: score 0 rather than NaN once the look-back is filled.
    filled = np.arange(len(close))[:, None] >= LOOKBACK - 1
    return np.where(filled & ~np.isfinite(out), 0.0, out)


@dataclass(frozen=True)
class Features:
    """Precomputed causal features of one :class:`~envs.data.MarketData`.

    Attributes:
        market: Shape ``(n, 6)`` market features, clipped to their observation bounds.
        components: Shape ``(n, 4)`` component scores in [-1, 1] (the data's own when present, else defaults).
        first_valid: First bar at which every feature is defined.
    """

    market: np.ndarray
    components: np.ndarray
    first_valid: int


def compute_features(data: MarketData) -> Features:
    """Compute all features once; the env, the backtest and the live brain all call this function."""
    from envs.layout import OBS_LAYOUT

    sl = OBS_LAYOUT.group_slice("market")
    market = np.clip(market_features(data.close), OBS_LAYOUT.low[sl], OBS_LAYOUT.high[sl])
    comps = data.components if data.components is not None else component_scores(data.close, data.vix)
    valid = np.isfinite(market).all(axis=1) & np.isfinite(comps).all(axis=1)
    first = int(np.argmax(valid)) if valid.any() else len(data)
    first = max(first, LOOKBACK - 1)
    market.setflags(write=False)
    comps = np.asarray(comps, dtype=np.float64)
    return Features(market=market, components=comps, first_valid=first)
