"""``ppo.tier1_gate``: the policy reads Tier 1's weighted components; it trains, saves, loads and exports to ONNX."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.batch import StackVecEnv
from agents.tier3.config import PPOConfig
from agents.tier3.gate import Tier1Gate
from agents.tier3.ppo import make_ppo
from envs.layout import OBS_LAYOUT
from tests.agents.small import SMALL, reload_and_check_onnx


def test_gate_features_are_the_observation_then_the_weighted_scores():
    import gymnasium as gym

    gate = Tier1Gate(gym.spaces.Box(-1.0, 1.0, (OBS_LAYOUT.size,)))
    obs = torch.zeros((1, OBS_LAYOUT.size))
    obs[0, 11:15] = torch.tensor([0.5, -0.4, 0.2, 0.1])  # theme, technical, ai, sentiment
    obs[0, 15:19] = torch.tensor([0.7, 0.1, 0.1, 0.1])  # Tier 1 trusts theme
    out = gate(obs)[0]
    assert torch.equal(out[: OBS_LAYOUT.size], obs[0])
    np.testing.assert_allclose(out[OBS_LAYOUT.size :].numpy(), [1.4, -0.16, 0.08, 0.04, 1.36], atol=1e-6)
    with pytest.raises(ValueError, match="27-slot observation"):
        Tier1Gate(gym.spaces.Box(-1.0, 1.0, (5,)))


def test_a_gated_policy_trains_reloads_and_exports_to_onnx(tmp_path):
    cfg = dataclasses.replace(SMALL, action="menu")
    env = StackVecEnv(cfg, 4, seed=0)
    model = make_ppo(PPOConfig(n_steps=32, batch_size=64, n_epochs=1, tier1_gate=True), env, seed=0)
    assert isinstance(model.policy.features_extractor, Tier1Gate)
    model.learn(128)
    loaded = reload_and_check_onnx(model, cfg, tmp_path)
    assert isinstance(loaded.policy.features_extractor, Tier1Gate)
