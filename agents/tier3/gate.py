""":class:`Tier1Gate`: the policy's inputs gain Tier 1's weighted components (``ppo.tier1_gate: true``).

Tier 1 says how much each component's score is worth now (its weights, slots 15-18); the policy must combine them
with the scores themselves (slots 11-14) to follow the component that works. That combination is a product, which
a small MLP fits poorly from noisy outcomes: on the certification's two-regime markets an offline learner over the
bracket menu reading the scores and the weights did no better than one reading the scores alone (docs/tiers.md).
This SB3 features extractor hands the product to the network: its features are the observation followed by
``4 * w_c * score_c`` for each component (the score itself at uniform weights) and their sum, the weighted signal
of the seed system's composite score. It has no parameters, and the exported ONNX policy contains it.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from envs.layout import COMPONENTS, OBS_LAYOUT

_COMP = OBS_LAYOUT.group_slice("components")
_W = OBS_LAYOUT.group_slice("tier1")
EXTRA = len(COMPONENTS) + 1
"""Features added to the observation."""


class Tier1Gate(BaseFeaturesExtractor):
    """Observation ``(27,)`` -> ``(27 + 5,)``: the observation, ``4 w_c score_c`` per component and their sum."""

    def __init__(self, observation_space: gym.spaces.Box) -> None:
        if observation_space.shape != (OBS_LAYOUT.size,):
            raise ValueError(
                f"ppo.tier1_gate needs the stack's {OBS_LAYOUT.size}-slot observation; got shape "
                f"{observation_space.shape}"
            )
        super().__init__(observation_space, features_dim=OBS_LAYOUT.size + EXTRA)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        gated = observations[:, _COMP] * observations[:, _W] * float(len(COMPONENTS))
        return torch.cat([observations, gated, gated.sum(dim=1, keepdim=True)], dim=1)
