"""Train PPO on the env stack: one run folder with the resolved config, TensorBoard logs, checkpoints, models.

Run folder layout (``runs/<name>-<data>-<YYYYmmdd-HHMMSS>/``, :func:`run_folder_name`)::

    config.yaml          resolved config (loads back to the same RunConfig)
    tb/ppo_1/            TensorBoard event files (trading/*, tier1/*, tier2/*, risk/*, eval/*, train/*; after a
                         backtest also test/* and test_final/*, the HParams tab's metric values)
    checkpoints/         periodic PPO checkpoints
    best/best_model.zip  best model on the validation window (SB3 EvalCallback)
    best/obs_norm.json   the observation statistics the best model was scored with (``train.normalize_obs``)
    best/evaluations.npz every evaluation on the validation window (timesteps, results, ep_lengths)
    best/val_curve.csv   the validation curve: per evaluation the reward, Sharpe, return, drawdown, trades
    model.zip            final model
    obs_norm.json        the final observation statistics (``train.normalize_obs``; see agents.tier3.obs_norm)
    vecnormalize.pkl     the same as SB3's VecNormalize pickle, to resume training with SB3

Each evaluation scores one checkpoint on the validation window to pick ``best_model.zip``: a trial for the
deflated Sharpe ratio. :func:`checkpoints_scored` counts them from ``best/evaluations.npz``.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, VecNormalize
from tqdm.auto import tqdm

from agents.stack import make_env
from agents.tier3 import algos
from agents.tier3.config import flat_hparams
from agents.tier3.obs_norm import ObsNormalizer
from agents.tier3.ppo import HParamCallback, TradingMetricsCallback
from agents.vec import make_vec_env
from experiments.config import ConfigError, RunConfig, check_data_fit, to_yaml
from experiments.evaluation import metrics
from experiments.evaluation.backtest import show_progress
from experiments.evaluation.runfiles import EVALUATIONS, checkpoints_scored

logger = logging.getLogger(__name__)


class ProgressCallback(BaseCallback):
    """Training progress: a tqdm bar on a terminal, or one line every ``every`` of the budget without one.

    ``mode`` is ``"bar"``, ``"lines"`` or off (``False``/``"off"``); ``True`` means ``"bar"``. A line reads
    ``train  25% 100,352/400,000 steps  812 steps/s  eval reward -1.234  3m05s left`` (the eval reward is the
    latest mean on the validation window, from ``best/evaluations.npz`` of the run folder). Both count steps up to
    ``total`` only: PPO rounds the budget up to whole rollouts, so the last rollout's extra steps are not shown.
    """

    def __init__(self, total: int, mode: bool | str, every: float = 0.05, stream: Any = None) -> None:
        super().__init__()
        self.total, self.every = int(total), float(every)
        self.mode = "bar" if mode is True else "off" if mode in (False, None, "off") else str(mode)
        if self.mode not in ("bar", "lines", "off"):
            raise ValueError(f"mode={mode!r}; choose 'bar', 'lines' or 'off'")
        self.stream = stream
        self.bar: tqdm | None = None
        self.shown = 0
        self._marks = max(1, round(1.0 / self.every))  # a line at every k / marks of the budget (integers only)
        self._next = 1
        self._t0 = 0.0

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self.shown, self._next = 0, 1
        if self.mode == "bar":
            self.bar = tqdm(total=self.total, desc="train", unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        done = min(int(self.num_timesteps), self.total)
        if self.bar is not None and done > self.shown:
            self.bar.update(done - self.shown)
        if self.mode == "lines" and done * self._marks >= self._next * self.total:
            self._next = done * self._marks // self.total + 1
            print(self.line(done), file=self.stream or sys.stderr, flush=True)
        self.shown = done
        return True

    def line(self, done: int) -> str:
        """The progress line after ``done`` steps."""
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else float("nan")
        text = f"train {done / self.total:4.0%} {done:,}/{self.total:,} steps  {rate:,.0f} steps/s"
        reward = self._eval_reward()
        if reward is not None:
            text += f"  eval reward {reward:.3f}"
        return f"{text}  {_duration(left)} left"

    def _eval_reward(self) -> float | None:
        log = getattr(self.model, "tensorboard_log", None)
        path = Path(log).parent / EVALUATIONS if log else None
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as ev:
                return float(np.mean(ev["results"][-1])) if len(ev["results"]) else None
        except (OSError, ValueError, KeyError):  # being written by the EvalCallback right now
            return None

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def episode_metrics(equity: np.ndarray, trades: list[dict[str, Any]]) -> dict[str, float]:
    """Per-episode trading metrics for TensorBoard (the pure functions of :mod:`experiments.evaluation.metrics`)."""
    r = metrics.bar_returns(equity)
    return {
        "net_return": metrics.total_return(equity),
        "sharpe": metrics.sharpe(r),
        "max_drawdown": metrics.max_drawdown(equity),
        "win_rate": metrics.win_rate(trades),
        "profit_factor": metrics.profit_factor(trades),
        "trade_count": float(metrics.trade_count(trades)),
    }


def data_label(source: str) -> str:
    """``stack.data`` as a folder-name part: a file's stem (``my_bars`` for ``/data/my_bars.csv``), a dataset's
    name (``sp500``, ``sp500+vix``, ``synthetic_planted_edge_3``), other characters as ``_``."""
    from envs.data import is_file_source

    label = Path(source).stem if is_file_source(source) else source
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("._") or "data"


def run_folder_name(cfg: RunConfig, stamp: str) -> str:
    """``<name>-<data>-<stamp>``: the config's name and the data it trained on (:func:`data_label`)."""
    return f"{cfg.name}-{data_label(cfg.stack.data)}-{stamp}"


def new_run_dir(cfg: RunConfig) -> Path:
    """Create ``<runs_dir>/<name>-<data>-<time>/`` (a numeric suffix if that second is taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.runs_dir) / run_folder_name(cfg, stamp)
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
    from experiments.evaluation.runfiles import VAL_CURVE
    from experiments.reporting.hparams import metric_tags
    from experiments.training.learning_curve import TrainingEpisodes, ValidationCurveCallback, insert_recorder

    n = cfg.train.n_envs
    hparams = {**flat_hparams(cfg.ppo, "ppo."), **flat_hparams(cfg.stack, "stack.")}
    hparams.update({**flat_hparams(cfg.train, "train."), "algo": cfg.algo, "seed": cfg.seed, "n_trials": cfg.n_trials})
    hparams.update({f"algo_kwargs.{k}": v for k, v in cfg.algo_kwargs.items()})
    episodes = TrainingEpisodes()  # the training curve: averaged into best/val_curve.csv at each evaluation
    cbs: list[BaseCallback] = [
        TradingMetricsCallback(summarize=episode_metrics, on_episode=episodes),
        HParamCallback(hparams, metrics=metric_tags()),  # test/* values: written by experiments.reporting.evaluate
        ProgressCallback(cfg.train.total_timesteps, progress),
    ]
    if cfg.ppo.full_info > 0:
        from agents.tier3.full_info import FullInfoCallback, Outcomes

        outcomes = Outcomes.for_stack(cfg.stack, "train")
        cbs.insert(0, FullInfoCallback(outcomes, coef=cfg.ppo.full_info, epochs=cfg.ppo.full_info_epochs))
    if cfg.train.eval_freq > 0:
        eval_env = _eval_env(cfg)
        insert_recorder(eval_env)  # keeps each validation episode (the VecEnv's auto-reset wipes the env's own)
        by_reward = cfg.train.select_by == "reward"
        cbs.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=1,
                eval_freq=max(1, cfg.train.eval_freq // n),
                best_model_save_path=str(run_dir / "best") if by_reward else None,
                log_path=str(run_dir / EVALUATIONS.parent),
                deterministic=True,
                verbose=0,
                callback_on_new_best=SaveNormOnBest(run_dir / "best")
                if cfg.train.normalize_obs and by_reward
                else None,
                callback_after_eval=ValidationCurveCallback(
                    run_dir / VAL_CURVE, select_best=None if by_reward else run_dir / "best", training=episodes
                ),
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
    """The training envs: ``cfg.train.n_envs`` copies of the stack (``cfg.train.vec_env``: in this process or
    one worker process each), behind VecNormalize if asked."""
    venv = make_vec_env(cfg.stack, cfg.train.n_envs, cfg.seed, vec_env=cfg.train.vec_env)
    if cfg.train.normalize_obs:
        venv = VecNormalize(
            venv, norm_obs=True, norm_reward=False, clip_obs=cfg.train.norm_clip_obs, gamma=cfg.ppo.gamma
        )
    return venv


def train(cfg: RunConfig, *, run_dir: Path | None = None, progress: bool | str | None = None) -> TrainResult:
    """Train ``cfg.algo`` as ``cfg`` says; everything is written under the run folder.

    Args:
        cfg: The run's config.
        run_dir: Folder to write into (its ``config.yaml`` is written if missing); default a new
            ``<runs_dir>/<name>-<data>-<time>`` folder, deleted again if the run fails before it saves a model
            (:func:`discard_failed_run`).
        progress: ``"bar"``, ``"lines"`` (a line every 5% of the budget, for logs and jobs without a terminal),
            ``False`` for silence; default a bar on a terminal and lines otherwise.
    """
    check_data_fit(cfg.stack)  # windows inside the data, with their look-back: one clear error before any work
    init = tier4_init(cfg) if cfg.train.init_from else None
    created = run_dir is None
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
    if not (run_dir / "config.yaml").exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(cfg))
    try:
        return _train(cfg, run_dir, init, progress)
    except BaseException:
        if created:
            discard_failed_run(run_dir)
        raise


def discard_failed_run(run_dir: Path) -> bool:
    """Delete the folder of a run that failed before it saved a model, a checkpoint or an evaluation (it would
    hold only ``config.yaml`` and empty TensorBoard files); a folder with any of those is kept. Returns whether
    the folder was deleted."""
    kept = [p for p in Path(run_dir).rglob("*") if p.suffix in (".zip", ".npz", ".csv")]
    if kept or not Path(run_dir).is_dir():
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    logger.info("run folder %s deleted: the run failed before it saved a model", run_dir)
    return True


def _train(cfg: RunConfig, run_dir: Path, init: Any, progress: bool | str | None) -> TrainResult:
    progress = ("bar" if show_progress() else "lines") if progress is None else progress
    venv = train_env(cfg)
    model = algos.make_model(
        cfg.algo,
        cfg.ppo,
        venv,
        seed=cfg.seed,
        torch_threads=cfg.train.torch_threads,
        algo_kwargs=cfg.algo_kwargs,
        tensorboard_log=str(run_dir / "tb"),
    )
    if init is not None:
        _load_init(init, model, cfg)
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
    model.logger.close()  # SB3's TensorBoard writer thread: flushed and stopped
    evaluations = checkpoints_scored(run_dir)
    logger.info("trained %d steps in %.1f s; %d checkpoints scored", model.num_timesteps, seconds, evaluations)
    return TrainResult(
        run_dir, model_path, best if best.exists() else None, seconds, model.num_timesteps / seconds, evaluations
    )


def tier4_init(cfg: RunConfig) -> Any:
    """The parameters of the Tier 4 specialist ``cfg.train.init_from`` (``<folder>:<name>``), checked."""
    from meta.brain import Tier4

    folder, _, name = cfg.train.init_from.rpartition(":")
    if cfg.algo != "ppo":
        raise ConfigError(f"train.init_from needs algo=ppo (the specialists have PPO's actor-critic), not {cfg.algo!r}")
    brain = Tier4.load(folder)
    if name not in brain.params:
        raise ConfigError(f"train.init_from: no specialist {name!r} in {folder}; it has {', '.join(brain.names)}")
    return brain.params[name]


def _load_init(params: Any, model: Any, cfg: RunConfig) -> None:
    from meta.policy import load_into_sb3

    try:
        load_into_sb3(params, model)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"train.init_from={cfg.train.init_from!r}: {exc}") from None
    logger.info("PPO starts from the Tier 4 specialist %s", cfg.train.init_from)
