"""Train PPO on the env stack: one run folder with the resolved config, TensorBoard logs, checkpoints, models.

Run folder layout (``runs/<name>-<YYYYmmdd-HHMMSS>/``)::

    config.yaml          resolved config (loads back to the same RunConfig)
    tb/ppo_1/            TensorBoard event files (trading/*, tier1/*, tier2/*, risk/*, eval/*, train/*)
    checkpoints/         periodic PPO checkpoints
    best/best_model.zip  best model on the validation window (SB3 EvalCallback)
    best/obs_norm.json   the observation statistics the best model was scored with (``train.normalize_obs``)
    best/evaluations.npz every evaluation on the validation window (timesteps, results, ep_lengths)
    model.zip            final model
    obs_norm.json        the final observation statistics (``train.normalize_obs``; see agents.obs_norm)
    vecnormalize.pkl     the same as SB3's VecNormalize pickle, to resume training with SB3

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
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, VecNormalize
from tqdm.auto import tqdm

from agents import algos
from agents.obs_norm import ObsNormalizer
from agents.ppo import HParamCallback, TradingMetricsCallback, flat_hparams
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


class SaveNormOnBest(BaseCallback):
    """Called by the EvalCallback on a new best model: saves the observation statistics it was scored with."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def _on_step(self) -> bool:
        venv = self.model.get_vec_normalize_env() if self.model is not None else None
        if venv is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            ObsNormalizer.from_vec_normalize(venv).save(self.folder)
        return True


def _eval_env(cfg: RunConfig) -> VecEnv:
    env: VecEnv = VecMonitor(DummyVecEnv([lambda: make_env(cfg.stack, "val")]))
    if cfg.train.normalize_obs:  # statistics synced from the training env before each evaluation, never updated
        env = VecNormalize(env, training=False, norm_obs=True, norm_reward=False, clip_obs=cfg.train.norm_clip_obs)
    return env


def _callbacks(cfg: RunConfig, run_dir: Path, progress: bool) -> CallbackList:
    n = cfg.train.n_envs
    hparams = {**flat_hparams(cfg.ppo, "ppo."), **flat_hparams(cfg.stack, "stack."), "seed": cfg.seed}
    hparams.update({"algo": cfg.algo, "train.normalize_obs": cfg.train.normalize_obs})
    hparams.update({f"algo_kwargs.{k}": v for k, v in cfg.algo_kwargs.items()})
    cbs: list[BaseCallback] = [
        TradingMetricsCallback(summarize=episode_metrics),
        HParamCallback(hparams),
        ProgressCallback(cfg.train.total_timesteps, progress),
    ]
    if cfg.train.eval_freq > 0:
        cbs.append(
            EvalCallback(
                _eval_env(cfg),
                n_eval_episodes=1,
                eval_freq=max(1, cfg.train.eval_freq // n),
                best_model_save_path=str(run_dir / "best"),
                log_path=str(run_dir / EVALUATIONS.parent),
                deterministic=True,
                verbose=0,
                callback_on_new_best=SaveNormOnBest(run_dir / "best") if cfg.train.normalize_obs else None,
            )
        )
    if cfg.train.checkpoint_freq > 0:
        cbs.append(
            CheckpointCallback(
                max(1, cfg.train.checkpoint_freq // n),
                str(run_dir / "checkpoints"),
                name_prefix=cfg.algo,
                save_vecnormalize=cfg.train.normalize_obs,
            )
        )
    return CallbackList(cbs)


def train_env(cfg: RunConfig) -> VecEnv:
    """The training envs: ``cfg.train.n_envs`` copies of the stack, behind VecNormalize if asked."""
    venv = make_vec_env(cfg.stack, cfg.train.n_envs, cfg.seed)
    if cfg.train.normalize_obs:
        venv = VecNormalize(
            venv, norm_obs=True, norm_reward=False, clip_obs=cfg.train.norm_clip_obs, gamma=cfg.ppo.gamma
        )
    return venv


def train(cfg: RunConfig, *, run_dir: Path | None = None, progress: bool | None = None) -> TrainResult:
    """Train ``cfg.algo`` as ``cfg`` says; everything is written under the run folder."""
    run_dir = run_dir or new_run_dir(cfg)
    progress = show_progress() if progress is None else progress
    venv = train_env(cfg)
    model = algos.make_model(
        cfg.algo, cfg.ppo, venv, seed=cfg.seed, algo_kwargs=cfg.algo_kwargs, tensorboard_log=str(run_dir / "tb")
    )
    t0 = time.perf_counter()
    model.learn(cfg.train.total_timesteps, callback=_callbacks(cfg, run_dir, progress), tb_log_name="ppo")
    seconds = time.perf_counter() - t0
    model_path = run_dir / "model.zip"
    model.save(model_path)
    if isinstance(venv, VecNormalize):
        ObsNormalizer.from_vec_normalize(venv).save(run_dir)
        venv.save(str(run_dir / "vecnormalize.pkl"))
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


def model_path(run_dir: Path, which: str = "best") -> Path:
    """``best/best_model.zip`` (``which="best"``, falling back to ``model.zip``) or ``model.zip`` of a run."""
    if which not in ("best", "final"):
        raise ValueError(f"model={which!r}; choose 'best' or 'final'")
    best, final = run_dir / "best" / "best_model.zip", run_dir / "model.zip"
    path = best if which == "best" and best.exists() else final
    if not path.exists():
        raise FileNotFoundError(f"no trained model in {run_dir} (looked for {best} and {final})")
    return path


def run_algo(model_path: Path) -> str:
    """The ``algo`` of the run a model file belongs to (its ``config.yaml`` one or two folders up), else ppo."""
    for folder in (Path(model_path).parent, Path(model_path).parent.parent):
        path = folder / "config.yaml"
        if path.exists():
            import yaml

            tree = yaml.safe_load(path.read_text()) or {}
            return str(tree.get("algo", "ppo")) if isinstance(tree, dict) else "ppo"
    return "ppo"


def load_model(path: Path, algo: str | None = None) -> BaseAlgorithm:
    """Load a saved model on the CPU (``algo`` read from the run's config when not given)."""
    return algos.load_model(algo or run_algo(path), path)


def load_policy(model_path: Path, name: str = "ppo", algo: str | None = None) -> SB3Policy:
    """The trained model at ``model_path`` as a deterministic backtest :class:`~experiments.backtest.SB3Policy`.

    The one place a saved run's model becomes a policy: the backtest, walk-forward and export read models
    through it. It loads the model with its algorithm (``algo``, else the run's ``config.yaml``) and the frozen
    observation statistics saved beside it (``obs_norm.json``), if the run normalised observations.
    """
    model_path = Path(model_path)
    algo = algo or run_algo(model_path)
    return SB3Policy(
        load_model(model_path, algo),
        name=name,
        normalizer=ObsNormalizer.load_beside(model_path),
        recurrent=algo in algos.RECURRENT,
    )
