"""State of the live brain: validated bars, per-ticker history (features, regime filter) and the account.

Every rule here is the env's own code: features come from :func:`envs.features.compute_features`, regime
probabilities from :meth:`agents.tier2.RegimeDetector.update` (the causal forward filter, never ``predict``), the
risk layer is :class:`envs.risk.RiskManager` and the performance slots come from
:class:`envs.reward.DifferentialSharpe`. Nothing here imports torch or stable_baselines3.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from agents.tier2 import RegimeDetector
from envs.data import MarketData
from envs.features import LOOKBACK, compute_features
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES
from envs.reward import DifferentialSharpe, RewardConfig
from envs.risk import Breaker, BreakerEvent, RiskLimits, RiskManager

_UNIFORM_REGIME = tuple(OBS_LAYOUT.default_tier2().astype(np.float64).tolist())
_PRICES = ("open", "high", "low", "close")
_THEME = OBS_LAYOUT.index("theme") - OBS_LAYOUT.group_slice("market").start


class LiveInputError(ValueError):
    """Bad input to the live brain; ``field`` names the offending field (the service answers 422 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _number(
    field: str, value: Any, *, positive: bool = False, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a finite float (in range), or :class:`LiveInputError` naming the field, value and fix."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LiveInputError(field, f"{value!r} is a {type(value).__name__}; pass a number")
    x = float(value)
    if not math.isfinite(x):
        raise LiveInputError(field, f"{value!r} is not finite; pass a finite number")
    if positive and x <= 0:
        raise LiveInputError(field, f"{x!r} must be > 0")
    if (low is not None and x < low) or (high is not None and x > high):
        raise LiveInputError(field, f"{x!r} is outside [{low}, {high}]; rescale it (e.g. clip or tanh)")
    return x


@dataclass(frozen=True)
class Bar:
    """One validated OHLCV bar (optional component scores in [-1, 1] and VIX)."""

    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    components: tuple[float, ...] | None = None
    vix: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"time": self.time.isoformat(), **{k: getattr(self, k) for k in (*_PRICES, "volume")}}
        if self.components is not None:
            out.update(zip(COMPONENTS, self.components, strict=True))
        if self.vix is not None:
            out["vix"] = self.vix
        return out


def parse_bar(bar: Mapping[str, Any] | Bar, where: str = "bar") -> Bar:
    """A :class:`Bar` from a mapping with ``time open high low close`` (``volume``, the four components, ``vix``).

    Raises:
        LiveInputError: A missing or non-finite field, a non-positive price, high < low, open/close outside
            [low, high], some but not all components, a component outside [-1, 1]; the field is named.
    """
    if isinstance(bar, Bar):
        return bar
    if not isinstance(bar, Mapping):
        raise LiveInputError(where, f"is a {type(bar).__name__}; pass a mapping with time, open, high, low, close")
    missing = [k for k in ("time", *_PRICES) if k not in bar or bar[k] is None]
    if missing:
        raise LiveInputError(f"{where}.{missing[0]}", "missing; a bar needs time, open, high, low, close")
    try:
        time = pd.Timestamp(bar["time"])
    except (ValueError, TypeError):
        raise LiveInputError(f"{where}.time", f"{bar['time']!r} is not a date/time; use ISO 8601") from None
    if time is pd.NaT:
        raise LiveInputError(f"{where}.time", "is NaT; use an ISO 8601 date/time")
    px = {k: _number(f"{where}.{k}", bar[k], positive=True) for k in _PRICES}
    if px["high"] < px["low"]:
        raise LiveInputError(f"{where}.high", f"{px['high']!r} is below low={px['low']!r}; swap or fix the bar")
    for k in ("open", "close"):
        if not px["low"] <= px[k] <= px["high"]:
            raise LiveInputError(f"{where}.{k}", f"{px[k]!r} is outside [low, high] = [{px['low']}, {px['high']}]")
    volume = _number(f"{where}.volume", bar.get("volume", 0.0) or 0.0, low=0.0)
    present = [c for c in COMPONENTS if bar.get(c) is not None]
    comps = None
    if present:
        if len(present) != len(COMPONENTS):
            absent = [c for c in COMPONENTS if c not in present]
            raise LiveInputError(f"{where}.{absent[0]}", f"missing; give all of {list(COMPONENTS)} or none")
        comps = tuple(_number(f"{where}.{c}", bar[c], low=-1.0, high=1.0) for c in COMPONENTS)
    vix = None if bar.get("vix") is None else _number(f"{where}.vix", bar["vix"], positive=True)
    return Bar(time, px["open"], px["high"], px["low"], px["close"], volume, comps, vix)


class TickerHistory:
    """The last ``history_bars`` bars of one ticker, their causal features and the ticker's regime filter.

    Features of the latest bar are :func:`~envs.features.compute_features` of the kept bars (the env's code; the
    EMA and RSI recursions forget their seed well within the 600 bars kept by default). Regime probabilities come from
    detector's online forward filter, one :meth:`~agents.tier2.RegimeDetector.update` per bar, fed the same
    close, VIX and theme score as the env's Tier 2 wrapper feeds :meth:`~agents.tier2.RegimeDetector.regime_probs`.

    Args:
        ticker: Name.
        history_bars: Bars kept (at least :data:`~envs.features.LOOKBACK` + 1).
        detector: A fitted detector whose online filter state belongs to this ticker, or None (Tier 2 off).
    """

    def __init__(self, ticker: str, history_bars: int, detector: RegimeDetector | None) -> None:
        self.ticker = ticker
        self.history_bars = max(int(history_bars), LOOKBACK + 1)
        self.detector = detector
        self.bars: deque[Bar] = deque(maxlen=self.history_bars)
        self._times: deque[pd.Timestamp] = deque(maxlen=self.history_bars)
        keys = (*_PRICES, "volume", "components", "vix")
        self._cols: dict[str, deque[Any]] = {k: deque(maxlen=self.history_bars) for k in keys}
        self.features: np.ndarray | None = None  # (10,) market + components of the last bar, float64
        self.regime: tuple[float, ...] = _UNIFORM_REGIME
        self.n_seen = 0

    @property
    def last_time(self) -> pd.Timestamp | None:
        return self.bars[-1].time if self.bars else None

    @property
    def ready(self) -> bool:
        """Whether every feature of the last bar is defined (enough history to decide)."""
        return self.features is not None and bool(np.isfinite(self.features).all())

    def _data(self) -> MarketData:
        cols = self._cols
        index = pd.DatetimeIndex(list(self._times))
        arrays = {k: np.array(cols[k], dtype=np.float64) for k in (*_PRICES, "volume")}
        comps = np.array(cols["components"], dtype=np.float64) if None not in cols["components"] else None
        vix = np.array(cols["vix"], dtype=np.float64) if None not in cols["vix"] else None
        day = index.tz_localize(None) if index.tz else index
        days = day.to_numpy().astype("datetime64[D]").astype(np.int64)
        return MarketData(index=index, components=comps, vix=vix, day=days, name=self.ticker, **arrays)

    def _append(self, bars: Sequence[Bar]) -> None:
        self.bars.extend(bars)
        self._times.extend(b.time for b in bars)
        for key, col in self._cols.items():
            col.extend(getattr(b, key) for b in bars)

    def extend(self, bars: Sequence[Bar], *, filter_regime: bool = True) -> np.ndarray:
        """Append bars (times strictly increasing) and update features and regime; returns the bars' themes."""
        last = self.last_time
        for i, b in enumerate(bars):
            if last is not None and b.time <= last:
                raise LiveInputError(
                    f"bars[{i}].time" if len(bars) > 1 else "bar.time",
                    f"{b.time.isoformat()} is not after the last bar of {self.ticker!r} ({last.isoformat()}); "
                    "send each bar once, in time order",
                )
            last = b.time
        chunk = max(1, self.history_bars // 2)  # every bar keeps at least half the history behind it
        themes = [self._extend_chunk(bars[i : i + chunk], filter_regime) for i in range(0, len(bars), chunk)]
        return np.concatenate(themes) if themes else np.empty(0)

    def _extend_chunk(self, bars: Sequence[Bar], filter_regime: bool) -> np.ndarray:
        n_new = len(bars)
        self._append(bars)
        self.n_seen += n_new
        feats = compute_features(self._data())
        rows = np.concatenate([feats.market, feats.components], axis=1)[-n_new:]
        self.features = rows[-1].copy()
        themes = np.nan_to_num(rows[:, _THEME], nan=0.0)  # the theme the env's Tier 2 wrapper gives the detector
        if self.detector is not None and filter_regime:
            for b, theme in zip(bars, themes, strict=True):
                self.regime = tuple(self.detector.update(b.close, b.vix, float(theme)).tolist())
        return themes

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "history_bars": self.history_bars,
            "bars": [b.to_json() for b in self.bars],
            "features": None if self.features is None else [float(x) for x in self.features],
            "regime": list(self.regime),
            "n_seen": self.n_seen,
            "detector": None if self.detector is None else self.detector.to_json(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TickerHistory:
        det = None if d["detector"] is None else RegimeDetector.from_json(d["detector"])
        obj = cls(d["ticker"], d["history_bars"], det)
        obj._append([parse_bar(b) for b in d["bars"]])
        obj.features = None if d["features"] is None else np.array(d["features"], dtype=np.float64)
        obj.regime, obj.n_seen = tuple(d["regime"]), int(d["n_seen"])
        return obj


class LiveAccount:
    """Equity marks, the risk layer, the reward's running moments and the win rate: observation slots 0-4, 24-26.

    The account starts at its first mark. Each later mark at a new bar time does what the env does at a bar's
    close: :meth:`RiskManager.new_bar` (a new day restarts the daily budget), ``DifferentialSharpe.update`` with the
    bar's equity return and :meth:`RiskManager.mark` (which moves the breaker).
    """

    def __init__(self, limits: RiskLimits, reward: RewardConfig, win_rate_window: int = 20) -> None:
        self.risk = RiskManager(limits)
        self.dsr = DifferentialSharpe(reward)
        self.wins: deque[float] = deque(maxlen=int(win_rate_window))
        self.started = False
        self.start_equity = self.equity = 1.0
        self.exposure_elsewhere = 0.0
        self.last_time: pd.Timestamp | None = None
        self.n_marks = 0

    def mark(self, equity: float, time: pd.Timestamp, exit_reason: str | None = None) -> bool:
        """Mark-to-market ``equity`` at the close of the bar at ``time``; False when that time was marked already."""
        day = int(np.datetime64(time.tz_localize(None) if time.tz else time, "D").astype(np.int64))
        if not self.started:
            self.risk.reset_account(equity, day)
            self.started, self.start_equity, self.equity, self.last_time = True, equity, equity, time
            return True
        if self.last_time is not None and time <= self.last_time:
            return False
        self.risk.new_bar(day)
        self.dsr.update(equity / self.equity - 1.0)
        self.n_marks += 1
        self.risk.mark(equity, self.n_marks, exit_reason=exit_reason)
        self.equity, self.last_time = equity, time
        return True

    def record_trade(self, net_return: float) -> None:
        self.wins.append(1.0 if net_return > 0 else 0.0)

    def portfolio_slots(self) -> list[float]:
        """Slots 0-4 (equity log growth, drawdown, exposure elsewhere, daily loss used, breaker level)."""
        risk = self.risk
        growth = math.log(self.equity / self.start_equity)
        return [
            min(max(growth, -10.0), 10.0),
            risk.drawdown,
            self.exposure_elsewhere,
            min(risk.daily_loss_used, 5.0),
            risk.breaker_level(),
        ]

    def performance_slots(self) -> list[float]:
        """Slots 24-26 (annualised running mean and deviation of bar returns, win rate)."""
        dsr, wins = self.dsr, self.wins
        return [
            min(max(dsr.A * 252.0, -50.0), 50.0),
            min(dsr.deviation * math.sqrt(252.0), 50.0),
            sum(wins) / len(wins) if wins else 0.5,
        ]

    def trip(self, reason: str) -> None:
        """Latch the breaker HALTED by hand (audited in ``risk.events``)."""
        if not reason:
            raise LiveInputError("reason", "is empty; say who trips the breaker and why (it is audited)")
        self.risk.trip(reason, self.n_marks)

    def to_json(self) -> dict[str, Any]:
        risk = {k: v for k, v in vars(self.risk).items() if k not in ("limits", "state", "events")}
        risk["state"] = self.risk.state.name
        risk["events"] = [asdict(e) for e in self.risk.events]
        return {
            "risk": risk,
            "dsr": {"A": self.dsr.A, "B": self.dsr.B, "n": self.dsr.n},
            "wins": list(self.wins),
            "started": self.started,
            "start_equity": self.start_equity,
            "equity": self.equity,
            "exposure_elsewhere": self.exposure_elsewhere,
            "last_time": None if self.last_time is None else self.last_time.isoformat(),
            "n_marks": self.n_marks,
        }

    def load_json(self, d: Mapping[str, Any]) -> None:
        risk = dict(d["risk"])
        self.risk.state = Breaker[risk.pop("state")]
        self.risk.events = [BreakerEvent(**e) for e in risk.pop("events")]
        for key, value in risk.items():
            setattr(self.risk, key, list(value) if isinstance(value, list) else value)
        self.dsr.A, self.dsr.B, self.dsr.n = d["dsr"]["A"], d["dsr"]["B"], d["dsr"]["n"]
        self.wins.clear()
        self.wins.extend(d["wins"])
        self.started, self.start_equity, self.equity = d["started"], d["start_equity"], d["equity"]
        self.exposure_elsewhere = d["exposure_elsewhere"]
        self.last_time = None if d["last_time"] is None else pd.Timestamp(d["last_time"])
        self.n_marks = d["n_marks"]


def regime_name(probs: Sequence[float]) -> str:
    """Most likely regime of a ``(5,)`` probability vector (ties: the first)."""
    return REGIMES[int(np.argmax(probs))]


def bar_record(data: MarketData, t: int) -> dict[str, Any]:
    """Bar ``t`` of ``data`` as the brain's bar mapping."""
    out: dict[str, Any] = {
        "time": data.index[t].isoformat(),
        "open": float(data.open[t]),
        "high": float(data.high[t]),
        "low": float(data.low[t]),
        "close": float(data.close[t]),
        "volume": float(data.volume[t]),
    }
    if data.components is not None:
        out.update(zip(COMPONENTS, map(float, data.components[t]), strict=True))
    if data.vix is not None:
        out["vix"] = float(data.vix[t])
    return out
