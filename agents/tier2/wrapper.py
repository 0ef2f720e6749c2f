""":class:`RegimeWrapper`: Tier 2 as an observation wrapper (slots 19-23 and the env's crisis rule)."""

from __future__ import annotations

import logging
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from agents.tier2.detector import RegimeDetector
from agents.tier2.rules import regime_confidence
from envs.layout import OBS_LAYOUT, REGIMES
from envs.records import Info, Record

logger = logging.getLogger(__name__)


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
        self.confidence = np.asarray(regime_confidence(self.probs))
        self._slot = OBS_LAYOUT.group_slice("tier2")
        self._rows = self.probs.tolist()
        self._names = [REGIMES[i] for i in np.argmax(self.probs, axis=1)]
        self._confidence_rows = self.confidence.tolist()
        # For every step: the base env itself (its bar), and the rows as float32 (the values a float32 observation
        # takes from them). Info records are built afresh at every call (gymnasium's checker: no shared dicts).
        self._base = base
        self._rows32 = self.probs.astype(np.float32)

    def _apply(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, Info]:
        """The observation with the bar's regime probabilities in slots 19-23 (a copy), and ``info["regime"]``."""
        bar = self._base.bar
        obs = np.array(obs, dtype=np.float32, copy=True)
        obs[self._slot] = self._rows32[bar]
        info = info if type(info) is Info else Info(info)  # an Info is written in place, as Gymnasium's wrappers do
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
