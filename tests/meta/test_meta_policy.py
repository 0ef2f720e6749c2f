"""The Tier 4 policy is SB3's PPO MlpPolicy: same keys, same outputs, loads both ways (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.tier3.config import PPOConfig
from agents.tier3.ppo import make_ppo
from meta.policy import (
    action_distribution,
    architecture,
    init_params,
    load_into_sb3,
    log_prob,
    params_from_sb3,
    value,
)
from meta.tasks import RegimeParams, RegimeTask

torch.set_num_threads(1)
SMALL_PPO = PPOConfig(n_steps=32, batch_size=32, n_epochs=1)


@pytest.fixture(scope="module")
def task():
    return RegimeTask(RegimeParams(drift=0.0005, vol=0.01), seed=0, n_bars=300)


def fresh_ppo(task, seed=0):
    return make_ppo(SMALL_PPO, DummyVecEnv([lambda: task.make_env("train")]), seed=seed)


def random_obs(n=64, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).normal(0, 1, (n, 27)), dtype=torch.float32)


def assert_same_actor(params, model, obs):
    """Deterministic actions, log-probabilities of random actions and values agree exactly."""
    policy = model.policy
    actions = torch.as_tensor(np.random.default_rng(1).uniform(-1.5, 1.5, (len(obs), 4)), dtype=torch.float32)
    with torch.no_grad():
        sb3_mean = policy._predict(obs, deterministic=True)
        sb3_value, sb3_logp, _ = policy.evaluate_actions(obs, actions)
        dist = action_distribution(params, obs)
        torch.testing.assert_close(dist.mean, sb3_mean, rtol=0, atol=0)
        torch.testing.assert_close(log_prob(params, obs, actions), sb3_logp, rtol=0, atol=0)
        torch.testing.assert_close(value(params, obs), sb3_value.squeeze(-1), rtol=0, atol=0)
    deterministic, _ = model.predict(obs.numpy(), deterministic=True)
    np.testing.assert_array_equal(deterministic, np.clip(dist.mean.numpy(), -1, 1))


def test_keys_and_shapes_are_the_sb3_policy_state_dict(task):
    model = fresh_ppo(task)
    params = init_params(3)
    sb3 = model.policy.state_dict()
    assert list(params) == list(sb3)
    assert {k: tuple(v.shape) for k, v in params.items()} == {k: tuple(v.shape) for k, v in sb3.items()}
    assert architecture(params) == (27, 4, (64, 64), (64, 64))


def test_init_is_sb3s_orthogonal_scheme_and_seeded():
    p = init_params(0)
    w = p["action_net.weight"].double()
    torch.testing.assert_close(w @ w.T, 1e-4 * torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-9)
    w0 = p["mlp_extractor.policy_net.0.weight"].double()  # (64, 27): orthonormal columns times sqrt 2
    torch.testing.assert_close(w0.T @ w0, 2.0 * torch.eye(27, dtype=torch.float64), rtol=0, atol=1e-5)
    assert torch.all(p["log_std"] == -0.5) and torch.all(p["action_net.bias"] == 0)
    again, other = init_params(0), init_params(1)
    assert all(torch.equal(p[k], again[k]) for k in p)
    assert not torch.equal(p["action_net.weight"], other["action_net.weight"])


def test_a_fresh_sb3_policy_evaluates_identically_as_params(task):
    model = fresh_ppo(task, seed=5)
    assert_same_actor(params_from_sb3(model), model, random_obs())


def test_a_meta_learned_initialisation_loads_into_sb3_with_identical_outputs_and_fine_tunes(task):
    from meta.config import MetaConfig
    from meta.maml import meta_train
    from meta.tasks import TaskDistribution

    learned = meta_train(
        TaskDistribution(n_bars=300), MetaConfig(iterations=2, meta_batch=2, k_support=4, k_query=4), seed=2
    ).params
    assert not torch.equal(learned["action_net.bias"], init_params(2)["action_net.bias"])  # it did move
    model = load_into_sb3(learned, fresh_ppo(task, seed=9))
    assert_same_actor(learned, model, random_obs(seed=3))
    round_trip = params_from_sb3(model)
    assert all(torch.equal(round_trip[k], learned[k]) for k in learned)
    model.learn(total_timesteps=32)  # SB3's optimiser holds the loaded Parameter objects: they move
    tuned = params_from_sb3(model)
    assert not torch.equal(tuned["mlp_extractor.policy_net.0.weight"], learned["mlp_extractor.policy_net.0.weight"])


def test_round_trip_is_exact_and_shape_errors_name_the_key(task):
    model = fresh_ppo(task)
    params = {
        k: torch.randn(v.shape, generator=torch.Generator().manual_seed(i))
        for i, (k, v) in enumerate(init_params(0).items())
    }
    back = params_from_sb3(load_into_sb3(params, model))
    assert list(back) == list(params) and all(torch.equal(back[k], params[k]) for k in params)
    small = init_params(0, net_arch=(32, 32))
    with pytest.raises(ValueError, match=r"mlp_extractor.policy_net.0.weight.*\(32, 27\), \(64, 27\)"):
        load_into_sb3(small, model)
    with pytest.raises(ValueError, match="missing \\['log_std'\\]"):
        load_into_sb3({k: v for k, v in params.items() if k != "log_std"}, model)
    with pytest.raises(TypeError, match="SB3 PPO model"):
        params_from_sb3(object())
