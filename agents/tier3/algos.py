"""Tier 3's learner chosen by config: SB3's PPO, A2C, SAC, TD3 or sb3-contrib's RecurrentPPO on the same stack.

``algo`` names the class; ``ppo`` (a :class:`~agents.tier3.config.PPOConfig`) holds the settings of the PPO family
(PPO, RecurrentPPO and the fields A2C shares); SAC and TD3 run on SB3's defaults with a
:data:`~agents.tier3.config.OFF_POLICY_NET_ARCH` network. ``algo_kwargs`` passes any further keyword of the chosen
SB3 constructor (checked against its signature, so a typo is an error that names the key)::

    algo: sac
    algo_kwargs: {learning_starts: 1000, buffer_size: 100000, train_freq: 4}

Every algorithm trains behind the same callbacks, TensorBoard tags, evaluation and backtest. RecurrentPPO keeps an
LSTM state: :class:`~experiments.evaluation.backtest.SB3Policy` carries it from bar to bar and resets it with the
episode.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.tier3.config import ALGOS, OFF_POLICY_NET_ARCH, ON_POLICY, RECURRENT, PPOConfig
from envs.layout import OBS_LAYOUT

__all__ = ["ALGOS", "AlgoError", "algo_class", "check_kwargs", "load_model", "make_model"]


class AlgoError(ValueError):
    """An unknown algorithm or keyword; the message names it and the valid ones."""


def algo_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``name`` (one of :data:`ALGOS`)."""
    if name == "recurrent_ppo":
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO  # type: ignore[no-any-return]
    classes: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}
    if name not in classes:
        raise AlgoError(f"algo={name!r} is not one of {list(ALGOS)}; e.g. algo: ppo")
    return classes[name]


def _base_kwargs(name: str, cfg: PPOConfig) -> dict[str, Any]:
    """Our defaults for ``name`` from the shared settings: PPOConfig for the PPO family, the net size for all."""
    if name in ("ppo", "recurrent_ppo"):
        return {
            "learning_rate": cfg.learning_rate,
            "n_steps": cfg.n_steps,
            "batch_size": cfg.batch_size,
            "n_epochs": cfg.n_epochs,
            "gamma": cfg.gamma,
            "gae_lambda": cfg.gae_lambda,
            "clip_range": cfg.clip_range,
            "ent_coef": cfg.ent_coef,
            "vf_coef": cfg.vf_coef,
            "max_grad_norm": cfg.max_grad_norm,
        }
    if name == "a2c":
        return {"gamma": cfg.gamma, "gae_lambda": cfg.gae_lambda, "ent_coef": cfg.ent_coef, "vf_coef": cfg.vf_coef}
    return {}  # SAC, TD3: SB3's own defaults and algo_kwargs


def _policy_kwargs(name: str, cfg: PPOConfig) -> dict[str, Any]:
    if name in ON_POLICY:
        arch = list(cfg.net_arch)
        kwargs: dict[str, Any] = {"net_arch": {"pi": arch, "vf": arch}, "log_std_init": cfg.log_std_init}
        if cfg.tier1_gate:
            from agents.tier3.gate import Tier1Gate

            kwargs["features_extractor_class"] = Tier1Gate
        elif tuple(cfg.inputs) != OBS_LAYOUT.groups:
            from agents.tier3.inputs import ObsGroups

            kwargs["features_extractor_class"] = ObsGroups
            kwargs["features_extractor_kwargs"] = {"groups": list(cfg.inputs)}
        return kwargs
    arch = list(OFF_POLICY_NET_ARCH)
    return {"net_arch": {"pi": arch, "qf": arch}}


def check_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`AlgoError` for a keyword the SB3 constructor of ``name`` does not take."""
    params = inspect.signature(algo_class(name).__init__).parameters
    valid = sorted(k for k in params if k not in ("self", "policy", "env", "kwargs", "args"))
    for key in kwargs:
        if key not in params or key in ("self", "policy", "env"):
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise AlgoError(f"algo_kwargs.{key}: {name} takes no such keyword; {hint}valid: {', '.join(valid)}")


def make_model(
    name: str,
    cfg: PPOConfig,
    env: VecEnv,
    *,
    seed: int,
    torch_threads: int = 1,
    algo_kwargs: Mapping[str, Any] | None = None,
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """The learner ``name`` on ``env``, seeded, on the CPU, with ``torch_threads`` torch threads.

    ``algo_kwargs`` override our defaults key by key (``policy_kwargs`` is merged into ours).
    """
    cls = algo_class(name)
    extra = dict(algo_kwargs or {})
    check_kwargs(name, extra)
    torch.set_num_threads(torch_threads)
    kwargs = _base_kwargs(name, cfg)
    policy_kwargs = {**_policy_kwargs(name, cfg), **extra.pop("policy_kwargs", {})}
    kwargs.update(extra)
    policy: Any = "MlpLstmPolicy" if name in RECURRENT else "MlpPolicy"
    if cfg.menu_head != "free" and name in ON_POLICY and name not in RECURRENT:
        from agents.tier3.menu_head import FactoredMenuPolicy, PooledMenuPolicy

        policy = PooledMenuPolicy if cfg.menu_head == "pooled" else FactoredMenuPolicy
    return cls(  # type: ignore[call-arg]
        policy,
        env,
        policy_kwargs=policy_kwargs,
        tensorboard_log=tensorboard_log,
        seed=seed,
        device="cpu",
        verbose=verbose,
        **kwargs,
    )


def load_model(name: str, path: Any) -> BaseAlgorithm:
    """Load a saved model of algorithm ``name`` on the CPU."""
    return algo_class(name).load(path, device="cpu")
