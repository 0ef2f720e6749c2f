"""The episode recorder behind the validation curve: what it keeps equals a backtest, a risk halt included."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

from envs.risk import RiskLimits
from envs.trading_env import TradingEnv
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.baselines import FixedBracket
from experiments.training.learning_curve import EpisodeRecorder, find_recorder, insert_recorder

TIGHT = RiskLimits(max_drawdown=0.004, reduce_drawdown=0.003, recover_drawdown=0.001)
"""A 0.4% drawdown halts: a bracket trader halts early in the window."""


def _env(sp500, limits: RiskLimits | None = None) -> TradingEnv:
    return TradingEnv(sp500, window=(3000, 3300), limits=limits)


@pytest.mark.parametrize("limits", [None, TIGHT], ids=["to_the_end", "halted"])
def test_the_recorded_episode_equals_a_backtest(sp500, limits):
    venv = VecNormalize(VecMonitor(DummyVecEnv([lambda: _env(sp500, limits)])), norm_reward=False, training=False)
    recorder = insert_recorder(venv)
    assert isinstance(venv.venv, VecMonitor) and venv.venv.venv is recorder  # under every wrapper, types kept
    assert insert_recorder(venv) is recorder and find_recorder(venv) is recorder
    policy = FixedBracket(_env(sp500).action_map)
    venv.reset()
    base = venv.venv.venv.venv.envs[0].unwrapped
    done = False
    action = policy(np.zeros(27, dtype=np.float32), {})  # the same bracket at every step, whatever it observes
    while not done:
        _, _, dones, _ = venv.step(action[None, :])
        done = bool(dones[0])
    episode = recorder.episodes[0]
    assert episode is not None
    assert np.isnan(base.equity_curve[3001])  # the VecEnv reset the env after the episode: only the recorder has it
    direct = run_backtest(_env(sp500, limits), FixedBracket(_env(sp500).action_map), n_boot=10)
    assert direct.halted is (limits is TIGHT)
    np.testing.assert_array_equal(episode.equity, direct.equity.to_numpy())
    assert len(episode.trades) == len(direct.trades) > 0
    row = episode.row()
    assert row["val_sharpe"] == direct.metrics["sharpe_annual"]
    assert row["val_total_return"] == direct.metrics["total_return_frac"]
    assert row["val_max_drawdown"] == direct.metrics["max_drawdown_frac"]
    assert row["trade_count"] == direct.metrics["trade_count"]


def test_the_recorder_needs_a_wrapped_venv(sp500):
    with pytest.raises(TypeError, match="VecEnvWrapper"):
        insert_recorder(DummyVecEnv([lambda: _env(sp500)]))
    assert find_recorder(DummyVecEnv([lambda: _env(sp500)])) is None
    assert isinstance(EpisodeRecorder(DummyVecEnv([lambda: _env(sp500)])).episodes, list)
