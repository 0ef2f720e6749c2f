"""The batched core steps N copies exactly as N single envs: every observation (bit for bit), reward, episode end,
info and trade, for random actions, tight limits (daily loss, breaker, halts), both reward kinds and a regime path
with crises. Gymnasium's vector entry point gives the same steps as ``SyncVectorEnv`` over single envs."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs  # noqa: F401  (registers the ids)
from envs.batch import BatchCore
from envs.data import load
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

DATA = load("synthetic:planted_edge:0")


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [x.dtype.str, x.tolist()]
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


def _crisis_path(n: int, seed: int) -> np.ndarray:
    """Regime rows that switch between calm and crisis every few bars (crisis exits and refusals happen)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(5), size=n)
    crisis = rng.random(n) < 0.08
    probs[crisis] = [0.05, 0.05, 0.05, 0.8, 0.05]
    return probs


def _compare(make, n: int, steps: int, seed: int, path: np.ndarray | None = None) -> Counter:
    """Step ``n`` copies and ``n`` single envs with the same random actions; returns what the steps compared
    held: exit reasons, breaker states entered, halts."""
    core = BatchCore(make(), n)
    singles = [make() for _ in range(n)]
    if path is not None:
        core.set_regime_path(path)
        for env in singles:
            env.set_regime_path(path)
    obs = core.reset_all(seeds=range(seed, seed + n))
    for i, env in enumerate(singles):
        o, info = env.reset(seed=seed + i)
        assert np.array_equal(o.view(np.uint32), obs[i].view(np.uint32))
        assert json.dumps(_plain(info)) == json.dumps(_plain(core.base_info(i)))
    rng = np.random.default_rng(seed)
    seen: Counter = Counter()
    for _ in range(steps):
        actions = rng.uniform(-1.3, 1.3, (n, 4)).astype(np.float32)
        actions[rng.random(n) < 0.2, 0] = 1.0  # often the largest size: caps, daily losses, halts
        obs, reward, terminated, truncated = core.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, info = env.step(actions[i])
            assert np.array_equal(o.view(np.uint32), obs[i].view(np.uint32)), f"copy {i}: observation"
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i]), f"copy {i}: reward or end"
            assert json.dumps(_plain(info)) == json.dumps(_plain(core.info(i))), f"copy {i}: info"
            seen.update([info["trade"]["exit_reason"]] if "trade" in info else [])
            seen.update(e["new"] for e in info.get("breaker_events", ()))
            seen["halt"] += te
            if te or tr:
                env.reset()
                core.reset(i)
    return seen


def test_batch_equals_single_envs_on_the_default_settings():
    def make():
        return TradingEnv(DATA, window=(300, 1800), random_start=True, episode_bars=120)

    seen = _compare(make, n=5, steps=400, seed=0)
    assert sum(seen[r] for r in ("stop", "target", "time")) > 300


def test_batch_equals_single_envs_past_the_growth_slots_look_back():
    """Episodes longer than ``GROWTH_BARS``: ``equity_log_growth`` then reads the equity a year of bars back."""

    def make():
        return TradingEnv(DATA, window=(300, 3000), random_start=True, episode_bars=900)

    _compare(make, n=3, steps=300, seed=7)


def test_batch_equals_single_envs_through_halts_daily_losses_crises_and_the_breaker():
    limits = RiskLimits(
        daily_loss=0.004, max_drawdown=0.02, reduce_drawdown=0.015, recover_drawdown=0.01, reduce_scale=1.0
    )

    def make():
        return TradingEnv(
            DATA, window=(300, 3000), costs=Costs(slippage_bps=30.0), limits=limits, random_start=True, episode_bars=150
        )

    seen = _compare(make, n=4, steps=600, seed=2, path=_crisis_path(len(DATA), 2))
    for event in ("halt", "daily_loss", "crisis", "gap_stop", "REDUCING", "ACTIVE", "HALTED"):
        assert seen[event] > 0, f"{event} never happened: {dict(seen)}"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["dsr", "log_return"]),
    daily_loss=st.sampled_from([0.002, 0.005, 0.02]),
    max_drawdown=st.sampled_from([0.03, 0.06, 0.15]),
    slippage=st.sampled_from([0.0, 2.0, 40.0]),
    bar_cost=st.sampled_from([0.0, 0.01]),
    with_path=st.booleans(),
    min_trade=st.sampled_from([0.01, 0.1]),
    seed=st.integers(0, 1000),
)
def test_batch_equals_single_envs_for_any_settings(
    kind, daily_loss, max_drawdown, slippage, bar_cost, with_path, min_trade, seed
):
    limits = RiskLimits(
        daily_loss=daily_loss,
        max_drawdown=max_drawdown,
        reduce_drawdown=min(0.02, max_drawdown),
        recover_drawdown=0.01,
        sharpe_window=10,
    )

    def make():
        return TradingEnv(
            DATA,
            window=(300, 1500),
            costs=Costs(commission_bps=5.0, slippage_bps=slippage),
            limits=limits,
            reward=RewardConfig(kind=kind, bar_cost=bar_cost, warmup_bars=3),
            min_trade=min_trade,
            random_start=True,
            episode_bars=80,
            exposure_elsewhere=0.85,
        )

    path = _crisis_path(len(DATA), seed) if with_path else None
    _compare(make, n=3, steps=150, seed=seed, path=path)


def test_the_comparison_can_fail():
    """A core built on other costs than the single envs is caught at the first trade."""

    def make():
        return TradingEnv(DATA, window=(300, 1800), random_start=True, episode_bars=120)

    core = BatchCore(TradingEnv(DATA, window=(300, 1800), costs=Costs(slippage_bps=3.0)), 2)
    with pytest.raises(AssertionError):
        _compare_core(core, make, 2)


def _compare_core(core: BatchCore, make, n: int) -> None:
    singles = [make() for _ in range(n)]
    core.reset_all(seeds=range(n))
    for i, env in enumerate(singles):
        env.reset(seed=i)
    actions = np.tile(np.array([1.0, 0.0, 0.0, 0.0], np.float32), (n, 1))
    for _ in range(5):
        _, reward, _, _ = core.step(actions)
        for i, env in enumerate(singles):
            assert env.step(actions[i])[1] == reward[i]


def test_bad_actions_and_finished_episodes_are_refused():
    core = BatchCore(TradingEnv(DATA, window=(300, 310)), 2)
    core.reset_all()
    with pytest.raises(ValueError, match=r"expected \(2, 4\)"):
        core.step(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        core.step(np.array([[0, 0, 0, 0], [np.nan, 0, 0, 0]], np.float32))
    done = np.zeros(2, bool)
    while not done.all():
        _, _, te, tr = core.step(np.full((2, 4), -1.0, np.float32))
        done = te | tr
    with pytest.raises(RuntimeError, match="reset it"):
        core.step(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize(
    "env_id, keywords",
    [
        ("tradebrain/TradingBrain-v2", {"data": DATA, "window": (300, 2000), "random_start": True, "episode_bars": 60}),
        ("tradebrain/TradingBrainStack-v2", {"data": DATA, "split": "train", "episode_bars": 60, "tier2_restarts": 1,
                                             "train": ("2004-01-01", "2008-01-01"), "val": ("2008-01-01", "2009-01-01"),
                                             "test": ("2009-01-01", "2010-01-01")}),
    ],
)  # fmt: skip
def test_make_vec_vector_entry_point_equals_sync_vector_env(env_id, keywords):
    batched = gym.make_vec(env_id, 3, vectorization_mode="vector_entry_point", **keywords)
    sync = gym.make_vec(env_id, 3, vectorization_mode="sync", **keywords)
    assert type(batched).__name__ in ("TradingVectorEnv", "StackVectorEnv")
    a, _ = batched.reset(seed=5)
    b, _ = sync.reset(seed=5)
    assert np.array_equal(a, b)
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(250):
        act = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
        o1, r1, t1, u1, _ = batched.step(act)
        o2, r2, t2, u2, _ = sync.step(act)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(t1 | u1, t2 | u2)
        ends += int((t1 | u1).sum())
    assert ends > 3  # next-step autoresets happened along the way
