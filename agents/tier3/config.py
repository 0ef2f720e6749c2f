"""Tier 3's settings, importable without torch: the learners ``algo`` may name and :class:`PPOConfig`.

Loading a run config imports this module only; :mod:`agents.tier3.algos` (which imports torch and SB3) builds the
learner from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from envs.layout import OBS_LAYOUT

ALGOS: tuple[str, ...] = ("ppo", "a2c", "sac", "td3", "recurrent_ppo")
"""The learners ``algo`` may name."""
ON_POLICY: frozenset[str] = frozenset({"ppo", "a2c", "recurrent_ppo"})
"""The learners :class:`PPOConfig` configures (A2C takes its ``gamma``, ``gae_lambda``, ``ent_coef``, ``vf_coef``,
``net_arch`` and ``log_std_init``)."""
RECURRENT: frozenset[str] = frozenset({"recurrent_ppo"})
OFF_POLICY_NET_ARCH: tuple[int, ...] = (64, 64)
"""Hidden sizes of SAC's and TD3's actor and critics (SB3's defaults otherwise; ``algo_kwargs`` overrides both)."""


MENU_HEADS: tuple[str, ...] = ("free", "factored", "pooled")
"""Values of ``ppo.menu_head``: ``free`` (SB3's linear head, one logit per item and observation), ``factored`` or
``pooled`` (:mod:`agents.tier3.menu_head`)."""


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
        tier1_gate: Give the policy Tier 1's weighted components as extra inputs (:mod:`agents.tier3.gate`).
        menu_head: The policy's output head over the bracket menu: ``free`` (one logit per item, SB3's) or
            ``factored`` (whether to trade from the observation, which item from one shared preference;
            :mod:`agents.tier3.menu_head`) or ``pooled`` (that, its item preference set from the full-information
            outcomes); both need ``stack.action: menu``, ``pooled`` also ``full_info > 0``.
        inputs: The observation groups the policy reads (:mod:`agents.tier3.inputs`; default all six of
            :data:`envs.layout.OBS_LAYOUT`); not with ``tier1_gate``.
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
    tier1_gate: bool = False
    menu_head: str = "free"
    inputs: tuple[str, ...] = OBS_LAYOUT.groups

    def __post_init__(self) -> None:
        for name, low, high, how in _BOUNDS:
            value = getattr(self, name)
            if not _inside(value, low, high, how):
                where = f"in {how[0]}{low:g}, {high:g}{how[1]}" if high < _INF else f"{how} {low:g}"
                raise ValueError(f"PPOConfig.{name}={value!r} must be {where}, e.g. {getattr(PPOConfig, name)!r}")
        if not isinstance(self.tier1_gate, bool):
            raise TypeError(f"PPOConfig.tier1_gate={self.tier1_gate!r} must be true or false")
        if self.menu_head not in MENU_HEADS:
            raise ValueError(f"PPOConfig.menu_head={self.menu_head!r} must be one of {list(MENU_HEADS)}, e.g. 'free'")
        groups = list(OBS_LAYOUT.groups)
        if isinstance(self.inputs, str) or not self.inputs or any(g not in groups for g in self.inputs):
            got = self.inputs if isinstance(self.inputs, str) else list(self.inputs)
            raise ValueError(f"PPOConfig.inputs={got!r} must list observation groups out of {groups}, e.g. {groups}")
        if self.tier1_gate and tuple(self.inputs) != OBS_LAYOUT.groups:
            raise ValueError(
                f"PPOConfig.tier1_gate=true reads the whole observation; it does not combine with inputs="
                f"{list(self.inputs)}: set tier1_gate=false or inputs to all groups"
            )
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.net_arch):
            raise ValueError(f"PPOConfig.net_arch={list(self.net_arch)!r} must list layer sizes >= 1, e.g. [64, 64]")


def _inside(value: object, low: float, high: float, how: str) -> bool:
    """Whether ``value`` is a number in the range ``(low, high, how)`` of :data:`_BOUNDS` (NaN never is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    closed_low = how[0] == "[" or how == ">="
    return (low < value or (closed_low and value == low)) and (value < high or (how[-1] == "]" and value == high))


_INF = float("inf")
_BOUNDS: tuple[tuple[str, float, float, str], ...] = (
    ("learning_rate", 0.0, _INF, ">"),
    ("n_steps", 1, _INF, ">="),
    ("batch_size", 2, _INF, ">="),  # SB3's PPO asserts batch_size > 1
    ("n_epochs", 1, _INF, ">="),
    ("gamma", 0.0, 1.0, "[]"),  # 0: each decision paid its own reward only (the planted-edge presets)
    ("gae_lambda", 0.0, 1.0, "[]"),
    ("clip_range", 0.0, _INF, ">"),
    ("ent_coef", 0.0, _INF, ">="),
    ("vf_coef", 0.0, _INF, ">="),
    ("max_grad_norm", 0.0, _INF, ">"),
    ("log_std_init", -20.0, 2.0, "[]"),
    ("full_info", 0.0, _INF, ">="),
    ("full_info_epochs", 1, _INF, ">="),
)
"""``(field, low, high, how)``: the range of each number of :class:`PPOConfig`: ``[low, high]`` with ``[``/``]``
closed and ``(``/``)`` open, or ``> low`` / ``>= low``. ``log_std_init`` in [-20, 2]: outside it the initial
standard deviation of the Gaussian policy is below 1e-8 (no exploration) or above 7 (nearly every action clipped
to the edge of the [-1, 1] box)."""

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
