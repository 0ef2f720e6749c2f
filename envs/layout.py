"""Observation layout (27 named slots) and the action map (``Box(-1, 1, (4,))`` -> trade parameters).

Both objects are part of the public API: the env, the wrappers, the backtest and the exported bundle all
address observation slots by name through :data:`OBS_LAYOUT`, never by bare index arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from typing import NamedTuple

import numpy as np

COMPONENTS: tuple[str, ...] = ("theme", "technical", "ai", "sentiment")
"""The four signal components, in slot order."""

REGIMES: tuple[str, ...] = ("bull_momentum", "bear_defensive", "choppy", "crisis", "theme_driven")
"""The five named market regimes, in slot order."""

MARKET_FEATURES: tuple[str, ...] = ("ret_1", "ret_5", "ret_20", "vol_20", "rsi_14", "close_vs_sma_50")
"""The six causal market features, in slot order (see :mod:`envs.features`)."""

GROWTH_BARS = 252
"""Bars the ``equity_log_growth`` slot looks back: the equity's log growth over the last year of bars (since the
episode start when that is later). Env version 2: version 1 measured it since the episode start, which meant the same
in a 252-bar training episode and grew without bound in a multi-year test (outside its training range on a quarter of
a planted-edge test path's decisions, issue 24)."""


@dataclass(frozen=True)
class Slot:
    """One named observation slot.

    Attributes:
        index: Position in the observation vector.
        name: Stable public name.
        group: Group the slot belongs to.
        low: Lower bound of the slot (values are clipped to it).
        high: Upper bound of the slot.
        description: What the value means and its units.
    """

    index: int
    name: str
    group: str
    low: float
    high: float
    description: str


def _slots() -> tuple[Slot, ...]:
    rows: list[tuple[str, str, float, float, str]] = [
        (
            "equity_log_growth",
            "portfolio",
            -10.0,
            10.0,
            f"log(equity / equity {GROWTH_BARS} bars before, or at the episode start when that is later)",
        ),
        ("drawdown", "portfolio", 0.0, 1.0, "1 - equity / high-water mark (mark-to-market)"),
        ("exposure_elsewhere", "portfolio", 0.0, 1.0, "gross exposure held in other positions / equity"),
        ("daily_loss_used", "portfolio", 0.0, 5.0, "loss since the day's start / daily loss limit"),
        ("breaker_level", "portfolio", 0.0, 1.0, "circuit breaker: 0 active, 0.5 reducing, 1 halted"),
        ("ret_1", "market", -1.0, 1.0, "1-bar log return of close, clipped"),
        ("ret_5", "market", -1.0, 1.0, "5-bar log return of close, clipped"),
        ("ret_20", "market", -1.0, 1.0, "20-bar log return of close, clipped"),
        ("vol_20", "market", 0.0, 5.0, "20-bar realised volatility of log returns, annualised (x sqrt 252)"),
        ("rsi_14", "market", -1.0, 1.0, "Wilder RSI(14) scaled to [-1, 1]: (RSI - 50) / 50"),
        ("close_vs_sma_50", "market", -1.0, 1.0, "close / SMA(50) - 1, clipped"),
    ]
    rows += [(c, "components", -1.0, 1.0, f"{c} component score at the bar's close") for c in COMPONENTS]
    rows += [(f"w_{c}", "tier1", 0.0, 1.0, f"Tier 1 weight of the {c} component") for c in COMPONENTS]
    rows += [(f"p_{r}", "tier2", 0.0, 1.0, f"Tier 2 filtered probability of {r}") for r in REGIMES]
    rows += [
        (
            "dsr_mean",
            "performance",
            -50.0,
            50.0,
            "reward's running mean A of net bar returns, annualised (x252)",
        ),
        ("dsr_dev", "performance", 0.0, 50.0, "running deviation sqrt(B - A^2), annualised (x sqrt 252)"),
        ("win_rate", "performance", 0.0, 1.0, "win rate of the last closed trades (0.5 before any)"),
    ]
    return tuple(Slot(i, n, g, lo, hi, d) for i, (n, g, lo, hi, d) in enumerate(rows))


@dataclass(frozen=True)
class ObservationLayout:
    """The 27 named observation slots, their groups, bounds and the defaults of the tier slots.

    Example:
        >>> from envs.layout import OBS_LAYOUT
        >>> OBS_LAYOUT.size
        27
        >>> OBS_LAYOUT.index("p_crisis")
        22
        >>> OBS_LAYOUT.group_slice("tier1")
        slice(15, 19, None)
    """

    slots: tuple[Slot, ...] = field(default_factory=_slots)

    def __post_init__(self) -> None:
        names = [s.name for s in self.slots]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate slot names in layout: {names}")

    @property
    def size(self) -> int:
        return len(self.slots)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.slots)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.group for s in self.slots))

    @property
    def low(self) -> np.ndarray:
        return np.array([s.low for s in self.slots], dtype=np.float32)

    @property
    def high(self) -> np.ndarray:
        return np.array([s.high for s in self.slots], dtype=np.float32)

    def index(self, name: str) -> int:
        """Index of the slot called ``name``; raises ``KeyError`` naming the valid slots."""
        for s in self.slots:
            if s.name == name:
                return s.index
        raise KeyError(f"unknown observation slot {name!r}; valid slots: {', '.join(self.names)}")

    def group_slice(self, group: str) -> slice:
        """Contiguous slice of the slots of ``group`` (portfolio, market, components, tier1, tier2, performance)."""
        idx = [s.index for s in self.slots if s.group == group]
        if not idx:
            raise KeyError(f"unknown observation group {group!r}; valid groups: {', '.join(self.groups)}")
        return slice(idx[0], idx[-1] + 1)

    def default_tier1(self) -> np.ndarray:
        """Tier 1 slot when Tier 1 is off: uniform weights (0.25 each)."""
        return np.full(len(COMPONENTS), 1.0 / len(COMPONENTS), dtype=np.float32)

    def default_tier2(self) -> np.ndarray:
        """Tier 2 slot when Tier 2 is off: uniform regime probabilities (0.2 each)."""
        return np.full(len(REGIMES), 1.0 / len(REGIMES), dtype=np.float32)

    def as_dict(self, obs: np.ndarray) -> dict[str, float]:
        """Name each value of an observation of shape ``(27,)``."""
        obs = np.asarray(obs)
        if obs.shape != (self.size,):
            raise ValueError(f"observation has shape {obs.shape}; expected ({self.size},)")
        return {s.name: float(obs[s.index]) for s in self.slots}

    def to_json(self) -> list[dict[str, object]]:
        """Plain-JSON description (for the exported bundle)."""
        return [s.__dict__.copy() for s in self.slots]


OBS_LAYOUT = ObservationLayout()
"""The one observation layout of the project."""


class TradeParams(NamedTuple):
    """A decoded action: what the trade will be (a NamedTuple: built on every env step, so cheap to create).

    Attributes:
        size: Requested position size as a fraction of equity, in [0, max_position].
        hold: Maximum holding period in bars (integer, >= 1).
        stop: Stop-loss distance below the entry price, as a fraction (0.01 = 1%).
        target: Take-profit distance above the entry price, as a fraction.
    """

    size: float
    hold: int
    stop: float
    target: float


def _action_values(action: object) -> list[float]:
    """``action`` as a list of 4 Python floats; ``TypeError`` / ``ValueError`` naming the action and the fix."""
    if isinstance(action, np.ndarray):
        if action.shape != (4,):
            raise ValueError(
                f"action has shape {action.shape}; expected (4,): size, hold, stop, target. "
                "Pass one action per step, e.g. np.array([0.5, 0.0, 0.0, 0.0], dtype=np.float32)"
            )
        if action.dtype.kind not in "biuf":
            raise TypeError(f"action has dtype {action.dtype}; expected real numbers, e.g. dtype=np.float32")
        values: list[float] = action.tolist()
        return values if action.dtype.kind == "f" else [float(x) for x in values]
    if not isinstance(action, (list, tuple)):
        raise TypeError(
            f"action={action!r} is a {type(action).__name__}; expected an array of shape (4,) "
            "(size, hold, stop, target), e.g. np.array([0.5, 0.0, 0.0, 0.0], dtype=np.float32)"
        )
    if len(action) != 4:
        raise ValueError(
            f"action={action!r} has {len(action)} values; expected 4 (size, hold, stop, target), "
            "e.g. [0.5, 0.0, 0.0, 0.0]"
        )
    if not all(isinstance(x, Real) for x in action):
        raise TypeError(f"action={action!r} must hold 4 real numbers (size, hold, stop, target)")
    return [float(x) for x in action]


@dataclass(frozen=True)
class ActionMap:
    """Affine map of an action in ``Box(-1, 1, (4,))`` onto size, hold, stop and target (long only).

    Each component ``a_i`` is clipped to [-1, 1] and mapped to ``lo + (a_i + 1) / 2 * (hi - lo)``; hold is rounded
    to the nearest integer bar.

    Args:
        max_position: Upper bound of size (fraction of equity).
        max_hold: Upper bound of hold, in bars.
        stop_range: (low, high) of the stop distance.
        target_range: (low, high) of the target distance.

    Example:
        >>> ActionMap().decode(np.array([1.0, -1.0, -1.0, 1.0]))
        TradeParams(size=0.2, hold=1, stop=0.005, target=0.2)
    """

    max_position: float = 0.20
    max_hold: int = 20
    stop_range: tuple[float, float] = (0.005, 0.10)
    target_range: tuple[float, float] = (0.005, 0.20)

    def __post_init__(self) -> None:
        if not 0.0 < self.max_position <= 1.0:
            raise ValueError(f"max_position={self.max_position!r} must be in (0, 1]; e.g. 0.20 for 20% of equity")
        hold = self.max_hold
        if not (isinstance(hold, Real) and math.isfinite(hold) and int(hold) == hold and hold >= 1):
            raise ValueError(f"max_hold={hold!r} must be an integer >= 1 (bars), e.g. 20")
        for name, (lo, hi) in (("stop_range", self.stop_range), ("target_range", self.target_range)):
            if not 0.0 < lo <= hi < 1.0:
                raise ValueError(f"{name}=({lo!r}, {hi!r}) must satisfy 0 < low <= high < 1, e.g. (0.005, 0.10)")

    def decode(self, action: np.ndarray) -> TradeParams:
        """Map one action of shape ``(4,)`` to :class:`TradeParams` (scalar Python code: called every env step).

        Raises:
            TypeError: ``action`` is not an array or sequence of 4 real numbers (e.g. a scalar or strings).
            ValueError: ``action`` has another shape, or a NaN or infinite value (checked before clipping).
        """
        if type(action) is np.ndarray and action.shape == (4,) and action.dtype.kind == "f":
            values = action.tolist()  # the fast path: a float array from a policy
        else:
            values = _action_values(action)
        x0, x1, x2, x3 = values
        isfinite = math.isfinite
        if not (isfinite(x0) and isfinite(x1) and isfinite(x2) and isfinite(x3)):
            raise ValueError(
                f"action={values!r} has a non-finite value (NaN or inf); actions must be finite numbers (values "
                "outside [-1, 1] are clipped): check the policy's output, e.g. with np.isfinite(action).all()"
            )
        # each value clipped to [-1, 1]
        a0 = -1.0 if x0 < -1.0 else (1.0 if x0 > 1.0 else x0)
        a1 = -1.0 if x1 < -1.0 else (1.0 if x1 > 1.0 else x1)
        a2 = -1.0 if x2 < -1.0 else (1.0 if x2 > 1.0 else x2)
        a3 = -1.0 if x3 < -1.0 else (1.0 if x3 > 1.0 else x3)
        (s_lo, s_hi), (t_lo, t_hi) = self.stop_range, self.target_range
        return TradeParams(
            (a0 + 1.0) * 0.5 * self.max_position,
            round(1.0 + (a1 + 1.0) * 0.5 * (self.max_hold - 1.0)),
            s_lo + (a2 + 1.0) * 0.5 * (s_hi - s_lo),
            t_lo + (a3 + 1.0) * 0.5 * (t_hi - t_lo),
        )

    def encode(self, params: TradeParams) -> np.ndarray:
        """Inverse of :meth:`decode` (up to the rounding of hold): the action that requests ``params``."""

        def inv(x: float, lo: float, hi: float) -> float:
            return 0.0 if hi == lo else float(np.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0))

        return np.array(
            [
                inv(params.size, 0.0, self.max_position),
                inv(float(params.hold), 1.0, float(self.max_hold)),
                inv(params.stop, *self.stop_range),
                inv(params.target, *self.target_range),
            ],
            dtype=np.float32,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "max_position": self.max_position,
            "max_hold": self.max_hold,
            "stop_range": list(self.stop_range),
            "target_range": list(self.target_range),
        }
