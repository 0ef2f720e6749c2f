"""Train PPO on the env stack: one run folder with the resolved config, TensorBoard logs, checkpoints, models.

Run folder layout (``runs/<name>-<YYYYmmdd-HHMMSS>/``)::

    config.yaml          resolved config (loads back to the same RunConfig)
    tb/ppo_1/            TensorBoard event files (trading/*, tier1/*, tier2/*, risk/*, eval/*, train/*)
    checkpoints/         periodic PPO checkpoints
    best/best_model.zip  best model on the validation window (SB3 EvalCallback)
    best/evaluations.npz every evaluation on the validation window (timesteps, results, ep_lengths)
    model.zip            final model

Each evaluation scores one checkpoint on the validation window to pick ``best_model.zip``: a trial for the
deflated Sharpe ratio. :func:`checkpoints_scored` counts them from ``best/evaluations.npz``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor
from tqdm.auto import tqdm

from agents.ppo import HParamCallback, TradingMetricsCallback, flat_hparams, make_ppo
from agents.stack import make_env, make_vec_env
from experiments import metrics
from experiments.backtest import SB3Policy
from experiments.config import RunConfig, to_yaml

logger = logging.getLogger(__name__)

EVALUATIONS = Path("best") / "evaluations.npz"
"""Where the EvalCallback logs its evaluations, relative to the run folder."""


def show_progress() -> bool:
    """Progress bars only on an interactive terminal and never under CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class ProgressCallback(BaseCallback):
    """A tqdm bar over training steps (SB3's own bar needs ``rich``)."""

    def __init__(self, total: int, enabled: bool) -> None:
        super().__init__()
        self.total, self.enabled = total, enabled
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, desc="train", unit="step", disable=not self.enabled)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


def episode_metrics(equity: np.ndarray, trades: list[dict[str, Any]]) -> dict[str, float]:
    """Per-episode trading metrics for TensorBoard (the pure functions of :mod:`experiments.metrics`)."""
    r = metrics.bar_returns(equity)
    return {
        "net_return": metrics.total_return(equity),
        "sharpe": metrics.sharpe(r),
        "max_drawdown": metrics.max_drawdown(equity),
        "win_rate": metrics.win_rate(trades),
        "profit_factor": metrics.profit_factor(trades),
        "trade_count": float(metrics.trade_count(trades)),
    }


def new_run_dir(cfg: RunConfig) -> Path:
    """Create ``<runs_dir>/<name>-<time>/`` (a numeric suffix if that second is taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.runs_dir) / f"{cfg.name}-{stamp}"
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = Path(f"{base}-{k}"), k + 1
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    return run_dir


@dataclass(frozen=True)
class TrainResult:
    """Where a training run put its outputs and how long it took."""

    run_dir: Path
    model_path: Path
    best_model_path: Path | None
    seconds: float
    steps_per_second: float
    evaluations: int = 0
    """Checkpoints scored on the validation window to pick ``best_model_path`` (0 without evaluation)."""


def _callbacks(cfg: RunConfig, run_dir: Path, progress: bool) -> CallbackList:
    n = cfg.train.n_envs
    cbs: list[BaseCallback] = [
        TradingMetricsCallback(summarize=episode_metrics),
        HParamCallback({**flat_hparams(cfg.ppo, "ppo."), **flat_hparams(cfg.stack, "stack."), "seed": cfg.seed}),
        ProgressCallback(cfg.train.total_timesteps, progress),
    ]
    if cfg.train.eval_freq > 0:
        eval_env = VecMonitor(DummyVecEnv([lambda: make_env(cfg.stack, "val")]))
        cbs.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=1,
                eval_freq=max(1, cfg.train.eval_freq // n),
                best_model_save_path=str(run_dir / "best"),
                log_path=str(run_dir / EVALUATIONS.parent),
                deterministic=True,
                verbose=0,
            )
        )
    if cfg.train.checkpoint_freq > 0:
        cbs.append(
            CheckpointCallback(max(1, cfg.train.checkpoint_freq // n), str(run_dir / "checkpoints"), name_prefix="ppo")
        )
    return CallbackList(cbs)


def train(cfg: RunConfig, *, run_dir: Path | None = None, progress: bool | None = None) -> TrainResult:
    """Train PPO as ``cfg`` says; everything is written under the run folder."""
    run_dir = run_dir or new_run_dir(cfg)
    progress = show_progress() if progress is None else progress
    venv = make_vec_env(cfg.stack, cfg.train.n_envs, cfg.seed)
    model = make_ppo(cfg.ppo, venv, seed=cfg.seed, tensorboard_log=str(run_dir / "tb"))
    t0 = time.perf_counter()
    model.learn(cfg.train.total_timesteps, callback=_callbacks(cfg, run_dir, progress), tb_log_name="ppo")
    seconds = time.perf_counter() - t0
    model_path = run_dir / "model.zip"
    model.save(model_path)
    best = run_dir / "best" / "best_model.zip"
    venv.close()
    evaluations = checkpoints_scored(run_dir)
    logger.info("trained %d steps in %.1f s; %d checkpoints scored", model.num_timesteps, seconds, evaluations)
    return TrainResult(
        run_dir, model_path, best if best.exists() else None, seconds, model.num_timesteps / seconds, evaluations
    )


def checkpoints_scored(run_dir: Path) -> int:
    """Evaluations on the validation window logged in ``run_dir / EVALUATIONS``; 0 if there is no such file."""
    path = Path(run_dir) / EVALUATIONS
    if not path.exists():
        return 0
    with np.load(path) as log:
        return len(log["timesteps"])


def load_model(path: Path) -> PPO:
    """Load a saved PPO model on the CPU."""
    return PPO.load(path, device="cpu")


def load_policy(model_path: Path, name: str = "ppo") -> SB3Policy:
    """The trained model at ``model_path`` as a deterministic backtest :class:`~experiments.backtest.SB3Policy`.

    The one place a saved run's model becomes a policy: the backtest, walk-forward and export read models
    through it, so what a model needs at evaluation (its algorithm, its observation normaliser) is handled here.
    """
    return SB3Policy(load_model(Path(model_path)), name=name)
