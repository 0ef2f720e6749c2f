"""Tier 4 beyond MAML: adaptation windows, specialists, the bandit and the selector, save/load, meta-train CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from agents.config import StackConfig, TierConfig
from meta.adaptation import ADAPTATION_KS, adapt, adapted_score, score_params, selector_dataset
from meta.brain import Tier4, Tier4Policy, train_tier4
from meta.config import MetaConfig
from meta.online import N_FEATURES, SpecialistOutcome, selector_features
from meta.segments import SegmentDistribution
from meta.selector import (
    SelectorData,
    SpecialistBandit,
    bandit_pick,
    round_robin,
    run_specialists,
    train_selector,
)
from meta.specialists import SPECIALISTS, Specialist, SpecialistDistribution, SpecialistTask
from meta.tasks import RegimeParams, RegimeTask, TaskDistribution, oracle

torch.set_num_threads(1)
UP = RegimeParams(drift=0.002, vol=0.01)


def test_adaptation_window_precedes_the_scored_window_and_never_overlaps():
    task = RegimeTask(UP, seed=0, n_bars=300, adapt_bars=100)
    fit, score = task.make_env("train").unwrapped.window, task.make_env("val").unwrapped.window
    assert fit[1] == score[0] and fit[1] - fit[0] == 100 and score[1] - score[0] == 200
    assert task.make_env("test").unwrapped.window == score
    env = task.make_env("train")  # support decisions start and end inside the adaptation window
    rng = np.random.default_rng(0)
    for i in range(30):
        env.reset(seed=i)
        assert fit[0] <= env.unwrapped.bar < fit[1]
        done = False
        while not done:
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            done = term or trunc
            assert env.unwrapped.bar < fit[1]
    whole = RegimeTask(UP, seed=0, n_bars=300)
    assert whole.make_env("train").unwrapped.window == whole.make_env("val").unwrapped.window == (fit[0], score[1])
    with pytest.raises(ValueError, match=r"adapt_bars=300 must be an integer in \[1, n_bars - 1 = 299\]"):
        RegimeTask(UP, n_bars=300, adapt_bars=300)


def test_specialists_only_tighten_the_size_and_change_only_the_reward_penalties():
    cons = SPECIALISTS[0]
    assert cons.name == "conservative" and cons.size_fraction == 0.5
    np.testing.assert_allclose(cons.env_action(np.array([1.0, 0.3, -0.2, 0.9])), [0.0, 0.3, -0.2, 0.9])
    np.testing.assert_allclose(cons.env_action(np.array([-5.0, 2.0, 0.0, 0.0])), [-1.0, 1.0, 0.0, 0.0])
    task = RegimeTask(UP, seed=1, n_bars=300)
    stack = cons.stack(task.stack_config())
    assert stack.reward.drawdown_penalty == 30.0 and stack.limits == task.stack_config().limits
    assert dataclasses.replace(stack, reward=task.stack_config().reward) == task.stack_config()
    env = SpecialistTask(task, cons).make_env("train")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    sizes = []
    for _ in range(200):
        _, _, term, trunc, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32) * 3)
        if "trade" in info:
            sizes.append(info["trade"]["size"])
        if term or trunc:
            env.reset(seed=int(rng.integers(1000)))
    cap = task.stack_config().limits.max_position
    assert sizes and max(sizes) <= 0.5 * cap + 1e-9 and max(sizes) > 0.4 * cap
    with pytest.raises(ValueError, match=r"size_fraction=1\.5 must be in \(0, 1\]"):
        Specialist("bold", size_fraction=1.5, drawdown_penalty=0.0)
    tasks = SpecialistDistribution(TaskDistribution(n_bars=200), cons).sample(2, seed=3)
    assert [t.task for t in tasks] == TaskDistribution(n_bars=200).sample(2, seed=3)


def test_bandit_settles_on_the_arm_that_pays_and_defaults_without_data():
    bandit = SpecialistBandit(3, seed=0, default=1)
    assert bandit.best() == 1
    rng = np.random.default_rng(0)
    pulls = np.zeros(3, int)
    for _ in range(60):
        arm = bandit.choose()
        pulls[arm] += 1
        bandit.update(arm, rng.normal([-0.01, 0.0, 0.01][arm], 0.005))
    assert bandit.best() == 2 and pulls[2] > pulls[0] + pulls[1]


def test_selector_features_summarise_each_specialists_results():
    obs = np.zeros(27, np.float32)
    obs[19:24] = [0.6, 0.1, 0.1, 0.1, 0.1]
    obs[8] = 0.3  # vol_20
    decisions = [
        SpecialistOutcome(0, obs, 0.01, True),
        SpecialistOutcome(1, obs, -0.02, True),
        SpecialistOutcome(0, obs, -0.005, True),
    ]
    f = selector_features(decisions)
    assert f.shape == (N_FEATURES,)
    np.testing.assert_allclose(f[:5], [0.6, 0.1, 0.1, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(f[5], 0.3, rtol=1e-6)
    np.testing.assert_allclose(f[7:16], [0.25, 2 / 3, 0.5, -2.0, 1 / 3, 0.0, 0.0, 0.0, 0.5], rtol=1e-6)
    empty = selector_features([])
    np.testing.assert_allclose(empty[:5], 0.2)
    assert empty[9] == empty[12] == empty[15] == 0.5


def test_selector_learns_to_pick_the_specialist_whose_results_are_best():
    rng = np.random.default_rng(0)

    def data(n: int) -> SelectorData:
        feats = np.zeros((n, N_FEATURES), np.float32)
        feats[:, :5] = 0.2
        means = rng.normal(0, 1, (n, 3))
        feats[:, 7::3], feats[:, 8::3], feats[:, 9::3] = means, 1 / 3, 0.5
        labels = means.argmax(axis=1)
        return SelectorData(feats, labels, means)

    train, test = data(400), data(200)
    net, losses = train_selector(train, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    picks = np.array([net.pick(f) for f in test.features])
    assert (picks == test.labels).mean() > 0.85  # chance is 1/3


@pytest.fixture(scope="module")
def tiny_brain():
    dist = TaskDistribution(n_bars=200, adapt_bars=80)
    cfg = MetaConfig(iterations=2, meta_batch=2, k_support=4, k_query=4)
    return dist, train_tier4(dist, cfg, seed=0, selector_tasks=3, ks=(0, 3))


def test_tier4_trains_saves_and_loads_identically(tiny_brain, tmp_path):
    _, (brain, report) = tiny_brain
    assert brain.names == ("conservative", "balanced", "aggressive")
    assert set(report.histories) == set(brain.names) and len(report.selector_data.labels) == 3 * 2
    assert all(len(h.meta_loss) == 2 for h in report.histories.values())
    loaded = Tier4.load(brain.save(tmp_path / "tier4"))
    for name in brain.names:
        for key, v in brain.params[name].items():
            torch.testing.assert_close(loaded.params[name][key], v, rtol=0, atol=0)
    feats = torch.randn(5, N_FEATURES)
    torch.testing.assert_close(loaded.selector(feats), brain.selector(feats), rtol=0, atol=0)
    assert loaded.meta_config == brain.meta_config
    (tmp_path / "tier4" / "tier4.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"tier4\.pt is missing"):
        Tier4.load(tmp_path / "tier4")


def test_scores_use_the_scoring_window_and_k0_is_the_initialisation(tiny_brain):
    dist, (brain, _) = tiny_brain
    task = dist.sample(1, seed=5, split="held_out")[0]
    params = brain.params["balanced"]
    cfg = brain.meta_config
    base = score_params(task.make_env("val"), params)
    assert adapted_score(params, task, 0, cfg, seed=1) == base
    moved = adapt(params, task, 5, cfg, seed=1)
    assert any(not torch.equal(moved[k], params[k]) for k in params)
    o = oracle(task)
    assert o.mean_return >= 0.0  # flat is in the oracle's grid
    assert np.isfinite(adapted_score(params, task, 5, cfg, seed=1))
    # the bandit and round-robin decisions are the specialists' own, in the adaptation window
    arm, decisions = bandit_pick(task.make_env("train"), brain.pairs(), 9, seed=2, default=1)
    assert len(decisions) == 9 and 0 <= arm < 3
    rr = run_specialists(task.make_env("train"), brain.pairs(), 6, round_robin, seed=2)
    assert [d.arm for d in rr] == [0, 1, 2, 0, 1, 2]
    data = selector_dataset([task], brain.pairs(), (0, 3), seed=0)
    assert data.features.shape == (2, N_FEATURES) and len(set(data.labels.tolist())) == 1
    assert ADAPTATION_KS == (0, 1, 3, 5, 10, 20, 30)


def test_real_data_segments_split_into_train_and_held_out_windows(synthetic_sample):
    data = synthetic_sample.data
    window = lambda a, b: (str(data.index[a].date()), str(data.index[b].date()))  # noqa: E731
    tiers = TierConfig(tier1=False, tier2=True, tier2_restarts=1, tier2_fit_bars=500)
    cfg = StackConfig(data="synthetic", train=window(600, 1100), val=window(1100, 1499), tiers=tiers)
    dist = SegmentDistribution(cfg, data, min_bars=20)
    train = dist.sample(4, seed=0)
    held = dist.sample(4, seed=0, split="held_out")
    assert all(600 <= t.segment.start and t.segment.stop <= 1100 and t.adapt_bars is None for t in train)
    for t in held:
        assert 1100 <= t.segment.start and t.segment.stop <= 1499
        fit, score = t.make_env("train").unwrapped.window, t.make_env("val").unwrapped.window
        assert fit[0] == t.segment.start and fit[1] == score[0] and score[1] == t.segment.stop
    with pytest.raises(ValueError, match="no regime segment of at least 5000 bars in the train window"):
        SegmentDistribution(cfg, data, min_bars=5000).sample(1, seed=0)


def test_meta_train_cli_writes_tier4_tensorboard_and_the_evaluation(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from experiments.cli import main

    run = tmp_path / "meta"
    sets = [
        "meta.maml.iterations=2", "meta.maml.meta_batch=2", "meta.maml.k_support=4", "meta.maml.k_query=4",
        "meta.selector_tasks=2", "meta.eval_tasks=2", "meta.n_bars=200", "meta.adapt_bars=80",
        "meta.rule_tasks=3", "meta.rule_bars=300",
    ]  # fmt: skip
    assert main(["meta-train", "--run", str(run)] + [x for s in sets for x in ("--set", s)]) == 0
    out = capsys.readouterr().out
    assert "selector" in out and "oracle" in out and "K=30" in out
    assert f"rule adapter: {run / 'rule_adapter.json'} (posterior_dense_t16_lcb prior from 3 synthetic" in out
    assert json.loads((run / "rule_adapter.json").read_text())["lcb"] == 1.0
    assert Tier4.load(run / "tier4").names == ("conservative", "balanced", "aggressive")
    result = json.loads((run / "meta_eval.json").read_text())
    assert result["ks"] == list(ADAPTATION_KS) and len(result["tasks"]) == 2
    k5 = result["by_k"]["5"]
    assert set(k5["score_bp"]) == {"conservative", "balanced", "aggressive", "bandit", "selector"}
    assert sum(k5["choices"]["selector"]) == 2
    acc = EventAccumulator(str(run / "tb")).Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "conservative/meta/loss", "aggressive/meta/post_return", "selector/loss", "compare/selector_bp",
        "compare/bandit_bp", "compare/oracle_bp", "selector/choice/balanced", "task00/balanced_bp",
    ):  # fmt: skip
        assert tag in tags, tag
    assert [e.step for e in acc.Scalars("compare/selector_bp")] == list(ADAPTATION_KS)
    metrics = json.loads((run / "metrics.json").read_text())  # Tier 4 online and the baselines on the test window
    assert {"tier4", "buy_and_hold_cap", "random", "buy_and_hold_full"} <= set(metrics)
    assert sum(result["backtest"]["selector_picks"].values()) >= 3  # 2015-2018: a pick every 24 decisions
    assert main(["meta-train", "--run", str(run), "--set", "meta.tasks=bogus"]) == 2
    assert "meta.tasks='bogus'; choose one of synthetic, segments" in capsys.readouterr().err


def test_tier4_policy_explores_round_robin_then_trades_the_selectors_pick(tiny_brain):
    from experiments.evaluation.backtest import run_backtest

    dist, (brain, _) = tiny_brain
    task = dist.sample(1, seed=9, split="held_out")[0]
    seen = []
    pick = brain.pick_features
    brain.pick_features = lambda features: seen.append(features) or 2  # type: ignore[method-assign]
    try:
        policy = Tier4Policy(brain, explore=3, repick_every=10)
        result = run_backtest(task.make_env("val"), policy, seed=0)
    finally:
        brain.pick_features = pick  # type: ignore[method-assign]
    arms = [d.arm for d in policy.decisions]
    n = len(arms)
    assert n >= 13  # at least two exploration phases
    for i, arm in enumerate(arms):
        assert arm == (i % 10 if i % 10 < 3 else 2), (i, arm)
    assert [i for i, _ in policy.choices] == list(range(3, n + 1, 10))[: len(policy.choices)]
    for j, features in enumerate(seen):  # the selector saw each phase's 3 decisions, one per specialist
        np.testing.assert_allclose(features, selector_features(policy.decisions[10 * j : 10 * j + 3]))
        np.testing.assert_allclose(features[8::3], 1 / 3)
    at_decisions = result.equity.loc[pd.DatetimeIndex(result.weights["date"])].to_numpy()  # at each decision
    assert len(at_decisions) == n + 1  # every decision but the last was settled by the next observation
    np.testing.assert_allclose([d.net_return for d in policy.decisions], at_decisions[1:] / at_decisions[:-1] - 1)
    with pytest.raises(ValueError, match="explore=10 must be >= 1 and < repick_every=10"):
        Tier4Policy(brain, explore=10, repick_every=10)


def test_train_init_from_starts_ppo_at_a_specialists_meta_learned_parameters(tiny_brain, tmp_path):
    from agents.tier3 import algos
    from experiments.config import ConfigError, load_config
    from experiments.training.train import _load_init, tier4_init, train_env
    from meta.policy import action_distribution

    _, (brain, _) = tiny_brain
    folder = brain.save(tmp_path / "tier4")
    with pytest.raises(ConfigError, match=r"needs stack\.action: box"):
        load_config("quickstart", overrides=[f"train.init_from={folder}:aggressive"])
    box = ["stack.action=box", "ppo.full_info=0", "ppo.batch_size=64"]
    cfg = load_config("quickstart", overrides=[f"train.init_from={folder}:aggressive", "train.n_envs=1", *box])
    params = tier4_init(cfg)
    model = algos.make_model(cfg.algo, cfg.ppo, train_env(cfg), seed=0)
    _load_init(params, model, cfg)
    obs = np.random.default_rng(0).normal(size=(5, 27)).astype(np.float32)
    with torch.no_grad():
        sb3_mean = model.policy.get_distribution(torch.as_tensor(obs)).distribution.mean
    torch.testing.assert_close(sb3_mean, action_distribution(brain.params["aggressive"], obs).mean)
    with pytest.raises(ConfigError, match="no specialist 'bold'"):
        tier4_init(load_config("quickstart", overrides=[f"train.init_from={folder}:bold", *box]))
    with pytest.raises(ConfigError, match=r"with train\.normalize_obs=false"):
        load_config("quickstart", overrides=[f"train.init_from={folder}:balanced", "train.normalize_obs=true", *box])
