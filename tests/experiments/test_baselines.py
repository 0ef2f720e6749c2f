"""Tests for experiments.evaluation.baselines: every rule trades through the env's costs and limits, and does what it
says."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap
from envs.trading_env import Costs, TradingEnv
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.baselines import (
    BuyAndHold,
    CompositeScoreRule,
    FixedBracket,
    MovingAverageTrend,
    RandomPolicy,
    VolatilityTargeting,
    buy_and_hold_full,
    make_baselines,
)

WINDOW = (3000, 3400)  # sp500 bars: 2010-12-06 .. 2012-07-06
COSTS = Costs(commission_bps=5.0, slippage_bps=10.0)
AM = ActionMap()
SLOT = OBS_LAYOUT.index


def _env(sp500, **kwargs: Any) -> TradingEnv:
    return TradingEnv(sp500, window=WINDOW, costs=COSTS, **kwargs)


def _obs(**slots: float) -> np.ndarray:
    obs = np.zeros(OBS_LAYOUT.size, dtype=np.float32)
    obs[OBS_LAYOUT.group_slice("tier1")] = OBS_LAYOUT.default_tier1()
    obs[OBS_LAYOUT.group_slice("tier2")] = OBS_LAYOUT.default_tier2()
    for name, value in slots.items():
        obs[SLOT(name)] = value
    return obs


def _regime_obs(probs: dict[str, float], comps: float) -> np.ndarray:
    obs = _obs(**dict.fromkeys(COMPONENTS, comps))
    obs[OBS_LAYOUT.group_slice("tier2")] = [probs[r] for r in REGIMES]
    return obs


def test_make_baselines_names() -> None:
    names = set(make_baselines(AM, seed=3))
    assert names == {"buy_and_hold_cap", "ma_trend", "vol_target", "fixed_bracket", "random", "composite_score"}


@pytest.mark.parametrize("name", sorted(make_baselines(AM)))
def test_every_baseline_trades_through_the_env_costs_and_cap(sp500, name: str) -> None:
    env = _env(sp500)
    policy = make_baselines(env.action_map, seed=1)[name]
    result = run_backtest(env, policy, n_boot=20)
    trades = result.trades
    assert len(trades) > 0
    entry_abs = trades["entry_bar"].to_numpy() + WINDOW[0]
    np.testing.assert_allclose(trades["entry_price"], sp500.open[entry_abs] * (1 + COSTS.slippage), rtol=1e-12)
    assert (trades["size"] <= env.limits.max_position + 1e-12).all()
    assert (trades["size"] >= env.min_trade).all()
    assert trades["pnl"].sum() == pytest.approx(result.equity.iloc[-1] - result.equity.iloc[0], rel=1e-9)


def test_buy_and_hold_full_matches_the_hand_computation(sp500) -> None:
    start, stop = WINDOW
    bh = buy_and_hold_full(sp500, WINDOW, COSTS, initial_equity=50_000.0)
    entry = sp500.open[start + 1] * (1 + 10e-4)  # 10 bps slippage on the buy
    shares = 50_000.0 / (entry * (1 + 5e-4))  # all cash spent on shares plus 5 bps commission
    final = shares * sp500.close[stop - 1] * (1 - 10e-4) * (1 - 5e-4)  # sell at the last close, less both costs
    assert bh.name == "buy_and_hold_full"
    assert bh.equity.iloc[0] == 50_000.0
    assert bh.equity.iloc[-1] == pytest.approx(final, rel=1e-12)
    assert bh.equity.iloc[10] == pytest.approx(shares * sp500.close[start + 10], rel=1e-12)  # marked at the close
    assert len(bh.equity) == stop - start and bh.equity.index.equals(sp500.index[start:stop])
    assert bh.trades["pnl"].sum() == pytest.approx(final - 50_000.0, rel=1e-12)
    assert bh.metrics["total_return_frac"] == pytest.approx(final / 50_000.0 - 1.0, rel=1e-12)
    # the costs matter: without them the result is higher
    free = buy_and_hold_full(sp500, WINDOW, Costs(0.0, 0.0), initial_equity=50_000.0)
    assert free.equity.iloc[-1] > bh.equity.iloc[-1]
    with pytest.raises(ValueError, match="window"):
        buy_and_hold_full(sp500, (100, 101), COSTS)


def test_buy_and_hold_cap_holds_max_hold_and_reenters_at_once(sp500) -> None:
    env = _env(sp500)
    result = run_backtest(env, BuyAndHold(env.action_map), n_boot=20)
    t = result.trades
    assert (t["hold"] == env.action_map.max_hold).all()
    assert (t["decision_bar"].to_numpy()[1:] == t["exit_bar"].to_numpy()[:-1]).all()  # next decision at the exit
    assert t["size"].max() == pytest.approx(env.limits.max_position)
    with pytest.raises(ValueError, match="size"):
        BuyAndHold(AM, size=0.5)


def test_moving_average_trend_enters_only_above_the_sma(sp500) -> None:
    env = _env(sp500)
    result = run_backtest(env, MovingAverageTrend(env.action_map), n_boot=20)
    decision_abs = result.trades["decision_bar"].to_numpy() + WINDOW[0]
    sma_gap = env.features.market[decision_abs, SLOT("close_vs_sma_50") - SLOT("ret_1")]
    assert len(decision_abs) > 0 and (sma_gap > 0).all()
    window_gap = env.features.market[WINDOW[0] : WINDOW[1] - 1, SLOT("close_vs_sma_50") - SLOT("ret_1")]
    assert (window_gap < 0).any()  # there were bars below the SMA that it skipped
    policy = MovingAverageTrend(AM, require_momentum=True)
    assert AM.decode(policy(_obs(close_vs_sma_50=0.05, ret_20=-0.01), {})).size == 0.0
    assert AM.decode(policy(_obs(close_vs_sma_50=0.05, ret_20=0.01), {})).size == pytest.approx(AM.max_position)


def test_volatility_targeting_size_scales_with_inverse_vol() -> None:
    policy = VolatilityTargeting(AM, target_vol=0.10)
    sizes = {v: AM.decode(policy(_obs(vol_20=v), {})).size for v in (0.05, 0.10, 0.20, 0.40)}
    assert sizes[0.05] == pytest.approx(AM.max_position)  # below the target: the cap
    assert sizes[0.10] == pytest.approx(AM.max_position, rel=1e-6)
    assert sizes[0.20] == pytest.approx(AM.max_position / 2, rel=1e-6)
    assert sizes[0.40] == pytest.approx(AM.max_position / 4, rel=1e-6)
    assert AM.decode(policy(_obs(vol_20=0.4), {})).hold == 5


def test_volatility_targeting_trades_carry_the_vol_scaled_size(sp500) -> None:
    env = _env(sp500)
    result = run_backtest(env, VolatilityTargeting(env.action_map, target_vol=0.05), n_boot=20)
    t = result.trades
    vol = env.features.market[t["decision_bar"].to_numpy() + WINDOW[0], SLOT("vol_20") - SLOT("ret_1")]
    expected = env.limits.max_position * np.minimum(1.0, 0.05 / vol)
    ratio = t["size"].to_numpy() / expected
    # the risk layer may halve a size while the breaker is REDUCING; nothing else changes it
    assert np.all(np.isclose(ratio, 1.0, rtol=1e-5) | np.isclose(ratio, 0.5, rtol=1e-5))
    assert np.isclose(ratio, 1.0, rtol=1e-5).sum() > 5 and np.ptp(t["size"]) > 0.01


def test_fixed_bracket_uses_its_bracket(sp500) -> None:
    env = _env(sp500)
    t = run_backtest(env, FixedBracket(env.action_map), n_boot=20).trades
    np.testing.assert_allclose(t["stop"], 0.02, rtol=1e-5)
    np.testing.assert_allclose(t["target"], 0.04, rtol=1e-5)
    assert (t["hold"] == 10).all()
    assert {"stop", "target"} & set(t["exit_reason"])
    with pytest.raises(ValueError, match="stop"):
        FixedBracket(AM, stop=0.5)
    with pytest.raises(TypeError, match="ActionMap"):
        FixedBracket("not a map")  # type: ignore[arg-type]


def test_random_policy_is_seeded_and_bounded() -> None:
    obs = _obs()
    a, b, c = RandomPolicy(1), RandomPolicy(1), RandomPolicy(2)
    for p in (a, b, c):
        p.reset(0)
    xa, xb, xc = (np.stack([p(obs, {}) for _ in range(50)]) for p in (a, b, c))
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(xa, xc)
    assert xa.dtype == np.float32 and xa.min() >= -1 and xa.max() <= 1
    a.reset(0)
    np.testing.assert_array_equal(np.stack([a(obs, {}) for _ in range(50)]), xa)


def test_composite_score_rule_on_hand_made_observations() -> None:
    rule = CompositeScoreRule(AM, threshold=0.1)
    bull = {"bull_momentum": 0.4, "bear_defensive": 0.15, "choppy": 0.15, "crisis": 0.15, "theme_driven": 0.15}
    crisis = {**bull, "bull_momentum": 0.15, "crisis": 0.4}  # dominant, but below the risk layer's 0.5 threshold
    bear = {**bull, "bull_momentum": 0.15, "bear_defensive": 0.4}
    # score = sum of 0.25 * 0.3 = 0.3 -> size = cap * 0.3 / 0.5
    params = AM.decode(rule(_regime_obs(bull, 0.3), {}))
    assert params.size == pytest.approx(AM.max_position * 0.6, rel=1e-5)
    assert (params.hold, params.stop, params.target) == (10, pytest.approx(0.03), pytest.approx(0.06))
    assert AM.decode(rule(_regime_obs(bull, 0.9), {})).size == pytest.approx(AM.max_position)
    assert AM.decode(rule(_regime_obs(crisis, 0.9), {})).size == 0.0
    assert AM.decode(rule(_regime_obs(bear, 0.9), {})).size == 0.0
    assert AM.decode(rule(_regime_obs(bull, 0.05), {})).size == 0.0  # score 0.05 below the threshold
    assert AM.decode(rule(_obs(**dict.fromkeys(COMPONENTS, 0.3)), {})).size > 0  # Tier 2 off: uniform, no veto


class _FixedRegime(gym.Wrapper):
    """Test helper: the same regime probabilities at every bar (written to the env and the observation)."""

    def __init__(self, env: gym.Env, probs: list[float]) -> None:
        super().__init__(env)
        self.probs = np.asarray(probs, dtype=np.float32)

    def _apply(self, obs: np.ndarray) -> np.ndarray:
        self.env.unwrapped.set_regime(self.probs.astype(np.float64) / self.probs.sum())
        obs = obs.copy()
        obs[OBS_LAYOUT.group_slice("tier2")] = self.probs
        return obs

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        return self._apply(obs), info

    def step(self, action: np.ndarray) -> tuple:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._apply(obs), reward, terminated, truncated, info


def test_composite_score_rule_never_trades_when_crisis_dominates(sp500) -> None:
    env = _env(sp500)
    crisis = [0.15, 0.15, 0.15, 0.4, 0.15]  # crisis dominant, below the risk layer's cash-only threshold
    vetoed = run_backtest(_FixedRegime(env, crisis), CompositeScoreRule(env.action_map), n_boot=20)
    assert len(vetoed.trades) == 0
    assert vetoed.equity.nunique() == 1
    bull = [0.4, 0.15, 0.15, 0.15, 0.15]
    traded = run_backtest(_FixedRegime(env, bull), CompositeScoreRule(env.action_map), n_boot=20)
    t = traded.trades
    assert len(t) > 5
    score = sum(t[f"w_{c}"] * t[f"comp_{c}"] for c in COMPONENTS)
    assert (score > 0.1).all()  # it traded exactly when the score was high
    ratio = t["size"] / (env.limits.max_position * np.minimum(1.0, score / 0.5))
    assert np.all(np.isclose(ratio, 1.0, rtol=1e-4) | np.isclose(ratio, 0.5, rtol=1e-4))  # 0.5: breaker REDUCING


def test_composite_score_rule_on_the_tier1_tier2_stack(sp500) -> None:
    env = TradingEnv(sp500, window=(2600, 3000), costs=COSTS)
    stack = ComponentWeightWrapper(
        RegimeWrapper(env, RegimeDetector(n_restarts=2), fit_bars=300), ComponentBandit(per_regime=True)
    )
    result = run_backtest(stack, CompositeScoreRule(env.action_map), n_boot=20)
    t = result.trades
    assert len(t) > 5
    probs = t[[f"p_{r}" for r in REGIMES]].to_numpy()
    for hostile in ("crisis", "bear_defensive"):
        k = REGIMES.index(hostile)
        assert not (probs[:, k] > np.delete(probs, k, axis=1).max(axis=1)).any()
    score = sum(t[f"w_{c}"] * t[f"comp_{c}"] for c in COMPONENTS)
    assert (score > 0.1).all()
    # the stack fed real Tier 1 weights and Tier 2 regimes (not the uniform defaults)
    assert result.regimes[[f"p_{r}" for r in REGIMES]].std().max() > 0.05
    assert result.weights[[f"w_{c}" for c in COMPONENTS]].std().max() > 0.01
