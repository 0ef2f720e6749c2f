"""``TradingEnv``: trade-level (semi-Markov) single-asset trading environment, ``tradebrain/TradingBrain-v2``."""

from __future__ import annotations

import difflib
import math
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, SupportsFloat, TypeVar

import gymnasium as gym
import numpy as np
import pandas as pd

from envs.data import DataError, MarketData, load
from envs.features import compute_features
from envs.layout import COMPONENTS, GROWTH_BARS, OBS_LAYOUT, REGIMES, ActionMap, TradeParams
from envs.records import Info, Record
from envs.reward import DifferentialSharpe, RewardConfig, step_penalties
from envs.risk import Breaker, BreakerEvent, RiskLimits, RiskManager, check_number

_CRISIS = REGIMES.index("crisis")
_N_REGIMES = len(REGIMES)
_BREAKER_NAME = {state: state.name for state in Breaker}
"""``Breaker -> name`` (an enum's ``.name`` is a property: this runs every step)."""
_HALTED = Breaker.HALTED
_EVENT_FIELDS = tuple(f.name for f in fields(BreakerEvent))
"""Fields of a breaker event, in order: ``Record(asdict(event))`` without asdict's recursive deep copy (the
fields are ints and strings)."""
_DEFAULT_WEIGHTS = tuple(OBS_LAYOUT.default_tier1().tolist())
_SQRT_252 = math.sqrt(252.0)
_UNIFORM_REGIME = (1.0 / len(REGIMES),) * len(REGIMES)
_RESET_OPTIONS = ("start",)
_I = OBS_LAYOUT.index
_OBS_SIZE = OBS_LAYOUT.size
# _observation() concatenates the groups in this order; fail at import if the layout ever changes it.
if OBS_LAYOUT.groups != ("portfolio", "market", "components", "tier1", "tier2", "performance"):
    raise ImportError(f"TradingEnv._observation assumes another group order than {OBS_LAYOUT.groups}")


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of ``reset``, or ``ValueError`` naming an unknown key and the nearest valid one."""
    for key in options:
        if key not in _RESET_OPTIONS:
            near = difflib.get_close_matches(str(key), _RESET_OPTIONS, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ValueError(
                f"reset(options=...) has unknown key {key!r}; {hint}valid keys: {', '.join(map(repr, _RESET_OPTIONS))}"
            )
    return options


def _first_largest(probs: tuple[float, ...]) -> str:
    """Name of the first largest regime probability, as ``np.argmax`` (the rows are finite: checked when set)."""
    return REGIMES[max(range(_N_REGIMES), key=probs.__getitem__)]


def _probability_vector(values: Any, n: int, what: str, names: tuple[str, ...]) -> tuple[float, ...]:
    """``values`` as a tuple of ``n`` finite non-negative floats summing to 1 (scalar code: called every step)."""
    p = tuple(values.tolist() if isinstance(values, np.ndarray) else values)
    # NaN fails the sum test, +-inf the bounds or the sum
    if len(p) != n or not (min(p) >= 0.0 and max(p) <= 1.0 and abs(sum(p) - 1.0) <= 1e-4):
        raise ValueError(f"{what} {list(p)} must be {n} values in [0, 1] summing to 1 ({', '.join(names)})")
    return tuple(map(float, p))


@dataclass(frozen=True)
class Costs:
    """Trading costs in basis points of traded notional, paid on entry and on exit.

    Attributes:
        commission_bps: Commission per side.
        slippage_bps: Adverse price move per side (buy fills above, sell fills below the reference price).
    """

    commission_bps: float = 1.0
    slippage_bps: float = 2.0

    def __post_init__(self) -> None:
        for name in ("commission_bps", "slippage_bps"):
            value = getattr(self, name)
            default = getattr(Costs, name)
            check_number(f"Costs.{name}", value, example=default)
            if not 0.0 <= value < 1000.0:
                raise ValueError(f"Costs.{name}={value!r} must be in [0, 1000) basis points, e.g. {default!r}")

    @property
    def commission(self) -> float:
        return self.commission_bps * 1e-4

    @property
    def slippage(self) -> float:
        return self.slippage_bps * 1e-4


_Config = TypeVar("_Config", Costs, RiskLimits, ActionMap, RewardConfig)


def _config(name: str, value: object, kind: type[_Config], **defaults: Any) -> _Config:
    """``value``, or ``kind(**defaults)`` when it is None; ``TypeError`` naming the argument for another kind."""
    if value is None:
        return kind(**defaults)
    if not isinstance(value, kind):
        raise TypeError(
            f"{name}={value!r} is a {type(value).__name__}; pass a {kind.__name__} (e.g. {kind.__name__}(**{name}) "
            "for a dict) or None for the defaults"
        )
    return value


def _check_numbers(
    max_position: float, min_trade: float, initial_equity: float, win_rate_window: int, exposure_elsewhere: float
) -> None:
    """Validate the env's numeric arguments: finite, of the right kind, in range (message names value and fix)."""
    check_number("min_trade", min_trade, example=0.01)
    check_number("initial_equity", initial_equity, example=100_000.0)
    check_number("win_rate_window", win_rate_window, integer=True, example=20)
    check_number("exposure_elsewhere", exposure_elsewhere, example=0.0)
    if not 0.0 < min_trade <= max_position:
        raise ValueError(f"min_trade={min_trade!r} must be in (0, max_position={max_position}], e.g. 0.01")
    if initial_equity <= 0:
        raise ValueError(f"initial_equity={initial_equity!r} must be > 0, e.g. 100_000.0")
    if win_rate_window < 1:
        raise ValueError(f"win_rate_window={win_rate_window!r} must be >= 1 (trades), e.g. 20")
    if not 0.0 <= exposure_elsewhere <= 1.0:
        raise ValueError(f"exposure_elsewhere={exposure_elsewhere!r} must be in [0, 1] (fraction of equity), e.g. 0.0")


@dataclass
class Account:
    """Account state between steps (no position is open between steps: trades open and close inside a step)."""

    equity: float
    start_equity: float
    n_trades: int = 0


class TradingEnv(gym.Env):
    """Trade-level trading environment on one asset, long only, with a risk layer no action can override.

    ## Description
    One step is one decision taken at the close of bar ``t``. The action asks for a bracket trade: a size, a
    maximum holding period, a stop and a target. If the size the risk layer approves is below ``min_trade`` the
    book stays flat for one bar. Otherwise the trade enters at the **open of bar t+1** (plus slippage) and is
    simulated bar by bar to its exit: a stop or target touched by the bar's low/high (stop first when both are
    touched in one bar; a gap through a level fills at the open), a time exit at the close of bar ``t + hold``,
    a risk exit (daily loss or drawdown level), a crisis exit, or the end of the window. The next observation is
    at the close of the exit bar. Commission and slippage are paid on both sides and are inside the reward. The
    decision at ``t`` sees data up to the close of ``t`` only.

    Every exit fills at a price its bar traded (in ``[low, high]``; the trade's ``exit_price`` is that price less
    slippage): on the entry bar a stop or risk level at or above the open (a tight stop under high slippage, or
    entry costs that alone cross the daily-loss level) fills at that open.

    Crisis means cash (see :mod:`envs.risk`). The regime at a decision comes from :meth:`set_regime_path` (the
    row of the decision bar; the Tier 2 wrapper sets the path) or :meth:`set_regime`; no trade opens in a
    crisis. With a regime path the env also knows the regime at every bar's close while a trade is open: when
    bar ``j`` closes in crisis with the position still open (and ``j`` is not the trade's last bar), the position
    exits at the **open of bar j+1** (exit reason ``"crisis"``, costs as for any exit) and the next observation
    is at the close of ``j+1``, where the crisis rule again refuses new trades while the crisis lasts. Exit
    reasons: ``stop``, ``gap_stop``, ``target``, ``gap_target``, ``time``, ``daily_loss``, ``drawdown``,
    ``crisis``, ``end_of_data``.

    ## Action space
    ``Box(-1, 1, (4,), float32)`` mapped by :class:`~envs.layout.ActionMap` (affine, clipped):

    | index | name   | mapped to                                   |
    |-------|--------|---------------------------------------------|
    | 0     | size   | [0, max_position] of equity (default 0.20)  |
    | 1     | hold   | [1, max_hold] bars, rounded (default 20)    |
    | 2     | stop   | [0.5%, 10%] below the entry fill            |
    | 3     | target | [0.5%, 20%] above the entry fill            |

    ## Observation space
    ``Box(low, high, (27,), float32)``, slots named in :data:`~envs.layout.OBS_LAYOUT`:

    | index | name                | range     | meaning                                                |
    |-------|---------------------|-----------|--------------------------------------------------------|
    | 0     | equity_log_growth   | [-10, 10] | log(equity / equity 252 bars before or at episode start) |
    | 1     | drawdown            | [0, 1]    | 1 - equity / high-water mark                           |
    | 2     | exposure_elsewhere  | [0, 1]    | exposure held in other positions (constant here)       |
    | 3     | daily_loss_used     | [0, 5]    | loss since the day's start / daily loss limit          |
    | 4     | breaker_level       | [0, 1]    | 0 active, 0.5 reducing, 1 halted                       |
    | 5-7   | ret_1, ret_5, ret_20| [-1, 1]   | log returns of close over 1, 5, 20 bars                |
    | 8     | vol_20              | [0, 5]    | 20-bar realised vol, annualised                        |
    | 9     | rsi_14              | [-1, 1]   | (RSI(14) - 50) / 50                                    |
    | 10    | close_vs_sma_50     | [-1, 1]   | close / SMA(50) - 1                                    |
    | 11-14 | theme ... sentiment | [-1, 1]   | component scores (data's own or :mod:`envs.features`)  |
    | 15-18 | w_theme ... w_sent. | [0, 1]    | Tier 1 weights; 0.25 each unless a Tier 1 wrapper      |
    | 19-23 | p_bull_momentum ... | [0, 1]    | Tier 2 regime probabilities; 0.2 each unless Tier 2    |
    | 24    | dsr_mean            | [-50, 50] | reward's running mean A of bar returns x 252           |
    | 25    | dsr_dev             | [0, 50]   | running deviation sqrt(B - A^2) x sqrt(252)            |
    | 26    | win_rate            | [0, 1]    | win rate of the last ``win_rate_window`` trades        |

    ## Rewards
    Sum over the bars the step spans of the differential Sharpe ratio of net bar returns (Moody and Saffell
    2001) or the scaled log equity growth, minus a drawdown penalty, a clip penalty and an opportunity cost per
    bar the step spans (off by default): see :mod:`envs.reward`.

    ## Starting state
    Flat, equity ``initial_equity``, at the window start, or at a uniformly random bar of the window when
    ``random_start`` (training). ``reset(options={"start": bar})`` forces the start bar (``"start"`` is the only
    option; another key raises). Every reset starts a new account: high-water mark, daily budget, reward
    moments and circuit breaker (ACTIVE) start afresh.
    Within an episode a halt is latched: stepping on after ``terminated`` trades nothing until
    :meth:`reset_breaker`.

    ## Episode end
    Terminated when the risk layer halts (drawdown >= max_drawdown). Truncated at the end of the window (or after
    ``episode_bars`` bars); a trade still open then closes at the last close: exit reason ``"time"`` when its
    holding period ends exactly on that bar, ``"end_of_data"`` when it would have run longer.

    ## Info
    ``bar``, ``time``, ``equity``, ``drawdown``, ``breaker``, ``requested_size``, ``approved_size``,
    ``risk_reasons``; ``trade`` (a closed-trade record) when the step traded; ``breaker_events`` when the breaker
    changed state; ``episode_equity`` (per-bar equity of the episode, from bar ``episode_start``) when the episode
    ends.

    ## Arguments
    data: dataset name, file path, DataFrame or :class:`~envs.data.MarketData` (default ``"sp500"``);
    window: ``(start, stop)`` bars or dates, the bars the env trades (earlier bars serve as look-back); ``stop``
    is exclusive, an integer stop is at most ``len(data)`` and a stop date at most one business day after the
    last bar (else an error);
    costs, limits, action_map, reward: see :class:`Costs`, :class:`~envs.risk.RiskLimits`,
    :class:`~envs.layout.ActionMap`, :class:`~envs.reward.RewardConfig`; min_trade: smallest size traded;
    random_start; episode_bars: episode length cap; initial_equity; win_rate_window;
    exposure_elsewhere: gross exposure held outside this env (counts against max_gross).

    ## Hooks for wrappers
    The tier wrappers use these public members and nothing private: ``data``, ``features``, ``window`` and
    ``bar`` (the bar of the last observation) to read; :meth:`set_weights` (Tier 1: the weights in force, written
    into slots 15-18 of later observations and into the trades' records) and :meth:`set_regime_path` (Tier 2: the
    regime probabilities of every bar, for the crisis rule, slots 19-23 and the trades' records) to write.
    Observations are new arrays and infos new :class:`~envs.records.Info` dicts at every call; a wrapper copies
    the observation before it writes into it and adds its keys to the info in place.

    ## Version history
    * v1: the id under which the behaviour below is registered (2026-12): exits on the entry bar fill inside the
      bar (a level above the open fills at the open); a regime path closes an open trade at the open after a
      crisis close; actions with NaN or inf, windows past the data and unknown ``reset`` options raise instead of
      being clipped or ignored.
    * v0: initial version (entry-bar exits at the level, no crisis exits of open trades, lenient inputs).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium convention)

    def __init__(
        self,
        data: str | MarketData | pd.DataFrame = "sp500",
        *,
        window: tuple[int | str | None, int | str | None] | None = None,
        costs: Costs | None = None,
        limits: RiskLimits | None = None,
        action_map: ActionMap | None = None,
        reward: RewardConfig | None = None,
        min_trade: float = 0.01,
        random_start: bool = False,
        episode_bars: int | None = None,
        initial_equity: float = 100_000.0,
        win_rate_window: int = 20,
        exposure_elsewhere: float = 0.0,
    ) -> None:
        super().__init__()
        self.data = load(data)
        self.costs = _config("costs", costs, Costs)
        self.limits = _config("limits", limits, RiskLimits)
        self.action_map = _config("action_map", action_map, ActionMap, max_position=self.limits.max_position)
        self.reward_config = _config("reward", reward, RewardConfig)
        if self.action_map.max_position > self.limits.max_position:
            raise ValueError(
                f"action_map.max_position={self.action_map.max_position} exceeds limits.max_position="
                f"{self.limits.max_position}; the action map cannot ask for more than the risk layer allows"
            )
        _check_numbers(self.limits.max_position, min_trade, initial_equity, win_rate_window, exposure_elsewhere)
        self.min_trade, self.random_start = float(min_trade), bool(random_start)
        self.initial_equity, self.exposure_elsewhere = float(initial_equity), float(exposure_elsewhere)
        self.features = compute_features(self.data)
        self.window = self._resolve_window(window)
        if episode_bars is not None:
            check_number("episode_bars", episode_bars, integer=True, example=252)
            if episode_bars < 2:
                raise ValueError(f"episode_bars={episode_bars!r} must be >= 2 or None (run to the window's end)")
            episode_bars = int(episode_bars)
        self.episode_bars = episode_bars
        self.win_rate_window = int(win_rate_window)

        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(OBS_LAYOUT.low, OBS_LAYOUT.high, dtype=np.float32)
        # Data as plain Python lists for fast scalar access in step(); features as one float32 block.
        d = self.data
        self._o, self._h, self._l, self._c = (
            d.open.tolist(),
            d.high.tolist(),
            d.low.tolist(),
            d.close.tolist(),
        )
        self._day = d.day.tolist()
        self._dates = [str(x) for x in d.index.date] if len(d) else []
        feat = np.concatenate([self.features.market, self.features.components], axis=1).astype(np.float32)
        self._feat_rows = np.nan_to_num(feat).tolist()
        self._comps = self.features.components.tolist()
        self._slippage, self._commission = self.costs.slippage, self.costs.commission  # per side (Costs is frozen)
        self._exit_cost = 1.0 - (1.0 - self._slippage) * (1.0 - self._commission)
        self.risk = RiskManager(self.limits)
        self.dsr = DifferentialSharpe(self.reward_config)
        self._regime: tuple[float, ...] = _UNIFORM_REGIME
        self._regime_name: str | None = None
        """Name of ``_regime`` (its first largest probability) when it is known (set), else None."""
        self._weights = tuple(OBS_LAYOUT.default_tier1().tolist())
        self.account = Account(self.initial_equity, self.initial_equity)
        self.bar = self._start = self.window[0]
        self._end = self.window[1] - 1
        self._regime_rows: list[tuple[float, ...]] | None = None
        """Regime probabilities at each bar's close (:meth:`set_regime_path`), or None."""
        self._regime_names: list[str] = []
        """Names of the rows of ``_regime_rows`` (their first largest probability)."""
        self._crisis: list[bool] = [False] * len(d)
        """Crisis at each bar's close (the risk layer's rule on ``_regime_rows``); all False without a path."""
        self._wins: deque[float] = deque(maxlen=self.win_rate_window)
        self._n_wins = 0.0
        """``sum(self._wins)``, kept as trades are added (a count of 0/1 values: exact in any order)."""
        self.equity_curve = np.full(len(d), np.nan)
        """Mark-to-market equity at each bar's close of the current episode (NaN outside it)."""

    # ------------------------------------------------------------------ construction helpers
    def _resolve_window(self, window: tuple[int | str | None, int | str | None] | None) -> tuple[int, int]:
        """``window`` as bars ``[start, stop)``: bars or dates, ``None`` for the first usable bar / the data's end.

        An integer stop may be at most ``len(data)``. A stop date is exclusive and may lie at most one business day
        after the last bar's date (data ending 2018-12-31 takes ``"2019-01-01"``); a later one is an error.
        """
        n, first = len(self.data), self.features.first_valid
        if window is None:
            start, stop = first, n
        else:
            if not isinstance(window, (tuple, list)) or len(window) != 2:
                raise TypeError(f"window={window!r} must be a (start, stop) pair of bars, dates or None")
            start, stop = self._window_bar(window[0], first, "start"), self._window_bar(window[1], n, "end")
        if start < first:
            raise DataError(
                f"window starts at bar {start} ({self.data.index[min(start, n - 1)].date()}) but the features need "
                f"{first} bars of history; start at bar {first} ({self.data.index[min(first, n - 1)].date()}) or later"
            )
        if stop - start < 2:
            raise DataError(
                f"{self.data.name}: window [{start}, {stop}) holds {max(stop - start, 0)} bars; an episode needs "
                f"at least 2 (a decision and its fill) after {first} bars of feature look-back: "
                "use longer data or a wider window"
            )
        return start, stop

    def _window_bar(self, x: object, default: int, which: str) -> int:
        """One end of ``window`` as a bar number (see :meth:`_resolve_window`)."""
        n, index = len(self.data), self.data.index
        if x is None:
            return default
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            bar = int(x) if x >= 0 else n + int(x)
            if which == "end" and bar > n:
                raise DataError(
                    f"window end {x} is past the data: {self.data.name} has {n} bars (the last, bar {n - 1}, on "
                    f"{index[-1].date()}); use an end <= {n}, or None to run to the end of the data"
                )
            return bar
        if not isinstance(x, (str, pd.Timestamp, np.datetime64)) and not hasattr(x, "year"):
            raise TypeError(f"window {which} {x!r} is a {type(x).__name__}; pass a bar (int), a date or None")
        if which == "start":
            return self.data.bar_at(x)  # type: ignore[arg-type]
        stamp = pd.Timestamp(x)  # type: ignore[arg-type]
        bar = int(index.searchsorted(stamp))
        latest = index[-1].normalize() + pd.offsets.BDay(1)
        if bar >= n and stamp > latest:
            raise DataError(
                f"window end {x} is past the data: {self.data.name} ends on {index[-1].date()}; use an end date "
                f"on or before {latest.date()} (exclusive), or None to run to the end of the data"
            )
        return bar

    # ------------------------------------------------------------------ tier hooks
    def set_regime(self, probs: np.ndarray | list[float] | tuple[float, ...]) -> None:
        """Regime probabilities at the current bar's close, for the next decision only.

        They drive the crisis rule of that decision (no trade opens in a crisis), are recorded in its trade and
        observed. Without a regime path (:meth:`set_regime_path`) nothing tells the env the regime at the other
        bars, so an open trade is not closed by a crisis; with one, the next step's bar takes its row again.
        """
        p = _probability_vector(probs, len(REGIMES), "regime probabilities", REGIMES)
        self._regime = p
        self._regime_name = _first_largest(p)

    def set_regime_path(self, probs: np.ndarray | None) -> None:
        """Regime probabilities at the close of every bar of the data (called once by the Tier 2 wrapper).

        Row ``t`` must be known at the close of bar ``t`` (filtered, causal). The env then takes the regime of each
        decision from the row of its bar (observed in slots 19-23, recorded in trades) and applies the crisis rule
        (:meth:`~envs.risk.RiskManager.is_crisis`) at every bar's close: no trade opens at a crisis close, and a
        trade open at a crisis close exits at the next bar's open with reason ``"crisis"``.

        Args:
            probs: ``(len(data), 5)`` array, rows in :data:`~envs.layout.REGIMES` order, each finite, in [0, 1] and
                summing to 1; ``None`` removes the path (uniform regime, no crisis exits).

        Raises:
            TypeError: ``probs`` is not a numpy array (or None).
            ValueError: wrong shape, or a row that is not a probability vector (the bar and date are named).
        """
        if probs is None:
            self._regime_rows = None
            self._regime_names = []
            self._crisis = [False] * len(self.data)
            return
        if not isinstance(probs, np.ndarray):
            raise TypeError(f"probs is a {type(probs).__name__}; pass a numpy array of shape (len(data), 5) or None")
        n, k = len(self.data), len(REGIMES)
        if probs.shape != (n, k):
            raise ValueError(
                f"regime path has shape {probs.shape}; expected ({n}, {k}): one row of P({', '.join(REGIMES)}) "
                f"per bar of {self.data.name}"
            )
        p = probs.astype(np.float64, copy=False)
        bad = ~(np.isfinite(p).all(axis=1) & (p >= 0.0).all(axis=1) & (p <= 1.0).all(axis=1))
        bad |= np.abs(p.sum(axis=1) - 1.0) > 1e-4
        if bad.any():
            t = int(np.argmax(bad))
            raise ValueError(
                f"regime path row {t} ({self._dates[t]}) is {p[t].tolist()}; every row must be {k} finite "
                "probabilities in [0, 1] summing to 1 (normalise the rows, fill or drop NaN)"
            )
        rows = [tuple(r) for r in p.tolist()]
        self._regime_rows = rows
        self._regime_names = [_first_largest(r) for r in rows]
        self._crisis = [self.risk.is_crisis(r, _CRISIS) for r in rows]
        self._set_bar_regime()

    def _set_bar_regime(self) -> None:
        """The current bar's regime from the path, if there is one (after every reset and step)."""
        if self._regime_rows is not None:
            self._regime = self._regime_rows[self.bar]
            self._regime_name = self._regime_names[self.bar]

    def set_weights(self, weights: np.ndarray | list[float] | tuple[float, ...]) -> None:
        """Component weights of the current bar (called by the Tier 1 wrapper); recorded in trades and observed."""
        self._weights = _probability_vector(weights, len(COMPONENTS), "weights", COMPONENTS)

    @property
    def regime_probs(self) -> tuple[float, ...]:
        return self._regime

    def reset_breaker(self, reason: str) -> None:
        """Explicitly unlatch a halted circuit breaker (audited in ``risk.events``)."""
        self.risk.reset_breaker(reason, self.bar)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        lo, hi = self.window[0], self.window[1] - 1
        span = self.episode_bars if self.episode_bars is not None else self.action_map.max_hold + 1
        if options and "start" in _check_options(options):
            start = options["start"]
            check_number("options['start']", start, integer=True, example=lo)
            if not lo <= start < hi:
                raise ValueError(f"options['start']={start} must be a bar in [{lo}, {hi}) of the window")
            start = int(start)
        elif self.random_start:
            start = int(self.np_random.integers(lo, max(lo + 1, hi - span + 1)))
        else:
            start = lo
        self.bar = self._start = start
        self._end = hi if self.episode_bars is None else min(hi, start + self.episode_bars)
        self.account = Account(self.initial_equity, self.initial_equity)
        self.equity_curve.fill(np.nan)
        self.equity_curve[start] = self.initial_equity
        self.risk.reset_account(self.initial_equity, self._day[start])
        self.dsr.reset()
        self._wins.clear()
        self._n_wins = 0.0
        self._regime = _UNIFORM_REGIME
        self._regime_name = None
        self._set_bar_regime()
        self._weights = _DEFAULT_WEIGHTS
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.bar >= self._end:
            raise RuntimeError("episode is over (truncated or terminated): call reset() before step()")
        params = self.action_map.decode(action)
        risk, account = self.risk, self.account
        n_events = len(risk.events)
        crisis = risk.is_crisis(self._regime, _CRISIS)
        approval = risk.approve(params.size, crisis=crisis, exposure_elsewhere=self.exposure_elsewhere)
        dd_start, equity0, bar0 = risk.drawdown, account.equity, self.bar
        trade = None
        if approval.size < self.min_trade:
            base = self._flat_bar()
        else:
            base, trade = self._trade(params, approval.size)
        rc = self.reward_config
        if rc.kind == "log_return":
            base = rc.scale * math.log(account.equity / equity0)
        drawdown = risk.drawdown
        bar = self.bar
        dd_pen, clip_pen, bar_pen = step_penalties(
            rc, dd_start, drawdown, approval.clipped, self.limits.max_position, bar - bar0
        )
        reward = base - (dd_pen + clip_pen + bar_pen)
        info = Info(
            bar=bar,
            time=self._dates[bar],
            equity=account.equity,
            drawdown=drawdown,
            breaker=_BREAKER_NAME[risk.state],
            requested_size=params.size,
            approved_size=approval.size,
            risk_reasons=approval.reasons,
            reward_terms=Record(
                base=base, drawdown_penalty=dd_pen, clip_penalty=clip_pen, bar_cost=bar_pen, flat=trade is None
            ),
        )
        if trade is not None:
            info["trade"] = trade
        if len(risk.events) > n_events:
            info["breaker_events"] = tuple(
                Record({name: getattr(e, name) for name in _EVENT_FIELDS}) for e in risk.events[n_events:]
            )
        terminated = risk.state is _HALTED
        truncated = not terminated and bar >= self._end
        if terminated or truncated:
            equity = self.equity_curve[self._start : self.bar + 1].copy()
            equity.flags.writeable = False  # info values are immutable (envs.records.Info)
            info["episode_equity"] = equity
            info["episode_start"] = self._start
        self._set_bar_regime()
        return self._observation(drawdown), float(reward), terminated, truncated, info

    # ------------------------------------------------------------------ simulation
    def _flat_bar(self) -> float:
        bar = self.bar = self.bar + 1
        risk, equity = self.risk, self.account.equity
        risk.new_bar(self._day[bar])
        risk.mark(equity, bar)
        self.equity_curve[bar] = equity
        return self.dsr.update(0.0)

    def _trade(self, params: TradeParams, size: float) -> tuple[float, dict[str, Any]]:
        """Open at the next open, simulate to the exit; returns the summed differential Sharpe and the trade."""
        acc, risk, dsr, curve, c_ = self.account, self.risk, self.dsr, self.equity_curve, self._c
        slip, comm, exit_cost, days = self._slippage, self._commission, self._exit_cost, self._day
        decision, entry_bar = self.bar, self.bar + 1
        equity0 = acc.equity
        entry_price = self._o[entry_bar] * (1.0 + slip)
        notional = size * equity0
        shares = notional / entry_price
        cash = equity0 - notional - notional * comm
        stop_px, target_px = entry_price * (1.0 - params.stop), entry_price * (1.0 + params.target)
        last = min(decision + params.hold, self._end)
        last_reason = "time" if decision + params.hold <= self._end else "end_of_data"
        prev, reward, j, crisis, crisis_exit = equity0, 0.0, entry_bar, self._crisis, False
        open_bar, update, mark, o_, l_, h_ = risk.open_bar, dsr.update, risk.mark, self._o, self._l, self._h
        marks: list[float] = []  # equity at the close of bars entry_bar..j, written into the curve at the exit
        add_mark = marks.append
        while True:
            level, why = open_bar(days[j], cash, shares, exit_cost)
            ex: tuple[float, str] | None
            if crisis_exit:  # the previous bar closed in crisis: out at this open
                ex = (o_[j], "crisis")
            else:
                # The reference price (before slippage) and reason of a stop or target exit on bar j, else a time exit
                # on the last bar. The binding stop is the trade's stop or the risk layer's level, with its reason.
                # Order: a level at or through the open fills at the open, then the stop (first when both are
                # touched), then the target; every fill is a price the bar traded. On the entry bar the position opens
                # at the open, so a level at or above it (a tight stop under high slippage, or a risk level the entry
                # costs alone cross) fills at that open too, with the level's own reason; on later bars that is a gap
                # ("gap_stop", "gap_target").
                if stop_px >= level:
                    level, why = stop_px, "stop"
                o = o_[j]
                if o <= level:
                    ex = (o, "gap_stop" if why == "stop" and j != entry_bar else why)
                elif o >= target_px:
                    ex = (o, "target" if j == entry_bar else "gap_target")
                elif l_[j] <= level:
                    ex = (level, why)
                elif h_[j] >= target_px:
                    ex = (target_px, "target")
                elif j >= last:
                    ex = (c_[j], last_reason)
                else:
                    ex = None
            if ex is None:
                equity = cash + shares * c_[j]
                reward += update(equity / prev - 1.0)
                prev = equity
                add_mark(equity)
                mark(equity, j)
            else:
                equity = cash + shares * ex[0] * (1.0 - exit_cost)
                reward += update(equity / prev - 1.0)
                prev = equity
                add_mark(equity)
                mark(equity, j, exit_reason=ex[1])
                break
            crisis_exit = crisis[j]  # j < last here, so bar j + 1 is in the episode
            j += 1
        curve[entry_bar : j + 1] = marks
        self.bar = j
        acc.equity = equity
        acc.n_trades += 1
        wins = self._wins
        if len(wins) == wins.maxlen:
            self._n_wins -= wins[0]  # the oldest trade leaves the window
        win = 1.0 if equity > equity0 else 0.0
        wins.append(win)
        self._n_wins += win
        trade = self._trade_record(decision, j, ex, size, shares, entry_price, equity0, equity, params)
        return reward, trade

    def _trade_record(
        self,
        decision: int,
        exit_bar: int,
        exit_at: tuple[float, str],
        size: float,
        shares: float,
        entry_price: float,
        eq0: float,
        eq1: float,
        params: TradeParams,
    ) -> dict[str, Any]:
        regime = self._regime
        # zip(strict=False) below: the lengths are fixed (features, and vectors checked by set_weights and
        # set_regime / set_regime_path); a strict zip costs as much again on this per-trade path
        return Record(
            {
                "trade_id": f"{self.data.name}-{decision}-{self.account.n_trades}",
                "decision_bar": decision,
                "entry_bar": decision + 1,
                "exit_bar": exit_bar,
                "entry_time": self._dates[decision + 1],
                "exit_time": self._dates[exit_bar],
                "entry_price": entry_price,
                "exit_price": exit_at[0] * (1.0 - self._slippage),
                "size": size,
                "shares": shares,
                "hold": params.hold,
                "stop": params.stop,
                "target": params.target,
                "pnl": eq1 - eq0,
                "net_return": eq1 / eq0 - 1.0,
                "exit_reason": exit_at[1],
                "components": Record(zip(COMPONENTS, self._comps[decision], strict=False)),
                "weights": Record(zip(COMPONENTS, self._weights, strict=False)),
                "regime": self._regime_name,  # None when no regime was set
                "regime_probs": Record(zip(REGIMES, regime, strict=False)),
            }
        )

    # ------------------------------------------------------------------ observation
    def _observation(self, drawdown: float | None = None) -> np.ndarray:
        """The 27-slot observation of the current bar, in :data:`OBS_LAYOUT` order (groups concatenated).

        The market and component block is precomputed and pre-clipped; the rest is clipped here to its bounds.
        ``drawdown`` is ``risk.drawdown`` when the caller has just read it (the step does), else None.
        """
        risk, acc, wins, dsr = self.risk, self.account, self._wins, self.dsr
        # min(max(x, lo), hi) written out (same results, NaN included): x unless lo > x, then that unless hi < it
        back = self.bar - GROWTH_BARS
        growth = math.log(acc.equity / self.equity_curve[back if back > self._start else self._start])
        growth = -10.0 if -10.0 > growth else growth
        mean = dsr.A * 252.0
        mean = -50.0 if -50.0 > mean else mean
        dev = dsr.deviation * _SQRT_252
        used = risk.daily_loss_used
        values = [
            10.0 if 10.0 < growth else growth,
            risk.drawdown if drawdown is None else drawdown,
            self.exposure_elsewhere,
            5.0 if 5.0 < used else used,
            risk.breaker_level(),
            *self._feat_rows[self.bar],
            *self._weights,
            *self._regime,
            50.0 if 50.0 < mean else mean,
            50.0 if 50.0 < dev else dev,
            self._n_wins / len(wins) if wins else 0.5,
        ]
        return np.fromiter(values, np.float32, _OBS_SIZE)  # as np.array(values, np.float32): the same casts

    def _info(self) -> Info:
        return Info(
            bar=self.bar,
            time=self._dates[self.bar],
            equity=self.account.equity,
            drawdown=self.risk.drawdown,
            breaker=_BREAKER_NAME[self.risk.state],
        )
