"""Regime tasks for Tier 4: synthetic single-regime markets, their oracle, and K-trade batches.

**A task** is one market regime to adapt to. Meta-training (:mod:`meta.maml`) only needs two things of it: a
``name`` and ``collect(params, k, seed) -> TradeBatch`` (the :class:`Task` protocol). Two kinds:

* :class:`RegimeTask` (here): a synthetic market of :mod:`envs.synthetic` with **one** regime (a
  :class:`RegimeParams`: daily drift and volatility, tail weight ``1 / student_df`` and the hit rate of each
  component signal), generated from a seed and traded in the project's env stack (:func:`agents.stack.make_env`:
  the :class:`~envs.trading_env.TradingEnv`, plus the Tier 2 and Tier 1 wrappers when the task's
  :class:`~agents.stack.StackConfig` turns them on). Its best bracket is computable: :func:`oracle`.
* :class:`~meta.segments.SegmentTask` (real data, :mod:`meta.segments`): a run of bars of a training window that
  its Tier 2 detector labels with one regime.

**One trade = one env step = one decision.** The env is trade-level (semi-Markov): a step at the close of bar ``t``
either opens a bracket trade that the env runs to its exit (the next observation is at the exit bar), or, when the
approved size is below ``min_trade``, stays flat for one bar. "K trades" are K consecutive decisions of the
policy in the task's training env (random start bar, ``episode_bars`` cap), flat steps included (a flat step is a
decision with a zero return; :attr:`TradeBatch.n_trades` counts the ones that traded). An episode that ends
before K decisions is followed by a reset (a new random start, a fresh account) and the count goes on. Each
decision records the observation, the action as sampled from the Gaussian policy (before the env clips it: the
log-probability is of that sample, as in SB3), the env's reward and the step's net return ``equity_after /
equity_before - 1``. The inner loop treats the K decisions as K samples of a contextual bandit (see
:mod:`meta.maml`).

**Reward.** The reward is the env's own. The default stack of the synthetic tasks (:data:`TASK_STACK`) uses
``RewardConfig(kind="log_return")`` (100 x the step's log growth net of costs, minus the drawdown and clip
penalties) rather than the differential Sharpe ratio: the DSR is 0 during its ``warmup_bars`` and depends on the
episode's running moments, so with K <= 30 decisions it would pay most of them nothing; a log-return step is paid
the same whatever came before it (but for the drawdown penalty, which depends on the high-water mark), which is
what a K-sample policy gradient assumes. Pass another ``stack`` to
change it; tiers are off by default (single-regime markets, and fast), and on when the stack says so.

**Held out.** :class:`TaskDistribution` samples :class:`RegimeParams` uniformly from :class:`TaskRanges`, and
keeps bands of parameter values (:class:`Band`, e.g. ``vol in [0.025, 0.03]``) out of meta-training entirely:
``sample(n, seed, split="train")`` rejects every draw that falls in a band, ``split="held_out"`` draws the banded
parameter inside one band (the others from their full ranges). A band may also lie outside a range (extrapolation).

**Oracle.** :func:`oracle` runs every action of a grid of *constant* actions (size, hold, stop, target; default
:func:`oracle_grid`: flat, plus sizes 50% and 100% of ``max_position`` times three levels of each other parameter)
through the task's evaluation env (the whole window from its start, no random start) and keeps the action of the
highest mean net return per decision. It is the best *constant* bracket for that market: a policy that reads the
component signals can beat it when they have an edge. Results are cached per (task, grid).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from agents.config import StackConfig, TierConfig
from agents.stack import Split, make_env
from agents.tier2 import RegimeDetector
from envs.data import MarketData
from envs.features import LOOKBACK
from envs.layout import COMPONENTS, TradeParams
from envs.reward import RewardConfig
from envs.synthetic import RegimeSpec, SyntheticMarket
from meta.policy import action_distribution

logger = logging.getLogger(__name__)

TASK_STACK = StackConfig(
    data="synthetic",
    episode_bars=252,
    reward=RewardConfig(kind="log_return"),
    tiers=TierConfig(tier1=False, tier2=False),
)
"""Default stack of a :class:`RegimeTask` (windows are set per task): log-return reward, tiers off."""

PARAM_NAMES: tuple[str, ...] = ("drift", "vol", "tail", *(f"hit_{c}" for c in COMPONENTS))
"""Names of the regime parameters a :class:`Band` may hold out."""


# ---------------------------------------------------------------------------------------------------- batches
@dataclass(frozen=True)
class TradeBatch:
    """K decisions of a policy in a task (see the module docstring for what one decision is).

    Attributes:
        obs: Observations at the decisions, shape ``(K, obs_dim)``, float32.
        actions: Actions as sampled (before the env's clipping), shape ``(K, act_dim)``, float32.
        rewards: The env's reward of each step, shape ``(K,)``.
        net_returns: ``equity_after / equity_before - 1`` of each step (0 for a flat step), shape ``(K,)``.
        traded: Whether the step opened a trade, shape ``(K,)``.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    net_returns: np.ndarray
    traded: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.rewards)
        for name in ("obs", "actions", "net_returns", "traded"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"TradeBatch.{name} has {len(getattr(self, name))} rows; rewards has {k}")
        if self.obs.ndim != 2 or self.actions.ndim != 2:
            raise ValueError(f"obs {self.obs.shape} and actions {self.actions.shape} must be 2-D (K, dim)")

    @property
    def k(self) -> int:
        """Number of decisions."""
        return len(self.rewards)

    @property
    def n_trades(self) -> int:
        """Decisions that opened a trade."""
        return int(np.sum(self.traded))

    def head(self, k: int) -> TradeBatch:
        """The first ``k`` decisions."""
        if not 1 <= k <= self.k:
            raise ValueError(f"k={k!r} must be in [1, {self.k}]")
        return TradeBatch(self.obs[:k], self.actions[:k], self.rewards[:k], self.net_returns[:k], self.traded[:k])


@runtime_checkable
class Task(Protocol):
    """What meta-training needs of a task."""

    @property
    def name(self) -> str: ...

    def collect(self, params: Mapping[str, torch.Tensor], k: int, seed: int) -> TradeBatch:
        """``k`` decisions of the Gaussian policy ``params`` (sampled actions), seeded."""
        ...


def _sample_action(params: Mapping[str, torch.Tensor], obs: np.ndarray, gen: torch.Generator, greedy: bool) -> Any:
    with torch.no_grad():
        dist = action_distribution(params, obs)
        mean = dist.mean[0]
        if greedy:
            return mean.numpy().astype(np.float32)
        std = dist.base_dist.stddev[0]
        noise = torch.randn(mean.shape, generator=gen, dtype=mean.dtype)
        return (mean + std * noise).numpy().astype(np.float32)


def collect_trades(
    env: gym.Env, params: Mapping[str, torch.Tensor], k: int, seed: int, *, deterministic: bool = False
) -> TradeBatch:
    """Run ``k`` decisions of the policy ``params`` in ``env`` (resetting whenever an episode ends).

    Args:
        env: The task's env (27-dim observations, 4-dim actions; ``info["equity"]`` after reset and step).
        params: Policy parameters (:mod:`meta.policy`).
        k: Decisions to collect (>= 1).
        seed: Seeds the env resets and the action noise: the same seed gives the same batch.
        deterministic: Act with the Gaussian mean instead of sampling.

    Returns:
        The :class:`TradeBatch` of the ``k`` decisions.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k={k!r} must be an integer >= 1 (decisions to collect)")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    obs, info = env.reset(seed=int(rng.integers(2**31)))
    rows: list[tuple[np.ndarray, np.ndarray, float, float, bool]] = []
    for _ in range(int(k)):
        action = _sample_action(params, obs, gen, deterministic)
        equity0 = float(info["equity"])
        next_obs, reward, terminated, truncated, info = env.step(action)
        rows.append((obs, action, float(reward), float(info["equity"]) / equity0 - 1.0, "trade" in info))
        obs = next_obs
        if terminated or truncated:
            obs, info = env.reset(seed=int(rng.integers(2**31)))
    o, a, r, n, t = zip(*rows, strict=True)
    return TradeBatch(
        np.asarray(o, np.float32), np.asarray(a, np.float32), np.asarray(r), np.asarray(n), np.asarray(t, bool)
    )


# --------------------------------------------------------------------------------------------- env-backed tasks
class EnvTask:
    """A task that trades one window of one market in the env stack (base of :class:`RegimeTask` and
    :class:`~meta.segments.SegmentTask`).

    Subclasses provide :attr:`name`, :meth:`stack_config`, :meth:`market_data` and :meth:`regime_detector`; envs
    are built once per split and kept on the task.
    """

    @property
    def name(self) -> str:
        raise NotImplementedError

    def stack_config(self) -> StackConfig:
        raise NotImplementedError

    def market_data(self) -> MarketData:
        raise NotImplementedError

    def regime_detector(self) -> RegimeDetector | None:
        return None

    def make_env(self, split: Split = "train") -> gym.Env:
        """The task's env: ``"train"`` starts at random bars (the K-trade batches), ``"val"`` runs the whole window
        from its start (the oracle)."""
        envs: dict[str, gym.Env] = self.__dict__.setdefault("_envs", {})
        if split not in envs:
            envs[split] = make_env(self.stack_config(), split, data=self.market_data(), detector=self.regime_detector())
        return envs[split]

    def collect(self, params: Mapping[str, torch.Tensor], k: int, seed: int) -> TradeBatch:
        """``k`` decisions of ``params`` in the training env (:func:`collect_trades`)."""
        return collect_trades(self.make_env("train"), params, k, seed)


def window_dates(data: MarketData, start: int, stop: int) -> tuple[str, str]:
    """Bars ``[start, stop)`` as the (start date, exclusive stop date) pair a :class:`StackConfig` takes."""
    end = data.index[stop] if stop < len(data) else data.index[-1] + pd.offsets.BDay(1)
    return str(data.index[start].date()), str(pd.Timestamp(end).date())


@dataclass(frozen=True)
class RegimeParams:
    """One synthetic regime.

    Attributes:
        drift: Mean daily log return.
        vol: Daily volatility of log returns (> 0).
        tail: ``1 / student_df`` of the shocks, in [0, 0.5): 0 is Gaussian, 0.25 is Student-t with 4 dof.
        hit_rates: Probability that each component's sign matches the 5-bar forward return (theme, technical,
            ai, sentiment); 0.5 is no edge.
    """

    drift: float
    vol: float
    tail: float = 0.0
    hit_rates: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if not 0.0 <= self.tail < 0.5:
            raise ValueError(f"tail={self.tail!r} must be in [0, 0.5) (1 / student_df with student_df > 2)")
        RegimeSpec("check", self.drift, self.vol, 1.0, self.hit_rates)  # validates vol and hit rates

    def value(self, name: str) -> float:
        """The parameter called ``name`` (one of :data:`PARAM_NAMES`)."""
        if name.startswith("hit_") and name[4:] in COMPONENTS:
            return float(self.hit_rates[COMPONENTS.index(name[4:])])
        if name not in ("drift", "vol", "tail"):
            raise KeyError(f"unknown regime parameter {name!r}; valid: {', '.join(PARAM_NAMES)}")
        return float(getattr(self, name))

    def market(self) -> SyntheticMarket:
        """The one-regime :class:`~envs.synthetic.SyntheticMarket` (the regime never switches)."""
        spec = RegimeSpec("task", self.drift, self.vol, 1e12, self.hit_rates)
        return SyntheticMarket(regimes=(spec,), student_df=None if self.tail == 0 else 1.0 / self.tail)


@dataclass(frozen=True)
class RegimeTask(EnvTask):
    """A synthetic single-regime market (seeded) traded in the env stack.

    The data has ``n_bars`` tradable bars after the features' look-back (and, with Tier 2 on, after the
    ``tier2_fit_bars`` its detector is fitted on). Without ``adapt_bars`` the training, validation and test
    windows of the stack are all set to those bars. With ``adapt_bars`` the first ``adapt_bars`` of them are the
    training window (where the K support trades of an adaptation come from) and the rest the validation and test
    window (where the adapted policy and the :func:`oracle` are scored): adaptation never sees the bars it is
    scored on.

    Args:
        params: The regime.
        seed: Seed of the generated market.
        n_bars: Tradable bars.
        stack: Env settings (costs, limits, reward, tiers); its windows are replaced.
        adapt_bars: Bars of the adaptation window (None: one window for everything).
    """

    params: RegimeParams
    seed: int = 0
    n_bars: int = 750
    stack: StackConfig = TASK_STACK
    adapt_bars: int | None = None

    def __post_init__(self) -> None:
        if int(self.n_bars) != self.n_bars or self.n_bars < 2:
            raise ValueError(f"n_bars={self.n_bars!r} must be an integer >= 2")
        a = self.adapt_bars
        if a is not None and (int(a) != a or not 1 <= a <= self.n_bars - 1):
            raise ValueError(f"adapt_bars={a!r} must be an integer in [1, n_bars - 1 = {self.n_bars - 1}] or None")

    @property
    def name(self) -> str:
        p = self.params
        hits = ",".join(f"{h:.2f}" for h in p.hit_rates)
        return f"regime(drift={p.drift:+.4f},vol={p.vol:.4f},tail={p.tail:.2f},hit=[{hits}],seed={self.seed})"

    def _pre_bars(self) -> int:
        return LOOKBACK + (self.stack.tiers.tier2_fit_bars if self.stack.tiers.tier2 else 0)

    def market_data(self) -> MarketData:
        """The generated bars (built once)."""
        if "_data" not in self.__dict__:
            sample = self.params.market().generate(self._pre_bars() + self.n_bars, seed=self.seed)
            self.__dict__["_data"] = sample.data
        data: MarketData = self.__dict__["_data"]
        return data

    def stack_config(self) -> StackConfig:
        data, pre = self.market_data(), self._pre_bars()
        if self.adapt_bars is None:
            w = window_dates(data, pre, len(data))
            return dataclasses.replace(self.stack, data=f"synthetic:{self.name}", train=w, val=w, test=w)
        fit = window_dates(data, pre, pre + self.adapt_bars)
        score = window_dates(data, pre + self.adapt_bars, len(data))
        return dataclasses.replace(self.stack, data=f"synthetic:{self.name}", train=fit, val=score, test=score)


# ------------------------------------------------------------------------------------------------ distribution
@dataclass(frozen=True)
class TaskRanges:
    """Ranges ``(low, high)`` the regime parameters are drawn from, uniformly.

    Attributes:
        drift: Mean daily log return.
        vol: Daily volatility.
        tail: ``1 / student_df`` (0 = Gaussian).
        hit_rate: Hit rate of each component, drawn independently per component.
    """

    drift: tuple[float, float] = (-0.002, 0.002)
    vol: tuple[float, float] = (0.005, 0.03)
    tail: tuple[float, float] = (0.0, 0.25)
    hit_rate: tuple[float, float] = (0.45, 0.65)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            lo, hi = getattr(self, f.name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"TaskRanges.{f.name}=({lo!r}, {hi!r}) must be finite with low <= high")

    def range_of(self, name: str) -> tuple[float, float]:
        """The range of the parameter ``name`` (the four ``hit_*`` share ``hit_rate``)."""
        if name not in PARAM_NAMES:
            raise KeyError(f"unknown regime parameter {name!r}; valid: {', '.join(PARAM_NAMES)}")
        return self.hit_rate if name.startswith("hit_") else getattr(self, name)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Band:
    """A closed band ``[lo, hi]`` of one regime parameter kept out of meta-training.

    Example:
        >>> Band("vol", 0.025, 0.03).contains(RegimeParams(drift=0.0, vol=0.028))
        True
    """

    param: str
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.param not in PARAM_NAMES:
            raise ValueError(f"Band.param={self.param!r} is not a regime parameter; valid: {', '.join(PARAM_NAMES)}")
        if not self.lo < self.hi:
            raise ValueError(f"Band({self.param!r}, {self.lo!r}, {self.hi!r}): lo must be < hi")

    def contains(self, params: RegimeParams) -> bool:
        return self.lo <= params.value(self.param) <= self.hi


DEFAULT_HELD_OUT: tuple[Band, ...] = (Band("drift", 0.0005, 0.001), Band("vol", 0.025, 0.03))
"""Held out by default: a moderate up-trend band and a high-volatility band."""


@dataclass(frozen=True)
class TaskDistribution:
    """Seeded sampler of :class:`RegimeTask` with held-out bands (see the module docstring).

    Args:
        ranges: Parameter ranges.
        held_out: Bands never drawn by ``split="train"``; ``split="held_out"`` draws inside them.
        n_bars: Tradable bars of each task's market.
        stack: Env settings of the tasks.
        adapt_bars: Adaptation window of each task (:class:`RegimeTask`; None: one window).
        max_tries: Rejection-sampling attempts per training task before giving up.

    Example:
        >>> dist = TaskDistribution()
        >>> train = dist.sample(4, seed=0)                 # never in a held-out band
        >>> test = dist.sample(4, seed=0, split="held_out")  # each inside a band
    """

    ranges: TaskRanges = TaskRanges()
    held_out: tuple[Band, ...] = DEFAULT_HELD_OUT
    n_bars: int = 750
    stack: StackConfig = TASK_STACK
    adapt_bars: int | None = None
    max_tries: int = 1000

    def is_held_out(self, params: RegimeParams) -> bool:
        """Whether ``params`` falls in a held-out band."""
        return any(b.contains(params) for b in self.held_out)

    def _draw(self, rng: np.random.Generator, band: Band | None) -> RegimeParams:
        def u(name: str) -> float:
            lo, hi = (band.lo, band.hi) if band is not None and band.param == name else self.ranges.range_of(name)
            return float(rng.uniform(lo, hi))

        hits = (u("hit_theme"), u("hit_technical"), u("hit_ai"), u("hit_sentiment"))
        return RegimeParams(drift=u("drift"), vol=u("vol"), tail=u("tail"), hit_rates=hits)

    def sample_params(
        self, n: int, seed: int | np.random.Generator, split: Literal["train", "held_out"] = "train"
    ) -> list[RegimeParams]:
        """``n`` regimes: outside every band (``"train"``) or inside a band drawn uniformly (``"held_out"``)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if split == "held_out":
            if not self.held_out:
                raise ValueError("split='held_out' needs at least one Band in held_out")
            return [self._draw(rng, self.held_out[int(rng.integers(len(self.held_out)))]) for _ in range(n)]
        if split != "train":
            raise ValueError(f"split={split!r}; choose 'train' or 'held_out'")
        out = []
        for _ in range(n):
            for _ in range(self.max_tries):
                p = self._draw(rng, None)
                if not self.is_held_out(p):
                    out.append(p)
                    break
            else:
                raise ValueError(f"no draw outside the held-out bands in {self.max_tries} tries: {self.held_out}")
        return out

    def sample(
        self, n: int, seed: int | np.random.Generator, split: Literal["train", "held_out"] = "train"
    ) -> list[RegimeTask]:
        """``n`` tasks (regime and market seed from ``seed``): the same seed gives the same tasks."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        params = self.sample_params(n, rng, split)
        seeds = rng.integers(2**31, size=n)
        return [
            RegimeTask(p, int(s), self.n_bars, self.stack, self.adapt_bars) for p, s in zip(params, seeds, strict=True)
        ]


# ------------------------------------------------------------------------------------------------------ oracle
def oracle_grid(
    levels: Sequence[float] = (-1.0, 0.0, 1.0), size_levels: Sequence[float] = (0.0, 1.0)
) -> tuple[tuple[float, float, float, float], ...]:
    """Constant actions (in ``[-1, 1]^4``) the oracle tries: flat, plus every size level times every level of
    hold, stop and target. The default is 55 actions: sizes 50% and 100% of ``max_position``, hold 1, ~10 or 20
    bars (``max_hold`` 20), stops 0.5%, ~5.3% or 10%, targets 0.5%, ~10.3% or 20%."""
    flat = ((-1.0, 0.0, 0.0, 0.0),)
    combos = itertools.product(size_levels, levels, levels, levels)
    return flat + tuple((float(s), float(h), float(st), float(t)) for s, h, st, t in combos)


@dataclass(frozen=True)
class OracleResult:
    """The best constant action of a task.

    Attributes:
        action: The chosen action in ``[-1, 1]^4``.
        params: What it asks for (size, hold, stop, target).
        mean_return: Its mean net return per decision (flat decisions count 0).
        mean_reward: Its mean env reward per decision.
        n_decisions: Decisions it made over the window.
        table: ``(action, mean_return)`` of every grid action, in grid order.
    """

    action: tuple[float, float, float, float]
    params: TradeParams
    mean_return: float
    mean_reward: float
    n_decisions: int
    table: tuple[tuple[tuple[float, float, float, float], float], ...]


def _run_constant(env: gym.Env, action: np.ndarray) -> tuple[float, float, int]:
    """Mean net return and reward per decision of ``action`` over the env's whole window, and the decisions."""
    _, info = env.reset(seed=0)
    returns, rewards = [], []
    while True:
        equity0 = float(info["equity"])
        _, reward, terminated, truncated, info = env.step(action)
        returns.append(float(info["equity"]) / equity0 - 1.0)
        rewards.append(float(reward))
        if terminated or truncated:
            return float(np.mean(returns)), float(np.mean(rewards)), len(returns)


@functools.lru_cache(maxsize=256)
def _oracle(task: EnvTask, grid: tuple[tuple[float, float, float, float], ...]) -> OracleResult:
    env = task.make_env("val")
    runs = [_run_constant(env, np.asarray(a, dtype=np.float32)) for a in grid]
    best = int(np.argmax([r[0] for r in runs]))  # first of equals: flat comes first
    base: Any = env.unwrapped
    table = tuple((a, r[0]) for a, r in zip(grid, runs, strict=True))
    action = grid[best]
    params = base.action_map.decode(np.asarray(action, dtype=np.float32))
    logger.debug("oracle of %s: %s, mean return %.5f per decision", task.name, params, runs[best][0])
    return OracleResult(action, params, runs[best][0], runs[best][1], runs[best][2], table)


def oracle(task: EnvTask, grid: Sequence[Sequence[float]] | None = None) -> OracleResult:
    """The best constant bracket of ``task`` by mean net return per decision over its whole window (cached).

    Args:
        task: A task with an env (:class:`RegimeTask` or :class:`~meta.segments.SegmentTask`).
        grid: Constant actions to try; default :func:`oracle_grid`.
    """
    g = oracle_grid() if grid is None else tuple(tuple(float(x) for x in a) for a in grid)
    if not g or any(len(a) != 4 for a in g):
        raise ValueError("grid must hold at least one action of 4 values (size, hold, stop, target) in [-1, 1]")
    return _oracle(task, g)  # type: ignore[arg-type]
