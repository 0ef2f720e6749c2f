"""Real-data regime tasks: runs of bars of a training window labelled by its Tier 2 detector.

The detector (:class:`agents.tier2.RegimeDetector`) is fitted on the ``tier2_fit_bars`` bars *before* the window
(:func:`agents.stack.fit_detector`), and every bar is labelled with the most likely of the five named regimes of
its **filtered** probabilities, exactly the ones the Tier 2 wrapper hands to the env
(:class:`~agents.tier2.RegimeWrapper`): the forward recursion and causal rules, row ``t`` computed from bars
``0..t``. hmmlearn's ``predict``/``predict_proba`` (smoothed, they see the future) are never called, so the label
of bar ``t`` is the same whether the data ends at ``t`` or years later (tested: prefix invariance).

A segment is a maximal run of one label, at least ``min_bars`` long (:func:`segments_from_probs`);
:func:`regime_segments` groups the segments of a window by regime, and :class:`SegmentTask` trades one of them in
the env stack (a :class:`~meta.tasks.Task`, with an :func:`~meta.tasks.oracle` like the synthetic tasks).
Segments shorter than an episode simply end it early; a label says what the detector believed at the time, not
what the regime was.

Example:
    >>> det = fit_detector(cfg, data, "train")                              # doctest: +SKIP
    >>> by_regime = regime_segments(cfg, data, det, min_bars=20)            # doctest: +SKIP
    >>> tasks = [SegmentTask(cfg, data, s, det) for s in by_regime["choppy"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agents.config import StackConfig
from agents.stack import Split, fit_detector
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.data import MarketData
from envs.layout import REGIMES
from envs.trading_env import TradingEnv
from meta.tasks import EnvTask, window_dates


@dataclass(frozen=True)
class RegimeSegment:
    """A run of bars ``[start, stop)`` whose causal Tier 2 label is ``regime`` at every bar.

    Attributes:
        regime: One of :data:`envs.layout.REGIMES`.
        start: First bar.
        stop: One past the last bar.
        mean_prob: Mean filtered probability of ``regime`` over the run.
    """

    regime: str
    start: int
    stop: int
    mean_prob: float

    @property
    def bars(self) -> int:
        return self.stop - self.start


def causal_regime_probs(data: MarketData, detector: RegimeDetector) -> np.ndarray:
    """Filtered regime probabilities ``(n, 5)`` of every bar of ``data``, as the Tier 2 wrapper gives them to
    the env (:class:`~agents.tier2.RegimeWrapper`: forward filter and causal rules; row ``t`` uses bars ``0..t``).

    Raises:
        ValueError: ``detector`` is not fitted (fit it on bars before the window: :func:`agents.stack.fit_detector`).
    """
    if not hasattr(detector, "transmat_"):
        raise ValueError("detector is not fitted; fit it on bars before the window (agents.stack.fit_detector)")
    wrapper = RegimeWrapper(TradingEnv(data), detector)
    return np.asarray(wrapper.probs)


def segments_from_probs(probs: np.ndarray, start: int, stop: int, min_bars: int = 20) -> list[RegimeSegment]:
    """Maximal runs of one most-likely regime within bars ``[start, stop)`` of ``probs`` ``(n, 5)``, at least
    ``min_bars`` long, in time order."""
    if int(min_bars) != min_bars or min_bars < 1:
        raise ValueError(f"min_bars={min_bars!r} must be an integer >= 1")
    stop = min(stop, len(probs))
    labels = np.argmax(probs[start:stop], axis=1)
    out, i = [], 0
    while i < len(labels):
        j = i
        while j < len(labels) and labels[j] == labels[i]:
            j += 1
        if j - i >= min_bars:
            p = float(np.mean(probs[start + i : start + j, labels[i]]))
            out.append(RegimeSegment(REGIMES[int(labels[i])], start + i, start + j, p))
        i = j
    return out


def regime_segments(
    cfg: StackConfig,
    data: MarketData,
    detector: RegimeDetector | None = None,
    *,
    split: Split = "train",
    min_bars: int = 20,
) -> dict[str, list[RegimeSegment]]:
    """Per-regime runs of bars of the ``split`` window, labelled by its Tier 2 detector's filtered probabilities.

    Args:
        cfg: The stack's config (the window and the detector's settings).
        data: The market; a window running past its end is cut at its last bar.
        detector: A fitted detector; default :func:`agents.stack.fit_detector` (fitted on the
            ``tier2_fit_bars`` bars before the window, never on a bar it labels).
        split: Which window to segment.
        min_bars: Shortest run kept.

    Returns:
        ``{regime: [segments in time order]}`` for every regime of :data:`~envs.layout.REGIMES` (possibly empty).
    """
    det = detector if detector is not None else fit_detector(cfg, data, split, cache=True)
    first, last = cfg.window(split)
    start = data.bar_at(first)
    stop = int(data.index.searchsorted(pd.Timestamp(last)))
    segments = segments_from_probs(causal_regime_probs(data, det), start, stop, min_bars)
    return {r: [s for s in segments if s.regime == r] for r in REGIMES}


@dataclass(frozen=True, eq=False)
class SegmentTask(EnvTask):
    """A real-data task: the env stack on the bars of one :class:`RegimeSegment`.

    Args:
        stack: The stack's config (its windows are replaced by the segment's).
        data: The market the segment indexes.
        segment: The bars to trade.
        detector: The Tier 2 detector that labelled the segment (used by the env when Tier 2 is on).
        adapt_bars: First bars of the segment that are its adaptation window (the rest is scored, as in
            :class:`~meta.tasks.RegimeTask`); None: the whole segment for everything.
    """

    stack: StackConfig
    data: MarketData
    segment: RegimeSegment
    detector: RegimeDetector | None = None
    adapt_bars: int | None = None

    def __post_init__(self) -> None:
        a, n = self.adapt_bars, self.segment.bars
        if a is not None and (int(a) != a or not 1 <= a <= n - 1):
            raise ValueError(f"adapt_bars={a!r} must be an integer in [1, {n - 1}] (the segment has {n} bars) or None")

    @property
    def name(self) -> str:
        s, d = self.segment, self.data
        return f"{d.name}:{s.regime}[{d.index[s.start].date()}..{d.index[s.stop - 1].date()}]"

    def market_data(self) -> MarketData:
        return self.data

    def regime_detector(self) -> RegimeDetector | None:
        return self.detector

    def stack_config(self) -> StackConfig:
        s = self.segment
        if self.adapt_bars is None:
            w = window_dates(self.data, s.start, s.stop)
            return dataclasses.replace(self.stack, train=w, val=w, test=w)
        fit = window_dates(self.data, s.start, s.start + self.adapt_bars)
        score = window_dates(self.data, s.start + self.adapt_bars, s.stop)
        return dataclasses.replace(self.stack, train=fit, val=score, test=score)


@dataclass(frozen=True, eq=False)
class SegmentDistribution:
    """Real-data tasks: ``split="train"`` draws segments of the stack's training window, ``"held_out"`` of its
    validation window (each labelled by its own window's detector, fitted on the bars before it).

    Held-out segments are split into an adaptation part (the first ``adapt_share`` of their bars) and a scored
    part; training segments are used whole.

    Args:
        stack: The stack's config (windows, tiers, reward).
        data: The market.
        min_bars: Shortest segment kept.
        adapt_share: Share of a held-out segment's bars for adaptation.
    """

    stack: StackConfig
    data: MarketData
    min_bars: int = 60
    adapt_share: float = 1.0 / 3.0

    def segments(self, split: Split) -> list[tuple[RegimeSegment, RegimeDetector]]:
        cache: dict[str, list[tuple[RegimeSegment, RegimeDetector]]] = self.__dict__.setdefault("_cache", {})
        if split not in cache:
            det = fit_detector(self.stack, self.data, split, cache=True)
            by_regime = regime_segments(self.stack, self.data, det, split=split, min_bars=self.min_bars)
            cache[split] = sorted(((s, det) for segs in by_regime.values() for s in segs), key=lambda x: x[0].start)
            if not cache[split]:
                raise ValueError(
                    f"no regime segment of at least {self.min_bars} bars in the {split} window "
                    f"{self.stack.window(split)}; lower min_bars or widen the window"
                )
        return cache[split]

    def sample(self, n: int, seed: int | np.random.Generator, split: str = "train") -> list[SegmentTask]:
        """``n`` segments drawn with replacement (``split``: ``"train"`` or ``"held_out"``)."""
        if split not in ("train", "held_out"):
            raise ValueError(f"split={split!r}; choose 'train' or 'held_out'")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        pool = self.segments("train" if split == "train" else "val")
        out = []
        for i in rng.integers(len(pool), size=n):
            seg, det = pool[int(i)]
            adapt = None if split == "train" else max(1, round(seg.bars * self.adapt_share))
            out.append(SegmentTask(self.stack, self.data, seg, det, adapt))
        return out
