"""``ppo.menu_head: factored``: whether to trade depends on the observation, which item does not; the policy
trains, saves, loads and exports to ONNX; a config asking for it without the menu is one clear error."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from agents.batch import StackVecEnv
from agents.tier3.config import PPOConfig
from agents.tier3.menu_head import ITEM_SCALE, FactoredMenuHead, FactoredMenuPolicy
from agents.tier3.ppo import make_ppo
from tests.agents.small import SMALL, reload_and_check_onnx


def test_the_item_given_a_trade_is_the_same_for_every_observation():
    torch.manual_seed(0)
    head = FactoredMenuHead(8, 11)
    with torch.no_grad():
        head.items.copy_(torch.linspace(-1.0, 1.0, 10) / ITEM_SCALE)
    with torch.no_grad():
        logits = head(torch.randn(50, 8))
    assert logits.shape == (50, 11) and torch.all(logits[:, 0] == 0)
    given_trade = torch.softmax(logits[:, 1:], dim=-1)
    torch.testing.assert_close(given_trade, given_trade[:1].expand(50, -1))
    trade = 1 - torch.softmax(logits, dim=-1)[:, 0]
    assert float(trade.max() - trade.min()) > 0.01  # while the propensity to trade varies
    torch.testing.assert_close(logits[0, 1:] - logits[0, 1], ITEM_SCALE * (head.items - head.items[0]).detach())
    with pytest.raises(ValueError, match="n_items"):
        FactoredMenuHead(8, 1)


def test_a_factored_policy_trains_reloads_and_exports_to_onnx(tmp_path):
    cfg = dataclasses.replace(SMALL, action="menu")
    env = StackVecEnv(cfg, 4, seed=0)
    model = make_ppo(PPOConfig(n_steps=32, batch_size=64, n_epochs=1, menu_head="factored"), env, seed=0)
    assert isinstance(model.policy, FactoredMenuPolicy) and isinstance(model.policy.action_net, FactoredMenuHead)
    before = model.policy.action_net.items.detach().clone()
    model.learn(128)
    assert not torch.equal(before, model.policy.action_net.items)  # the shared preference is trained
    loaded = reload_and_check_onnx(model, cfg, tmp_path)
    assert isinstance(loaded.policy.action_net, FactoredMenuHead)


def test_a_factored_head_without_the_menu_is_one_clear_error():
    from experiments.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"ppo.menu_head='factored'.*stack.action=menu or ppo.menu_head=free"):
        load_config("quickstart", overrides=["stack.action=box", "ppo.full_info=0", "ppo.menu_head=factored"])
    with pytest.raises(ConfigError, match=r"needs ppo.full_info > 0 \(now 0.0\)"):
        load_config("quickstart", overrides=["ppo.full_info=0", "ppo.menu_head=pooled"])
    with pytest.raises((ValueError, ConfigError), match="menu_head"):
        load_config("quickstart", overrides=["ppo.menu_head=tree"])


def test_a_pooled_preference_is_set_from_the_outcomes_not_by_the_optimiser(tmp_path):
    from agents.tier3.full_info import POOLED_TEMPERATURE
    from experiments.config import load_config
    from experiments.evaluation.policies import load_model
    from experiments.training.train import train
    from tests.experiments.test_cli import TINY

    cfg = load_config("quickstart", overrides=[*TINY, f"runs_dir={tmp_path}", "ppo.menu_head=pooled"])
    result = train(cfg, progress=False)
    head = load_model(result.model_path).policy.action_net
    items = head.items
    assert not items.requires_grad
    assert float(items.max()) == 0.0 and float(items.min()) < 0.0  # the best pooled item at 0, the others below
    assert float(items.min()) * POOLED_TEMPERATURE > -10.0  # utilities (x 100) of a few tenths at most


class _RankedPolicy:
    """A pooled head over flat and two long items whose trade probability falls with the observation's index."""

    def __init__(self) -> None:
        self.action_net = FactoredMenuHead(1, 3)
        self.action_net.items.requires_grad_(False)
        with torch.no_grad():  # a(x) = 0.1 x
            self.action_net.propensity.weight.fill_(0.1)
            self.action_net.propensity.bias.zero_()

    def get_distribution(self, obs: torch.Tensor):  # the attribute the callback reads
        logits = self.action_net(obs)  # near a coin flip, but it ranks the decisions
        return type("D", (), {"distribution": torch.distributions.Categorical(logits=logits)})()


def test_the_pooled_item_is_judged_with_the_trade_set_that_suits_it():
    """A long hold that earns most over a coin-flip trade set must not beat a short hold that earns more per bar at
    the decisions the policy ranks first (the trap of an item chosen while the trade decision is still loose)."""
    import numpy as np

    from agents.tier3.full_info import FullInfoCallback, Outcomes

    n = 200
    x = torch.linspace(1.0, -1.0, n)[:, None]  # the policy ranks decision 0 first
    on = (x[:, 0] > 0).numpy()
    growth = np.zeros((n, 3))
    growth[:, 1] = np.where(on, 0.004, -0.004)  # hold 2: the edge, where the policy ranks its trades first
    growth[:, 2] = 0.003  # hold 10: drift, everywhere
    spans = np.column_stack([np.ones(n), np.full(n, 2.0), np.full(n, 10.0)])
    callback = FullInfoCallback(Outcomes(0, growth, spans))
    policy = _RankedPolicy()
    g, s = torch.as_tensor(growth, dtype=torch.float32), torch.as_tensor(spans, dtype=torch.float32)
    assert float(g[:, 2].mean()) > float(g[:, 1].mean())  # over every decision (a coin flip), hold 10 earns more
    callback._pool_items(policy, x, g, s)
    items = policy.action_net.items
    assert float(items[0]) == 0.0 and float(items[1]) < -1.0, items  # hold 2 is the pooled choice, by logits
