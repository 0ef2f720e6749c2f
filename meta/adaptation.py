"""Scoring adaptation: what a policy earns on a task's scoring window after K trades of its adaptation window.

A task built with ``adapt_bars`` (:class:`~meta.tasks.RegimeTask`) has two windows: the K support decisions
come from the first (random starts, sampled actions: :meth:`~meta.tasks.EnvTask.collect`), the score from the
second, which adaptation never sees. The **score** of a policy is its mean net return per decision
(``equity_after / equity_before - 1``, flat decisions count 0) when it trades the whole scoring window from its
start with its mean action (:func:`score_params`), the same measure and window as the task's
:func:`~meta.tasks.oracle` (the best constant bracket), so ``score / oracle`` is the share of the oracle's return.

The ways to use K trades (the rows of the adaptation benchmark):

* :func:`adapted_score`: an initialisation (meta-learned by MAML, first-order MAML or Reptile; pretrained on all
  training tasks; or random) takes ``inner_steps`` policy-gradient steps of size ``inner_lr`` on its K support
  decisions (:func:`meta.maml.inner_adapt`), then is scored. K = 0 scores the initialisation itself.
* :func:`specialist_scores` scores each specialist unadapted; :func:`meta.selector.bandit_pick` and a trained
  :class:`~meta.selector.Selector` (:func:`selector_pick`) choose one of them from K decisions, and the choice is
  scored by lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch

from meta.config import MetaConfig
from meta.maml import _adapt_and_trace, config_loss
from meta.online import SpecialistOutcome, selector_features
from meta.policy import Params
from meta.selector import Selector, SelectorData, greedy_action, round_robin, run_specialists
from meta.specialists import Specialist
from meta.tasks import EnvTask

ADAPTATION_KS: tuple[int, ...] = (0, 1, 3, 5, 10, 20, 30)
"""The K values of the adaptation claim ("3 to 5 trades instead of 20 to 30")."""


def score_params(env: gym.Env, params: Mapping[str, torch.Tensor], specialist: Specialist | None = None) -> float:
    """Mean net return per decision of the greedy policy over ``env``'s whole window (from its start).

    ``specialist`` applies a size bound by hand (pass the env without :class:`~meta.specialists.SizeBound`)."""
    obs, info = env.reset(seed=0)
    returns = []
    while True:
        action = greedy_action(params, obs)
        if specialist is not None:
            action = specialist.env_action(action)
        equity0 = float(info["equity"])
        obs, _, terminated, truncated, info = env.step(action)
        returns.append(float(info["equity"]) / equity0 - 1.0)
        if terminated or truncated:
            return float(np.mean(returns))


def adapt(params: Mapping[str, torch.Tensor], task: EnvTask, k: int, config: MetaConfig, seed: int) -> Params:
    """``params`` after ``config.inner_steps`` steps on ``k`` support decisions of ``task`` (``k = 0``: unchanged)."""
    if k == 0:
        return {name: v.detach().clone() for name, v in params.items()}
    support = task.collect(params, k, seed)
    adapted, _ = _adapt_and_trace(params, support, config, config_loss(config))
    return adapted


def adapted_score(params: Mapping[str, torch.Tensor], task: EnvTask, k: int, config: MetaConfig, seed: int) -> float:
    """Score (:func:`score_params` on the scoring window) of ``params`` adapted on ``k`` support decisions."""
    return score_params(task.make_env("val"), adapt(params, task, k, config, seed))


def specialist_scores(
    task: EnvTask, specialists: Sequence[tuple[Specialist, Mapping[str, torch.Tensor]]]
) -> np.ndarray:
    """The score of each specialist (unadapted, with its size bound) on ``task``'s scoring window."""
    return np.array([score_params(task.make_env("val"), p, spec) for spec, p in specialists])


def selector_pick(
    selector: Selector,
    task: EnvTask,
    specialists: Sequence[tuple[Specialist, Mapping[str, torch.Tensor]]],
    k: int,
    seed: int,
) -> tuple[int, list[SpecialistOutcome]]:
    """The specialist the selector picks after ``k`` round-robin decisions in the task's adaptation window."""
    decisions = run_specialists(task.make_env("train"), specialists, k, round_robin, seed) if k > 0 else []
    return selector.pick(selector_features(decisions)), decisions


def selector_dataset(
    tasks: Sequence[EnvTask],
    specialists: Sequence[tuple[Specialist, Mapping[str, torch.Tensor]]],
    ks: Sequence[int],
    seed: int,
) -> SelectorData:
    """Training examples for :func:`meta.selector.train_selector`: per task, one example per K of ``ks`` (the
    first K of one run of ``max(ks)`` round-robin decisions), labelled by the best specialist's score."""
    rng = np.random.default_rng(seed)
    feats, labels, scores = [], [], []
    for task in tasks:
        s = specialist_scores(task, specialists)
        decisions = run_specialists(task.make_env("train"), specialists, max(ks), round_robin, int(rng.integers(2**31)))
        for k in ks:
            feats.append(selector_features(decisions[:k]))
            labels.append(int(np.argmax(s)))
            scores.append(s)
    return SelectorData(np.asarray(feats, np.float32), np.asarray(labels), np.asarray(scores))
