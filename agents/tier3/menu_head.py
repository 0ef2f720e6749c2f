"""A factored output head for a categorical policy over the bracket menu (:class:`envs.menu.BracketMenu`).

The menu's item 0 is flat and items 1..k-1 are long trades that differ in hold and brackets. On a market with an
edge, whether to trade depends on the observation and is well identified from the training window's outcomes; which
of the long items to take is not: their outcomes are strongly correlated and differ by little against their noise,
so a head with a free logit per item and observation picks, per region of the input space, the item with the
luckiest training outcomes. :class:`FactoredMenuHead` keeps the first decision a function of the observation and
makes the second a preference shared by every observation::

    logits(x) = [0, a(x) + s b_1, ..., a(x) + s b_{k-1}]

with ``a`` a linear map of the policy's latent features (the propensity to trade) and ``b`` free parameters (which
long item, pooled over every decision). ``pi(flat | x) = 1 / (1 + sum_j exp(a(x) + s b_j))`` and, given a trade, the
item's probability ``softmax(s b)`` does not depend on ``x``. The scale ``s`` (:data:`ITEM_SCALE`) sets how fast the
shared preference moves (Adam moves every parameter by about the learning rate per step): at ``s = 1`` and PPO's 3e-4
it stays within 0.08-0.15 of uniform over a 200,000-step run; ``s = 10`` measured worse on three of the four planted
markets (docs/results/learnability.md), so the default is 1.
"""

from __future__ import annotations

from functools import partial

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

__all__ = ["ITEM_SCALE", "FactoredMenuHead", "FactoredMenuPolicy"]

ITEM_SCALE = 1.0
"""Scale of the shared item preference in the logits (its effective step size is this times the learning rate)."""


class FactoredMenuHead(nn.Module):
    """Logits ``[0, a(x) + s b_1, ..., a(x) + s b_{k-1}]`` of a ``k``-item menu from ``latent_dim`` features.

    Args:
        latent_dim: Size of the latent features (the policy network's last hidden layer).
        n_items: Menu items ``k`` (item 0 is flat), at least 2.
        scale: ``s``, the scale of the shared preference ``b``.
    """

    def __init__(self, latent_dim: int, n_items: int, scale: float = ITEM_SCALE) -> None:
        super().__init__()
        if n_items < 2:
            raise ValueError(f"n_items={n_items}: a menu has flat and at least one trade")
        self.propensity = nn.Linear(latent_dim, 1)
        self.items = nn.Parameter(torch.zeros(n_items - 1))
        self.scale = float(scale)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        a = self.propensity(latent)
        flat = torch.zeros_like(a)
        return torch.cat([flat, a + self.scale * self.items], dim=-1)


class FactoredMenuPolicy(ActorCriticPolicy):
    """SB3's actor-critic policy over a ``Discrete`` menu with :class:`FactoredMenuHead` as its action net
    (``ppo.menu_head: factored``): the latent features decide whether to trade, one learned preference shared by
    every observation decides which item."""

    pooled = False

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        if not isinstance(self.action_space, spaces.Discrete):
            raise TypeError(
                f"ppo.menu_head: factored needs the bracket menu's Discrete action space, got {self.action_space}; "
                "set stack.action=menu or ppo.menu_head=free"
            )
        self.action_net = FactoredMenuHead(self.mlp_extractor.latent_dim_pi, int(self.action_space.n))
        if self.ortho_init:  # as SB3 initialises its own action net: a small gain, a near-uniform first policy
            self.action_net.apply(partial(self.init_weights, gain=0.01))
        if self.pooled:  # set from the full-information outcomes by agents.tier3.full_info, not by the optimiser
            self.action_net.items.requires_grad_(False)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]


class PooledMenuPolicy(FactoredMenuPolicy):
    """:class:`FactoredMenuPolicy` whose shared item preference is not trained by the optimiser: the
    full-information callback sets it from the pooled outcomes of each item (``ppo.menu_head: pooled``)."""

    pooled = True
