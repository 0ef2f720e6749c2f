"""Seeded regime-switching synthetic market with known labels and component signals of known edge.

Returns follow a Markov chain over regimes; each regime has its own daily drift and volatility, with optional
Student-t fat tails (scaled to unit variance). Each component signal has a known *hit rate* per regime: at bar
``t`` the sign of its score equals the sign of the forward return ``log(close_{t+h} / close_t)`` with that
probability (``h = signal_horizon``), and its magnitude is uniform on [0.05, 1]. The signal is published at the
close of ``t`` and says something about the future, which is exactly what a real signal with edge does: decisions
that use it still only see data up to ``t``.

Example:
    >>> market = SyntheticMarket.three_regime()
    >>> sample = market.generate(n_bars=2000, seed=7)
    >>> sample.data.close.shape, sample.labels.shape
    ((2000,), (2000,))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from envs.layout import COMPONENTS
from envs.market import DataError, MarketData


@dataclass(frozen=True)
class RegimeSpec:
    """One synthetic regime.

    Attributes:
        name: Label.
        drift: Mean daily log return.
        vol: Daily volatility of log returns.
        duration: Expected duration in bars (sets the self-transition probability 1 - 1/duration).
        hit_rates: Per-component probability that the score's sign matches the forward return's sign
            (theme, technical, ai, sentiment); 0.5 = no edge.
    """

    name: str
    drift: float
    vol: float
    duration: float
    hit_rates: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if self.vol <= 0:
            raise ValueError(f"regime {self.name!r}: vol={self.vol!r} must be > 0 (daily std, e.g. 0.01)")
        if self.duration < 1:
            raise ValueError(f"regime {self.name!r}: duration={self.duration!r} must be >= 1 bar")
        if len(self.hit_rates) != len(COMPONENTS) or not all(0 <= p <= 1 for p in self.hit_rates):
            raise ValueError(f"regime {self.name!r}: hit_rates={self.hit_rates!r} must be 4 probabilities in [0, 1]")


@dataclass(frozen=True)
class SyntheticSample:
    """A generated market: validated bars plus the ground truth.

    Attributes:
        data: Bars with component columns, shape ``(n,)`` arrays.
        labels: Shape ``(n,)`` regime index of each bar.
        regime_names: Names matching the label indices.
        transmat: The Markov transition matrix used, shape ``(k, k)``.
    """

    data: MarketData
    labels: np.ndarray
    regime_names: tuple[str, ...]
    transmat: np.ndarray


@dataclass(frozen=True)
class SyntheticMarket:
    """Generator configuration (see module docstring).

    Args:
        regimes: The regimes of the Markov chain.
        student_df: Degrees of freedom of the Student-t shocks; ``None`` for Gaussian.
        signal_horizon: Bars ahead the component signals predict.
        gap_share: Share of each bar's variance that happens overnight (open vs previous close).
        start_price: First close.
        start_date: First bar date (business days).
    """

    regimes: tuple[RegimeSpec, ...]
    student_df: float | None = None
    signal_horizon: int = 5
    gap_share: float = 0.2
    start_price: float = 100.0
    start_date: str = "2000-01-03"
    transmat: tuple[tuple[float, ...], ...] | None = field(default=None)

    @classmethod
    def three_regime(cls, **kwargs: object) -> SyntheticMarket:
        """Calm bull (60 bars), choppy (30 bars) and crisis (15 bars) regimes; the technical signal has edge in
        the bull regime, sentiment in the crisis, none in the choppy regime."""
        regimes = (
            RegimeSpec("bull", 0.0008, 0.008, 60.0, (0.55, 0.65, 0.5, 0.5)),
            RegimeSpec("choppy", 0.0, 0.014, 30.0, (0.5, 0.5, 0.55, 0.5)),
            RegimeSpec("crisis", -0.003, 0.035, 15.0, (0.5, 0.45, 0.5, 0.65)),
        )
        return cls(regimes=regimes, **kwargs)  # type: ignore[arg-type]

    def transition_matrix(self) -> np.ndarray:
        """Given ``transmat`` or: stay with 1 - 1/duration, leave uniformly to the other regimes."""
        k = len(self.regimes)
        if self.transmat is not None:
            m = np.asarray(self.transmat, dtype=np.float64)
            if m.shape != (k, k) or not np.allclose(m.sum(axis=1), 1.0) or (m < 0).any():
                raise ValueError(f"transmat must be a ({k}, {k}) row-stochastic matrix; got {m.tolist()}")
            return m
        m = np.zeros((k, k))
        for i, spec in enumerate(self.regimes):
            stay = 1.0 - 1.0 / spec.duration
            m[i] = (1.0 - stay) / max(k - 1, 1)
            m[i, i] = stay if k > 1 else 1.0
        return m

    def _labels(self, n: int, rng: np.random.Generator) -> np.ndarray:
        m = self.transition_matrix()
        cum = np.cumsum(m, axis=1)
        labels = np.empty(n, dtype=np.int64)
        labels[0] = 0
        u = rng.random(n)
        for t in range(1, n):
            labels[t] = min(int(np.searchsorted(cum[labels[t - 1]], u[t])), len(self.regimes) - 1)
        return labels

    def _shocks(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.student_df is None:
            return rng.standard_normal(n)
        df = float(self.student_df)
        if df <= 2:
            raise ValueError(f"student_df={df!r} must be > 2 so the variance exists (e.g. 4)")
        return rng.standard_t(df, n) / np.sqrt(df / (df - 2.0))

    def generate(self, n_bars: int, seed: int = 0) -> SyntheticSample:
        """Generate ``n_bars`` bars; the same seed gives the same sample."""
        if n_bars < 2:
            raise ValueError(f"n_bars={n_bars!r} must be >= 2")
        rng = np.random.default_rng(seed)
        labels = self._labels(n_bars, rng)
        drift = np.array([r.drift for r in self.regimes])[labels]
        vol = np.array([r.vol for r in self.regimes])[labels]
        z_gap, z_day = self._shocks(n_bars, rng), self._shocks(n_bars, rng)
        gap = drift * self.gap_share + vol * np.sqrt(self.gap_share) * z_gap
        day = drift * (1 - self.gap_share) + vol * np.sqrt(1 - self.gap_share) * z_day
        gap[0] = 0.0
        log_close = np.log(self.start_price) + np.cumsum(gap + day)
        close = np.exp(log_close)
        open_ = np.exp(log_close - day)
        wick_hi = np.abs(rng.standard_normal(n_bars)) * vol * 0.5
        wick_lo = np.abs(rng.standard_normal(n_bars)) * vol * 0.5
        high = np.maximum(open_, close) * np.exp(wick_hi)
        low = np.minimum(open_, close) * np.exp(-wick_lo)
        comps = self._signals(log_close, labels, rng)
        index = pd.bdate_range(self.start_date, periods=n_bars, name="date")
        frame = pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": np.full(n_bars, 1e6)},
            index=index,
        )
        for i, c in enumerate(COMPONENTS):
            frame[c] = comps[:, i]
        data = MarketData.from_frame(frame, name="synthetic")
        return SyntheticSample(data, labels, tuple(r.name for r in self.regimes), self.transition_matrix())

    def _signals(self, log_close: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h = len(log_close), self.signal_horizon
        fwd = np.zeros(n)
        fwd[: n - h] = log_close[h:] - log_close[: n - h]
        fwd_sign = np.where(fwd >= 0, 1.0, -1.0)
        hits = np.array([r.hit_rates for r in self.regimes])[labels]  # (n, 4)
        agree = rng.random((n, len(COMPONENTS))) < hits
        sign = np.where(agree, fwd_sign[:, None], -fwd_sign[:, None])
        # No forward return exists for the last h bars: their signals are coin flips.
        sign[n - h :] = np.where(rng.random((h, len(COMPONENTS))) < 0.5, 1.0, -1.0)
        return sign * rng.uniform(0.05, 1.0, (n, len(COMPONENTS)))


def bars_from_closes(
    close: Sequence[float] | np.ndarray,
    *,
    open_: Sequence[float] | np.ndarray | None = None,
    wick: float = 0.002,
    start_date: str = "2000-01-03",
    components: np.ndarray | None = None,
) -> MarketData:
    """Hand-made bars for tests and stress scenarios.

    Args:
        close: Closing prices.
        open_: Opening prices; defaults to the previous close (no gaps), first bar opens at its close.
        wick: High/low extend this fraction beyond max/min(open, close).
        start_date: First date (business days).
        components: Optional ``(n, 4)`` component scores.
    """
    close = np.asarray(close, dtype=np.float64)
    o = np.asarray(open_, dtype=np.float64) if open_ is not None else np.concatenate([[close[0]], close[:-1]])
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, close) * (1 + wick),
            "low": np.minimum(o, close) * (1 - wick),
            "close": close,
            "volume": np.full(len(close), 1e6),
        },
        index=pd.bdate_range(start_date, periods=len(close), name="date"),
    )
    if components is not None:
        for i, c in enumerate(COMPONENTS):
            frame[c] = components[:, i]
    return MarketData.from_frame(frame, name="hand-made")


def planted_edge() -> SyntheticMarket:
    """One regime (drift 0.0002, vol 1% a day) whose ``technical`` score has a 0.65 hit rate on the 5-bar forward
    return, the other components none: the market an agent that learns anything must beat the rules on."""
    spec = RegimeSpec("planted", 0.0002, 0.01, 1e9, (0.5, 0.65, 0.5, 0.5))
    return SyntheticMarket(regimes=(spec,), start_date="1990-01-01")


def planted_edge_two_regime() -> SyntheticMarket:
    """Two regimes of about 120 bars: a calm up-market where ``technical`` has the 0.65 edge and a choppy one
    where ``theme`` has it. Which component to follow is visible only through the regime (Tier 2) or the
    recent outcomes of each component (Tier 1)."""
    regimes = (
        RegimeSpec("calm", 0.0004, 0.008, 120.0, (0.5, 0.65, 0.5, 0.5)),
        RegimeSpec("choppy", 0.0, 0.015, 120.0, (0.65, 0.5, 0.5, 0.5)),
    )
    return SyntheticMarket(regimes=regimes, start_date="1990-01-01")


PRESETS = {"planted_edge": planted_edge, "planted_edge_2regime": planted_edge_two_regime}
"""Named synthetic markets, loadable as the dataset ``synthetic:<name>[:<seed>]`` (8,000 bars from 1990-01-01)."""
PRESET_BARS = 8000


def preset_data(spec: str) -> MarketData:
    """Bars of a named synthetic market: ``"<name>"`` or ``"<name>:<seed>"`` (seed 0 by default).

    Example:
        >>> preset_data("planted_edge:1").close.shape
        (8000,)
    """
    name, _, seed_text = spec.partition(":")
    if name not in PRESETS:
        raise DataError(f"unknown synthetic market {name!r}; choose one of {sorted(PRESETS)} (e.g. synthetic:{name})")
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError:
        raise DataError(f"synthetic:{spec}: seed {seed_text!r} is not an integer; e.g. synthetic:{name}:1") from None
    data = PRESETS[name]().generate(PRESET_BARS, seed=seed).data
    return MarketData.from_frame(data.to_frame(), name=f"synthetic:{name}:{seed}")
