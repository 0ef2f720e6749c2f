from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.data import DataError, MarketData
from envs.layout import OBS_LAYOUT
from envs.trading_env import TradingEnv


@pytest.fixture(scope="module")
def small_sp500(sp500):
    return sp500.slice(2000, 2600)


def test_gymnasium_and_sb3_checkers_pass_with_warnings_as_errors(small_sp500, synthetic_sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(gym.make(envs.ENV_ID, data=small_sp500, random_start=True).unwrapped)
        sb3_check_env(TradingEnv(small_sp500, random_start=True), warn=True)
        gym_check_env(gym.make(envs.ENV_ID, data=synthetic_sample.data).unwrapped)


def test_registered_id_makes_the_env():
    env = gym.make("tradebrain/TradingBrain-v2", data="nasdaq")
    obs, info = env.reset(seed=3)
    assert obs.shape == (27,) and obs.dtype == np.float32 and info["bar"] == env.unwrapped.window[0]
    assert env.observation_space.shape == (27,) and env.action_space.shape == (4,)


def _rollout(env: TradingEnv, seed: int, n: int = 300):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(obs, 0.0, env.bar)]
    for _ in range(n):
        obs, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        out.append((obs, r, env.bar))
        if term or trunc:
            obs, _ = env.reset()
            out.append((obs, 0.0, env.bar))
    return out


def test_same_seed_same_trajectory_different_seed_different(small_sp500):
    a = _rollout(TradingEnv(small_sp500, random_start=True, episode_bars=100), seed=5)
    b = _rollout(TradingEnv(small_sp500, random_start=True, episode_bars=100), seed=5)
    c = _rollout(TradingEnv(small_sp500, random_start=True, episode_bars=100), seed=6)
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True))
    assert [x[2] for x in a] != [x[2] for x in c]


def test_observation_is_prefix_invariant_along_a_trajectory(small_sp500):
    """Replaying the same actions on data[:t+1] plus one garbage bar gives the same observation at bar t."""
    full = TradingEnv(small_sp500)
    obs, _ = full.reset()
    rng = np.random.default_rng(0)
    actions, history = [], [(full.bar, obs)]
    for _ in range(120):
        a = rng.uniform(-1, 1, 4).astype(np.float32)
        obs, _, term, trunc, _ = full.step(a)
        actions.append(a)
        history.append((full.bar, obs))
        if term or trunc:
            break
    frame = small_sp500.to_frame()
    for k in rng.choice(len(history), size=8, replace=False):
        bar, expected = history[k]
        cut = frame.iloc[: bar + 2].copy()
        cut.iloc[-1, :4] = cut.iloc[-1, :4] * np.array([0.5, 2.0, 0.4, 1.9])  # garbage future bar
        env = TradingEnv(MarketData.from_frame(cut))
        obs, _ = env.reset()
        for a in actions[:k]:
            obs, *_ = env.step(a)
        assert env.bar == bar
        np.testing.assert_array_equal(obs, expected)


def test_observation_slots_are_named_and_in_bounds(small_sp500):
    env = TradingEnv(small_sp500)
    obs, _ = env.reset()
    named = OBS_LAYOUT.as_dict(obs)
    assert named["w_theme"] == 0.25 and named["p_crisis"] == pytest.approx(0.2)
    assert named["equity_log_growth"] == 0.0 and named["win_rate"] == 0.5
    feats = env.features.market[env.bar]
    assert named["vol_20"] == pytest.approx(feats[3], rel=1e-6)
    for _ in range(50):
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)


def test_window_by_dates_and_errors(sp500):
    env = TradingEnv(sp500, window=("2010-01-04", "2011-01-03"))
    assert str(env.data.index[env.window[0]].date()) == "2010-01-04"
    assert str(env.data.index[env.window[1]].date()) == "2011-01-03"
    with pytest.raises(DataError, match=r"features need 120 bars of history; start at bar 120 \(1999-06-25\)"):
        TradingEnv(sp500, window=(5, 400))
    with pytest.raises(DataError, match=r"holds 0 bars.*use longer data"):
        TradingEnv(sp500.slice(0, 100))
    with pytest.raises(ValueError, match="min_trade"):
        TradingEnv(sp500, min_trade=0.5)


def test_random_start_covers_the_window(small_sp500):
    env = TradingEnv(small_sp500, random_start=True, episode_bars=50)
    starts = {env.reset(seed=s)[1]["bar"] for s in range(40)}
    assert len(starts) > 30 and min(starts) >= env.window[0] and max(starts) <= env.window[1] - 51


def test_window_end_after_the_last_bar_runs_to_the_end(sp500):
    env = TradingEnv(sp500, window=("2018-01-02", "2019-01-01"))
    assert env.window[1] == len(sp500)
    with pytest.raises(DataError, match="after the last bar"):
        TradingEnv(sp500, window=("2019-02-01", None))


def test_module_prefixed_id_imports_the_package():
    env = gym.make("envs:tradebrain/TradingBrain-v2", data="nasdaq")
    assert isinstance(env.unwrapped, TradingEnv) and env.spec.id == envs.ENV_ID


def test_equity_log_growth_looks_back_a_year_of_bars_at_most():
    """Env version 2: slot 0 is log(equity / equity GROWTH_BARS bars before), or since the episode start when later."""
    import math

    from envs.data import load
    from envs.layout import GROWTH_BARS
    from envs.trading_env import TradingEnv

    env = TradingEnv(load("synthetic:planted_edge:0"), window=(300, 1500), episode_bars=None)
    obs, _ = env.reset(seed=0)
    assert obs[0] == 0.0
    rng = np.random.default_rng(0)
    checked = {"start": 0, "year": 0}
    done = False
    while not done:
        obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        done = term or trunc
        bar, start = env.bar, env.window[0]
        ref = max(start, bar - GROWTH_BARS)
        assert obs[0] == np.float32(math.log(env.equity_curve[bar] / env.equity_curve[ref]))
        checked["start" if ref == start else "year"] += 1
    assert checked["start"] > 10 and checked["year"] > 10
