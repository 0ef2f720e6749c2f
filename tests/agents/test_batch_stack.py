"""The batched stack equals N single stacks, and training on it equals training on SB3's DummyVecEnv.

* ``StackVecEnv(infos="full")`` gives, step for step, what ``DummyVecEnv`` over ``make_env`` copies gives: the
  same observations (bit for bit), rewards, dones, infos (trades, weights, regime, breaker events, terminal
  observations) and reset infos, for every combination of tiers.
* ``BanditBatch`` holds the posteriors and weights of N ``ComponentBandit`` objects fed the same trades, bit for bit.
* PPO trained on the batched env and on ``DummyVecEnv`` ends with identical parameters.
* ``infos="train"`` keeps a trade summary and the episode's equity; the tier outputs come as arrays, and the
  TensorBoard callback logs the same tags from them.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from agents.batch import TRADE_SUMMARY, StackVecEnv
from agents.config import TierConfig
from agents.stack import make_env
from agents.tier1 import ComponentBandit
from agents.tier1.batch import BanditBatch
from agents.tier3.config import PPOConfig
from agents.tier3.ppo import TradingMetricsCallback, make_ppo
from envs.data import load
from envs.layout import REGIMES
from tests.agents.small import SMALL


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [x.dtype.str, x.tolist()]
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


@pytest.mark.parametrize(
    "tier1, tier2, learns_from",
    [
        (True, True, "trades"),
        (False, True, "trades"),
        (True, False, "trades"),
        (False, False, "trades"),
        (True, True, "market"),  # Tier 1 learning from every bar (agents.tier1.market)
        (True, False, "market"),
    ],
)
def test_batched_stack_equals_dummy_vec_env_of_single_stacks(tier1, tier2, learns_from):
    tiers = dataclasses.replace(SMALL.tiers, tier1=tier1, tier2=tier2, tier1_learns_from=learns_from)
    cfg = dataclasses.replace(SMALL, tiers=tiers)
    data, n = load(cfg.data), 4
    dummy = DummyVecEnv([functools.partial(make_env, cfg, "train", data=data) for _ in range(n)])
    dummy.seed(11)
    batched = StackVecEnv(cfg, n, seed=11, infos="full", data=data)
    assert np.array_equal(dummy.reset(), batched.reset())
    assert json.dumps(_plain(dummy.reset_infos)) == json.dumps(_plain(batched.reset_infos))
    rng = np.random.default_rng(3)
    trades = 0
    for _ in range(300):
        actions = rng.uniform(-1.2, 1.2, (n, 4)).astype(np.float32)
        o1, r1, d1, i1 = dummy.step(actions)
        o2, r2, d2, i2 = batched.step(actions)
        assert np.array_equal(o1.view(np.uint32), o2.view(np.uint32))
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2)
        assert json.dumps(_plain(i1)) == json.dumps(_plain(i2))
        trades += sum("trade" in info for info in i1)
    assert trades > 200


def test_bandit_batch_equals_separate_bandits():
    rng = np.random.default_rng(0)
    n = 12
    for per_regime in (True, False):
        batch = BanditBatch(ComponentBandit(gamma=0.9, per_regime=per_regime), n)
        singles = [ComponentBandit(gamma=0.9, per_regime=per_regime) for _ in range(n)]
        for t in range(150):
            idx = np.sort(rng.choice(n, rng.integers(0, n + 1), replace=False))
            scores = rng.uniform(-1, 1, (len(idx), 4))
            scores[rng.random(scores.shape) < 0.1] = 0.01  # below min_abs_score: no evidence
            ret = rng.normal(0, 0.01, len(idx))
            ret[rng.random(len(idx)) < 0.1] = 0.0
            rows = rng.integers(-1, len(REGIMES), len(idx))
            batch.update(idx, scores, ret, rows)
            for j, i in enumerate(idx.tolist()):
                singles[i].update(scores[j].tolist(), float(ret[j]), None if rows[j] < 0 else REGIMES[rows[j]])
            if t % 40 == 39:
                batch.restore(3)
                singles[3] = ComponentBandit(gamma=0.9, per_regime=per_regime)
            regimes = rng.integers(-1, len(REGIMES), n)
            weights = batch.weights(regimes)
            for i in range(n):
                expected = singles[i].weights(None if regimes[i] < 0 else REGIMES[regimes[i]])
                assert np.array_equal(weights[i].view(np.uint64), expected.view(np.uint64))
            assert np.array_equal(batch.alpha, np.stack([s.alpha_ for s in singles]))
            assert np.array_equal(batch.beta, np.stack([s.beta_ for s in singles]))


def test_ppo_on_the_batched_env_trains_exactly_as_on_dummy_vec_env():
    cfg, data, n = SMALL, load(SMALL.data), 4
    ppo = PPOConfig(n_steps=64, batch_size=64, n_epochs=2)
    params = []
    for venv in (
        VecMonitor(StackVecEnv(cfg, n, seed=5, data=data)),
        VecMonitor(DummyVecEnv([functools.partial(make_env, cfg, "train", data=data) for _ in range(n)])),
    ):
        venv.seed(5)
        model = make_ppo(ppo, venv, seed=5)
        model.learn(3 * n * ppo.n_steps)
        params.append(torch.cat([p.detach().flatten() for p in model.policy.parameters()]))
    assert torch.equal(params[0], params[1])


def test_train_infos_carry_a_trade_summary_and_the_callback_reads_the_arrays():
    venv = VecMonitor(StackVecEnv(SMALL, 3, seed=0))
    model = make_ppo(PPOConfig(n_steps=80, batch_size=80, n_epochs=1), venv, seed=0)
    callback = TradingMetricsCallback()
    keys: set[str] = set()

    class Spy(Logger):
        def record_mean(self, key, value, exclude=None):
            keys.add(key)
            super().record_mean(key, value, exclude)

    model.set_logger(Spy(folder=None, output_formats=[]))
    model.learn(3 * 80, callback=callback)
    assert callback.episodes >= 3  # 60-bar episodes: finished ones were summarised from the trade summaries
    expected = {"tier1/w_theme", "tier2/p_crisis", "reward/base", "reward/flat_share", "trading/trade_count"}
    assert expected <= keys, sorted(expected - keys)
    venv.reset()
    rng = np.random.default_rng(0)
    summaries = []
    for _ in range(60):
        _, _, _, infos = venv.step(rng.uniform(-1, 1, (3, 4)).astype(np.float32))
        summaries += [info["trade"] for info in infos if "trade" in info]
        assert all("weights" not in info and "reward_terms" not in info for info in infos)
    assert summaries and all(tuple(t) == TRADE_SUMMARY for t in summaries)
    step = venv.stack_step
    assert step.weights.shape == (3, 4) and np.allclose(step.weights.sum(axis=1), 1.0)
    assert step.regime_probs.shape == (3, 5) and step.tier1 and step.tier2


def test_no_tier2_no_regime_tags():
    cfg = dataclasses.replace(SMALL, tiers=TierConfig(tier2=False))
    venv = StackVecEnv(cfg, 2, seed=0)
    assert venv.stack_step is not None and not venv.stack_step.tier2 and venv.stack_step.tier1
