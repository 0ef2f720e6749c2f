"""Tier 3's settings, importable without torch: the learners ``algo`` may name and :class:`PPOConfig`.

Loading a run config imports this module only; :mod:`agents.tier3.algos` (which imports torch and SB3) builds the
learner from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

ALGOS: tuple[str, ...] = ("ppo", "a2c", "sac", "td3", "recurrent_ppo")
"""The learners ``algo`` may name."""
ON_POLICY: frozenset[str] = frozenset({"ppo", "a2c", "recurrent_ppo"})
"""The learners :class:`PPOConfig` configures (A2C takes its ``gamma``, ``gae_lambda``, ``ent_coef``, ``vf_coef``,
``net_arch`` and ``log_std_init``)."""
RECURRENT: frozenset[str] = frozenset({"recurrent_ppo"})
OFF_POLICY_NET_ARCH: tuple[int, ...] = (64, 64)
"""Hidden sizes of SAC's and TD3's actor and critics (SB3's defaults otherwise; ``algo_kwargs`` overrides both)."""


@dataclass(frozen=True)
class PPOConfig:
    """Settings of the PPO family: PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347), RecurrentPPO and,
    for the fields it shares, A2C (SB3 names; see the SB3 PPO docs). SAC and TD3 are configured by ``algo_kwargs``
    alone, on SB3's defaults with a :data:`OFF_POLICY_NET_ARCH` network.

    Attributes:
        learning_rate: Adam step size.
        n_steps: Steps per env per rollout.
        batch_size: Minibatch size.
        n_epochs: Optimisation epochs per rollout.
        gamma: Discount per step (one step is one trade decision).
        gae_lambda: GAE lambda.
        clip_range: PPO clip range.
        ent_coef: Entropy bonus.
        vf_coef: Value-loss weight.
        max_grad_norm: Gradient clipping.
        net_arch: Hidden layer sizes of the actor and of the critic.
        log_std_init: Initial log standard deviation of the Gaussian policy.
        full_info: Weight of the full-information loss (:mod:`agents.tier3.full_info`): after every rollout,
            gradient steps on the expected utility of every bracket-menu item at the rollout's decisions; needs
            ``stack.action: menu``. 0 turns it off (PPO learns from the trades it took only).
        full_info_epochs: Passes over a rollout's decisions of the full-information loss.
    """

    learning_rate: float = 3e-4
    n_steps: int = 256
    batch_size: int = 128
    n_epochs: int = 5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (64, 64)
    log_std_init: float = -0.5
    full_info: float = 0.0
    full_info_epochs: int = 4


REWARD_TERMS: tuple[str, ...] = ("base", "drawdown_penalty", "clip_penalty", "bar_cost")
"""The terms of the env's ``info["reward_terms"]`` summed per episode under ``reward/<term>``."""
HPARAM_METRICS: tuple[str, ...] = ("trading/net_return", "trading/sharpe", "eval/mean_reward")
"""The metric tags :class:`~agents.tier3.ppo.HParamCallback` declares by default (scalars logged during training)."""


def flat_hparams(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a (nested) dataclass into ``{"a.b": value}`` for :class:`~agents.tier3.ppo.HParamCallback`."""
    return flatten_dict(asdict(cfg), prefix)


def flatten_dict(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b": value}`` (keys prefixed with ``prefix``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten_dict(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
