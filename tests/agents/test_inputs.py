"""``ppo.inputs``: the policy reads only the observation groups it names; it trains, saves, loads and exports to
ONNX (the live brain feeds the full observation); a bad group or a clash with the Tier 1 gate is one clear error."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.batch import StackVecEnv
from agents.tier3.config import PPOConfig
from agents.tier3.inputs import ObsGroups, group_columns
from agents.tier3.ppo import make_ppo
from envs.layout import OBS_LAYOUT
from tests.agents.small import SMALL, reload_and_check_onnx


def test_the_extractor_keeps_the_named_groups_in_layout_order():
    assert group_columns(["tier1", "components"]) == list(range(11, 19))
    assert group_columns(OBS_LAYOUT.groups) == list(range(OBS_LAYOUT.size))
    extractor = ObsGroups(gym.spaces.Box(-1.0, 1.0, (OBS_LAYOUT.size,)), ["components", "tier2"])
    obs = torch.arange(2 * OBS_LAYOUT.size, dtype=torch.float32).reshape(2, OBS_LAYOUT.size)
    out = extractor(obs)
    assert extractor.features_dim == 9
    torch.testing.assert_close(out, obs[:, [11, 12, 13, 14, 19, 20, 21, 22, 23]])
    with pytest.raises(KeyError, match="valid groups"):
        group_columns(["comps"])


def test_a_policy_on_some_groups_ignores_the_others_and_exports_to_onnx(tmp_path):
    cfg = dataclasses.replace(SMALL, action="menu")
    env = StackVecEnv(cfg, 4, seed=0)
    ppo = PPOConfig(n_steps=32, batch_size=64, n_epochs=1, menu_head="factored", inputs=("components", "tier1"))
    model = make_ppo(ppo, env, seed=0)
    model.learn(128)
    loaded = reload_and_check_onnx(model, cfg, tmp_path)
    obs = np.random.default_rng(0).uniform(OBS_LAYOUT.low, OBS_LAYOUT.high, (500, OBS_LAYOUT.size)).astype(np.float32)
    other = obs.copy()
    other[:, 19:] = np.random.default_rng(1).uniform(OBS_LAYOUT.low, OBS_LAYOUT.high, (500, OBS_LAYOUT.size))[:, 19:]
    other[:, :11] = 0.0
    with torch.no_grad():
        a = loaded.policy.get_distribution(torch.as_tensor(obs)).distribution.logits
        b = loaded.policy.get_distribution(torch.as_tensor(other)).distribution.logits
    torch.testing.assert_close(a, b)  # slots outside components and tier1 change nothing


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["ppo.inputs=[comps]"], r"ppo.inputs=\['comps'\] must list observation groups"),
        (["ppo.inputs=[components]", "ppo.tier1_gate=true"], "does not combine with inputs"),
    ],
)
def test_bad_inputs_are_one_clear_error(overrides, match):
    from experiments.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=match):
        load_config("planted_edge", overrides=overrides)
