"""State of the live brain: validated bars, per-ticker history (features, regime filter) and the account.

Every rule here is the env's own code: features come from :func:`envs.features.compute_features`, regime
probabilities from :meth:`agents.tier2.RegimeDetector.update` (the causal forward filter, never ``predict``), the
risk layer is :class:`envs.risk.RiskManager` and the performance slots come from
:class:`envs.reward.DifferentialSharpe`. Nothing here imports torch or stable_baselines3.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from agents.tier1.market import MarketTier1, learned_regime
from agents.tier2 import RegimeDetector
from envs.data import MarketData
from envs.features import LOOKBACK, compute_features
from envs.layout import COMPONENTS, GROWTH_BARS, OBS_LAYOUT, REGIMES
from envs.reward import DifferentialSharpe, RewardConfig
from envs.risk import Breaker, BreakerEvent, RiskLimits, RiskManager

_UNIFORM_REGIME = tuple(OBS_LAYOUT.default_tier2().astype(np.float64).tolist())
_PRICES = ("open", "high", "low", "close")
_THEME = OBS_LAYOUT.index("theme") - OBS_LAYOUT.group_slice("market").start
_COMPONENTS = slice(_THEME, _THEME + len(COMPONENTS))
"""The component scores in a row of :meth:`TickerHistory` features (market features, then components)."""


class LiveInputError(ValueError):
    """Bad input to the live brain; ``field`` names the offending field, the message the value and the fix.

    The service answers :attr:`status` (422 here) with the field in ``loc``. Every check runs before the brain
    changes: a call that raises this (or a subclass) has changed nothing.
    """

    status = 422
    kind = "value_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LiveNotFoundError(LiveInputError):
    """An unknown ticker or decision id (the service answers 404)."""

    status = 404
    kind = "not_found"


class LiveConflictError(LiveInputError):
    """A well-formed call the brain's current state refuses: too few bars yet, a bar not after the last one, a
    trade for a "hold" decision, a breaker already in the asked state (the service answers 409)."""

    status = 409
    kind = "conflict"


@dataclass(frozen=True)
class Bound:
    """Closed range ``[low, high]`` of one input number and the fix for a value outside it."""

    low: float
    high: float
    fix: str


BOUNDS = {
    "price": Bound(1e-8, 1e12, "send prices in [1e-08, 1e+12] (quote the instrument per 1,000 or 1/1,000 units)"),
    "volume": Bound(0.0, 1e18, "send the bar's volume, 0 to 1e+18 (0 when unknown)"),
    "vix": Bound(1e-3, 1e4, "send the VIX level (index points, e.g. 17.5), 0.001 to 10,000, or leave it out"),
    "score": Bound(-1.0, 1.0, "rescale the score to [-1, 1] (e.g. clip or tanh)"),
    "equity": Bound(1e-2, 1e15, "send the account's mark-to-market equity in currency units, 0.01 to 1e+15"),
    "exposure": Bound(0.0, 1.0, "send the gross exposure held elsewhere as a fraction of equity, 0 to 1"),
    "net_return": Bound(-1.0, 100.0, "send the trade's net return as a fraction (0.012 for +1.2%), -1 to 100"),
    "pnl": Bound(-1e15, 1e15, "send the trade's profit in currency units, |pnl| <= 1e+15"),
    "probability": Bound(0.0, 1.0, "send probabilities in [0, 1]"),
}
"""Ranges of every number the brain takes from outside. Inside them every derived value stays finite (log returns,
their squares, the regime filter, the account's ratios, the reward's moments; tested with extreme values), so
nothing non-finite reaches the journal. The service's request models carry the same bounds (one definition)."""


def _number(field: str, value: Any, kind: str | None = None, *, positive: bool = False) -> float:
    """``value`` as a finite float inside ``BOUNDS[kind]``, or :class:`LiveInputError` naming field, value, fix."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LiveInputError(field, f"{value!r} is a {type(value).__name__}; pass a number")
    x = float(value)
    if not math.isfinite(x):
        raise LiveInputError(field, f"{value!r} is not finite; pass a finite number")
    if positive and x <= 0:
        raise LiveInputError(field, f"{x!r} must be > 0")
    if kind is not None:
        b = BOUNDS[kind]
        if not b.low <= x <= b.high:
            raise LiveInputError(field, f"{x!r} is outside [{b.low:g}, {b.high:g}]; {b.fix}")
    return x


TIME_FORM = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?)?")
"""The bar times read: an ISO 8601 date, or date and time (seconds, fraction and offset optional)."""
YEARS = (2, 9998)
"""Years of the bar times read (as written): every such time, offset applied, is a valid UTC time."""
TIME_PATTERN = r"^(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])-"
"""JSON Schema ``pattern`` of :data:`YEARS` (the service's schema states the range)."""
TEXT_PATTERN = r"[^ \t\n\r\f\v]"
"""A ticker or a reason holds at least one character other than ASCII white space (same in every regex engine)."""


def has_text(value: Any) -> bool:
    """``value`` is a string with a character that is not ASCII white space (:data:`TEXT_PATTERN`, as the schema
    states it; ``str.strip`` would also drop the control characters 0x1c-0x1f)."""
    return isinstance(value, str) and re.search(TEXT_PATTERN, value) is not None


def parse_time(value: Any, field: str = "time") -> pd.Timestamp:
    """A bar time, UTC without an offset: an ISO 8601 string (:data:`TIME_FORM`, years :data:`YEARS`) or a datetime.

    An offset is applied and then dropped, so times with and without one compare; a time without one is read as
    UTC (as the bundle's warm-up bars are).
    """
    fix = "use ISO 8601, e.g. 2015-01-02 or 2015-01-02T21:00:00Z"
    if isinstance(value, str):
        if not TIME_FORM.fullmatch(value):
            raise LiveInputError(field, f"{value!r} is not an ISO 8601 date or date-time; {fix}")
        try:
            value = datetime.fromisoformat(value.upper().replace(" ", "T"))
        except ValueError:
            raise LiveInputError(field, f"{value!r} is not a calendar date/time; {fix}") from None
    elif isinstance(value, bool) or not isinstance(value, (datetime, date, np.datetime64)):
        raise LiveInputError(field, f"{value!r} is a {type(value).__name__}; pass an ISO 8601 date/time string")
    t = pd.Timestamp(value)
    if t is pd.NaT:
        raise LiveInputError(field, f"is NaT; {fix}")
    if not YEARS[0] <= t.year <= YEARS[1]:
        raise LiveInputError(field, f"{t.isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}; {fix}")
    return t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t


@dataclass(frozen=True)
class Bar:
    """One validated OHLCV bar (optional component scores in [-1, 1] and VIX); ``time`` is UTC without offset."""

    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    components: tuple[float, ...] | None = None
    vix: float | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Bar:
        """A bar stored by :meth:`to_json` (checked when it arrived: read back as is)."""
        comps = tuple(d[c] for c in COMPONENTS) if COMPONENTS[0] in d else None
        prices = (float(d["open"]), float(d["high"]), float(d["low"]), float(d["close"]))
        return cls(pd.Timestamp(d["time"]), *prices, float(d.get("volume", 0.0)), comps, d.get("vix"))

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
        LiveInputError: A missing field, a number outside :data:`BOUNDS`, high < low, open/close outside
            [low, high], some but not all components; the field, the value and the fix are named.
    """
    if isinstance(bar, Bar):
        return bar
    if not isinstance(bar, Mapping):
        raise LiveInputError(where, f"is a {type(bar).__name__}; pass a mapping with time, open, high, low, close")
    missing = [k for k in ("time", *_PRICES) if k not in bar or bar[k] is None]
    if missing:
        raise LiveInputError(f"{where}.{missing[0]}", "missing; a bar needs time, open, high, low, close")
    time = parse_time(bar["time"], f"{where}.time")
    px = {k: _number(f"{where}.{k}", bar[k], "price") for k in _PRICES}
    if px["high"] < px["low"]:
        raise LiveInputError(f"{where}.high", f"{px['high']!r} is below low={px['low']!r}; swap or fix the bar")
    for k in ("open", "close"):
        if not px["low"] <= px[k] <= px["high"]:
            raise LiveInputError(
                f"{where}.{k}", f"{px[k]!r} is outside [low, high] = [{px['low']}, {px['high']}]; fix the bar"
            )
    volume = _number(f"{where}.volume", bar.get("volume", 0.0) or 0.0, "volume")
    present = [c for c in COMPONENTS if bar.get(c) is not None]
    comps = None
    if present:
        if len(present) != len(COMPONENTS):
            absent = [c for c in COMPONENTS if c not in present]
            raise LiveInputError(f"{where}.{absent[0]}", f"missing; give all of {list(COMPONENTS)} or none")
        comps = tuple(_number(f"{where}.{c}", bar[c], "score") for c in COMPONENTS)
    vix = None if bar.get("vix") is None else _number(f"{where}.vix", bar["vix"], "vix")
    return Bar(time, px["open"], px["high"], px["low"], px["close"], volume, comps, vix)


MAX_LISTED = 8
"""Ignored keys named one by one in a warning (the rest are counted)."""


def split_components(field: str, scores: Any) -> tuple[dict[str, float], list[str]]:
    """``{component: score}`` checked (numbers in [-1, 1]; None values left out) and the keys that are not
    components (ignored by the brain, reported in the reply's ``warnings``)."""
    if not isinstance(scores, Mapping):
        raise LiveInputError(field, f"is a {type(scores).__name__}; pass {{name: score}}")
    out: dict[str, float] = {}
    extra: list[str] = []
    for name, value in scores.items():
        if name not in COMPONENTS:
            extra.append(str(name))
        elif value is not None:
            out[name] = _number(f"{field}.{name}", value, "score")
    return out, extra


def ignored_keys(field: str, extra: Sequence[str]) -> list[str]:
    """The warning for keys of ``field`` that are not components (none when ``extra`` is empty)."""
    if not extra:
        return []
    names = sorted(extra)
    shown = ", ".join(names[:MAX_LISTED]) + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
    return [
        f"{field}: ignored {len(names)} key(s) that are not components ({shown}); "
        f"the brain reads {', '.join(COMPONENTS)}"
    ]


def check_portfolio(state: Any) -> tuple[float | None, float | None]:
    """``(equity, exposure_elsewhere)`` of a portfolio mapping, checked (None: not given)."""
    if not state:
        return None, None
    if not isinstance(state, Mapping):
        raise LiveInputError("portfolio_state", f"is a {type(state).__name__}; pass a mapping (equity, ...)")
    equity = state.get("equity")
    exposure = state.get("exposure_elsewhere")
    return (
        None if equity is None else _number("portfolio_state.equity", equity, "equity", positive=True),
        None if exposure is None else _number("portfolio_state.exposure_elsewhere", exposure, "exposure"),
    )


def optional_text(field: str, value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise LiveInputError(field, f"{value!r} must be a string of at most {limit} characters")
    return value


_TEXT_FIELDS = ("decision_id", "ticker", "exit_reason", "entry_time", "exit_time")


def check_trade(trade: Mapping[str, Any]) -> dict[str, Any]:
    """A closed trade checked field by field (``net_return``, ``pnl``, ``regime``, ``regime_probs``, the text
    fields; ``components`` only for its type): a copy with the numbers as floats. Other keys are kept as given."""
    out = dict(trade)
    out["net_return"] = _number("net_return", trade.get("net_return"), "net_return")
    if trade.get("pnl") is not None:
        out["pnl"] = _number("pnl", trade["pnl"], "pnl")
    for key in _TEXT_FIELDS:
        optional_text(key, trade.get(key))
    regime = trade.get("regime")
    if regime is not None and regime not in REGIMES:
        raise LiveInputError("regime", f"{regime!r} is not a regime; valid: {', '.join(REGIMES)} (or leave it out)")
    probs = trade.get("regime_probs")
    if probs is not None:
        if not isinstance(probs, Mapping):
            raise LiveInputError("regime_probs", f"is a {type(probs).__name__}; pass {{regime: probability}}")
        for name in probs:
            if name not in REGIMES:
                raise LiveInputError(f"regime_probs.{name}", f"is not a regime; valid: {', '.join(REGIMES)}")
        out["regime_probs"] = {k: _number(f"regime_probs.{k}", v, "probability") for k, v in probs.items()}
    comps = trade.get("components")
    if comps is not None and not isinstance(comps, Mapping):
        raise LiveInputError("components", f"is a {type(comps).__name__}; pass {{name: score}}")
    return out


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
        tier1: The ticker's Tier 1 learner when the bundle's Tier 1 learns from the market
            (:class:`~agents.tier1.market.MarketTier1`: one step per bar, under the bar's regime), else None.
    """

    def __init__(
        self, ticker: str, history_bars: int, detector: RegimeDetector | None, tier1: MarketTier1 | None = None
    ) -> None:
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
        self.tier1 = tier1

    @property
    def last_time(self) -> pd.Timestamp | None:
        return self.bars[-1].time if self.bars else None

    @property
    def ready(self) -> bool:
        """Whether the ticker can decide: :data:`~envs.features.LOOKBACK` bars kept (the env never decides
        earlier either) and every feature of the last bar defined."""
        return len(self.bars) >= LOOKBACK and self.features is not None and bool(np.isfinite(self.features).all())

    @property
    def bars_needed(self) -> int:
        """Bars still needed before the ticker is :attr:`ready` (0 when it is)."""
        return 0 if self.ready else max(1, LOOKBACK - len(self.bars))

    def check_new(self, bars: Sequence[Bar], where: str = "bars") -> None:
        """Raise, changing nothing, when ``bars`` cannot be appended.

        Raises:
            LiveConflictError: A bar is not after the ticker's last bar, or the one before it in ``bars`` (a
                repeat, a late bar, bars out of order).
            LiveInputError: A bar lacks the VIX the ticker's regime detector was fitted with.
        """
        last = self.last_time
        for i, b in enumerate(bars):
            name = f"{where}[{i}]" if where == "bars" else where
            if last is not None and b.time <= last:
                raise LiveConflictError(
                    f"{name}.time",
                    f"{b.time.isoformat()} is not after "
                    + (f"the last bar of {self.ticker!r} ({last.isoformat()})" if i == 0 else f"{where}[{i - 1}]")
                    + "; send each bar once, in time order",
                )
            if b.vix is None and self.detector is not None and self.detector.uses_vix_:
                raise LiveInputError(
                    f"{name}.vix", f"missing; {self.ticker!r}'s regime detector reads VIX: send vix with every bar"
                )
            last = b.time

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
        """Append bars (checked by :meth:`check_new` first) and update features, regime and Tier 1; returns the
        bars' themes. ``filter_regime=False`` leaves the regime filter and the Tier 1 learner as they are (a bundle's
        warm-up bars: their states come with the bundle)."""
        self.check_new(bars, "bars" if len(bars) > 1 else "bar")
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
        if filter_regime:
            for i, (b, theme) in enumerate(zip(bars, themes, strict=True)):
                if self.detector is not None:
                    self.regime = tuple(self.detector.update(b.close, b.vix, float(theme)).tolist())
                if self.tier1 is not None:  # the outcome of the bar `horizon` back, then this bar's scores
                    self.tier1.step(b.close, rows[i, _COMPONENTS].tolist(), learned_regime(self.regime))
        return themes

    def to_json(self, *, bars: bool = True) -> dict[str, Any]:
        """Plain JSON; ``bars=False`` leaves the bars out (the service's journal keeps them in their own table)."""
        out = {
            "ticker": self.ticker,
            "history_bars": self.history_bars,
            # before the look-back is filled a feature is NaN: stored as null (JSON has no NaN), read back as NaN
            "features": None if self.features is None else [_finite_or_none(x) for x in self.features],
            "regime": list(self.regime),
            "n_seen": self.n_seen,
            "detector": None if self.detector is None else self.detector.to_json(),
            "tier1": None if self.tier1 is None else self.tier1.to_json(),
        }
        if bars:
            out["bars"] = [b.to_json() for b in self.bars]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TickerHistory:
        det = None if d["detector"] is None else RegimeDetector.from_json(d["detector"])
        tier1 = MarketTier1.from_json(d["tier1"]) if d.get("tier1") else None
        obj = cls(d["ticker"], d["history_bars"], det, tier1)
        obj._append([Bar.from_json(b) for b in d["bars"]])
        feats = d["features"]
        obj.features = None if feats is None else np.array([np.nan if x is None else x for x in feats], np.float64)
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
        self.marks: deque[float] = deque(maxlen=GROWTH_BARS + 1)
        """The equity of the last ``GROWTH_BARS + 1`` marks (the ``equity_log_growth`` slot's reference: the first)."""
        self.exposure_elsewhere = 0.0
        self.last_time: pd.Timestamp | None = None
        self.n_marks = 0

    def mark(self, equity: float, time: pd.Timestamp, exit_reason: str | None = None) -> bool:
        """Mark-to-market ``equity`` at the close of the bar at ``time``; False when that time was marked already."""
        day = int(np.datetime64(time.tz_localize(None) if time.tz else time, "D").astype(np.int64))
        if not self.started:
            self.risk.reset_account(equity, day)
            self.started, self.start_equity, self.equity, self.last_time = True, equity, equity, time
            self.marks.append(equity)
            return True
        if self.last_time is not None and time <= self.last_time:
            return False
        self.risk.new_bar(day)
        self.dsr.update(equity / self.equity - 1.0)
        self.n_marks += 1
        self.risk.mark(equity, self.n_marks, exit_reason=exit_reason)
        self.equity, self.last_time = equity, time
        self.marks.append(equity)
        return True

    def record_trade(self, net_return: float) -> None:
        self.wins.append(1.0 if net_return > 0 else 0.0)

    def portfolio_slots(self) -> list[float]:
        """Slots 0-4 (equity log growth, drawdown, exposure elsewhere, daily loss used, breaker level)."""
        risk = self.risk
        growth = math.log(self.equity / (self.marks[0] if self.marks else self.start_equity))
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
            "marks": list(self.marks),
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
        self.marks.clear()  # a state saved before env version 2 has no marks: the start equity is the reference
        self.marks.extend(d.get("marks") or ([d["start_equity"]] if d["started"] else []))
        self.exposure_elsewhere = d["exposure_elsewhere"]
        self.last_time = None if d["last_time"] is None else pd.Timestamp(d["last_time"])
        self.n_marks = d["n_marks"]


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


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
