"""Tier 3: Stable-Baselines3 PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347) on the env stack.

:func:`make_ppo` builds the agent from a :class:`PPOConfig`; :class:`TradingMetricsCallback` logs trading metrics
per episode, the Tier 1 weights, the Tier 2 regime probabilities and circuit-breaker events to TensorBoard;
:class:`HParamCallback` records the hyper-parameters and declares the metrics TensorBoard's HParams tab compares runs
by. Evaluation and checkpoints use SB3's own callbacks.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam
from stable_baselines3.common.vec_env import VecEnv

from agents.tier3.algos import make_model
from agents.tier3.config import HPARAM_METRICS, REWARD_TERMS, PPOConfig
from envs.layout import COMPONENTS, REGIMES

logger = logging.getLogger(__name__)

SummarizeFn = Callable[..., Mapping[str, float]]
"""``summarize(equity, trades) -> {metric: value}``, e.g. :func:`experiments.evaluation.stats.summarize`."""


def make_ppo(
    cfg: PPOConfig,
    env: VecEnv,
    *,
    seed: int,
    torch_threads: int = 1,
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> PPO:
    """SB3 PPO with an ``MlpPolicy`` on ``env``, seeded; sets the process's torch threads."""
    model = make_model(
        "ppo", cfg, env, seed=seed, torch_threads=torch_threads, tensorboard_log=tensorboard_log, verbose=verbose
    )
    assert isinstance(model, PPO)
    return model


@dataclass
class _EpisodeBuffer:
    trades: list[dict[str, Any]] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(REWARD_TERMS, 0.0))
    steps: int = 0
    flat_steps: int = 0
    reward: float = 0.0


class TradingMetricsCallback(BaseCallback):
    """Logs trading metrics per finished episode and tier outputs per step to the SB3 logger (TensorBoard).

    Tags: ``trading/<key>`` for every key of ``summarize(equity, trades)`` (means over the episodes finished
    since the last dump; the experiments package passes net_return, sharpe, max_drawdown, win_rate,
    profit_factor and trade_count), ``tier1/w_<component>``, ``tier2/p_<regime>`` (means over steps),
    ``risk/breaker_<STATE>`` (count of transitions into each state) and ``risk/halts``; per finished episode,
    what the agent was paid for: ``reward/base`` (the differential Sharpe or log-return sum),
    ``reward/drawdown_penalty``, ``reward/clip_penalty``, ``reward/bar_cost`` (episode sums, means over episodes) and
    ``reward/flat_share`` (share of the episode's decisions that opened no trade).

    ``risk/breaker_<STATE>`` and ``risk/halts`` are running counts since training started, over every env copy
    (a rising line; its slope is the rate of state changes), not states.

    Args:
        summarize: Metrics function of an episode's equity curve and its trades (bars rebased to the curve),
            injected so the library does not depend on the experiments package; ``None`` logs net return,
            trade count and win rate only.
        on_episode: Called with each finished training episode's values: ``reward`` (the sum of its step
            rewards), ``decisions``, ``flat_share``, and the ``trading/*`` values (e.g. ``sharpe``,
            ``trade_count``); e.g. to keep a training curve next to the validation curve.
    """

    def __init__(
        self,
        summarize: SummarizeFn | None = None,
        verbose: int = 0,
        on_episode: Callable[[Mapping[str, float]], None] | None = None,
    ) -> None:
        super().__init__(verbose)
        self.summarize = summarize
        self.on_episode = on_episode
        self._buffers: dict[int, _EpisodeBuffer] = defaultdict(_EpisodeBuffer)
        self.breaker_counts: Counter[str] = Counter()
        self.episodes = 0

    def _on_step(self) -> bool:
        infos: Sequence[dict[str, Any]] = self.locals.get("infos", ())
        dones = self.locals.get("dones", np.zeros(len(infos), dtype=bool))
        rewards = self.locals.get("rewards", np.zeros(len(infos)))
        batched = getattr(self.training_env, "stack_step", None)  # agents.batch.StackVecEnv: tier outputs as arrays
        if batched is not None:
            self._record_arrays(batched)
        for i, info in enumerate(infos):
            self._buffers[i].reward += float(rewards[i])
            self._record_step(i, info)
            if dones[i] and "episode_equity" in info:
                self._record_episode(i, info)
        return True

    def _record_arrays(self, step: Any) -> None:
        """Tier outputs and reward terms of every copy of a batched env (:class:`agents.batch.StackStep`)."""
        rec = self.logger.record_mean
        if step.tier1:
            for name, w in zip(COMPONENTS, step.weights.mean(axis=0).tolist(), strict=True):
                rec(f"tier1/w_{name}", w)
        if step.tier2:
            for name, p in zip(REGIMES, step.regime_probs.mean(axis=0).tolist(), strict=True):
                rec(f"tier2/p_{name}", p)
        terms, flat = step.reward_terms, step.flat
        for i in range(len(flat)):
            buf = self._buffers[i]
            buf.steps += 1
            buf.flat_steps += bool(flat[i])
            for key, value in zip(REWARD_TERMS, terms[i].tolist(), strict=True):
                buf.terms[key] += value

    def _record_step(self, i: int, info: Mapping[str, Any]) -> None:
        rec = self.logger.record_mean
        buf = self._buffers[i]
        if "trade" in info:
            buf.trades.append(info["trade"])
        terms = info.get("reward_terms")
        if terms is not None:
            buf.steps += 1
            buf.flat_steps += bool(terms["flat"])
            for key in REWARD_TERMS:
                buf.terms[key] += float(terms[key])
        for name, w in info.get("weights", {}).items():
            rec(f"tier1/w_{name}", float(w))
        for name, p in info.get("regime", {}).get("probs", {}).items():
            rec(f"tier2/p_{name}", float(p))
        for event in info.get("breaker_events", ()):
            self.breaker_counts[event["new"]] += 1
            self.logger.record(f"risk/breaker_{event['new']}", self.breaker_counts[event["new"]])

    def _record_episode(self, i: int, info: Mapping[str, Any]) -> None:
        equity = np.asarray(info["episode_equity"], dtype=np.float64)
        buf = self._buffers.pop(i, _EpisodeBuffer())
        trades = buf.trades
        self.episodes += 1
        rec = self.logger.record_mean
        values = {"reward": buf.reward, "decisions": float(buf.steps)}
        if buf.steps:
            for key, total in buf.terms.items():
                rec(f"reward/{key}", total)
            values["flat_share"] = buf.flat_steps / buf.steps
            rec("reward/flat_share", values["flat_share"])
        if self.summarize is not None and len(equity) >= 2:
            start = int(info.get("episode_start", 0))
            rebased = [{**t, "entry_bar": t["entry_bar"] - start, "exit_bar": t["exit_bar"] - start} for t in trades]
            trading = {k: float(v) for k, v in self.summarize(equity, rebased).items()}
        else:
            trading = {"net_return": float(equity[-1] / equity[0] - 1.0), "trade_count": float(len(trades))}
            if trades:
                trading["win_rate"] = float(np.mean([t["net_return"] > 0 for t in trades]))
        for key, value in trading.items():
            if np.isfinite(value):
                rec(f"trading/{key}", value)
        if self.on_episode is not None:
            self.on_episode({**trading, **values})
        halted = info.get("breaker") == "HALTED"
        self.logger.record("risk/halts", self.breaker_counts["HALTED"])
        if halted:
            logger.info("episode %d ended by a risk halt", self.episodes)


class HParamCallback(BaseCallback):
    """Records hyper-parameters and the metrics to compare runs by in TensorBoard's HParams tab.

    At training start it writes one HParams record (SB3's :class:`~stable_baselines3.common.logger.HParam`):
    the hyper-parameters and the metric tags the tab shows as columns. A metric's value is the last scalar
    logged under its tag in the same TensorBoard run folder, during training or after it (e.g. test metrics
    written once the trained model has been backtested).

    Args:
        hparams: ``{name: value}``; values other than int, float, str and bool are recorded as ``str(value)``.
        metrics: Metric tags to declare (default :data:`HPARAM_METRICS`).

    Example:
        >>> HParamCallback({"ppo.learning_rate": 3e-4}, metrics=[*HPARAM_METRICS, "test/sharpe"])  # doctest: +SKIP
    """

    def __init__(self, hparams: Mapping[str, Any], metrics: Sequence[str] | None = None) -> None:
        super().__init__()
        self.hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        self.metrics: tuple[str, ...] = tuple(HPARAM_METRICS if metrics is None else metrics)
        if not self.metrics:
            raise ValueError("metrics is empty: TensorBoard's HParams tab needs at least one metric tag")

    def _on_training_start(self) -> None:
        metrics = dict.fromkeys(self.metrics, 0.0)  # only the tags are recorded; values come from the scalars
        self.logger.record("hparams", HParam(self.hparams, metrics), exclude=("stdout", "log", "json", "csv"))

    def _on_step(self) -> bool:
        return True
