"""Observation normalisation, algorithms by config, reward terms in TensorBoard (issue 8)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from agents.tier3.obs_norm import ObsNormalizer
from experiments.config import ConfigError, load_config

TINY = {
    "name": "tiny",
    "seed": 0,
    "stack": {
        "data": "synthetic:planted_edge",
        "train": ["1993-01-01", "1996-01-01"],
        "val": ["1996-01-01", "1996-07-01"],
        "test": ["1996-07-01", "1997-01-01"],
        "tiers": {"tier1": True, "tier2": False},
    },
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "train": {"total_timesteps": 256, "n_envs": 2, "eval_freq": 128, "checkpoint_freq": 0},
}


def tiny(tmp_path, *overrides: str):
    return load_config({**copy.deepcopy(TINY), "runs_dir": str(tmp_path)}, overrides=list(overrides))


@pytest.fixture(scope="module")
def normalised_run(tmp_path_factory):
    from experiments.training.train import train

    cfg = tiny(tmp_path_factory.mktemp("norm"), "train.normalize_obs=true", "stack.reward.kind=log_return")
    return cfg, train(cfg, progress=False)


def test_normaliser_matches_vec_normalize_and_round_trips(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from agents.stack import make_env

    cfg = tiny(tmp_path)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(cfg.stack, "train")]), norm_reward=False, clip_obs=5.0)
    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(200):
        venv.step(rng.uniform(-1, 1, (1, 4)).astype(np.float32))
    norm = ObsNormalizer.from_vec_normalize(venv)
    raw = venv.get_original_obs()
    assert np.allclose(norm(raw), venv.normalize_obs(raw), atol=1e-6)
    back = ObsNormalizer.load_beside(norm.save(tmp_path).parent / "model.zip")
    assert back is not None
    assert np.array_equal(back.mean, norm.mean) and np.array_equal(back.var, norm.var)
    assert np.array_equal(back(raw), norm(raw))


def test_normaliser_rejects_damaged_files(tmp_path):
    (tmp_path / "obs_norm.json").write_text(
        json.dumps({"format": 1, "mean": [0.0], "var": [-1.0], "clip_obs": 1, "epsilon": 1e-8})
    )
    with pytest.raises(ValueError, match="var must be finite and var >= 0"):
        ObsNormalizer.load_beside(tmp_path / "model.zip")
    (tmp_path / "obs_norm.json").write_text(json.dumps({"format": 9}))
    with pytest.raises(ValueError, match="format 9 is not 1"):
        ObsNormalizer.load_beside(tmp_path / "model.zip")
    assert ObsNormalizer.load_beside(tmp_path / "elsewhere" / "model.zip") is None


def test_statistics_saved_beside_each_model_and_frozen_in_backtests(normalised_run):
    from agents.stack import make_env
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.policies import load_policy

    cfg, result = normalised_run
    run = result.run_dir
    assert (run / "obs_norm.json").exists() and (run / "vecnormalize.pkl").exists()
    assert result.best_model_path is not None and (run / "best" / "obs_norm.json").exists()
    policy = load_policy(result.model_path)
    final = ObsNormalizer.load_beside(result.model_path)
    assert final is not None and np.array_equal(policy.normalizer.mean, final.mean)  # the final model's statistics
    best = load_policy(result.best_model_path).normalizer
    assert best is not None and best.mean.shape == (27,)
    obs = make_env(cfg.stack, "test").reset(seed=0)[0]
    first = policy.normalizer(obs)
    expected = policy.model.predict(first, deterministic=True)[0]
    a = run_backtest(make_env(cfg.stack, "test"), policy, seed=0)
    again = policy.normalizer(obs)
    assert np.array_equal(first, again)  # frozen: a backtest does not move the statistics
    assert np.allclose(policy(obs, {}), np.clip(expected, -1, 1))
    b = run_backtest(make_env(cfg.stack, "test"), load_policy(result.model_path), seed=0)
    assert a.equity.equals(b.equity)


def test_reward_terms_reach_tensorboard(normalised_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result = normalised_run
    tb = next((result.run_dir / "tb").glob("*"))
    acc = EventAccumulator(str(tb))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    terms = ("base", "drawdown_penalty", "clip_penalty", "bar_cost", "flat_share")
    for tag in (f"reward/{t}" for t in terms):
        assert tag in tags, sorted(tags)
    flat = [e.value for e in acc.Scalars("reward/flat_share")]
    assert all(0.0 <= v <= 1.0 for v in flat)


@pytest.mark.parametrize(
    ("algo", "extra"),
    [
        ("a2c", ["algo_kwargs={n_steps: 16}"]),
        ("sac", ["algo_kwargs={learning_starts: 64, buffer_size: 1000, batch_size: 32}"]),
        ("td3", ["algo_kwargs={learning_starts: 64, buffer_size: 1000, batch_size: 32}"]),
        (
            "recurrent_ppo",
            ["ppo.n_steps=64", "ppo.batch_size=64", "algo_kwargs={policy_kwargs: {lstm_hidden_size: 16}}"],
        ),
    ],
)
def test_every_algorithm_trains_and_backtests(tmp_path, algo, extra):
    from agents.stack import make_env
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.policies import load_policy
    from experiments.training.train import train

    cfg = tiny(tmp_path, f"algo={algo}", "train.total_timesteps=128", "train.eval_freq=64", *extra)
    result = train(cfg, progress=False)
    policy = load_policy(result.best_model_path or result.model_path)
    assert type(policy.model).__name__.lower().replace("recurrentppo", "recurrent_ppo") == algo
    a = run_backtest(make_env(cfg.stack, "test"), policy, seed=0)
    b = run_backtest(make_env(cfg.stack, "test"), policy, seed=0)  # the recurrent state restarts with the pass
    assert a.equity.equals(b.equity)
    assert len(a.equity) > 100


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("algo=dqn", r"algo='dqn' is not one of \['ppo', 'a2c', 'sac', 'td3', 'recurrent_ppo'\]"),
        ("algo_kwargs={learning_start: 5}", r"algo_kwargs.learning_start: ppo takes no such keyword"),
        ("algo_kwargs=3", r"algo_kwargs=3 must be a mapping"),
        ("train.n_envs=0", r"train.n_envs=0 must be >= 1"),
        ("train.norm_clip_obs=0", r"train.norm_clip_obs=0.0 must be > 0"),
    ],
)
def test_learner_config_errors_name_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        tiny(tmp_path, override)


def test_algo_kwargs_typo_gets_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"did you mean 'learning_starts'"):
        tiny(tmp_path, "algo=sac", "algo_kwargs={learning_start: 5}")
