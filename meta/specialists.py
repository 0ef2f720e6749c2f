"""Tier 4 specialists: conservative, balanced and aggressive learners that differ in risk aversion.

A :class:`Specialist` is a risk profile applied to a task's env stack. Two knobs, both only ever *tighter* than
the stack's own settings, so no specialist can override the risk layer:

* **Size bound** (``size_fraction``): the share of the stack's ``max_position`` the specialist may ask for. The
  specialist's policy acts in the same ``Box(-1, 1, (4,))`` as every other policy; :class:`SizeBound` maps its
  size component ``a`` onto ``[0, size_fraction * max_position]`` (``a' = (a + 1) * size_fraction - 1`` in the
  env's own action scale), so the three specialists can trade one account in one env and their trades compare
  directly (what the selector and the bandit over specialists need).
* **Reward penalties** (``drawdown_penalty``, ``clip_penalty``): the weights of the reward's drawdown and clip
  penalties (:class:`envs.reward.RewardConfig`) the specialist is meta-trained with.

The defaults (:data:`SPECIALISTS`): conservative (half the cap, drawdown penalty 30), balanced (three quarters
of the cap, the env's default penalty 10), aggressive (the full cap, penalty 2). Each is meta-trained on its own
copy of the task distribution (:class:`SpecialistDistribution`: the same regimes and markets, the specialist's
reward and size bound) with :func:`meta.maml.meta_train`; :func:`train_specialists` does the three.

Example:
    >>> from meta.tasks import TaskDistribution
    >>> tasks = SpecialistDistribution(TaskDistribution(n_bars=300), SPECIALISTS[0]).sample(2, seed=0)
    >>> tasks[0].name.startswith("conservative:")
    True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.config import StackConfig
from agents.stack import Split, make_env
from meta.config import MetaConfig
from meta.maml import LogFn, MetaResult, TaskSampler, meta_train
from meta.tasks import EnvTask, TradeBatch, collect_trades


@dataclass(frozen=True)
class Specialist:
    """A risk profile (see the module docstring).

    Attributes:
        name: ``conservative``, ``balanced``, ``aggressive`` or your own.
        size_fraction: Share of the stack's ``max_position`` the specialist may ask for, in (0, 1].
        drawdown_penalty: Reward weight of new drawdown (``RewardConfig.drawdown_penalty``).
        clip_penalty: Reward weight of the size the risk layer cut (``RewardConfig.clip_penalty``).
    """

    name: str
    size_fraction: float
    drawdown_penalty: float
    clip_penalty: float = 0.1

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise ValueError(f"Specialist.name={self.name!r} must be a non-empty identifier, e.g. 'conservative'")
        if not (math.isfinite(self.size_fraction) and 0.0 < self.size_fraction <= 1.0):
            raise ValueError(
                f"Specialist {self.name}: size_fraction={self.size_fraction!r} must be in (0, 1] (a share of the "
                "stack's max_position; a specialist can only be tighter than the risk layer)"
            )
        for field in ("drawdown_penalty", "clip_penalty"):
            v = getattr(self, field)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"Specialist {self.name}: {field}={v!r} must be a finite number >= 0")

    def stack(self, base: StackConfig) -> StackConfig:
        """``base`` with this specialist's reward penalties (limits and everything else unchanged)."""
        reward = dataclasses.replace(
            base.reward, drawdown_penalty=self.drawdown_penalty, clip_penalty=self.clip_penalty
        )
        return dataclasses.replace(base, reward=reward)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        """The action in the env's own scale: the size component squeezed onto ``[0, size_fraction * cap]``."""
        out = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        out[0] = (out[0] + 1.0) * self.size_fraction - 1.0
        return out

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SPECIALISTS: tuple[Specialist, ...] = (
    Specialist("conservative", size_fraction=0.5, drawdown_penalty=30.0),
    Specialist("balanced", size_fraction=0.75, drawdown_penalty=10.0),
    Specialist("aggressive", size_fraction=1.0, drawdown_penalty=2.0),
)
"""The three default specialists, from the most to the least risk-averse."""


class SizeBound(gym.ActionWrapper):  # type: ignore[type-arg]
    """Applies :meth:`Specialist.env_action` to every action (the size bound of a specialist)."""

    def __init__(self, env: gym.Env, specialist: Specialist) -> None:
        super().__init__(env)
        self.specialist = specialist

    def action(self, action: Any) -> np.ndarray:
        return self.specialist.env_action(action)


@dataclass(frozen=True)
class SpecialistTask:
    """A task traded by one specialist: its reward penalties and its size bound (a :class:`~meta.tasks.Task`).

    Attributes:
        task: The underlying task (a :class:`~meta.tasks.RegimeTask` or :class:`~meta.segments.SegmentTask`).
        specialist: The risk profile.
    """

    task: EnvTask
    specialist: Specialist

    @property
    def name(self) -> str:
        return f"{self.specialist.name}:{self.task.name}"

    def make_env(self, split: Split = "train") -> gym.Env:
        """The task's env with this specialist's reward, wrapped in :class:`SizeBound` (built once per split)."""
        envs: dict[str, gym.Env] = self.__dict__.setdefault("_envs", {})
        if split not in envs:
            stack = self.specialist.stack(self.task.stack_config())
            env = make_env(stack, split, data=self.task.market_data(), detector=self.task.regime_detector())
            envs[split] = SizeBound(env, self.specialist)
        return envs[split]

    def collect(self, params: Mapping[str, torch.Tensor], k: int, seed: int) -> TradeBatch:
        """``k`` decisions in the training env (the actions recorded are the policy's, before the size bound)."""
        return collect_trades(self.make_env("train"), params, k, seed)


@dataclass(frozen=True)
class SpecialistDistribution:
    """The tasks of ``base``, each traded by ``specialist`` (same regimes and markets for the same seed)."""

    base: TaskSampler
    specialist: Specialist

    def sample(self, n: int, seed: int | np.random.Generator, split: Any = "train") -> list[SpecialistTask]:
        return [SpecialistTask(t, self.specialist) for t in self.base.sample(n, seed, split)]  # type: ignore[arg-type]


def train_specialists(
    distribution: TaskSampler,
    config: MetaConfig,
    seed: int,
    specialists: Sequence[Specialist] = SPECIALISTS,
    log: LogFn | None = None,
) -> dict[str, MetaResult]:
    """Meta-train one initialisation per specialist on ``distribution`` (:func:`meta.maml.meta_train`).

    Each specialist gets the same seed, hence the same task draws; ``log`` receives its tags prefixed with
    ``<name>/`` (e.g. ``conservative/meta/loss``).
    """
    names = [s.name for s in specialists]
    if len(set(names)) != len(names):
        raise ValueError(f"specialist names must be unique, got {names}")
    out = {}
    for spec in specialists:
        sub_log = None if log is None else _prefixed(log, spec.name)
        out[spec.name] = meta_train(SpecialistDistribution(distribution, spec), config, seed, log=sub_log)
    return out


def _prefixed(log: LogFn, prefix: str) -> LogFn:
    def inner(tag: str, value: float, step: int) -> Any:
        return log(f"{prefix}/{tag}", value, step)

    return inner
