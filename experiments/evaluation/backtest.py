"""Backtest runner: one policy, one evaluation env, one deterministic pass over the test window.

A backtest drives a (possibly wrapped) :class:`~envs.trading_env.TradingEnv` in evaluation mode
(``random_start=False``, ``episode_bars=None``) from the window start to the window end. Every fill, cost and
risk limit is the env's own: the runner never re-implements a rule, it only reads the env's per-bar equity
curve, the closed trades of ``info["trade"]`` and the risk layer's breaker events, and hands them to
:func:`experiments.evaluation.stats.summarize`.

If the risk layer halts the account (``terminated``), the rest of the window is cash: the equity stays at its
value at the halt bar. The halt is recorded in :attr:`BacktestResult.halted` and ``run_info["halt_time"]``.

Example:
    >>> from envs.trading_env import TradingEnv
    >>> from experiments.evaluation.baselines import BuyAndHold
    >>> env = TradingEnv("sp500", window=("2015-01-01", "2019-01-01"))            # doctest: +SKIP
    >>> result = run_backtest(env, BuyAndHold(env.action_map), seed=0)            # doctest: +SKIP
    >>> result.metrics["sharpe_annual"], len(result.equity) == env.window[1] - env.window[0]  # doctest: +SKIP
    >>> result.to_files("runs/demo/buy_and_hold_cap")                             # doctest: +SKIP
    >>> BacktestResult.from_files("runs/demo/buy_and_hold_cap").metrics == result.metrics  # doctest: +SKIP

``metrics.json`` is strict JSON: a non-finite float (a profit factor of ``inf`` when no trade lost, an undefined
``nan``) is written as one of the strings of :data:`NON_FINITE` (``"inf"``, ``"-inf"``, ``"nan"``) and decoded on
read; finite floats are written with ``repr`` and so read back bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES
from envs.menu import MenuActionWrapper
from experiments.evaluation.metrics import bar_returns
from experiments.evaluation.policies import Policy
from experiments.evaluation.stats import summarize

_T1, _T2 = OBS_LAYOUT.group_slice("tier1"), OBS_LAYOUT.group_slice("tier2")


WEIGHT_COLUMNS: tuple[str, ...] = OBS_LAYOUT.names[_T1]
"""Columns of :attr:`BacktestResult.weights` after ``date``: ``w_theme .. w_sentiment`` (slots 15-18)."""


REGIME_COLUMNS: tuple[str, ...] = OBS_LAYOUT.names[_T2]
"""Columns of :attr:`BacktestResult.regimes` after ``date``: ``p_bull_momentum .. p_theme_driven`` (slots 19-23)."""


NON_FINITE: dict[str, float] = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
"""How ``metrics.json`` writes a non-finite float (strict JSON has none): as one of these strings."""


_FLATTEN = {"components": "comp_", "weights": "w_", "regime_probs": "p_"}


_BAR_COLUMNS = ("decision_bar", "entry_bar", "exit_bar")


_TRADE_COLUMNS = (
    "trade_id", *_BAR_COLUMNS, "entry_time", "exit_time", "entry_price", "exit_price", "size", "shares",
    "hold", "stop", "target", "pnl", "net_return", "exit_reason", "regime",
    *(f"comp_{c}" for c in COMPONENTS), *(f"w_{c}" for c in COMPONENTS), *(f"p_{r}" for r in REGIMES),
)  # fmt: skip


@dataclass
class BacktestResult:
    """Everything one backtest produced.

    Attributes:
        name: Policy name.
        equity: Mark-to-market equity at each bar's close, DatetimeIndex over the window, shape ``(n,)``;
            starts at the initial equity on the window's first bar, flat after a halt.
        trades: One row per closed trade (columns of the env's trade record; the ``components``, ``weights``
            and ``regime_probs`` dicts flattened into ``comp_*``, ``w_*`` and ``p_*`` columns). The bar columns
            ``decision_bar``, ``entry_bar``, ``exit_bar`` count from the window start, i.e. they are positions
            in ``equity`` (add ``run_info["window_bars"][0]`` for the data's bar number).
        weights: Per decision step: ``date`` plus the Tier 1 weights ``w_*`` read from observation slots 15-18.
        regimes: Per decision step: ``date`` plus the regime probabilities ``p_*`` from slots 19-23.
        breaker_events: The risk layer's state changes (``bar``, ``time``, ``old``, ``new``, ``reason``).
        halted: Whether the risk layer halted the account before the window's end.
        metrics: :func:`experiments.evaluation.stats.summarize` of ``equity`` and ``trades``.
        price: Close over the window (for plots), same index as ``equity``.
        run_info: Data name, window bars and dates, costs, limits, initial equity, seed, halt time.
    """

    name: str
    equity: pd.Series
    trades: pd.DataFrame
    weights: pd.DataFrame
    regimes: pd.DataFrame
    breaker_events: list[dict[str, Any]]
    halted: bool
    metrics: dict[str, float]
    price: pd.Series | None = None
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def returns(self) -> np.ndarray:
        """Simple per-bar returns of ``equity``, shape ``(n - 1,)`` (the ``benchmark_returns`` of other runs)."""
        return bar_returns(self.equity.to_numpy())

    def to_files(self, directory: str | Path) -> Path:
        """Write ``equity.csv`` (date, equity, close), ``trades.csv``, ``weights.csv``, ``regimes.csv`` and
        ``metrics.json``.

        ``metrics.json`` holds ``name``, ``halted``, ``run_info``, ``breaker_events`` and ``metrics``, with
        non-finite floats written as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (strict JSON; see
        :func:`encode_json`). :meth:`from_files` reads it all back.

        Returns:
            The directory.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        curve = self.equity.rename("equity").to_frame()
        if self.price is not None:
            curve["close"] = self.price
        curve.rename_axis("date").to_csv(out / "equity.csv")
        self.trades.to_csv(out / "trades.csv", index=False)
        self.weights.to_csv(out / "weights.csv", index=False)
        self.regimes.to_csv(out / "regimes.csv", index=False)
        payload = {
            "name": self.name,
            "halted": self.halted,
            "run_info": self.run_info,
            "breaker_events": self.breaker_events,
            "metrics": self.metrics,
        }
        (out / "metrics.json").write_text(json.dumps(encode_json(payload), indent=2, allow_nan=False) + "\n")
        return out

    @classmethod
    def from_files(cls, directory: str | Path) -> BacktestResult:
        """Read back what :meth:`to_files` wrote; metrics equal the written ones (``nan`` where ``nan``).

        Raises:
            FileNotFoundError: ``directory`` has no ``metrics.json`` or ``equity.csv``.
        """
        folder = Path(directory)
        for name in ("metrics.json", "equity.csv"):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder} has no {name}; write it with BacktestResult.to_files")
        meta = json.loads((folder / "metrics.json").read_text())
        curve = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)

        def frame(name: str) -> pd.DataFrame:
            path = folder / name
            return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()

        run_info = {k: decode_json(v) if isinstance(v, Mapping) else v for k, v in meta.get("run_info", {}).items()}
        return cls(
            name=meta["name"],
            equity=curve["equity"],
            trades=frame("trades.csv"),
            weights=frame("weights.csv"),
            regimes=frame("regimes.csv"),
            breaker_events=meta.get("breaker_events", []),
            halted=bool(meta.get("halted", False)),
            metrics=decode_metrics(meta["metrics"]),
            price=curve["close"] if "close" in curve.columns else None,
            run_info=run_info,
        )


def encode_json(x: Any) -> Any:
    """``x`` with numpy scalars made plain and non-finite floats written as the strings of :data:`NON_FINITE`."""
    if isinstance(x, Mapping):
        return {str(k): encode_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [encode_json(v) for v in x]
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else "inf" if v > 0 else "-inf")
    if isinstance(x, np.integer):
        return int(x)
    return x


def decode_json(x: Any) -> Any:
    """Inverse of :func:`encode_json` inside a mapping or list: the strings of :data:`NON_FINITE` become floats."""
    if isinstance(x, Mapping):
        return {k: decode_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode_json(v) for v in x]
    return NON_FINITE.get(x, x) if isinstance(x, str) else x


def decode_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """A ``metrics`` mapping read from JSON as floats; ``null`` (files written before the strings) is ``nan``."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, str) and value not in NON_FINITE:
            raise ValueError(
                f"metric {key!r} = {value!r} is not a number; expected a number or one of {list(NON_FINITE)}"
            )
        out[key] = math.nan if value is None else float(NON_FINITE.get(value, value))
    return out


def trades_frame(trades: Sequence[Mapping[str, Any]], offset: int = 0) -> pd.DataFrame:
    """The env's trade records as a DataFrame, dict fields flattened, bar columns shifted by ``-offset``.

    Args:
        trades: Records of ``info["trade"]``.
        offset: Bar number of the window start (bar columns become positions in the window's equity curve).

    Returns:
        One row per trade; the columns of :data:`_TRADE_COLUMNS` first (present even with no trade).
    """
    rows = []
    for t in trades:
        row = {k: v for k, v in t.items() if k not in _FLATTEN}
        for key, prefix in _FLATTEN.items():
            row.update({f"{prefix}{k}": v for k, v in (t.get(key) or {}).items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in _TRADE_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series(dtype=object if col in ("trade_id", "exit_reason", "regime") else float)
    extra = [c for c in frame.columns if c not in _TRADE_COLUMNS]
    frame = frame[[*_TRADE_COLUMNS, *extra]]
    for col in _BAR_COLUMNS:
        frame[col] = frame[col].astype(np.int64) - int(offset)
    return frame


def _check_env(env: gym.Env) -> Any:
    base: Any = env.unwrapped
    for attr in ("equity_curve", "window", "data", "risk", "random_start"):
        if not hasattr(base, attr):
            raise TypeError(f"env.unwrapped ({type(base).__name__}) has no {attr!r}; run_backtest needs a TradingEnv")
    if base.random_start:
        raise ValueError("env has random_start=True (training mode); build the backtest env with random_start=False")
    if getattr(base, "episode_bars", None) is not None:
        raise ValueError(
            f"env has episode_bars={base.episode_bars}; a backtest runs the whole window: "
            "build its env with episode_bars=None"
        )
    return base


@dataclass
class _Log:
    trades: list[dict[str, Any]] = field(default_factory=list)
    dates: list[pd.Timestamp] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)
    regimes: list[np.ndarray] = field(default_factory=list)

    def decision(self, date: pd.Timestamp, obs: np.ndarray) -> None:
        self.dates.append(date)
        self.weights.append(np.asarray(obs[_T1], dtype=np.float64))
        self.regimes.append(np.asarray(obs[_T2], dtype=np.float64))

    def frame(self, values: list[np.ndarray], columns: Sequence[str]) -> pd.DataFrame:
        body = np.vstack(values) if values else np.empty((0, len(columns)))
        frame = pd.DataFrame(body, columns=list(columns))
        frame.insert(0, "date", pd.DatetimeIndex(self.dates))
        return frame


def _drive(env: gym.Env, base: Any, policy: Policy, seed: int, progress: bool) -> tuple[_Log, bool]:
    """Step ``env`` with ``policy`` until the episode ends; returns the log and whether it terminated (halt)."""
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset(seed)
    # A stack with the bracket menu takes both: a menu item (a trained categorical policy) or a Box action (a rule).
    table, inner = (env.table, env.env) if isinstance(env, MenuActionWrapper) else (None, env)
    obs, info = env.reset(seed=seed)
    start, last = int(base.window[0]), int(base.window[1]) - 1
    if int(base.bar) != start:
        raise RuntimeError(f"env reset to bar {base.bar}, not the window start {start}; use random_start=False")
    bar = _progress_bar(last - start, progress)
    log, index, terminated, truncated = _Log(), base.data.index, False, False
    try:
        while not (terminated or truncated):
            before = int(base.bar)
            log.decision(index[before], obs)
            action = policy(obs, info)
            if table is not None and np.ndim(action) == 0:  # an item of the bracket menu
                action = table[int(action)]
            obs, _, terminated, truncated, info = inner.step(action)
            if "trade" in info:
                log.trades.append(info["trade"])
            bar.update(int(base.bar) - before)
    finally:
        bar.close()
    if not terminated and int(base.bar) < last:
        raise RuntimeError(
            f"the episode was truncated at bar {base.bar} ({index[base.bar].date()}) before the window's last bar "
            f"{last}; remove any TimeLimit wrapper (gym.make(..., max_episode_steps=None))"
        )
    return log, bool(terminated)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    enabled = enabled and show_progress()
    return tqdm(total=total, desc="backtest", unit="bar", disable=not enabled)


def _equity(base: Any) -> pd.Series:
    """The env's equity curve over the window, forward-filled after the last bar reached (a halt)."""
    start, stop = int(base.window[0]), int(base.window[1])
    curve = np.asarray(base.equity_curve[start:stop], dtype=np.float64)
    reached = int(base.bar) - start + 1
    if np.isnan(curve[:reached]).any():
        gap = start + int(np.flatnonzero(np.isnan(curve[:reached]))[0])
        raise RuntimeError(f"the env left no equity at bar {gap} ({base.data.index[gap].date()}); this is a bug")
    curve[reached:] = curve[reached - 1]
    return pd.Series(curve, index=base.data.index[start:stop], name="equity")


def _run_info(base: Any, seed: int, halt_bar: int | None) -> dict[str, Any]:
    start, stop = int(base.window[0]), int(base.window[1])
    idx = base.data.index
    return {
        "data": base.data.name,
        "window_bars": [start, stop],
        "window_dates": [str(idx[start].date()), str(idx[stop - 1].date())],
        "n_bars": stop - start,
        "costs": asdict(base.costs),
        "limits": base.limits.to_json(),
        "initial_equity": float(base.initial_equity),
        "seed": int(seed),
        "halt_time": None if halt_bar is None else str(idx[halt_bar].date()),
    }


def run_backtest(
    env: gym.Env,
    policy: Policy,
    *,
    seed: int = 0,
    progress: bool = False,
    benchmark_returns: ArrayLike | None = None,
    n_trials: int = 1,
    n_boot: int = 1000,
) -> BacktestResult:
    """Run ``policy`` through ``env`` once, from the window start to its end, deterministically.

    Wrappers (Tier 1, Tier 2) stay in place: the policy sees the wrapped observation. A Tier 1 wrapper that
    learns keeps learning during the run (as the live brain would), so build a fresh stack per backtest when
    runs must be comparable.

    Args:
        env: A :class:`~envs.trading_env.TradingEnv`, possibly wrapped, with ``random_start=False`` and
            ``episode_bars=None``.
        policy: See :class:`Policy`.
        seed: Seed of ``env.reset`` and ``policy.reset``; also the bootstrap seed of the metrics.
        progress: Show a tqdm bar over bars (only on an interactive terminal and never when ``CI`` is set).
        benchmark_returns: Per-bar returns of a benchmark on the same window, shape ``(n - 1,)`` (e.g.
            ``buy_and_hold_full(...).returns``), for the paired Sharpe difference.
        n_trials: Configurations tried to find this policy, for the deflated Sharpe ratio.
        n_boot: Bootstrap samples of the confidence intervals.

    Returns:
        A :class:`BacktestResult`; ``equity`` has one value per bar of the window.

    Raises:
        TypeError: ``env.unwrapped`` is not a TradingEnv-like env.
        ValueError: The env is in training mode (random starts or capped episodes).
    """
    base = _check_env(env)
    log, halted = _drive(env, base, policy, seed, progress)
    equity = _equity(base)
    offset = int(base.window[0])
    trades = trades_frame(log.trades, offset)
    idx = base.data.index
    events = [
        {**asdict(e), "time": str(idx[e.bar].date()) if 0 <= e.bar < len(idx) else None} for e in base.risk.events
    ]
    metrics = summarize(
        equity.to_numpy(), trades, benchmark_returns=benchmark_returns, n_trials=n_trials, seed=seed, n_boot=n_boot
    )
    start, stop = base.window
    return BacktestResult(
        name=str(getattr(policy, "name", type(policy).__name__)),
        equity=equity,
        trades=trades,
        weights=log.frame(log.weights, WEIGHT_COLUMNS),
        regimes=log.frame(log.regimes, REGIME_COLUMNS),
        breaker_events=events,
        halted=halted,
        metrics=metrics,
        price=pd.Series(np.asarray(base.data.close[start:stop]), index=idx[start:stop], name="close"),
        run_info=_run_info(base, seed, int(base.bar) if halted else None),
    )


def show_progress() -> bool:
    """Progress bars only on an interactive terminal and never under CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")
