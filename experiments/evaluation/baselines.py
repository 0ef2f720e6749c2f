"""Honest baselines: simple rules that trade through the same env, costs and risk layer as the agent.

Every baseline here is a :class:`~experiments.evaluation.backtest.Policy`: it reads the observation by slot **name**
(:data:`~envs.layout.OBS_LAYOUT`) and asks for a bracket trade with
``action_map.encode(TradeParams(size, hold, stop, target))``. The env then fills it at the next open with
slippage and commission, simulates the bracket and applies every risk limit (position cap, daily loss,
drawdown halt, crisis = cash only, breaker scaling), exactly as for the agent. A size of 0 keeps the book flat
for one bar.

The one exception is :func:`buy_and_hold_full`, the market benchmark: fully invested from the first open to
the last close, with the same cost model. By definition it sits outside the risk layer (the 20% position cap
would otherwise turn it into :class:`BuyAndHold`).

Example:
    >>> env = TradingEnv("sp500", window=("2015-01-01", "2019-01-01"))             # doctest: +SKIP
    >>> bench = buy_and_hold_full(env.data, env.window, env.costs)                 # doctest: +SKIP
    >>> results = {n: run_backtest(env, p, benchmark_returns=bench.returns)        # doctest: +SKIP
    ...            for n, p in make_baselines(env.action_map).items()}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from agents.rules import CompositeScoreRule, Rule
from envs.data import MarketData
from envs.layout import COMPONENTS, OBS_LAYOUT, ActionMap
from envs.trading_env import Costs
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult, trades_frame
from experiments.evaluation.policies import Policy
from experiments.evaluation.stats import summarize

_I = OBS_LAYOUT.index
_CLOSE_VS_SMA, _RET_20, _VOL_20 = _I("close_vs_sma_50"), _I("ret_20"), _I("vol_20")
_COMPONENTS = OBS_LAYOUT.group_slice("components")
_WEIGHTS = OBS_LAYOUT.group_slice("tier1")
_REGIMES = OBS_LAYOUT.group_slice("tier2")


class BuyAndHold(Rule):
    """Buy and hold at the position cap, through the risk layer.

    Rule: every step asks for ``size`` (default ``max_position``, the cap), ``hold = max_hold``, the widest stop
    and the widest target. When a trade ends (time exit after ``max_hold`` bars, or a stop/target), the next
    step re-enters at the next open, paying costs again. Name ``"buy_and_hold_cap"``.

    Args:
        action_map: The env's action map (``env.unwrapped.action_map``).
        size: Requested size as a fraction of equity; ``None`` for the cap.
    """

    name = "buy_and_hold_cap"

    def __init__(self, action_map: ActionMap, size: float | None = None) -> None:
        super().__init__(action_map)
        if size is not None and not 0.0 < size <= self.cap:
            raise ValueError(f"size={size!r} must be in (0, max_position={self.cap}]")
        self.size = self.cap if size is None else float(size)

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        return self.act(self.size, self.action_map.max_hold, self.widest_stop, self.widest_target)


class MovingAverageTrend(Rule):
    """Trend following on the 50-bar moving average.

    Rule: long when ``close_vs_sma_50 > 0`` (and, with ``require_momentum``, ``ret_20 > 0``) with size = cap,
    ``hold`` bars, the widest stop and target; else flat for one bar. Name ``"ma_trend"``.

    Args:
        action_map: The env's action map.
        hold: Bars per trade before the rule looks again.
        require_momentum: Also require a positive 20-bar return.
    """

    name = "ma_trend"

    def __init__(self, action_map: ActionMap, hold: int = 10, require_momentum: bool = False) -> None:
        super().__init__(action_map)
        self.hold = self._check_hold(hold)
        self.require_momentum = bool(require_momentum)

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        up = obs[_CLOSE_VS_SMA] > 0.0 and (not self.require_momentum or obs[_RET_20] > 0.0)
        if not up:
            return self.flat()
        return self.act(self.cap, self.hold, self.widest_stop, self.widest_target)


class VolatilityTargeting(Rule):
    """Always long, sized to a target volatility.

    Rule: size = ``cap * min(1, target_vol / vol_20)`` (``vol_20``: 20-bar realised vol, annualised; the cap
    when it is 0), ``hold`` bars, the widest stop and target. Name ``"vol_target"``.

    Args:
        action_map: The env's action map.
        target_vol: Annualised volatility of the asset at which the full cap is used.
        hold: Bars per trade.
    """

    name = "vol_target"

    def __init__(self, action_map: ActionMap, target_vol: float = 0.10, hold: int = 5) -> None:
        super().__init__(action_map)
        if not 0.0 < target_vol < 5.0:
            raise ValueError(f"target_vol={target_vol!r} must be an annualised volatility in (0, 5), e.g. 0.10")
        self.target_vol = float(target_vol)
        self.hold = self._check_hold(hold)

    def size(self, vol_20: float) -> float:
        """Requested size for an annualised volatility ``vol_20``."""
        return self.cap if vol_20 <= 0.0 else self.cap * min(1.0, self.target_vol / float(vol_20))

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        return self.act(self.size(float(obs[_VOL_20])), self.hold, self.widest_stop, self.widest_target)


class FixedBracket(Rule):
    """The same bracket trade at every step.

    Rule: size = cap, ``hold`` bars (default 10), stop 2%, target 4%, at every decision. Name
    ``"fixed_bracket"``.

    Args:
        action_map: The env's action map.
        hold: Maximum bars per trade.
        stop: Stop distance below the entry fill (inside the action map's stop range).
        target: Target distance above the entry fill (inside the target range).
    """

    name = "fixed_bracket"

    def __init__(self, action_map: ActionMap, hold: int = 10, stop: float = 0.02, target: float = 0.04) -> None:
        super().__init__(action_map)
        self.hold = self._check_hold(hold)
        self._check_bracket(stop, target)
        self.stop, self.target = float(stop), float(target)

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        return self.act(self.cap, self.hold, self.stop, self.target)


class RandomPolicy:
    """Uniform random actions in ``[-1, 1]^4`` from a seeded ``numpy.random.Generator``.

    Rule: each action component is drawn uniformly, so the size is uniform on [0, cap] (about 5% of draws fall
    below a 1% ``min_trade`` and stay flat), hold, stop and target uniform on their ranges. ``reset(seed)``
    reseeds from ``(constructor seed, seed)`` (``None``: the constructor's seed alone), so a backtest is
    reproducible and two constructor seeds give two different runs under the same backtest seed. Name
    ``"random"``.

    Args:
        seed: Seed of the generator.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else [self.seed, int(seed)])

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, size=4).astype(np.float32)

    def __repr__(self) -> str:
        return f"RandomPolicy(seed={self.seed})"


class SignalRule(Rule):
    """One component's sign, traded at the cap: long when its score is above ``threshold``, else flat.

    Rule: if the ``component`` score (slot of that name) is above ``threshold``, ask for size = cap, ``hold``
    bars (default 5), the widest stop and target; else stay flat for one bar. On the planted-edge market
    (``synthetic:planted_edge``, a 0.65 hit rate of ``technical`` on the 5-bar forward return) this is the rule the
    edge was planted for: the yardstick a learning agent is measured against. Name ``"signal_<component>"``.

    Args:
        action_map: The env's action map.
        component: One of :data:`~envs.layout.COMPONENTS`.
        hold: Bars per trade.
        threshold: Smallest score that opens a trade.
    """

    def __init__(self, action_map: ActionMap, component: str = "technical", hold: int = 5, threshold: float = 0.0):
        super().__init__(action_map)
        if component not in COMPONENTS:
            raise ValueError(f"component={component!r} is not one of {list(COMPONENTS)}")
        self.component, self.hold, self.threshold = component, self._check_hold(hold), float(threshold)
        self._slot = _I(component)
        self.name = f"signal_{component}"

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        if float(obs[self._slot]) <= self.threshold:
            return self.flat()
        return self.act(self.cap, self.hold, self.widest_stop, self.widest_target)


def make_baselines(action_map: ActionMap, seed: int = 0) -> dict[str, Policy]:
    """The env-driven baselines by name (buy-and-hold at the cap, MA trend, vol targeting, fixed bracket, random,
    composite score). :func:`buy_and_hold_full` is not a policy: compute it separately."""
    policies: list[Policy] = [
        BuyAndHold(action_map),
        MovingAverageTrend(action_map),
        VolatilityTargeting(action_map),
        FixedBracket(action_map),
        RandomPolicy(seed),
        CompositeScoreRule(action_map),
    ]
    return {p.name: p for p in policies}


def _full_curve(data: MarketData, start: int, stop: int, costs: Costs, equity0: float) -> tuple[np.ndarray, dict]:
    """Equity of a fully invested long from the open of ``start + 1`` to the close of ``stop - 1``, and its trade."""
    slip, comm = costs.slippage, costs.commission
    entry_price = float(data.open[start + 1]) * (1.0 + slip)
    shares = equity0 / (entry_price * (1.0 + comm))  # all cash spent on the shares and the entry commission
    curve = np.empty(stop - start)
    curve[0] = equity0
    curve[1:] = shares * np.asarray(data.close[start + 1 : stop], dtype=np.float64)
    exit_price = float(data.close[stop - 1]) * (1.0 - slip)
    curve[-1] = shares * exit_price * (1.0 - comm)
    idx = data.index
    trade = {
        "trade_id": f"{data.name}-{start}-buy_and_hold_full",
        "decision_bar": start,
        "entry_bar": start + 1,
        "exit_bar": stop - 1,
        "entry_time": str(idx[start + 1].date()),
        "exit_time": str(idx[stop - 1].date()),
        "entry_price": entry_price,
        "exit_price": exit_price,
        "size": 1.0,
        "shares": shares,
        "hold": stop - 1 - start,
        "pnl": curve[-1] - equity0,
        "net_return": curve[-1] / equity0 - 1.0,
        "exit_reason": "end_of_data",
    }
    return curve, trade


def buy_and_hold_full(
    data: MarketData,
    window: tuple[int, int],
    costs: Costs,
    *,
    initial_equity: float = 100_000.0,
    n_trials: int = 1,
    seed: int = 0,
    n_boot: int = 1000,
) -> BacktestResult:
    """The market benchmark: 100% long over the window, same bars and cost model as the env, no risk layer.

    Rule (the env's timing and costs): flat at the window's first close (the first decision), buy at the open
    of the next bar at ``open * (1 + slippage)`` spending all equity on shares plus the entry commission, mark
    at every close, sell at the last close of the window at ``close * (1 - slippage)`` less commission. The
    risk layer does not apply: by definition this is the market, not a strategy (see :class:`BuyAndHold` for
    buy-and-hold inside the risk layer). Name ``"buy_and_hold_full"``.

    Args:
        data: The env's data (``env.unwrapped.data``).
        window: ``(start, stop)`` bar numbers, ``stop`` exclusive (``env.unwrapped.window``).
        costs: The env's costs (``env.unwrapped.costs``).
        initial_equity: Equity at the window start.
        n_trials: Configurations tried, for the deflated Sharpe ratio.
        seed: Bootstrap seed of the metrics.
        n_boot: Bootstrap samples of the confidence intervals.

    Returns:
        A :class:`~experiments.evaluation.backtest.BacktestResult` with one trade; its ``returns`` are the
        ``benchmark_returns`` of the other runs. Weights and regimes are empty.
    """
    start, stop = int(window[0]), int(window[1])
    if not (0 <= start and start + 2 <= stop <= len(data)):
        raise ValueError(
            f"window={window!r} must be bars (start, stop) with 0 <= start, start + 2 <= stop <= {len(data)}"
        )
    if initial_equity <= 0:
        raise ValueError(f"initial_equity={initial_equity!r} must be > 0")
    curve, trade = _full_curve(data, start, stop, costs, float(initial_equity))
    index = data.index[start:stop]
    equity = pd.Series(curve, index=index, name="equity")
    trades = trades_frame([trade], offset=start)
    empty = pd.DataFrame({"date": pd.DatetimeIndex([])})
    return BacktestResult(
        name="buy_and_hold_full",
        equity=equity,
        trades=trades,
        weights=empty.reindex(columns=["date", *WEIGHT_COLUMNS]),
        regimes=empty.reindex(columns=["date", *REGIME_COLUMNS]),
        breaker_events=[],
        halted=False,
        metrics=summarize(curve, trades, n_trials=n_trials, seed=seed, n_boot=n_boot),
        price=pd.Series(np.asarray(data.close[start:stop]), index=index, name="close"),
        run_info={
            "data": data.name,
            "window_bars": [start, stop],
            "window_dates": [str(index[0].date()), str(index[-1].date())],
            "n_bars": stop - start,
            "costs": asdict(costs),
            "limits": None,
            "initial_equity": float(initial_equity),
            "seed": int(seed),
            "halt_time": None,
        },
    )
