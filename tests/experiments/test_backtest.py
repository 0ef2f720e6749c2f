"""Tests for experiments.evaluation.backtest: determinism, the equity curve's shape, trade bookkeeping, halts, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult, run_backtest
from experiments.evaluation.baselines import BuyAndHold, FixedBracket, RandomPolicy, buy_and_hold_full
from experiments.evaluation.policies import SB3Policy

WINDOW = (3000, 3400)  # sp500 bars: 2010-12-06 .. 2012-07-06


@pytest.fixture
def env(sp500) -> TradingEnv:
    return TradingEnv(sp500, window=WINDOW, costs=Costs(commission_bps=5.0, slippage_bps=10.0))


def test_same_seed_twice_gives_identical_equity_and_trades(sp500) -> None:
    def run(policy_seed: int) -> BacktestResult:
        env = TradingEnv(sp500, window=WINDOW)
        return run_backtest(env, RandomPolicy(policy_seed), seed=7, n_boot=50)

    a, b, other = run(1), run(1), run(2)
    pd.testing.assert_series_equal(a.equity, b.equity)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    assert a.metrics == pytest.approx(b.metrics, nan_ok=True)
    # the check can fail: another policy seed gives another run
    assert not np.array_equal(a.equity.to_numpy(), other.equity.to_numpy())


def test_equity_curve_spans_the_window_and_starts_at_initial_equity(env: TradingEnv, sp500) -> None:
    result = run_backtest(env, FixedBracket(env.action_map), n_boot=50)
    start, stop = WINDOW
    assert len(result.equity) == stop - start
    assert result.equity.index.equals(sp500.index[start:stop])
    assert result.equity.iloc[0] == env.initial_equity
    assert not result.equity.isna().any()
    assert result.price is not None and result.price.iloc[-1] == sp500.close[stop - 1]
    assert not result.halted and result.run_info["halt_time"] is None
    assert result.run_info["window_dates"] == [str(sp500.index[start].date()), str(sp500.index[stop - 1].date())]


def test_trades_book_every_change_of_equity(env: TradingEnv) -> None:
    result = run_backtest(env, FixedBracket(env.action_map), n_boot=50)
    trades, eq = result.trades, result.equity
    assert len(trades) > 10
    # the env books everything through trades: their pnl adds up to the change of equity
    assert trades["pnl"].sum() == pytest.approx(eq.iloc[-1] - eq.iloc[0], rel=1e-9)
    # bar columns are positions in the equity curve: equity at exit = equity at decision + pnl
    np.testing.assert_allclose(
        eq.to_numpy()[trades["exit_bar"]], eq.to_numpy()[trades["decision_bar"]] + trades["pnl"], rtol=1e-12
    )
    assert (trades["entry_bar"] == trades["decision_bar"] + 1).all()
    assert result.metrics["trade_count"] == len(trades)


def test_trade_dicts_are_flattened_and_steps_logged(env: TradingEnv) -> None:
    result = run_backtest(env, FixedBracket(env.action_map), n_boot=50)
    for col in ("comp_theme", "comp_sentiment", "w_theme", "w_ai", "p_bull_momentum", "p_crisis"):
        assert col in result.trades.columns
    assert not {"components", "weights", "regime_probs"} & set(result.trades.columns)
    assert list(result.weights.columns) == ["date", *WEIGHT_COLUMNS]
    assert list(result.regimes.columns) == ["date", *REGIME_COLUMNS]
    # one row per decision: a decision per trade plus one per flat bar (none here: every step trades)
    assert len(result.weights) == len(result.trades)
    np.testing.assert_allclose(result.weights[list(WEIGHT_COLUMNS)].to_numpy(), 0.25)  # Tier 1 off
    np.testing.assert_allclose(result.regimes[list(REGIME_COLUMNS)].to_numpy(), 0.2)  # Tier 2 off


def test_a_halt_leaves_equity_flat_to_the_window_end(sp500) -> None:
    limits = RiskLimits(max_drawdown=0.01, reduce_drawdown=0.01, recover_drawdown=0.005, daily_loss=1.0)
    env = TradingEnv(sp500, window=WINDOW, limits=limits)
    result = run_backtest(env, BuyAndHold(env.action_map), n_boot=50)
    assert result.halted
    assert any(e["new"] == "HALTED" for e in result.breaker_events)
    halt = result.equity.index.get_loc(pd.Timestamp(result.run_info["halt_time"]))
    assert halt < len(result.equity) - 10  # the halt happened well before the end, so the check means something
    after = result.equity.to_numpy()[halt:]
    assert np.all(after == after[0])
    assert len(result.equity) == WINDOW[1] - WINDOW[0] and not result.equity.isna().any()
    peak = result.equity.iloc[: halt + 1].max()
    assert result.equity.iloc[halt] <= peak * (1 - 0.01) * (1 + 1e-9)  # halted at a 1% drawdown (marked to market)
    assert result.trades["pnl"].sum() == pytest.approx(result.equity.iloc[-1] - result.equity.iloc[0], rel=1e-9)


def test_benchmark_returns_give_a_sharpe_difference(env: TradingEnv) -> None:
    bench = buy_and_hold_full(env.data, env.window, env.costs)
    without = run_backtest(env, BuyAndHold(env.action_map), n_boot=50)
    with_bench = run_backtest(env, BuyAndHold(env.action_map), benchmark_returns=bench.returns, n_boot=50)
    assert math.isnan(without.metrics["sharpe_diff_annual"])
    expected = with_bench.metrics["sharpe_annual"] - bench.metrics["sharpe_annual"]
    assert with_bench.metrics["sharpe_diff_annual"] == pytest.approx(expected, abs=1e-9)


def test_training_envs_are_rejected(sp500) -> None:
    with pytest.raises(ValueError, match="random_start"):
        run_backtest(TradingEnv(sp500, window=WINDOW, random_start=True), RandomPolicy())
    with pytest.raises(ValueError, match="episode_bars"):
        run_backtest(TradingEnv(sp500, window=WINDOW, episode_bars=50), RandomPolicy())


class _FakeModel:
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        assert deterministic
        return np.array([[2.0, -3.0, 0.5, 0.0]]), None


def test_sb3_policy_adapter_clips_and_reshapes() -> None:
    policy = SB3Policy(_FakeModel(), name="fake")
    action = policy(np.zeros(27, dtype=np.float32), {})
    assert action.dtype == np.float32 and action.shape == (4,)
    np.testing.assert_array_equal(action, [1.0, -1.0, 0.5, 0.0])
    assert policy.name == "fake"
    with pytest.raises(TypeError, match="predict"):
        SB3Policy(object())


def test_sb3_policy_runs_a_real_ppo_deterministically(env: TradingEnv) -> None:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, seed=0, device="cpu")
    a = run_backtest(env, SB3Policy(model), n_boot=50)
    b = run_backtest(env, SB3Policy(model), n_boot=50)
    pd.testing.assert_series_equal(a.equity, b.equity)
    assert a.name == "ppo" and len(a.equity) == WINDOW[1] - WINDOW[0]


def test_to_files_writes_strict_json_and_csvs(env: TradingEnv, tmp_path) -> None:
    result = run_backtest(env, FixedBracket(env.action_map), n_boot=50)
    out = result.to_files(tmp_path / "fixed")
    for name in ("equity.csv", "trades.csv", "weights.csv", "regimes.csv", "metrics.json"):
        assert (out / name).stat().st_size > 0

    def no_nan(token: str) -> float:
        raise AssertionError(f"metrics.json holds {token}: not strict JSON")

    meta = json.loads((out / "metrics.json").read_text(), parse_constant=no_nan)
    assert meta["name"] == "fixed_bracket" and meta["halted"] is False
    assert meta["metrics"]["trade_count"] == len(result.trades)
    equity = pd.read_csv(out / "equity.csv", index_col=0, parse_dates=True)
    np.testing.assert_allclose(equity["equity"].to_numpy(), result.equity.to_numpy())
    assert len(pd.read_csv(out / "trades.csv")) == len(result.trades)
