""":class:`ObsGroups`: the policy reads only some groups of the observation (``ppo.inputs``).

The stack's observation has 27 slots in six groups (:data:`envs.layout.OBS_LAYOUT`: ``portfolio``, ``market``,
``components``, ``tier1``, ``tier2``, ``performance``). A network fitted to noisy trade outcomes from a few thousand
training bars uses every slot it reads, including the ones that carry nothing on the market at hand; this SB3
features extractor hands it only the groups ``ppo.inputs`` names, in layout order. The env, the risk layer and the
tiers still see and compute everything; the exported ONNX policy contains the selection, so the live brain feeds
it the full observation as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from envs.layout import OBS_LAYOUT

__all__ = ["ObsGroups", "group_columns"]


def group_columns(groups: Sequence[str]) -> list[int]:
    """The observation columns of ``groups``, in layout order (a KeyError names an unknown group)."""
    wanted = set(groups)
    cols: list[int] = []
    for name in OBS_LAYOUT.groups:
        if name in wanted:
            s = OBS_LAYOUT.group_slice(name)
            cols.extend(range(s.start, s.stop))
    unknown = wanted - set(OBS_LAYOUT.groups)
    if unknown:
        raise KeyError(
            f"unknown observation group {sorted(unknown)[0]!r}; valid groups: {', '.join(OBS_LAYOUT.groups)}"
        )
    return cols


class ObsGroups(BaseFeaturesExtractor):
    """Observation ``(27,)`` -> the columns of ``groups`` (:func:`group_columns`)."""

    columns: torch.Tensor

    def __init__(self, observation_space: gym.spaces.Box, groups: Sequence[str] = OBS_LAYOUT.groups) -> None:
        if observation_space.shape != (OBS_LAYOUT.size,):
            raise ValueError(
                f"ppo.inputs needs the stack's {OBS_LAYOUT.size}-slot observation; got shape {observation_space.shape}"
            )
        cols = group_columns(groups)
        super().__init__(observation_space, features_dim=len(cols))
        self.groups = tuple(groups)
        self.register_buffer("columns", torch.as_tensor(cols, dtype=torch.long), persistent=False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations.index_select(1, self.columns)
