"""Tier 1 learning from the market: every bar's outcome scores the components, once its bars are known.

In the default mode (``stack.tiers.tier1_learns_from: trades``) the bandit learns from the agent's own closed trades
and restarts at every episode: a few dozen updates per episode, and none before the agent trades. Here
(``tier1_learns_from: market``) it learns from the market itself, with full information: at the close of bar ``t``,
the component scores of bar ``t - h`` are scored against the log return from the close of ``t - h`` to the close of
``t`` (:meth:`ComponentBandit.update`'s event: the score's sign matched the return's), under the regime of bar
``t - h``. Nothing the agent does enters, so the weights are a function of the data alone, like a feature:

* **Causal.** The weights at bar ``t`` use closes and scores of bars ``<= t`` only (an outcome is used once its last
  bar has closed); :func:`market_weights` over a prefix of the data gives the same rows as over the whole series
  (``tests/agents/test_tier1_market.py``).
* **Across episodes.** The path runs from the first bar of the data, so a training episode that starts at a random
  bar, a validation pass and a multi-year test all start from what the bars before them taught, and repeated passes
  over one window see identical weights.
* **One implementation.** :class:`MarketTier1` advances one bar at a time; :func:`market_weights` is a loop over it,
  used once per env (the single stack's wrapper and the batched stack read the same rows).

The bandit's hyper-parameters are unchanged (the discount now per bar: 0.97 remembers about 33 bars).
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.tier1.bandit import ComponentBandit
from envs.layout import COMPONENTS, REGIMES

LEARNS_FROM = ("trades", "market")
"""What Tier 1 learns from (``stack.tiers.tier1_learns_from``)."""

_JSON_FORMAT = "tradebrain.tier1.MarketTier1/1"


def no_regime(probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """True where Tier 2's probabilities (last axis) are all equal: they carry no regime (Tier 2 off or not fitted
    yet), so an outcome there is learned by the pooled posterior only."""
    p = np.asarray(probs, dtype=np.float64)
    return np.asarray(p.max(axis=-1) - p.min(axis=-1) < 1e-9)


def learned_regime(probs: Sequence[float] | np.ndarray) -> str | None:
    """The regime an outcome is learned under: the most likely name of Tier 2's probabilities ``(5,)``, or None when
    they are all equal (Tier 2 off or not fitted yet: the pooled posterior only), as for a closed trade."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(REGIMES),):
        raise ValueError(f"probs has shape {p.shape}; expected ({len(REGIMES)},) in order {REGIMES}")
    return None if no_regime(p) else REGIMES[int(np.argmax(p))]


class MarketTier1:
    """A bandit that learns from every bar's outcome ``horizon`` bars later (module docstring).

    Args:
        bandit: The starting state (copied; the object passed in is never modified).
        horizon: Bars between a score and the close its outcome is measured at (>= 1).
    """

    def __init__(self, bandit: ComponentBandit, horizon: int) -> None:
        if not isinstance(bandit, ComponentBandit):
            raise TypeError(f"bandit must be a ComponentBandit, got {type(bandit).__name__}")
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon={horizon!r} must be an integer >= 1 (bars), e.g. 5")
        self.bandit = copy.deepcopy(bandit)
        self.horizon = int(horizon)
        self._pending: deque[tuple[float, list[float] | None, str | None]] = deque()

    def step(self, close: float, scores: Sequence[float], regime: str | None = None) -> np.ndarray:
        """Advance by one closed bar; the weights ``(4,)`` for ``regime`` at that bar's close.

        Args:
            close: The bar's close (> 0).
            scores: The bar's four component scores in :data:`COMPONENTS` order (a non-finite one: the bar gives no
                evidence when its outcome arrives).
            regime: The bar's regime name (Tier 2), or None (the pooled posterior only).
        """
        close = float(close)
        if not close > 0.0 or not math.isfinite(close):
            raise ValueError(f"close={close!r} must be a finite price > 0")
        row = [float(x) for x in scores]
        if len(row) != len(COMPONENTS):
            raise ValueError(f"scores has {len(row)} values; expected {len(COMPONENTS)} in order {COMPONENTS}")
        if len(self._pending) == self.horizon:
            c0, s0, r0 = self._pending.popleft()
            ret = math.log(close / c0)
            if s0 is not None and ret != 0.0:
                self.bandit.update(s0, ret, r0)
        self._pending.append((close, row if all(math.isfinite(x) for x in row) else None, regime))
        return self.bandit.weights(regime)

    def weights(self, regime: str | None = None) -> np.ndarray:
        """The current weights ``(4,)`` for ``regime`` (what :meth:`step` returned for the last bar)."""
        return self.bandit.weights(regime)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the bandit and the bars whose outcomes are still pending."""
        return {
            "format": _JSON_FORMAT,
            "horizon": self.horizon,
            "bandit": self.bandit.to_json(),
            "pending": [[c, s, r] for c, s, r in self._pending],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> MarketTier1:
        """The learner :meth:`to_json` wrote (a ``ValueError`` names what is wrong)."""
        if not isinstance(obj, Mapping) or obj.get("format") != _JSON_FORMAT:
            got = obj.get("format") if isinstance(obj, Mapping) else type(obj).__name__
            raise ValueError(f"Tier 1 market state has format {got!r}; expected {_JSON_FORMAT!r}")
        out = cls(ComponentBandit.from_json(obj["bandit"]), int(obj["horizon"]))
        pending = list(obj["pending"])
        if len(pending) > out.horizon:
            raise ValueError(f"Tier 1 market state has {len(pending)} pending bars; at most horizon={out.horizon}")
        for close, scores, regime in pending:
            out._pending.append((float(close), None if scores is None else [float(x) for x in scores], regime))
        return out


def market_weights(
    bandit: ComponentBandit,
    close: np.ndarray,
    components: np.ndarray,
    horizon: int,
    regimes: Sequence[str | None] | None = None,
) -> np.ndarray:
    """Tier 1's weights ``(n, 4)`` at the close of every bar, learning from the market (:class:`MarketTier1`).

    Args:
        bandit: The starting state at bar 0 (not modified).
        close: ``(n,)`` closes.
        components: ``(n, 4)`` component scores (NaN in warm-up: no evidence).
        horizon: Bars to each outcome.
        regimes: ``n`` regime names (or None per bar), or None for no regimes (the pool).
    """
    close = np.asarray(close, dtype=np.float64)
    components = np.asarray(components, dtype=np.float64)
    n = len(close)
    if components.shape != (n, len(COMPONENTS)):
        raise ValueError(f"components has shape {components.shape}; expected ({n}, {len(COMPONENTS)})")
    if regimes is not None and len(regimes) != n:
        raise ValueError(f"regimes has {len(regimes)} entries; expected one per bar ({n})")
    learner = MarketTier1(bandit, horizon)
    out = np.empty((n, len(COMPONENTS)), dtype=np.float64)
    rows = components.tolist()
    for t in range(n):
        out[t] = learner.step(close[t], rows[t], None if regimes is None else regimes[t])
    return out
