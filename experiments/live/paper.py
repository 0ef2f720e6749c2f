"""``tradebrain paper``: feed bars one by one through a LiveBrain (or a running service) as if live.

The broker is the env: a :class:`~envs.trading_env.TradingEnv` built from the bundle's costs, limits and action map
(with the bundle's Tier 2 detector setting the regime path, so crisis exits follow the env's rule) fills each
decision with the env's own rules. The brain never sees the env's observation: at each decision the
:class:`LiveBrainPolicy` feeds it the bars since the last decision (with the account's mark-to-market equity at
each close), the trade that closed (``learn``), and asks for a decision.
:func:`experiments.evaluation.backtest.run_backtest` drives the loop, so the paper run writes the same files and report
as a backtest.

Example::

    tradebrain paper --bundle runs/quickstart-.../bundle --data sp500 --start 2015-01-01 --out runs/paper
    tradebrain paper --bundle runs/quickstart-.../bundle --data sp500 --url http://127.0.0.1:8000   # via the service
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.data import MarketData, load
from envs.layout import ActionMap
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv
from experiments.evaluation.backtest import BacktestResult, run_backtest
from experiments.live.brain import LiveBrain
from experiments.live.bundle import read_bundle
from experiments.live.state import bar_record

logger = logging.getLogger(__name__)


class Brain(Protocol):
    """What the paper loop talks to: a :class:`~experiments.live.brain.LiveBrain` in process or a service client."""

    def observe_bars(
        self, ticker: str, bars: list[dict[str, Any]], portfolio_state: Mapping[str, Any] | None
    ) -> Any: ...

    def decide_action(self, ticker: str) -> tuple[np.ndarray, dict[str, Any]]: ...

    def learn(self, trade: Mapping[str, Any]) -> Any: ...

    def last_time(self, ticker: str) -> str | None: ...


class InProcess:
    """A :class:`~experiments.live.brain.LiveBrain` behind the :class:`Brain` protocol."""

    def __init__(self, brain: LiveBrain) -> None:
        self.brain = brain

    def observe_bars(self, ticker: str, bars: list[dict[str, Any]], portfolio_state: Mapping[str, Any] | None) -> Any:
        if len(bars) == 1:
            reason = bars[0].pop("_exit_reason", None)
            return self.brain.observe_bar(ticker, bars[0], portfolio_state, exit_reason=reason)
        return self.brain.observe_bars(ticker, bars, portfolio_state)

    def decide_action(self, ticker: str) -> tuple[np.ndarray, dict[str, Any]]:
        d = self.brain.decide(ticker)
        return np.asarray(d.raw_action, dtype=np.float32), {**d.to_json(), "observation": list(d.observation)}

    def learn(self, trade: Mapping[str, Any]) -> Any:
        return self.brain.learn(trade)

    def last_time(self, ticker: str) -> str | None:
        hist = self.brain.tickers.get(ticker)
        return None if hist is None or hist.last_time is None else hist.last_time.isoformat()


class LiveBrainPolicy:
    """A backtest :class:`~experiments.evaluation.backtest.Policy` that asks a live brain, bar by bar, what to do.

    It ignores the env's observation for the decision; it records how far the brain's observation is from it
    (``max_obs_diff``) as a check of the live path against the env stack.

    Args:
        brain: See :class:`Brain`.
        env: The broker env (possibly wrapped); bars and equity marks are read from ``env.unwrapped``.
        ticker: Name the brain knows the asset by.
        batch: Bars per history upload when warming the brain up.
    """

    name = "live_brain"

    def __init__(self, brain: Brain, env: gym.Env, ticker: str, batch: int = 250) -> None:
        self.brain, self.env, self.ticker, self.batch = brain, env, ticker, batch
        self.next_bar: int | None = None
        self.decision_id: str | None = None
        self.max_obs_diff = 0.0
        self.decisions: list[dict[str, Any]] = []

    def reset(self, seed: int | None = None) -> None:
        """Nothing to reset: the brain keeps its state (time only moves forward)."""

    def _warm_up(self, bar: int) -> None:
        """Send the brain the bars before ``bar`` it has not seen yet (the whole past for a new ticker)."""
        base: Any = self.env.unwrapped
        data, last = base.data, self.brain.last_time(self.ticker)
        first = 0 if last is None else int(data.index.searchsorted(np.datetime64(last[:19]), side="right"))
        for lo in range(first, bar, self.batch):
            self.brain.observe_bars(
                self.ticker, [bar_record(data, t) for t in range(lo, min(bar, lo + self.batch))], None
            )

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        base: Any = self.env.unwrapped
        bar = int(base.bar)
        if self.next_bar is None:
            self._warm_up(bar)
            self.next_bar = bar
        trade = info.get("trade")
        for b in range(self.next_bar, bar + 1):
            row = bar_record(base.data, b)
            if trade is not None and b == bar:
                row["_exit_reason"] = trade["exit_reason"]
            self.brain.observe_bars(self.ticker, [row], {"equity": float(base.equity_curve[b])})
        self.next_bar = bar + 1
        if trade is not None:
            self.brain.learn(_trade_json(trade, self.decision_id, self.ticker))
        action, decision = self.brain.decide_action(self.ticker)
        self.decision_id = decision["decision_id"]
        if "observation" in decision:  # in process: check the brain's observation against the env stack's
            diff = float(np.max(np.abs(np.asarray(decision["observation"]) - obs)))
            self.max_obs_diff = max(self.max_obs_diff, diff)
        self.decisions.append(decision)
        return action


def _trade_json(trade: Mapping[str, Any], decision_id: str | None, ticker: str) -> dict[str, Any]:
    """The env's trade record as the brain's learn payload (plain JSON types)."""
    out = {k: trade[k] for k in ("trade_id", "net_return", "pnl", "exit_reason", "entry_time", "exit_time", "regime")}
    out.update(
        decision_id=decision_id,
        ticker=ticker,
        components=dict(trade["components"]),
        regime_probs=dict(trade["regime_probs"]),
    )
    return {k: (float(v) if isinstance(v, (np.floating, float)) and math.isfinite(v) else v) for k, v in out.items()}


def broker_env(spec: Mapping[str, Any], data: MarketData, window: tuple[Any, Any]) -> gym.Env:
    """The env that fills the brain's decisions: the bundle's costs, limits, action map and Tier 2 detector.

    The Tier 1 wrapper (started from the bundle's bandit) only makes the env's observation comparable with the
    brain's; the brain keeps its own bandit.
    """
    e = spec["env"]
    am = spec["action_map"]
    env: gym.Env = TradingEnv(
        data,
        window=window,
        costs=Costs(**e["costs"]),
        limits=RiskLimits(**e["limits"]),
        action_map=ActionMap(am["max_position"], am["max_hold"], tuple(am["stop_range"]), tuple(am["target_range"])),
        reward=RewardConfig(**e["reward"]),
        min_trade=e["min_trade"],
        initial_equity=e["initial_equity"],
        win_rate_window=e.get("win_rate_window", 20),
    )
    t1, t2 = spec.get("tier1") or {}, spec.get("tier2") or {}
    if t2.get("enabled"):
        env = RegimeWrapper(env, RegimeDetector.from_json(t2["detector"]))
    if t1.get("enabled"):
        env = ComponentWeightWrapper(
            env,
            ComponentBandit.from_json(t1["bandit"]),
            reset_each_episode=True,
            learns_from=t1.get("learns_from", "trades"),
            horizon=int(t1.get("horizon", 5)),
        )
    return env


def paper_run(
    bundle: str | Path,
    data: str | Path | MarketData,
    *,
    start: str | None = None,
    end: str | None = None,
    ticker: str | None = None,
    brain: Brain | None = None,
    seed: int = 0,
) -> tuple[BacktestResult, LiveBrainPolicy]:
    """Paper-trade ``data`` from ``start`` (default: the bundle's live start) to ``end`` through a brain.

    Returns:
        The :class:`~experiments.evaluation.backtest.BacktestResult` of the run and the policy (decisions,
        ``max_obs_diff``).
    """
    spec = read_bundle(bundle)
    market = load(data)
    warm = spec.get("warmup") or {}
    start = start or warm.get("start")
    ticker = ticker or market.name
    env = broker_env(spec, market, (start, end))
    brain = brain or InProcess(LiveBrain.from_bundle(bundle))
    policy = LiveBrainPolicy(brain, env, ticker)
    result = run_backtest(env, policy, seed=seed)
    result.name = "paper"
    return result, policy
