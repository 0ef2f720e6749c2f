"""Tier 2: HMM regime detector (filtered probabilities only) and the wrapper that writes it into slots 19-23.

A Gaussian hidden Markov model (Hamilton 1989, https://doi.org/10.2307/1912559; fitted with ``hmmlearn``'s
EM) on standardised causal features gives ``K`` hidden volatility states; documented rules turn their
**filtered** probabilities plus trend, drawdown, VIX and the theme score into the five named regimes of
:data:`envs.layout.REGIMES`. Smoothed posteriors (``predict``/``predict_proba``/``score_samples``) look at the
future and are never used here: the forward recursion is implemented below on the fitted parameters.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from envs.features import lag_log_return, log_returns, realised_vol
from envs.layout import OBS_LAYOUT, REGIMES
from envs.records import Info, Record

logger = logging.getLogger(__name__)
_FLOAT32 = np.dtype(np.float32)
"""float32 (an observation of this dtype instance is written in place; another one is copied, as any other)."""

_VOL_FLOOR = 1e-8
_JSON_FORMAT = "tradebrain.tier2.RegimeDetector/1"
_HMM_PARAMS = ("startprob_", "transmat_", "means_", "covars_", "prior_", "scaler_mean_", "scaler_scale_")


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


@dataclass(frozen=True)
class RegimeRules:
    """Thresholds of the rules that map HMM state probabilities onto the five named regimes.

    All ``*_width`` values are the scale of a logistic ramp ``s(x; t) = sigmoid((x - t) / width)``; widths are
    set from first principles (a small fraction of the threshold's own scale), so a label changes smoothly. The
    rules themselves are in :meth:`split` and the class docstring of :class:`RegimeDetector`. Where each
    threshold comes from: *first principles* (a market convention or a units argument, never a test window) or
    *training data* (the S&P 500 bars before 2007: 1999-2006).

    Attributes:
        trend_window: Bars of the trend return: 63 = one quarter (first principles: a t-statistic over n bars
            is ``Sharpe x sqrt(n / 252)``, so over 20 bars even a steady bull market rarely reaches t = 1).
        trend_threshold: Trend t-statistic above which the market trends up (below minus it: down). First
            principles: t = 1 over a quarter is an annualised Sharpe ratio of 2, a strong trend.
        trend_width: Ramp width of the trend rule (t-statistic units; first principles: half the threshold).
        drawdown_window: Bars of the rolling high the drawdown is measured from (252 = one year of days), so
            a deep old drawdown does not keep the market "in crisis" for years.
        drawdown_bear: Drawdown from the rolling high at which the market is defensive (first principles: the
            market convention of a 10% "correction").
        drawdown_crisis: Drawdown at which the market counts as in crisis regardless of the HMM (first principles:
            beyond the 20% "bear market" convention).
        drawdown_width: Ramp width of both drawdown rules.
        crisis_vol: Annualised realised vol (over the detector's ``vol_window``) the HMM's stress state needs to
            count as a crisis: the stress state is only the most volatile state *of the fit window*, after a calm
            fit window an ordinary correction, and a crisis means cash only. Training data: about the 99th
            percentile (0.41) of the 20-bar realised vol of the S&P 500 over 1999-2006, and about twice its
            long-run vol there (0.18); see :meth:`calibrate_crisis_vol`.
        crisis_vol_width: Ramp width of the crisis-vol gate.
        vix_crisis: VIX level at which the market counts as in crisis (first principles: a VIX of 35 is the
            conventional "panic" level, almost twice its long-run mean of about 19).
        vix_width: Ramp width of the VIX rule (VIX points).
        theme_window: Horizon (bars) of the price momentum a theme score is compared with: 120, the look-back of
            the default theme component (first principles: with the default component the theme *is* price
            momentum, so by construction it never leads the price).
        theme_threshold: |theme score| a leading theme needs (first principles: half the score's [-1, 1] range).
        theme_lead: How far the theme score must run ahead of the price momentum score (same units) to count as
            leading it (first principles: half the range, so a theme merely restating the trend never leads).
        theme_width: Ramp width of both theme rules.
        persistence_halflife: Half-life (bars) of the causal exponential filter on the non-crisis labels; 0
            switches it off. First principles: one trading week; on the training years 2002-2006 it takes the
            median label switches per year from 19 to 5 (the aim is at most 12). The crisis probability is not
            filtered: a crisis means cash at once.
    """

    trend_window: int = 63
    trend_threshold: float = 1.0
    trend_width: float = 0.5
    drawdown_window: int = 252
    drawdown_bear: float = 0.10
    drawdown_crisis: float = 0.25
    drawdown_width: float = 0.03
    crisis_vol: float = 0.40
    crisis_vol_width: float = 0.04
    vix_crisis: float = 35.0
    vix_width: float = 3.0
    theme_window: int = 120
    theme_threshold: float = 0.5
    theme_lead: float = 0.5
    theme_width: float = 0.1
    persistence_halflife: float = 5.0

    def __post_init__(self) -> None:
        for name in ("trend_window", "drawdown_window", "theme_window"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1 (bars)")
        for name in ("trend_width", "drawdown_width", "vix_width", "theme_width", "crisis_vol_width"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        if not self.persistence_halflife >= 0:
            raise ValueError(f"persistence_halflife={self.persistence_halflife!r} must be >= 0 bars (0 = off)")

    @staticmethod
    def calibrate_crisis_vol(close: np.ndarray, vol_window: int = 20, quantile: float = 0.99) -> float:
        """The ``quantile`` of the annualised ``vol_window``-bar realised vol of training closes ``close``.

        The recipe behind the default ``crisis_vol`` (sp500 bars before 2007 give 0.41); use it on another
        asset's training bars, never on a test window.
        """
        vol = realised_vol(_series("close", close, positive=True), vol_window)
        vol = vol[np.isfinite(vol)]
        if vol.size == 0:
            raise ValueError(f"calibrate_crisis_vol needs more than {vol_window} training bars, got {len(close)}")
        return float(np.quantile(vol, quantile))

    def vol_gate(self, vol: np.ndarray | None) -> np.ndarray | float:
        """Evidence ``(n,)`` in [0, 1] that realised vol is at crisis level (1 when no vol is given)."""
        return 1.0 if vol is None else _sigmoid((np.asarray(vol) - self.crisis_vol) / self.crisis_vol_width)

    def crisis(
        self, stress: np.ndarray, drawdown: np.ndarray, vix: np.ndarray | None, vol: np.ndarray | None
    ) -> np.ndarray:
        """``P(crisis)`` ``(n,)``: noisy-OR of the vol-gated stress state, a deep drawdown and a high VIX."""
        dd_crisis = _sigmoid((drawdown - self.drawdown_crisis) / self.drawdown_width)
        vix_crisis = 0.0 if vix is None else _sigmoid((np.asarray(vix) - self.vix_crisis) / self.vix_width)
        vol_gate = self.vol_gate(vol)
        return 1.0 - (1.0 - stress * vol_gate) * (1.0 - dd_crisis) * (1.0 - vix_crisis)

    def theme_leads(self, theme: np.ndarray, momentum: np.ndarray | None) -> np.ndarray:
        """Evidence ``(n,)`` in [0, 1] that the theme leads: strong and ahead of the price momentum, same sign."""
        m = 0.0 if momentum is None else np.asarray(momentum, dtype=np.float64)
        th = np.asarray(theme, dtype=np.float64)
        gap, w = th - m, self.theme_width
        up = _sigmoid((th - self.theme_threshold) / w) * _sigmoid((gap - self.theme_lead) / w)
        down = _sigmoid((-th - self.theme_threshold) / w) * _sigmoid((-gap - self.theme_lead) / w)
        return np.clip(up + down, 0.0, 1.0)

    def split(
        self,
        state_probs: np.ndarray,
        trend_z: np.ndarray,
        drawdown: np.ndarray,
        theme: np.ndarray | None = None,
        *,
        vol: np.ndarray | None = None,
        momentum: np.ndarray | None = None,
    ) -> np.ndarray:
        """Unfiltered regime probabilities *given no crisis*, ``(n, 4)``: bull, bear, choppy, theme_driven.

        Precedence (each stage takes its share of what the earlier ones left): defensive conditions (drawdown
        beyond ``drawdown_bear``, or a falling price in the HMM stress state without a crisis-level vol) go to
        bear_defensive; then a leading theme to theme_driven; then the trend ramps to bull_momentum (up),
        bear_defensive (down) and choppy (neither). Rows sum to 1.
        """
        p = np.asarray(state_probs, dtype=np.float64)
        vol_gate = self.vol_gate(vol)
        up = _sigmoid((trend_z - self.trend_threshold) / self.trend_width)
        down = _sigmoid((-trend_z - self.trend_threshold) / self.trend_width)
        bearish = _sigmoid((drawdown - self.drawdown_bear) / self.drawdown_width)
        falling = _sigmoid(-trend_z / self.trend_width)  # below the price of trend_window bars ago
        defensive = 1.0 - (1.0 - bearish) * (1.0 - p[:, -1] * (1.0 - vol_gate) * falling)
        lead = np.zeros(len(p)) if theme is None else self.theme_leads(theme, momentum)
        rest = (1.0 - defensive) * (1.0 - lead)
        out = np.column_stack([rest * up, defensive + rest * down, rest * (1.0 - up - down), (1.0 - defensive) * lead])
        out = np.clip(out, 0.0, 1.0)
        return out / out.sum(axis=1, keepdims=True)

    def smooth(self, split: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
        """Causal exponential filter of ``split`` rows ``(n, 4)`` with ``persistence_halflife``.

        ``prev`` is the filtered row before row 0 (``None``: start at row 0). Row ``t`` uses rows ``0..t`` only.
        """
        split = np.asarray(split, dtype=np.float64)
        if self.persistence_halflife == 0 or len(split) == 0:
            return split
        a = 1.0 - 0.5 ** (1.0 / self.persistence_halflife)
        out = np.empty_like(split)
        acc = split[0] if prev is None else np.asarray(prev, dtype=np.float64)
        for t in range(len(split)):
            acc = acc + a * (split[t] - acc)
            out[t] = acc
        return out

    def apply(
        self,
        state_probs: np.ndarray,
        trend_z: np.ndarray,
        drawdown: np.ndarray,
        vix: np.ndarray | None = None,
        theme: np.ndarray | None = None,
        *,
        vol: np.ndarray | None = None,
        momentum: np.ndarray | None = None,
        prev_split: np.ndarray | None = None,
    ) -> np.ndarray:
        """Regime probabilities, shape ``(n, 5)`` in :data:`REGIMES` order, each row summing to 1.

        ``P(crisis)`` from :meth:`crisis`, the rest split by :meth:`split` filtered by :meth:`smooth`.

        Args:
            state_probs: ``(n, K)`` filtered HMM probabilities, state 0 calm ... state K-1 stress.
            trend_z: ``(n,)`` trend t-statistic; drawdown: ``(n,)`` in [0, 1).
            vix: ``(n,)`` VIX level or ``None``; theme: ``(n,)`` theme score in [-1, 1] or ``None``.
            vol: ``(n,)`` annualised realised vol gating the stress state (see ``crisis_vol``); ``None`` = no gate.
            momentum: ``(n,)`` :func:`price_momentum` over ``theme_window`` bars; ``None`` = 0 (flat price).
            prev_split: ``(4,)`` filtered split of the bar before row 0 (online use), ``None`` to start afresh.
        """
        p = np.asarray(state_probs, dtype=np.float64)
        crisis = np.broadcast_to(self.crisis(p[:, -1], drawdown, vix, vol), (len(p),))
        split = self.smooth(self.split(p, trend_z, drawdown, theme, vol=vol, momentum=momentum), prev_split)
        return combine_regimes(crisis, split)


def combine_regimes(crisis: np.ndarray, split: np.ndarray) -> np.ndarray:
    """``(n, 5)`` regime probabilities from ``P(crisis)`` ``(n,)`` and the no-crisis split ``(n, 4)``."""
    crisis = np.clip(np.asarray(crisis, dtype=np.float64), 0.0, 1.0)
    rest = (1.0 - crisis)[:, None] * split
    out = np.column_stack([rest[:, 0], rest[:, 1], rest[:, 2], crisis, rest[:, 3]])
    return out / out.sum(axis=1, keepdims=True)


def regime_name(probs: np.ndarray) -> str | list[str]:
    """Name of the most likely regime: a ``str`` for shape ``(5,)``, a list for ``(n, 5)``."""
    p = np.asarray(probs)
    if p.shape[-1] != len(REGIMES):
        raise ValueError(f"probs has shape {p.shape}; the last axis must have {len(REGIMES)} regimes {REGIMES}")
    idx = np.argmax(p, axis=-1)
    return REGIMES[int(idx)] if p.ndim == 1 else [REGIMES[int(i)] for i in idx]


def regime_confidence(probs: np.ndarray) -> np.ndarray | float:
    """Confidence ``1 - H(p) / log(5)`` in [0, 1] (1 = one regime certain, 0 = uniform), per row."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-300, 1.0)
    h = -(p * np.log(p)).sum(axis=-1) / np.log(p.shape[-1])
    out = np.clip(1.0 - h, 0.0, 1.0)
    return float(out) if out.ndim == 0 else out


def stationary_distribution(transmat: np.ndarray) -> np.ndarray:
    """Stationary distribution ``pi = pi A`` of a row-stochastic matrix, shape ``(K,)``."""
    a = np.asarray(transmat, dtype=np.float64)
    k = len(a)
    m = a.T - np.eye(k)
    m[-1] = 1.0
    b = np.zeros(k)
    b[-1] = 1.0
    try:
        pi = np.linalg.solve(m, b)
    except np.linalg.LinAlgError:
        pi = np.linalg.lstsq(m, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum() if pi.sum() > 0 else np.full(k, 1.0 / k)


def forward_step(alpha: np.ndarray, transmat: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """One filter step, O(K^2): ``alpha_t ∝ (alpha_{t-1} @ A) * p(x_t | state)``, normalised.

    ``log_b`` is the ``(K,)`` emission log-density; NaN (no observation) means predict only.
    """
    pred = alpha @ transmat
    if not np.all(np.isfinite(log_b)):
        return pred / pred.sum()
    w = pred * np.exp(log_b - log_b.max())
    s = w.sum()
    return w / s if s > 0 and np.isfinite(s) else pred / pred.sum()


def component_stats_by_regime(
    bandit_stats: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> dict[str, Any]:
    """Which components worked in which regime, from the Tier 1 bandit's ``regime_stats()``.

    Args:
        bandit_stats: ``{regime: {component: {"alpha", "beta", "mean", "n_effective"}}}``.

    Returns:
        ``{regime: {"best": component, "ranking": [components by posterior mean, best first],
        "components": {component: {"mean", "edge", "n_effective"}}}}``, ``edge = mean - 0.5`` (0 = coin).
    """
    out: dict[str, Any] = {}
    for regime, comps in bandit_stats.items():
        table = {}
        for comp, st in comps.items():
            missing = [k for k in ("mean", "n_effective") if k not in st]
            if missing:
                raise ValueError(f"bandit_stats[{regime!r}][{comp!r}] lacks {missing}; pass Tier 1 regime_stats()")
            table[comp] = {
                "mean": float(st["mean"]),
                "edge": float(st["mean"]) - 0.5,
                "n_effective": float(st["n_effective"]),
            }
        ranking = sorted(table, key=lambda c: -table[c]["mean"])
        out[regime] = {"best": ranking[0] if ranking else None, "ranking": ranking, "components": table}
    return out


def format_component_stats(stats: Mapping[str, Any]) -> str:
    """Markdown table (regimes as rows) of the output of :func:`component_stats_by_regime`."""
    comps = list(dict.fromkeys(c for row in stats.values() for c in row["components"]))
    lines = ["| regime | " + " | ".join(comps) + " | best |", "|---" * (len(comps) + 2) + "|"]
    for regime, row in stats.items():
        cells = [
            f"{row['components'][c]['mean']:.2f} (n={row['components'][c]['n_effective']:.0f})"
            if c in row["components"]
            else "-"
            for c in comps
        ]
        lines.append(f"| {regime} | " + " | ".join(cells) + f" | {row['best']} |")
    return "\n".join(lines)


class RegimeDetector(BaseEstimator):
    """Gaussian-HMM regime detector with filtered (causal) probabilities and rule-based named regimes.

    **Features** (:func:`hmm_features`, causal): log return, log realised vol over ``vol_window`` bars (unless
    ``vol_feature=False``), and
    the VIX log change when ``fit`` gets VIX. They are standardised with the mean/std of the training window
    (stored as ``scaler_mean_``/``scaler_scale_``). Warm-up bars (``t < vol_window``) are skipped by
    ``fit``; when filtering they get the prior (the stationary distribution of the transition matrix), which
    is also the filter's prior for the first valid bar.

    **Fit**: ``n_restarts`` EM runs of ``hmmlearn.hmm.GaussianHMM`` with seeds drawn from ``random_state``;
    the best log-likelihood among runs that pass the convergence guard (finite parameters,
    ``monitor_.converged`` and ``monitor_.iter < n_iter``) wins. If none passes, a previous fit is kept
    (``ConvergenceWarning``) or, with none, ``RuntimeError`` is raised. Transition probabilities are floored
    at ``transmat_floor`` so the filter can always leave a state.

    **State order**: on the first fit, states are ordered by the variance of the (standardised) return
    feature: state 0 is calm, state ``K-1`` is stress. On a refit, states are instead matched to the
    previous fit's states with the Hungarian algorithm on their means (in the previous fit's standardised
    units) and log return variance, so a state keeps its index (and "stress" its meaning) across
    walk-forward refits; a warning is logged when the match disagrees with the volatility order.

    **Filter**: ``alpha_t ∝ (alpha_{t-1} @ A) * N(x_t; mu_k, Sigma_k)``, normalised each bar, O(K^2) per
    bar. :meth:`filter` (arrays) and :meth:`update`/:meth:`step` (bar by bar) run the same code.

    **Rules** (:class:`RegimeRules`), with ``p`` the filtered state probabilities:

    * ``P(crisis) = 1 - (1 - p_stress s(vol; crisis_vol))(1 - s(dd; drawdown_crisis))(1 - s(vix; vix_crisis))``
      (noisy-OR). The stress state counts only with an absolutely high realised vol: it is the most volatile
      state of the fit window, which after a calm window is an ordinary correction.
    * The rest, ``1 - P(crisis)``, is split in order of precedence, each stage taking its share of what the
      earlier ones left: (1) bear_defensive gets ``d = 1 - (1 - s(dd; drawdown_bear))(1 - p_stress (1 - s(vol;
      crisis_vol)) f)``, ``f = s(-trend t-statistic; 0)``: a drawdown beyond a correction, or a falling price
      in the stress state without a crisis-level vol (a falling market under stress is defensive, whatever the
      theme says);
      (2) theme_driven gets ``L``, the evidence that the theme *leads*: ``s(theme; theme_threshold)
      s(theme - mom; theme_lead)`` plus the mirror image for a negative theme, where ``mom`` is
      :func:`price_momentum` over ``theme_window`` bars, i.e. what the price alone says at the theme's horizon.
      A theme that merely restates the trend (the default theme component *is* that momentum) never leads; a
      theme strong while the price is flat or moving the other way does (0 without a theme score);
      (3) the trend t-statistic (:func:`trend_and_drawdown`) ramps ``up``/``down`` give bull_momentum,
      bear_defensive and choppy (neither). The HMM's middle states carry no label of their own.
    * Persistence: the no-crisis split is passed through a causal exponential filter (half-life
      ``persistence_halflife`` bars); ``P(crisis)`` is not filtered, so cash-only is never delayed.

    ``s(x; t) = sigmoid((x - t) / width)``. Confidence is ``1 - entropy / log(5)``.

    Args:
        n_states: Hidden states K (>= 2).
        n_restarts: EM restarts.
        n_iter: EM iteration cap per restart.
        tol: EM log-likelihood tolerance.
        vol_window: Bars of the realised-vol feature (and of the trend's vol).
        vol_feature: Use the log realised vol as an HMM feature. ``False`` leaves the HMM on the return (and
            VIX change) alone: the persistent vol feature delays switches, see
            ``experiments/benchmarks/tier2_regimes.py``.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"`` (hmmlearn).
        random_state: Seed of the restarts.
        transmat_floor: Floor of each transition probability (rows renormalised).
        rules: Rule thresholds; ``None`` for the defaults of :class:`RegimeRules`.

    Example:
        >>> det = RegimeDetector(n_states=3).fit(train_close)        # doctest: +SKIP
        >>> probs = det.regime_probs(test_close)                     # (n, 5), filtered
        >>> det.reset_filter(); live = [det.update(c) for c in test_close]   # same values, bar by bar
    """

    def __init__(
        self,
        n_states: int = 3,
        n_restarts: int = 5,
        n_iter: int = 200,
        tol: float = 1e-4,
        vol_window: int = 20,
        vol_feature: bool = True,
        covariance_type: str = "diag",
        random_state: int | None = 0,
        transmat_floor: float = 1e-6,
        rules: RegimeRules | None = None,
    ) -> None:
        self.n_states = n_states
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.tol = tol
        self.vol_window = vol_window
        self.vol_feature = vol_feature
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.transmat_floor = transmat_floor
        self.rules = rules

    # ---------------------------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if int(self.n_states) != self.n_states or self.n_states < 2:
            raise ValueError(f"n_states={self.n_states!r} must be an integer >= 2")
        for name in ("n_restarts", "n_iter", "vol_window"):
            v = getattr(self, name)
            if int(v) != v or v < 1 + (name == "vol_window"):
                raise ValueError(f"{name}={v!r} must be an integer >= {1 + (name == 'vol_window')}")
        if self.covariance_type not in ("diag", "full", "spherical", "tied"):
            raise ValueError(f"covariance_type={self.covariance_type!r}; use 'diag', 'full', 'spherical' or 'tied'")
        if not 0.0 <= self.transmat_floor < 1.0 / self.n_states:
            raise ValueError(f"transmat_floor={self.transmat_floor!r} must be in [0, 1/n_states)")

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "transmat_"):
            raise NotFittedError(f"This RegimeDetector is not fitted yet; call fit(close, vix=None) before {method}()")

    def _rules(self) -> RegimeRules:
        return self.rules if self.rules is not None else RegimeRules()

    def _inputs(self, close: Any, vix: Any) -> tuple[np.ndarray, np.ndarray | None]:
        c = _series("close", close, positive=True)
        v = None if vix is None else _series("vix", vix, len(c), positive=True)
        return c, v

    def _features(self, close: np.ndarray, vix: np.ndarray | None) -> np.ndarray:
        """Raw features the fitted model expects; VIX is used only if the model was fitted with it."""
        if getattr(self, "uses_vix_", False) and vix is None:
            raise ValueError("this detector was fitted with VIX; pass `vix` (or refit without it)")
        use_vix = vix if getattr(self, "uses_vix_", vix is not None) else None
        return hmm_features(close, use_vix, self.vol_window, vol_feature=self.vol_feature)

    # --------------------------------------------------------------------------------------------- fitting
    def fit(self, close: Any, vix: Any = None) -> RegimeDetector:
        """Fit the HMM on a training window of closes (and VIX), see the class docstring.

        Args:
            close: ``(n,)`` closing prices of the training window.
            vix: ``(n,)`` VIX levels or ``None``.

        Returns:
            ``self``.

        Raises:
            ValueError: Bad parameters or data, or too few bars after the warm-up.
            RuntimeError: No restart converged and there is no previous fit to fall back to.
        """
        self._check_params()
        close, vix = self._inputs(close, vix)
        x = hmm_features(close, vix, self.vol_window, vol_feature=self.vol_feature)
        x = x[np.isfinite(x).all(axis=1)]
        need = 10 * self.n_states * x.shape[1]
        if len(x) < need:
            raise ValueError(
                f"fit got {len(x)} usable bars after the {self.vol_window}-bar warm-up; need >= {need}: "
                "pass a longer training window"
            )
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        best = self._fit_restarts((x - mean) / scale)
        if best is None:
            return self._fallback()
        params = self._order_states({**best, "scaler_mean_": mean, "scaler_scale_": scale})
        for name, value in params.items():
            setattr(self, name, value)
        self.uses_vix_ = vix is not None
        self.n_features_in_ = x.shape[1]
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self.reset_filter()
        logger.info("fitted %d-state HMM on %d bars: loglik %.2f", self.n_states, len(x), self.log_likelihood_)
        return self

    def _fit_restarts(self, z: np.ndarray) -> dict[str, Any] | None:
        """EM restarts; the best converged run's parameters (full covariances) or ``None``."""
        from hmmlearn.hmm import GaussianHMM

        seeds = np.random.default_rng(self.random_state).integers(0, 2**31 - 1, size=self.n_restarts)
        best: dict[str, Any] | None = None
        n_ok = 0
        for seed in seeds:
            model = GaussianHMM(
                n_components=self.n_states,
                covariance_type=self.covariance_type,
                n_iter=self.n_iter,
                tol=self.tol,
                random_state=int(seed),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                model.fit(z)
            params = [model.startprob_, model.transmat_, model.means_, model.covars_]
            mon = model.monitor_
            ok = all(np.all(np.isfinite(p)) for p in params) and mon.converged and mon.iter < self.n_iter
            logger.debug("restart seed=%d: iter=%d converged=%s ok=%s", seed, mon.iter, mon.converged, ok)
            if not ok:
                continue
            n_ok += 1
            loglik = float(model.score(z))  # model selection only, not a decision
            if best is None or loglik > best["log_likelihood_"]:
                best = {
                    "startprob_": model.startprob_.copy(),
                    "transmat_": model.transmat_.copy(),
                    "means_": model.means_.copy(),
                    "covars_": np.array(model.covars_),
                    "log_likelihood_": loglik,
                }
        if best is not None:
            best["n_converged_"] = n_ok
            a = best["transmat_"] + self.transmat_floor
            best["transmat_"] = a / a.sum(axis=1, keepdims=True)
        return best

    def _fallback(self) -> RegimeDetector:
        msg = (
            f"no EM restart of the {self.n_states}-state HMM converged within n_iter={self.n_iter} "
            f"(tol={self.tol}); raise n_iter or n_restarts, or check the data"
        )
        if not hasattr(self, "transmat_"):
            raise RuntimeError(msg + "; there is no previous fit to fall back to")
        warnings.warn(msg + "; keeping the previous fit", ConvergenceWarning, stacklevel=3)
        logger.warning("%s; keeping the previous fit", msg)
        return self

    def _order_states(self, p: dict[str, Any]) -> dict[str, Any]:
        """Permute states: volatility order on a first fit, Hungarian match to the previous fit on a refit."""
        # primary key: return variance; ties (covariance_type="tied") broken by the last feature's mean
        vol_order = np.lexsort((p["means_"][:, -1], p["covars_"][:, 0, 0]))
        perm = vol_order
        if hasattr(self, "transmat_") and self.means_.shape[1] == p["means_"].shape[1]:
            perm = self._hungarian(p)
            if not np.array_equal(perm, vol_order):
                logger.warning(
                    "refit: Hungarian state match %s differs from the volatility order %s; kept the match",
                    perm.tolist(),
                    vol_order.tolist(),
                )
        out = dict(p)
        out["startprob_"] = p["startprob_"][perm]
        out["transmat_"] = p["transmat_"][np.ix_(perm, perm)]
        out["means_"], out["covars_"] = p["means_"][perm], p["covars_"][perm]
        out["prior_"] = stationary_distribution(out["transmat_"])
        return out

    def _hungarian(self, p: dict[str, Any]) -> np.ndarray:
        """``perm`` such that new state ``perm[i]`` is matched to previous state ``i``."""

        def key(means: np.ndarray, covars: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
            raw_means = means * scale + mean
            log_var = np.log(covars[:, 0, 0] * scale[0] ** 2)
            return np.column_stack([raw_means / self.scaler_scale_, 0.5 * log_var])

        prev = key(self.means_, self.covars_, self.scaler_mean_, self.scaler_scale_)
        new = key(p["means_"], p["covars_"], p["scaler_mean_"], p["scaler_scale_"])
        cost = ((prev[:, None, :] - new[None, :, :]) ** 2).sum(axis=-1)
        rows, cols = linear_sum_assignment(cost)
        return cols[np.argsort(rows)]

    # ------------------------------------------------------------------------------------------- filtering
    def _emission(self) -> tuple[np.ndarray, np.ndarray]:
        """Cached inverse Cholesky factors ``(K, d, d)`` and log-normalisers ``(K,)`` of the emissions."""
        cache: tuple[np.ndarray, np.ndarray] | None = getattr(self, "_cache", None)
        if cache is None:
            chol = np.linalg.cholesky(self.covars_)
            inv = np.linalg.inv(chol)
            d = self.means_.shape[1]
            log_norm = -0.5 * d * np.log(2.0 * np.pi) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            cache = self._cache = (inv, log_norm)
        return cache

    def log_emission(self, x: np.ndarray) -> np.ndarray:
        """Gaussian log-densities ``(n, K)`` of raw feature rows ``x`` ``(n, d)``; NaN rows give NaN."""
        self._check_fitted("log_emission")
        inv, log_norm = self._emission()
        z = (np.asarray(x, dtype=np.float64) - self.scaler_mean_) / self.scaler_scale_
        diff = z[:, None, :] - self.means_[None, :, :]  # (n, K, d)
        y = (inv[None, :, :, :] * diff[:, :, None, :]).sum(axis=-1)  # (n, K, d), no BLAS: same bits row by row
        return log_norm[None, :] - 0.5 * (y**2).sum(axis=-1)

    def filter(self, close: Any, vix: Any = None) -> np.ndarray:
        """Filtered state probabilities ``P(s_t | x_0..t)``, shape ``(n, K)``; row ``t`` uses bars 0..t."""
        self._check_fitted("filter")
        close, vix = self._inputs(close, vix)
        log_b = self.log_emission(self._features(close, vix))
        out = np.empty_like(log_b)
        alpha = self.prior_.copy()
        for t in range(len(log_b)):
            alpha = forward_step(alpha, self.transmat_, log_b[t])
            out[t] = alpha
        return out

    def regime_probs(self, close: Any, vix: Any = None, theme: Any = None) -> np.ndarray:
        """Named regime probabilities ``(n, 5)`` in :data:`REGIMES` order (causal), see the class docstring.

        Args:
            close: ``(n,)`` closes.
            vix: ``(n,)`` VIX or ``None``.
            theme: ``(n,)`` theme score in [-1, 1] or ``None``.
        """
        self._check_fitted("regime_probs")
        close, vix = self._inputs(close, vix)
        th = None if theme is None else np.clip(_series("theme", theme, len(close)), -1.0, 1.0)
        rules = self._rules()
        z, dd, vol = trend_and_drawdown(close, rules.trend_window, self.vol_window, rules.drawdown_window)
        mom = None if th is None else price_momentum(close, rules.theme_window)
        return rules.apply(self.filter(close, vix), z, dd, vix, th, vol=vol, momentum=mom)

    def regime_name(self, probs: np.ndarray) -> str | list[str]:
        """Most likely regime name(s) of ``probs`` (see :func:`regime_name`)."""
        return regime_name(probs)

    # ---------------------------------------------------------------------------------------------- online
    def reset_filter(self) -> None:
        """Start the online filter afresh (prior probabilities, empty price history)."""
        self._check_fitted("reset_filter")
        self._online: dict[str, Any] = {"alpha": self.prior_.copy(), "closes": [], "vix": [], "split": None}

    @property
    def filter_probs(self) -> np.ndarray:
        """Current online filtered state probabilities ``(K,)``."""
        self._check_fitted("filter_probs")
        return self._online["alpha"].copy()

    def step(self, x_row: np.ndarray) -> np.ndarray:
        """Advance the online filter by one raw feature row ``(d,)`` (NaN row = warm-up); returns ``(K,)``."""
        self._check_fitted("step")
        log_b = self.log_emission(np.asarray(x_row, dtype=np.float64).reshape(1, -1))[0]
        self._online["alpha"] = forward_step(self._online["alpha"], self.transmat_, log_b)
        return self._online["alpha"].copy()

    def update(self, close_t: float, vix_t: float | None = None, theme_t: float | None = None) -> np.ndarray:
        """Online counterpart of :meth:`regime_probs`: feed one bar, get its ``(5,)`` regime probabilities.

        The state probabilities of the bar are then :attr:`filter_probs`. Feeding bars ``0..t`` one by one
        gives row ``t`` of :meth:`regime_probs` / :meth:`filter` on the same arrays. :meth:`fit` resets the
        online filter: after a refit, replay recent bars (at least ``vol_window``) to warm it up.
        """
        self._check_fitted("update")
        st = self._online
        close_t = float(_series("close_t", [close_t], positive=True)[0])
        has_vix = vix_t is not None
        if self.uses_vix_ and not has_vix:
            raise ValueError("this detector was fitted with VIX; pass `vix_t` to update()")
        if has_vix:
            vix_t = float(_series("vix_t", [vix_t], positive=True)[0])
        rules = self._rules()
        keep = max(self.vol_window, rules.trend_window, rules.drawdown_window, rules.theme_window) + 1
        st["closes"] = [*st["closes"], close_t][-keep:]
        st["vix"] = [*st["vix"], vix_t][-keep:]
        closes = np.array(st["closes"])
        vix_buf = np.array(st["vix"], dtype=np.float64) if has_vix and None not in st["vix"] else None
        self.step(self._features(closes, vix_buf)[-1])
        z, dd, vol = trend_and_drawdown(closes, rules.trend_window, self.vol_window, rules.drawdown_window)
        th = None if theme_t is None else np.clip(_series("theme_t", [theme_t]), -1.0, 1.0)
        mom = None if th is None else price_momentum(closes, rules.theme_window)[-1:]
        vix_arr = np.array([vix_t]) if has_vix else None
        alpha = st["alpha"][None, :]
        split = rules.smooth(rules.split(alpha, z[-1:], dd[-1:], th, vol=vol[-1:], momentum=mom), st["split"])
        st["split"] = split[-1]
        return combine_regimes(rules.crisis(alpha[:, -1], dd[-1:], vix_arr, vol[-1:]), split)[0]

    # ----------------------------------------------------------------------------------------- persistence
    def to_json(self) -> dict[str, Any]:
        """Plain-JSON dict: hyper-parameters, fitted parameters, scaler and online filter state (no pickle)"""
        self._check_fitted("to_json")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "rules"}
        st = self._online
        return {
            "format": _JSON_FORMAT,
            "params": params,
            "rules": asdict(self._rules()),
            "fitted": {k: np.asarray(getattr(self, k)).tolist() for k in _HMM_PARAMS},
            "meta": {
                "uses_vix": self.uses_vix_,
                "n_features_in": self.n_features_in_,
                "n_fits": self.n_fits_,
                "log_likelihood": self.log_likelihood_,
                "n_converged": self.n_converged_,
            },
            "filter_state": {
                "alpha": st["alpha"].tolist(),
                "closes": list(st["closes"]),
                "vix": list(st["vix"]),
                "split": None if st["split"] is None else np.asarray(st["split"]).tolist(),
            },
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | str) -> RegimeDetector:
        """Rebuild a detector from :meth:`to_json` output (a dict or its JSON text)."""
        d = json.loads(obj) if isinstance(obj, str) else obj
        if d.get("format") != _JSON_FORMAT:
            raise ValueError(
                f"unknown format {d.get('format')!r}; expected {_JSON_FORMAT!r} (from RegimeDetector.to_json)"
            )
        det = cls(**d["params"], rules=RegimeRules(**d["rules"]))
        for k in _HMM_PARAMS:
            setattr(det, k, np.array(d["fitted"][k], dtype=np.float64))
        meta = d["meta"]
        det.uses_vix_, det.n_features_in_, det.n_fits_ = (
            bool(meta["uses_vix"]),
            meta["n_features_in"],
            meta["n_fits"],
        )
        det.log_likelihood_, det.n_converged_ = meta["log_likelihood"], meta["n_converged"]
        det._cache = None
        fs = d["filter_state"]
        det._online = {
            "alpha": np.array(fs["alpha"], dtype=np.float64),
            "closes": list(fs["closes"]),
            "vix": list(fs["vix"]),
            "split": None if fs.get("split") is None else np.array(fs["split"], dtype=np.float64),
        }
        return det

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (UTF-8 JSON); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RegimeDetector:
        """Read a detector written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


class RegimeWrapper(gym.Wrapper):
    """Writes Tier 2 regime probabilities into observation slots 19-23 and tells the env's risk layer.

    The detector is fitted on the ``fit_bars`` bars **before** the env's window
    (``env.unwrapped.window[0]``), never on the bars it labels; then the regime probabilities of the whole
    series are computed once (filtered, causal) and handed to the env's risk layer with
    ``env.unwrapped.set_regime_path(probs)``: a crisis at a bar's close means cash only, both for the decision
    taken there and for a trade already open (it exits at the next open). After every ``reset`` and ``step``
    the wrapper writes the current bar's probabilities into ``obs[OBS_LAYOUT.group_slice("tier2")]`` and sets
    ``info["regime"] = {"probs": {name: p}, "name": most likely name, "confidence": 1 - entropy / log 5}``.
    The observation space is unchanged. The theme score is the env's theme component (0 before its look-back);
    VIX is used when the data has it.

    Args:
        env: A :class:`~envs.trading_env.TradingEnv` (possibly wrapped).
        detector: Detector to use; ``None`` for ``RegimeDetector()``. An unfitted detector is fitted here; a
            fitted one is used as is (it is then the caller's job that it saw no bar of the window).
        fit_bars: Bars before the window start used to fit the detector.

    Example:
        >>> from envs.trading_env import TradingEnv
        >>> env = RegimeWrapper(TradingEnv("sp500", window=(1000, 2000)), fit_bars=750)   # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)                                                  # doctest: +SKIP
        >>> info["regime"]["name"], obs[19:24].sum()                                       # doctest: +SKIP
        ('bull_momentum', 1.0)
    """

    fresh_observations = True
    """Every observation and info returned is a new object that the wrapper keeps no reference to: an outer wrapper
    may write into them (see :class:`~agents.tier1.ComponentWeightWrapper`)."""
    passes_weight_slots = True
    """Slots 15-18 (Tier 1's weights) of the inner env's observations are returned as they are."""

    def __init__(self, env: gym.Env, detector: RegimeDetector | None = None, fit_bars: int = 750) -> None:
        super().__init__(env)
        if detector is not None and not isinstance(detector, RegimeDetector):
            raise TypeError(f"detector must be a RegimeDetector or None, got {type(detector).__name__}")
        if int(fit_bars) != fit_bars or fit_bars < 1:
            raise ValueError(f"fit_bars={fit_bars!r} must be a positive integer (bars before the window)")
        base: Any = env.unwrapped  # a TradingEnv (duck-typed: checked below)
        for attr in ("data", "window", "bar", "set_regime_path"):
            if not hasattr(base, attr):
                raise TypeError(f"env.unwrapped has no {attr!r}; RegimeWrapper needs a TradingEnv")
        data = base.data
        self.detector = detector if detector is not None else RegimeDetector()
        if not hasattr(self.detector, "transmat_"):
            start = int(base.window[0])
            lo = max(0, start - int(fit_bars))
            if start - lo < 2:
                raise ValueError(
                    f"the window starts at bar {start}: no bars before it to fit the detector on; "
                    "start the window later or pass a fitted detector"
                )
            vix_fit = None if data.vix is None else data.vix[lo:start]
            self.detector.fit(data.close[lo:start], vix_fit)
            logger.info("RegimeWrapper: fitted the detector on bars [%d, %d)", lo, start)
        theme = np.nan_to_num(np.asarray(base.features.components[:, 0], dtype=np.float64), nan=0.0)
        self.probs = self.detector.regime_probs(data.close, data.vix, theme)
        """``(n, 5)`` regime probabilities of every bar of the data (filtered, causal)."""
        base.set_regime_path(self.probs)
        self._path_rows = base._regime_rows
        """The path as the env keeps it: while the env still has it, the env's own observations of a class that
        declares ``tier_slots_from_hooks`` already hold this wrapper's slots 19-23 (the same float32 values)."""
        self.confidence = np.asarray(regime_confidence(self.probs))
        self._slot = OBS_LAYOUT.group_slice("tier2")
        self._rows = self.probs.tolist()
        self._names = [REGIMES[i] for i in np.argmax(self.probs, axis=1)]
        self._confidence_rows = self.confidence.tolist()
        # For every step: the base env itself (its bar), and the rows as float32 (the values a float32 observation
        # takes from them). Info records are built afresh at every call (gymnasium's checker: no shared dicts).
        self._base = base
        self._rows32 = self.probs.astype(np.float32)
        self._fresh_inner = vars(type(env)).get("fresh_observations") is True
        self._slots_from_path = (
            self._fresh_inner and env is base and vars(type(env)).get("tier_slots_from_hooks") is True
        )

    def _apply(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        bar = self._base.bar
        if not (self._slots_from_path and self._base._regime_rows is self._path_rows and type(obs) is np.ndarray):
            if not (self._fresh_inner and type(obs) is np.ndarray and obs.dtype is _FLOAT32):
                obs = np.array(obs, dtype=np.float32, copy=True)
            obs[self._slot] = self._rows32[bar]
        if not (self._fresh_inner and type(info) is Info):  # a fresh Info from the inner env is written in place
            info = Info(info)
        info["regime"] = Record(
            probs=Record(zip(REGIMES, self._rows[bar], strict=False)),  # rows of len(REGIMES): checked by the env
            name=self._names[bar],
            confidence=self._confidence_rows[bar],
        )
        return obs, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._apply(obs, info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, info = self._apply(obs, info)
        return obs, reward, terminated, truncated, info
