"""The risk layer: hard limits and the circuit breaker, one implementation for env, backtest and live brain.

No tier can override it. Whatever size a policy requests, :meth:`RiskManager.approve` returns what may be
traded, and :meth:`RiskManager.stop_level` returns the price at which an open long position must be closed so
that neither the daily-loss limit nor the drawdown limit is crossed (a gap through that level fills at the
open, so the day's loss is the limit plus that bar's gap).

Limits (defaults): position <= 20% of equity at entry; gross exposure (this position plus exposure held
elsewhere) <= 100%; a loss of 2% of the day's starting equity closes the position and blocks new trades for
the rest of that day; drawdown from the high-water mark of mark-to-market equity >= 15% closes everything and
halts; a crisis regime means cash only: no trade opens while the regime at the decision bar's close is crisis,
and a position already open when a bar closes in crisis is closed at the next bar's open (exit reason
``"crisis"``). The rule is :meth:`RiskManager.is_crisis` (P(crisis) at or above ``crisis_threshold`` and the
largest regime probability); the env applies it to the regime at every bar's close (see
:meth:`envs.trading_env.TradingEnv.set_regime_path`).

Circuit breaker::

    ACTIVE --(drawdown >= 10% or rolling Sharpe < -0.5)--> REDUCING   (sizes x 0.5)
    REDUCING --(drawdown < 5% and rolling Sharpe >= 0)---> ACTIVE
    any --(drawdown >= 15%)--> HALTED   (latched: no trade until reset_breaker())

Every state change is appended to :attr:`RiskManager.events` with its reason.
"""

from __future__ import annotations

import enum
import functools
import logging
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from numbers import Integral, Real
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)


def check_number(name: str, value: Any, *, integer: bool = False, example: object = None) -> None:
    """Raise unless ``value`` is a finite real number (an integer if ``integer``).

    Args:
        name: How the caller spells the argument (``"RiskLimits.max_gross"``), for the message.
        value: The value to check.
        integer: Whether the value must be an integer.
        example: A valid value to suggest in the message.

    Raises:
        TypeError: ``value`` is not a number (or not an integer when ``integer``); booleans are not numbers here.
        ValueError: ``value`` is NaN or infinite.
    """
    fix = "" if example is None else f", e.g. {example!r}"
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}; pass {what}{fix}")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number{fix}")


def check_number_fields(config: Any) -> None:
    """:func:`check_number` on every field of the dataclass instance ``config``, suggesting the field's default.

    A field whose default is an ``int`` must be an integer; fields with a string default are skipped.
    """
    owner = type(config).__name__
    for f in fields(config):
        default = None if f.default is MISSING else f.default
        if isinstance(default, str):
            continue
        integer = isinstance(default, int) and not isinstance(default, bool)
        check_number(f"{owner}.{f.name}", getattr(config, f.name), integer=integer, example=default)


class Breaker(enum.IntEnum):
    """Circuit-breaker states; the value / 2 is the observation's breaker level (0, 0.5, 1)."""

    ACTIVE = 0
    REDUCING = 1
    HALTED = 2


_ACTIVE, _REDUCING, _HALTED = Breaker.ACTIVE, Breaker.REDUCING, Breaker.HALTED
_BREAKER_LEVEL = {state: state.value / 2.0 for state in Breaker}
"""``Breaker -> observation level`` (an enum's ``.value`` is a property: this runs every env step)."""


@dataclass(frozen=True)
class RiskLimits:
    """Hard limits and breaker thresholds. All fractions of equity unless stated.

    Attributes:
        max_position: Largest position at entry, as a fraction of equity.
        max_gross: Largest gross exposure (this position plus exposure held elsewhere).
        daily_loss: Loss from the day's starting equity that closes the position and blocks the day.
        max_drawdown: Drawdown from the high-water mark (mark-to-market) that halts.
        reduce_drawdown: Drawdown at which the breaker goes to REDUCING.
        reduce_sharpe: Rolling annualised Sharpe below which the breaker goes to REDUCING.
        recover_drawdown: Drawdown below which REDUCING may recover.
        recover_sharpe: Rolling Sharpe at or above which REDUCING may recover.
        reduce_scale: Size multiplier while REDUCING.
        sharpe_window: Bars in the rolling Sharpe; it counts only once the window is full.
        crisis_threshold: P(crisis) at or above which (and being the largest regime probability) only cash is allowed.
    """

    max_position: float = 0.20
    max_gross: float = 1.0
    daily_loss: float = 0.02
    max_drawdown: float = 0.15
    reduce_drawdown: float = 0.10
    reduce_sharpe: float = -0.5
    recover_drawdown: float = 0.05
    recover_sharpe: float = 0.0
    reduce_scale: float = 0.5
    sharpe_window: int = 60
    crisis_threshold: float = 0.5

    def __post_init__(self) -> None:
        check_number_fields(self)
        for name in (
            "max_position",
            "daily_loss",
            "max_drawdown",
            "reduce_drawdown",
            "reduce_scale",
            "crisis_threshold",
        ):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"RiskLimits.{name}={value!r} must be in (0, 1], e.g. {getattr(RiskLimits, name)!r}")
        if self.max_gross < self.max_position:
            raise ValueError(f"RiskLimits.max_gross={self.max_gross!r} must be >= max_position={self.max_position!r}")
        if not self.recover_drawdown <= self.reduce_drawdown <= self.max_drawdown:
            raise ValueError(
                f"RiskLimits.recover_drawdown={self.recover_drawdown!r}, reduce_drawdown={self.reduce_drawdown!r} and "
                f"max_drawdown={self.max_drawdown!r} must rise in that order (the breaker reduces sizes before it "
                "halts, and recovers below the drawdown where it reduced); e.g. 0.05, 0.10, 0.15"
            )
        if self.sharpe_window < 2:
            raise ValueError(f"RiskLimits.sharpe_window={self.sharpe_window!r} must be >= 2 bars")

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


@functools.lru_cache(maxsize=64)
def approval_reasons(limits: RiskLimits, exposure_elsewhere: float) -> dict[int, str]:
    """Why :meth:`RiskManager.approve` cut a request, by bit (1 halted, 2 crisis, 4 daily loss, 8 position cap,
    16 gross cap, 32 breaker REDUCING), in the order the reasons are listed (cached: do not modify the dict)."""
    return {
        1: "halted: circuit breaker latched, needs reset_breaker()",
        2: "crisis regime: cash only",
        4: f"daily loss limit {limits.daily_loss:.0%} hit today",
        8: f"position cap {limits.max_position:.0%}",
        16: f"gross cap {limits.max_gross:.0%} with {exposure_elsewhere:.0%} held elsewhere",
        32: f"breaker REDUCING: size x {limits.reduce_scale}",
    }


def breaker_event_reason(code: int, value: float, sharpe: float, limits: RiskLimits) -> str:
    """The reason of a breaker move by :meth:`RiskManager.mark`: 0 halt on drawdown (``value``), 1 reduce on
    drawdown, 2 reduce on the rolling Sharpe (``value``), 3 recovery (drawdown ``value``, ``sharpe``)."""
    if code == 0:
        return f"drawdown {value:.2%} >= max_drawdown {limits.max_drawdown:.0%}"
    if code == 1:
        return f"drawdown {value:.2%} >= reduce_drawdown {limits.reduce_drawdown:.0%}"
    if code == 2:
        return f"rolling Sharpe {value:.2f} < {limits.reduce_sharpe}"
    return f"recovered: drawdown {value:.2%}, rolling Sharpe {sharpe:.2f}"


@dataclass(frozen=True)
class BreakerEvent:
    """One circuit-breaker state change."""

    bar: int
    old: str
    new: str
    reason: str


class Approval(NamedTuple):
    """What the risk layer allows: the approved size and why it differs from the request."""

    size: float
    requested: float
    reasons: tuple[str, ...] = ()

    @property
    def clipped(self) -> float:
        """How much of the request was cut, as a fraction of equity (>= 0)."""
        return max(0.0, self.requested - self.size)


@dataclass
class RiskManager:
    """Stateful risk layer of one account (see module docstring).

    Call order per bar: :meth:`new_bar` when a bar of a new day starts (or every bar), :meth:`stop_level`
    while a position is open, :meth:`mark` at the bar's close with the mark-to-market equity, and
    :meth:`approve` before opening a trade.

    Args:
        limits: The limits.
        periods_per_year: Bars per year, for the rolling Sharpe.
    """

    limits: RiskLimits = field(default_factory=RiskLimits)
    periods_per_year: float = 252.0
    state: Breaker = field(init=False, default=Breaker.ACTIVE)
    events: list[BreakerEvent] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        check_number("RiskManager.periods_per_year", self.periods_per_year, example=252.0)
        if self.periods_per_year <= 0:
            raise ValueError(f"RiskManager.periods_per_year={self.periods_per_year!r} must be > 0, e.g. 252.0 (daily)")
        self._daily_floor = (1.0 - self.limits.daily_loss) * (1.0 + 1e-12)
        self.reset_account(1.0)

    # ----------------------------------------------------------------- account lifecycle
    def reset_account(self, equity: float, day: int = -1, *, keep_breaker: bool = False) -> None:
        """Start a fresh account at ``equity`` (new episode). The breaker stays latched if ``keep_breaker``."""
        self.hwm = float(equity)
        self.equity = float(equity)
        self.day = int(day)
        self.day_start_equity = float(equity)
        self.blocked_day: int | None = None
        # Ring buffer of the last sharpe_window bar returns with running sums: O(1) per bar.
        self._rets = [0.0] * self.limits.sharpe_window
        self._pos = 0
        self._count = 0
        self._sum = 0.0
        self._sumsq = 0.0
        if not keep_breaker:
            self.state = Breaker.ACTIVE
            self.events = []

    def reset_breaker(self, reason: str, bar: int = -1) -> None:
        """Explicitly unlatch a HALTED (or REDUCING) breaker; the only way out of HALTED. Resets the high-water mark."""
        if not reason:
            raise ValueError("reset_breaker needs a reason (who reset it and why); it is audited")
        self.hwm = self.equity
        self._set(Breaker.ACTIVE, f"reset: {reason}", bar)

    def trip(self, reason: str, bar: int = -1) -> None:
        """Latch the breaker HALTED by hand (an operator's kill switch); audited like every transition."""
        if not reason:
            raise ValueError("trip needs a reason (who tripped it and why); it is audited")
        self._set(Breaker.HALTED, f"manual trip: {reason}", bar)

    def _set(self, new: Breaker, reason: str, bar: int) -> None:
        if new is self.state:
            return
        self.events.append(BreakerEvent(bar, self.state.name, new.name, reason))
        logger.info("breaker %s -> %s at bar %d: %s", self.state.name, new.name, bar, reason)
        self.state = new

    # ----------------------------------------------------------------- per-bar updates
    def new_bar(self, day: int) -> None:
        """A bar starts; on a new day the daily loss budget restarts from the last equity."""
        if day != self.day:
            self.day = day
            self.day_start_equity = self.equity

    @property
    def drawdown(self) -> float:
        hwm = self.hwm
        if hwm <= 0:
            return 0.0
        dd = 1.0 - self.equity / hwm
        return dd if dd > 0.0 else 0.0  # max(0.0, dd), NaN included

    @property
    def daily_loss_used(self) -> float:
        """Loss since the day's start as a fraction of the daily limit (0 when up on the day)."""
        loss = 1.0 - self.equity / self.day_start_equity
        return (loss if loss > 0.0 else 0.0) / self.limits.daily_loss  # max(0.0, loss), NaN included

    @property
    def rolling_sharpe(self) -> float:
        """Annualised Sharpe of the last ``sharpe_window`` bar returns; 0 until the window is full or if flat."""
        n = self._count
        if n < self.limits.sharpe_window:
            return 0.0
        mean = self._sum / n
        var = (self._sumsq - n * mean * mean) / (n - 1)
        if var < 1e-16:
            return 0.0
        return mean / math.sqrt(var) * math.sqrt(self.periods_per_year)

    def mark(self, equity: float, bar: int, *, exit_reason: str | None = None) -> None:
        """Record the mark-to-market equity at a bar's close and move the breaker.

        Args:
            equity: Mark-to-market equity (open trades at the close, after costs already paid).
            bar: Bar number, for the event log.
            exit_reason: Reason of a position closed on this bar by the risk layer (``"daily_loss"`` blocks the day,
                ``"drawdown"`` halts).
        """
        prev = self.equity
        ret = equity / prev - 1.0 if prev > 0 else 0.0
        rets, pos = self._rets, self._pos
        window = len(rets)
        old = rets[pos]
        rets[pos] = ret
        pos += 1
        self._pos = pos if pos < window else 0
        if self._count < window:
            self._count += 1
        self._sum += ret - old
        self._sumsq += ret * ret - old * old
        self.equity = equity
        if equity > self.hwm:
            self.hwm = equity
        if exit_reason == "daily_loss" or equity <= self.day_start_equity * self._daily_floor:
            self.blocked_day = self.day
        state = self.state
        if state is _HALTED:
            return
        # The breaker's moves (written out here: this runs at every bar of every trade).
        lim = self.limits
        dd = 1.0 - equity / self.hwm
        if dd >= lim.max_drawdown - 1e-12:
            self._set(Breaker.HALTED, breaker_event_reason(0, dd, 0.0, lim), bar)
            return
        if state is _ACTIVE:
            if dd >= lim.reduce_drawdown - 1e-12:  # "at or above", as for the halt: 1 - 90/100 < 0.1 in floats
                self._set(Breaker.REDUCING, breaker_event_reason(1, dd, 0.0, lim), bar)
            # A Sharpe below a non-positive threshold needs a negative mean: skip the sqrt otherwise.
            elif (
                (self._sum < 0.0 or lim.reduce_sharpe > 0.0)
                and self._count == window
                and (sharpe := self.rolling_sharpe) < lim.reduce_sharpe
            ):
                self._set(Breaker.REDUCING, breaker_event_reason(2, sharpe, 0.0, lim), bar)
        elif dd < lim.recover_drawdown and (sharpe := self.rolling_sharpe) >= lim.recover_sharpe:
            self._set(Breaker.ACTIVE, breaker_event_reason(3, dd, sharpe, lim), bar)

    # ----------------------------------------------------------------- decisions
    def approve(self, requested: float, *, crisis: bool = False, exposure_elsewhere: float = 0.0) -> Approval:
        """The size (fraction of equity) that may be opened now, with the reasons for any cut."""
        lim = self.limits
        if not math.isfinite(requested):
            raise ValueError(f"requested={requested!r} is not finite; request a size in [0, max_position]")
        req = max(0.0, float(requested))
        reasons = approval_reasons(lim, exposure_elsewhere)
        if self.state is _HALTED:
            return Approval(0.0, req, (reasons[1],))
        if crisis:
            return Approval(0.0, req, (reasons[2],))
        if self.blocked_day is not None and self.blocked_day == self.day:
            return Approval(0.0, req, (reasons[4],))
        size, cuts = req, []
        if size > lim.max_position:
            size = lim.max_position
            cuts.append(reasons[8])
        room = max(0.0, lim.max_gross - max(0.0, exposure_elsewhere))
        if size > room:
            size = room
            cuts.append(reasons[16])
        if self.state is _REDUCING:
            size *= lim.reduce_scale
            cuts.append(reasons[32])
        return Approval(size, req, tuple(cuts))

    def is_crisis(self, regime_probs: tuple[float, ...] | list[float], crisis_index: int) -> bool:
        """True when the crisis probability is the largest and at least ``crisis_threshold``."""
        p = regime_probs[crisis_index]
        return p >= self.limits.crisis_threshold and p >= max(regime_probs)

    def stop_level(self, cash: float, shares: float, exit_cost: float) -> tuple[float, str]:
        """Price at which a long position must be closed to respect the daily-loss and drawdown limits.

        Equity after selling ``shares`` at level ``p`` is ``cash + shares * p * (1 - exit_cost)``; the level solves
        that equation for the tighter of ``day_start * (1 - daily_loss)`` and ``hwm * (1 - max_drawdown)``.

        Returns:
            ``(level, reason)`` with reason ``"daily_loss"`` or ``"drawdown"``; level may be <= 0 (never binds).
        """
        if shares <= 0:
            return 0.0, "none"
        k = shares * (1.0 - exit_cost)
        lim = self.limits
        daily = (self.day_start_equity * (1.0 - lim.daily_loss) - cash) / k
        dd = (self.hwm * (1.0 - lim.max_drawdown) - cash) / k
        return (daily, "daily_loss") if daily >= dd else (dd, "drawdown")

    def open_bar(self, day: int, cash: float, shares: float, exit_cost: float) -> tuple[float, str]:
        """:meth:`new_bar` then :meth:`stop_level`: what the env calls at the start of each bar of an open trade."""
        if day != self.day:
            self.day = day
            self.day_start_equity = self.equity
        return self.stop_level(cash, shares, exit_cost)

    def breaker_level(self) -> float:
        return _BREAKER_LEVEL[self.state]
