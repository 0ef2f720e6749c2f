""":class:`RegimeRules`: documented rules from the HMM's filtered state probabilities plus trend, drawdown,
VIX and the theme score to the five named regimes of :data:`envs.layout.REGIMES` (probabilities summing to 1).

Each label means its name: a strong up-trend is ``bull_momentum``, a falling market under stress
``bear_defensive`` or ``crisis``, ``theme_driven`` means the theme component leads. Thresholds are set from
first principles or on training data, never on a test window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.tier2.features import _series, _sigmoid
from envs.features import realised_vol
from envs.layout import REGIMES


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
