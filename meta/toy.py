"""A toy task family with a known optimum, for checking the meta-learning code (no env, no market).

Task ``i`` pays ``R = -||a - target_i||^2`` for an action ``a`` drawn by the Gaussian policy at a random
observation. For ``a ~ N(mu(s), diag(sigma^2))`` the expected loss is known in closed form::

    E[-R] = mean_s ||mu(s) - target_i||^2 + sum_j sigma_j^2

so the inner loop's progress on a task and the value of a meta-learned initialisation can be judged exactly.
The targets of a :class:`TargetDistribution` scatter around a common ``center`` far from the initial mean
(about 0), which is what meta-learning can learn: an initialisation near the center adapts to any target faster.

Example:
    >>> from meta.policy import init_params
    >>> dist = TargetDistribution()
    >>> task = dist.sample(1, seed=0)[0]
    >>> batch = task.collect(init_params(0), k=8, seed=0)
    >>> batch.rewards.shape
    (8,)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from meta.policy import OBS_DIM, action_distribution
from meta.tasks import TradeBatch


@dataclass(frozen=True)
class TargetTask:
    """Reward ``-||a - target||^2`` at standard-normal observations.

    Args:
        target: The best action, shape ``(act_dim,)``.
        obs_dim: Observation size.
    """

    target: tuple[float, ...]
    obs_dim: int = OBS_DIM

    @property
    def name(self) -> str:
        return "target(" + ",".join(f"{t:+.2f}" for t in self.target) + ")"

    def observations(self, k: int, seed: int) -> np.ndarray:
        """``k`` standard-normal observations ``(k, obs_dim)``."""
        return np.random.default_rng(seed).standard_normal((k, self.obs_dim)).astype(np.float32)

    def collect(self, params: Mapping[str, torch.Tensor], k: int, seed: int) -> TradeBatch:
        """``k`` sampled actions and their rewards (every decision counts as a trade)."""
        obs = self.observations(k, seed)
        gen = torch.Generator().manual_seed(int(seed) + 1)
        with torch.no_grad():
            dist = action_distribution(params, obs)
            noise = torch.randn(dist.mean.shape, generator=gen, dtype=dist.mean.dtype)
            actions = (dist.mean + dist.base_dist.stddev * noise).numpy().astype(np.float32)
        rewards = -((actions.astype(np.float64) - np.asarray(self.target)) ** 2).sum(axis=1)
        return TradeBatch(obs, actions, rewards, rewards, np.ones(k, dtype=bool))

    def expected_loss(self, params: Mapping[str, torch.Tensor], obs: np.ndarray) -> torch.Tensor:
        """Exact ``E[-R]`` of the Gaussian policy over the observations ``obs`` (differentiable)."""
        dist = action_distribution(params, obs)
        target = torch.as_tensor(self.target, dtype=dist.mean.dtype)
        return ((dist.mean - target) ** 2).sum(dim=1).mean() + (2.0 * params["log_std"]).exp().sum()


@dataclass(frozen=True)
class TargetDistribution:
    """Targets ``center + spread * N(0, I)``; ``split`` is accepted for the sampler protocol and ignored.

    Args:
        center: Mean target.
        spread: Standard deviation of the targets around it.
        obs_dim: Observation size of the tasks.
    """

    center: tuple[float, ...] = (0.6, -0.4, 0.5, 0.3)
    spread: float = 0.1
    obs_dim: int = OBS_DIM

    def sample(self, n: int, seed: int | np.random.Generator, split: str = "train") -> list[TargetTask]:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        c = np.asarray(self.center)
        return [
            TargetTask(tuple(float(x) for x in c + self.spread * rng.standard_normal(len(c))), self.obs_dim)
            for _ in range(n)
        ]
