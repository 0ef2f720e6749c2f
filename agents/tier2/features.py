"""The Tier 2 detector's causal inputs: standardised HMM features (log return, log realised vol, VIX change),
trend and drawdown, price momentum. Every value at bar ``t`` uses bars up to ``t`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from envs.features import lag_log_return, log_returns, realised_vol

_VOL_FLOOR = 1e-8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _series(name: str, x: Any, n: int | None = None, *, positive: bool = False) -> np.ndarray:
    """Validate a 1-D finite float series (and its length); the message names the bad value and the fix."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"`{name}` has {len(arr)} bars but `close` has {n}; pass aligned arrays")
    bad = ~np.isfinite(arr) | (arr <= 0 if positive else np.zeros(len(arr), dtype=bool))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "finite and > 0" if positive else "finite"
        raise ValueError(f"`{name}`[{i}] = {arr[i]!r}; values must be {need}: drop or fill those bars")
    return arr


def hmm_features(
    close: np.ndarray, vix: np.ndarray | None = None, vol_window: int = 20, *, vol_feature: bool = True
) -> np.ndarray:
    """Raw (unstandardised) causal HMM features, shape ``(n, d)``, ``d`` = 1 + vol_feature + (vix given).

    Columns: one-bar log return ``r_t``; if ``vol_feature``, log of the sample std of the last ``vol_window``
    log returns; with VIX, ``log(vix_t / vix_{t-1})``. Rows before the look-back is filled (``t < vol_window``
    with the vol feature, else ``t < 1``) are NaN.
    """
    cols = [log_returns(close)]
    if vol_feature:
        vol = realised_vol(close, vol_window, annualise=False)
        with np.errstate(invalid="ignore"):
            cols.append(np.log(np.maximum(vol, _VOL_FLOOR)))
    if vix is not None:
        cols.append(log_returns(vix))
    return np.column_stack(cols)


def trend_and_drawdown(
    close: np.ndarray, trend_window: int, vol_window: int, drawdown_window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Causal rule inputs, each shape ``(n,)``.

    Returns:
        ``trend_z``: ``log(close_t / close_{t-trend_window}) / (daily vol x sqrt(trend_window))``, a
        t-statistic of the trend (0 during the warm-up or when the vol is 0); ``drawdown``:
        ``1 - close_t / max(close over the last drawdown_window bars, fewer at the start)``; ``vol_annual``:
        realised vol over ``vol_window`` bars, annualised (0 during the warm-up).
    """
    close = np.asarray(close, dtype=np.float64)
    vol = realised_vol(close, vol_window, annualise=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = lag_log_return(close, trend_window) / (vol * np.sqrt(trend_window))
    z = np.where(np.isfinite(z), z, 0.0)
    peak = np.maximum.accumulate(close)
    if len(close) > drawdown_window:
        peak[drawdown_window - 1 :] = sliding_window_view(close, drawdown_window).max(axis=-1)
    vol_annual = np.where(np.isfinite(vol), vol * np.sqrt(252.0), 0.0)
    return z, 1.0 - close / peak, vol_annual


def price_momentum(close: np.ndarray, window: int) -> np.ndarray:
    """Price momentum score ``tanh(log(close_t / close_{t-window}) / (daily vol over window x sqrt(window)))``.

    Shape ``(n,)`` in [-1, 1], 0 during the warm-up (``t < window``) or when the vol is 0. With ``window=120`` this
    is the default theme component of :func:`envs.features.component_scores` (time-series momentum), so a theme
    score can be compared with what the price alone already says at the theme's horizon.
    """
    close = np.asarray(close, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = lag_log_return(close, window) / (realised_vol(close, window, annualise=False) * np.sqrt(window))
    return np.nan_to_num(np.tanh(z), nan=0.0)
