"""The report says whether the agent learned: training curves per evaluation, flat decisions, plain flags, and a
warning when the test window is too short to separate policies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from envs.trading_env import TradingEnv
from experiments.config import load_config
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult
from experiments.evaluation.stats import summarize
from experiments.reporting.report import verdict_text, write_report
from experiments.training.train import episode_metrics, train


class _Model:
    """What the callback asks of SB3's model: its logger and its env."""

    logger = Logger(folder=None, output_formats=[])

    def __init__(self, env: VecMonitor) -> None:
        self.env = env

    def get_env(self) -> VecMonitor:
        return self.env


def test_the_callback_reports_each_training_episode_as_the_monitor_counts_it(sp500):
    """The values behind the training curve: the episode reward equals VecMonitor's, the flat share and the trades
    are counted from the env's own step records."""
    from agents.tier3.ppo import TradingMetricsCallback

    episodes: list[dict[str, float]] = []
    callback = TradingMetricsCallback(summarize=episode_metrics, on_episode=episodes.append)
    venv = VecMonitor(
        DummyVecEnv([lambda: TradingEnv(sp500, window=(3000, 3400), random_start=True, episode_bars=40)] * 2)
    )
    callback.model = _Model(venv)  # type: ignore[assignment]
    venv.seed(3)
    venv.reset()
    rng = np.random.default_rng(0)
    expected: list[tuple[float, float, float]] = []
    flats, trades = [0, 0], [0, 0]
    steps = [0, 0]
    while len(expected) < 6:
        actions = rng.uniform(-1, 1, (2, 4)).astype(np.float32)
        _, rewards, dones, infos = venv.step(actions)
        callback.locals = {"infos": infos, "dones": dones, "rewards": rewards}
        callback._on_step()
        for i, info in enumerate(infos):
            steps[i] += 1
            flats[i] += bool(info["reward_terms"]["flat"])
            trades[i] += "trade" in info
            if dones[i]:
                expected.append((float(info["episode"]["r"]), flats[i] / steps[i], float(trades[i])))
                flats[i] = trades[i] = steps[i] = 0
    got = [(e["reward"], e["flat_share"], e["trade_count"]) for e in episodes]
    assert len(got) == len(expected)
    for (r, f, t), (er, ef, et) in zip(got, expected, strict=True):
        assert r == pytest.approx(er, rel=1e-5, abs=1e-6)
        assert (f, t) == (ef, et)
    assert 0 < np.mean([f for _, f, _ in got]) < 1  # random actions: some flat decisions, some trades


def test_training_episodes_are_averaged_per_evaluation():
    from experiments.training.learning_curve import TrainingEpisodes

    log = TrainingEpisodes()
    log({"reward": 1.0, "sharpe": 0.5, "flat_share": 0.2, "trade_count": 4.0})
    log({"reward": 3.0, "sharpe": float("nan"), "flat_share": 1.0, "trade_count": 0.0})
    row = log.drain()
    assert row == pytest.approx(
        {"train_episodes": 2, "train_reward": 2.0, "train_sharpe": 0.5, "train_flat_share": 0.6,
         "train_trade_count": 2.0}
    )  # fmt: skip
    assert log.drain()["train_episodes"] == 0 and np.isnan(log.drain()["train_reward"])


def _result(name: str, returns: np.ndarray, *, decisions: int, trades: int, model: str | None = None) -> BacktestResult:
    equity = 100_000.0 * np.cumprod(np.r_[1.0, 1.0 + returns])
    index = pd.bdate_range("2015-01-01", periods=len(equity))
    n_ret = float(equity[-1] / equity[0] - 1) / max(trades, 1)
    trade_frame = pd.DataFrame(
        {"entry_bar": np.arange(trades), "exit_bar": np.arange(trades) + 1, "size": 0.2, "net_return": n_ret}
    ).assign(pnl=lambda t: t["net_return"] * 1e5)
    log = pd.DataFrame({"date": index[:decisions]})
    for column in (*WEIGHT_COLUMNS, *REGIME_COLUMNS):
        log[column] = 0.2
    return BacktestResult(
        name=name,
        equity=pd.Series(equity, index=index, name="equity"),
        trades=trade_frame,
        weights=log[["date", *WEIGHT_COLUMNS]],
        regimes=log[["date", *REGIME_COLUMNS]],
        breaker_events=[],
        halted=False,
        metrics=summarize(equity, trade_frame, seed=0, n_boot=200),
        run_info={"seed": 0, **({"model": model} if model else {})},
    )


def _curve(path, val_sharpe: list[float], eval_reward: list[float], train_flat: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(val_sharpe)
    pd.DataFrame(
        {
            "timesteps": [40_000 * (i + 1) for i in range(n)],
            "eval_reward": eval_reward,
            "val_sharpe": val_sharpe,
            "val_total_return": [0.01] * n,
            "val_max_drawdown": [0.01] * n,
            "trade_count": [20.0] * n,
            "val_flat_share": [0.5] * n,
            "train_episodes": [30.0] * n,
            "train_reward": np.linspace(-1, 1, n),
            "train_sharpe": np.linspace(0.5, -0.5, n),
            "train_flat_share": train_flat,
            "train_trade_count": [12.0] * n,
        }
    ).to_csv(path, index=False)


def _runs(rng: np.random.Generator, n: int, *, decisions: int, trades: int) -> dict[str, BacktestResult]:
    market = rng.normal(0.0003, 0.01, n)
    return {
        "ppo": _result("ppo", rng.normal(0.0001, 0.002, n), decisions=decisions, trades=trades,
                       model="best/best_model.zip"),
        "ma_trend": _result("ma_trend", rng.normal(0.0001, 0.002, n), decisions=300, trades=100),
        "buy_and_hold_full": _result("buy_and_hold_full", market, decisions=1, trades=1),
    }  # fmt: skip


def test_the_report_flags_a_flat_policy_and_a_kept_checkpoint_that_is_not_the_best(tmp_path):
    results = _runs(np.random.default_rng(3), 1000, decisions=457, trades=45)
    csv = tmp_path / "best" / "val_curve.csv"
    _curve(csv, [0.50, 1.01, 0.60, 0.35, 0.15], [-0.4, -0.1, 0.5, 1.7, -0.6], [0.18, 0.4, 0.7, 0.85, 0.91])
    text = write_report(tmp_path, results, title="t", val_curve=csv, n_boot=100).read_text()
    section = text[text.index("## Did it learn?") : text.index("## Run")]
    assert text.index("## Verdict") < text.index("## Did it learn?") < text.index("## Run")
    assert "FLAG: `ppo` stayed flat on 90% of its 457 decisions on the test window" in section
    assert "FLAG: training drifted to flat: 91% of the decisions of the last training episodes" in section
    assert (
        "FLAG: the kept checkpoint (160,000 steps, validation Sharpe 0.35) is not the best by validation Sharpe "
        "(80,000 steps, 1.01)" in section
    )
    assert "| 160,000 | 0.500 | -0.25 | 85% | 12.0 | 1.700 | 0.35 | 50% | 20 | kept |" in section
    assert "| 80,000 |" in section and "| best validation Sharpe |" in section
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    # picked by Sharpe, the same curve keeps the 80,000-step checkpoint: no such flag
    text = write_report(tmp_path, results, title="t", val_curve=csv, n_boot=100, select_by="sharpe").read_text()
    assert "is not the best by validation Sharpe" not in text and "| 1.01 | 50% | 20 | kept |" in text


def test_a_policy_that_trades_and_kept_its_best_checkpoint_gets_no_flag(tmp_path):
    results = _runs(np.random.default_rng(4), 1000, decisions=100, trades=60)
    csv = tmp_path / "best" / "val_curve.csv"
    _curve(csv, [0.2, 0.9, 0.5], [0.1, 0.8, 0.3], [0.3, 0.35, 0.4])
    text = write_report(tmp_path, results, title="t", val_curve=csv, n_boot=100).read_text()
    assert "FLAG" not in text
    assert "No flag: fewer than 80% of the decisions were flat and the kept checkpoint is also the best" in text
    assert "`ppo` 40% of its 100 decisions (60 trades)" in text


def test_a_test_window_too_short_to_separate_policies_is_warned_about(tmp_path):
    short = _runs(np.random.default_rng(5), 300, decisions=100, trades=60)
    long = _runs(np.random.default_rng(5), 2500, decisions=100, trades=60)
    warning = "is too short to separate policies: it pins the Sharpe of"
    assert warning in verdict_text(short, n_boot=200)
    text = write_report(tmp_path, short, title="t", n_boot=200).read_text()
    assert warning in text[text.index("## Verdict") : text.index("## Did it learn?")]
    assert "the report warns above ±1.00" in text
    assert warning not in verdict_text(long, n_boot=200)


def test_a_tiny_run_evaluates_ten_times_by_default_and_logs_the_training_curve(tmp_path):
    from experiments.config import evaluations_planned
    from experiments.evaluation.runfiles import VAL_CURVE, checkpoints_scored

    cfg = load_config(
        "quickstart",
        [f"runs_dir={tmp_path}", "stack.tiers.tier2=false", "stack.episode_bars=60", "ppo.n_steps=64",
         "ppo.batch_size=64", "ppo.n_epochs=1", "train.total_timesteps=512", "train.n_envs=2"],
    )  # fmt: skip
    assert cfg.train.eval_freq == 51 and evaluations_planned(cfg) == 10
    result = train(cfg, progress=False)
    assert checkpoints_scored(result.run_dir) == 10
    curve = pd.read_csv(result.run_dir / VAL_CURVE)
    assert len(curve) == 10 and curve["train_episodes"].sum() > 0
    assert curve["train_flat_share"].between(0, 1).all() and curve["val_flat_share"].between(0, 1).all()
    assert np.isfinite(curve["train_reward"]).all()
