"""Choosing a specialist: a Thompson-sampling bandit and a selector network, from the first K trades of a task.

Both start a task with the three meta-trained specialists (:mod:`meta.specialists`) and K decisions in the task's
adaptation window, and end with one specialist, which then trades (:mod:`meta.adaptation` scores it).

* :class:`SpecialistBandit`: Gaussian Thompson sampling over the specialists (Russo et al. 2018,
  https://arxiv.org/abs/1707.02038). Each arm's mean net return per decision has a Normal posterior
  (prior ``N(0, prior_sd^2)``, noise sd the pooled standard deviation of all returns seen so far, floored at
  ``noise_floor``); each decision goes to the arm with the largest posterior draw; after K decisions the arm with
  the largest posterior mean is chosen (ties: the first, ``balanced`` sits first in :data:`BANDIT_ORDER`).
* :class:`Selector`: a small network (16 -> 32 -> 3, tanh) that reads :func:`meta.online.selector_features` of K
  round-robin decisions (decision i by specialist ``i mod 3``) and outputs a logit per specialist. Features: the
  mean Tier 2 regime probabilities of the decisions' observations (slots 19-23; 0.2 each when Tier 2 is off,
  as in the synthetic single-regime tasks), the mean ``vol_20`` and ``ret_20`` of those observations, and per
  specialist the mean net return per decision (x 100), its share of the K decisions and its win rate (0.5
  before any trade). :func:`train_selector` fits it by cross-entropy on training tasks, the label of a task being
  the specialist with the highest score on the task's scoring window, with K drawn from the benchmark's K values
  so one network serves every K.

Every specialist acts with its mean action (greedy) in these decisions: the exploration is over specialists, not
inside them.

``SpecialistOutcome`` and ``selector_features`` live in :mod:`meta.online` (torch-free, shared with the live brain).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from meta.online import N_FEATURES, SpecialistOutcome
from meta.policy import action_distribution
from meta.specialists import Specialist


def greedy_action(params: Mapping[str, torch.Tensor], obs: np.ndarray) -> np.ndarray:
    """The policy's mean action (float32, before any size bound)."""
    with torch.no_grad():
        return action_distribution(params, obs).mean[0].numpy().astype(np.float32)


def run_specialists(
    env: gym.Env,
    specialists: Sequence[tuple[Specialist, Mapping[str, torch.Tensor]]],
    k: int,
    choose: Callable[[int, Sequence[SpecialistOutcome]], int],
    seed: int,
) -> list[SpecialistOutcome]:
    """``k`` decisions in ``env`` (the task's adaptation env, unbounded actions), each by the specialist
    ``choose(i, decisions_so_far)`` picks, acting greedily through its size bound; resets when an episode ends."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=int(rng.integers(2**31)))
    out: list[SpecialistOutcome] = []
    for i in range(int(k)):
        arm = int(choose(i, out))
        spec, params = specialists[arm]
        equity0 = float(info["equity"])
        next_obs, _, terminated, truncated, info = env.step(spec.env_action(greedy_action(params, obs)))
        out.append(
            SpecialistOutcome(arm, np.asarray(obs, np.float32), float(info["equity"]) / equity0 - 1.0, "trade" in info)
        )
        obs = next_obs
        if terminated or truncated:
            obs, info = env.reset(seed=int(rng.integers(2**31)))
    return out


# ------------------------------------------------------------------------------------------------------ bandit
class SpecialistBandit:
    """Gaussian Thompson sampling over ``n_arms`` specialists (see the module docstring).

    Args:
        n_arms: Specialists.
        prior_sd: Prior standard deviation of an arm's mean net return per decision.
        noise_floor: Lowest noise standard deviation used in the posterior.
        seed: Seeds the posterior draws.
        default: Arm chosen when no arm has data (K = 0).

    Example:
        >>> b = SpecialistBandit(3, seed=0)
        >>> for r in (0.01, 0.012, 0.009):
        ...     b.update(2, r)
        >>> b.best()
        2
    """

    def __init__(
        self, n_arms: int, prior_sd: float = 0.01, noise_floor: float = 0.002, seed: int = 0, default: int = 0
    ) -> None:
        if n_arms < 1 or not 0 <= default < n_arms:
            raise ValueError(f"n_arms={n_arms!r} must be >= 1 and default={default!r} an arm index")
        if not (prior_sd > 0 and noise_floor > 0):
            raise ValueError(f"prior_sd={prior_sd!r} and noise_floor={noise_floor!r} must be > 0")
        self.n_arms, self.prior_sd, self.noise_floor, self.default = n_arms, prior_sd, noise_floor, default
        self.rng = np.random.default_rng(seed)
        self.returns: list[list[float]] = [[] for _ in range(n_arms)]

    def update(self, arm: int, net_return: float) -> None:
        if not math.isfinite(net_return):
            raise ValueError(f"net_return={net_return!r} must be finite")
        self.returns[arm].append(float(net_return))

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        pooled = [r for rs in self.returns for r in rs]
        noise = max(float(np.std(pooled)) if len(pooled) >= 2 else 0.0, self.noise_floor)
        n = np.array([len(r) for r in self.returns], dtype=float)
        s = np.array([sum(r) for r in self.returns])
        precision = 1.0 / self.prior_sd**2 + n / noise**2
        return (s / noise**2) / precision, 1.0 / np.sqrt(precision)

    def choose(self) -> int:
        """The arm of the largest posterior draw."""
        mean, sd = self._posterior()
        return int(np.argmax(self.rng.normal(mean, sd)))

    def best(self) -> int:
        """The arm of the largest posterior mean (``default`` while no arm has data)."""
        if not any(self.returns):
            return self.default
        mean, _ = self._posterior()
        return int(np.argmax(mean))


def bandit_pick(
    env: gym.Env,
    specialists: Sequence[tuple[Specialist, Mapping[str, torch.Tensor]]],
    k: int,
    seed: int,
    default: int = 0,
) -> tuple[int, list[SpecialistOutcome]]:
    """K decisions allocated by :class:`SpecialistBandit`, and the arm it settles on."""
    bandit = SpecialistBandit(len(specialists), seed=seed, default=default)

    def choose(i: int, done: Sequence[SpecialistOutcome]) -> int:
        if done:
            bandit.update(done[-1].arm, done[-1].net_return)
        return bandit.choose()

    decisions = run_specialists(env, specialists, k, choose, seed) if k > 0 else []
    if decisions:
        bandit.update(decisions[-1].arm, decisions[-1].net_return)
    return bandit.best(), decisions


class Selector(nn.Module):
    """16 -> 32 -> 3 tanh MLP: a logit per specialist from :func:`selector_features`."""

    def __init__(self, hidden: int = 32, n_arms: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, n_arms))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)  # type: ignore[no-any-return]

    def pick(self, features: np.ndarray) -> int:
        with torch.no_grad():
            return int(self(torch.as_tensor(features, dtype=torch.float32)[None]).argmax(dim=1)[0])


def round_robin(i: int, _: Sequence[SpecialistOutcome]) -> int:
    """SpecialistOutcome ``i`` by specialist ``i mod 3``."""
    return i % 3


@dataclass(frozen=True)
class SelectorData:
    """Training examples: features ``(n, 16)``, labels ``(n,)`` and each specialist's score ``(n, 3)``."""

    features: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def train_selector(
    data: SelectorData, seed: int, epochs: int = 400, lr: float = 0.01, weight_decay: float = 1e-3
) -> tuple[Selector, list[float]]:
    """Fit a :class:`Selector` by full-batch Adam on cross-entropy; returns it and the loss per epoch."""
    if len(data.labels) < 2:
        raise ValueError(f"train_selector needs at least 2 examples, got {len(data.labels)}")
    torch.manual_seed(seed)
    net = Selector()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    x = torch.as_tensor(data.features, dtype=torch.float32)
    y = torch.as_tensor(data.labels, dtype=torch.long)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return net.eval(), losses
