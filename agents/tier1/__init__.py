"""Tier 1: the Thompson-sampling component bandit and the wrapper that writes its weights into slots 15-18.

:class:`ComponentBandit` (:mod:`agents.tier1.bandit`) keeps discounted Beta posteriors per component and regime;
its weights come from the deterministic quadrature of :mod:`agents.tier1.quadrature`.
:class:`ComponentWeightWrapper` (:mod:`agents.tier1.wrapper`) feeds it closed trades and writes the weights.
"""

from agents.tier1.bandit import BanditSnapshot, ComponentBandit
from agents.tier1.quadrature import prob_best, prob_best_list, project_capped_simplex, project_list
from agents.tier1.wrapper import ComponentWeightWrapper

__all__ = [
    "BanditSnapshot",
    "ComponentBandit",
    "ComponentWeightWrapper",
    "prob_best",
    "prob_best_list",
    "project_capped_simplex",
    "project_list",
]
