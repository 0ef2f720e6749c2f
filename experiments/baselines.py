"""Honest baselines: simple rules that trade through the same env, costs and risk layer as the agent.

Every baseline here is a :class:`~experiments.backtest.Policy`: it reads the observation by slot **name**
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

from envs.data import MarketData
from envs.layout import OBS_LAYOUT, REGIMES, ActionMap, TradeParams
from envs.trading_env import Costs
from experiments.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult, Policy, trades_frame
from experiments.metrics import summarize

_I = OBS_LAYOUT.index
_CLOSE_VS_SMA, _RET_20, _VOL_20 = _I("close_vs_sma_50"), _I("ret_20"), _I("vol_20")
_COMPONENTS = OBS_LAYOUT.group_slice("components")
_WEIGHTS = OBS_LAYOUT.group_slice("tier1")
_REGIMES = OBS_LAYOUT.group_slice("tier2")


class _Rule:
    """Shared plumbing of the rule baselines: the action map, the bracket limits and ``reset``."""

    name = "rule"

    def __init__(self, action_map: ActionMap) -> None:
        if not isinstance(action_map, ActionMap):
            raise TypeError(f"action_map must be an envs.layout.ActionMap (env.action_map), got {type(action_map)}")
        self.action_map = action_map

    @property
    def cap(self) -> float:
        """Largest size the action map can ask for (the risk layer's position cap)."""
        return self.action_map.max_position

    @property
    def widest_stop(self) -> float:
        return self.action_map.stop_range[1]

    @property
    def widest_target(self) -> float:
        return self.action_map.target_range[1]

    def _check_hold(self, hold: int) -> int:
        if int(hold) != hold or not 1 <= hold <= self.action_map.max_hold:
            raise ValueError(f"hold={hold!r} must be an integer in [1, max_hold={self.action_map.max_hold}] bars")
        return int(hold)

    def _check_bracket(self, stop: float, target: float) -> None:
        (s_lo, s_hi), (t_lo, t_hi) = self.action_map.stop_range, self.action_map.target_range
        if not s_lo <= stop <= s_hi:
            raise ValueError(f"stop={stop!r} is outside the action map's stop_range ({s_lo}, {s_hi})")
        if not t_lo <= target <= t_hi:
            raise ValueError(f"target={target!r} is outside the action map's target_range ({t_lo}, {t_hi})")

    def act(self, size: float, hold: int, stop: float, target: float) -> np.ndarray:
        """The action that requests this trade (size 0: stay flat one bar)."""
        return self.action_map.encode(TradeParams(size=float(size), hold=int(hold), stop=stop, target=target))

    def flat(self) -> np.ndarray:
        return self.act(0.0, 1, self.widest_stop, self.widest_target)

    def reset(self, seed: int | None = None) -> None:
        """Rules are stateless: nothing to reset."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BuyAndHold(_Rule):
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


class MovingAverageTrend(_Rule):
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


class VolatilityTargeting(_Rule):
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


class FixedBracket(_Rule):
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


class CompositeScoreRule(_Rule):
    """The Tier 1 + Tier 2 rule without PPO: trade the weighted component score unless the regime is hostile.

    Rule: ``score = sum_i w_i * c_i`` with ``w`` the Tier 1 weights (slots ``w_*``) and ``c`` the component
    scores (slots ``theme .. sentiment``). If ``score > threshold`` and neither ``p_crisis`` nor
    ``p_bear_defensive`` is dominant (strictly larger than every other regime probability), ask for size =
    ``cap * min(1, score / full_score)``, ``hold`` bars (10), stop 3%, target 6%; else stay flat. Meant for the
    env wrapped with Tier 1 and Tier 2 (with them off the weights are uniform and no regime is dominant, so it
    trades the plain average score). Name ``"composite_score"``.

    Args:
        action_map: The env's action map.
        threshold: Smallest score that opens a trade.
        full_score: Score at which the full cap is used.
        hold: Maximum bars per trade.
        stop: Stop distance below the entry fill.
        target: Target distance above the entry fill.
    """

    name = "composite_score"
    hostile: tuple[str, ...] = ("crisis", "bear_defensive")
    """Regimes in which the rule stays flat when they are dominant."""

    def __init__(
        self,
        action_map: ActionMap,
        threshold: float = 0.1,
        full_score: float = 0.5,
        hold: int = 10,
        stop: float = 0.03,
        target: float = 0.06,
    ) -> None:
        super().__init__(action_map)
        if not -1.0 <= threshold < 1.0 or not 0.0 < full_score <= 1.0:
            raise ValueError(f"threshold={threshold!r} must be in [-1, 1) and full_score={full_score!r} in (0, 1]")
        self.threshold, self.full_score = float(threshold), float(full_score)
        self.hold = self._check_hold(hold)
        self._check_bracket(stop, target)
        self.stop, self.target = float(stop), float(target)

    @staticmethod
    def score(obs: np.ndarray) -> float:
        """Weighted component score of an observation, in [-1, 1]."""
        return float(np.dot(obs[_WEIGHTS].astype(np.float64), obs[_COMPONENTS].astype(np.float64)))

    def hostile_regime(self, obs: np.ndarray) -> bool:
        """True when a hostile regime's probability is strictly larger than every other one."""
        p = obs[_REGIMES].astype(np.float64)
        for name in self.hostile:
            i = REGIMES.index(name)
            if p[i] > np.delete(p, i).max():
                return True
        return False

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        s = self.score(obs)
        if s <= self.threshold or self.hostile_regime(obs):
            return self.flat()
        return self.act(self.cap * min(1.0, s / self.full_score), self.hold, self.stop, self.target)


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
        A :class:`~experiments.backtest.BacktestResult` with one trade; its ``returns`` are the
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
