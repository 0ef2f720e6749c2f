"""The learning curves: at every evaluation, the validation episode and the training episodes since the last one.

SB3's ``EvalCallback`` scores a checkpoint on the validation window every ``train.eval_freq`` steps and logs only
the episode reward (``best/evaluations.npz``). :class:`ValidationCurveCallback`, its ``callback_after_eval``,
reads the validation episode just run and appends one row to ``best/val_curve.csv`` (:data:`VAL_CURVE`)::

    timesteps        training steps when the checkpoint was scored
    eval_reward      the EvalCallback's mean episode reward (as in ``best/evaluations.npz``)
    val_sharpe       annualised Sharpe of the episode's per-bar equity (experiments.evaluation.metrics.sharpe, 252 bars)
    val_total_return total return of the episode (fraction)
    val_max_drawdown max drawdown of the episode (positive fraction of the running peak)
    trade_count      closed trades of the episode
    val_flat_share   share of the episode's decisions that opened no trade
    train_episodes   training episodes finished since the previous evaluation (the next four are their means)
    train_reward     episode reward (sum of the step rewards the agent was paid)
    train_sharpe     annualised Sharpe of the episode's equity (episodes without a defined Sharpe, e.g. no
                     trade, left out, as in TensorBoard's trading/sharpe)
    train_flat_share share of the episode's decisions that opened no trade (TensorBoard's reward/flat_share)
    train_trade_count closed trades of the episode

The ``train_*`` columns come from :class:`TrainingEpisodes`, fed by the ``on_episode`` hook of
:class:`agents.tier3.ppo.TradingMetricsCallback` (the same values as its TensorBoard tags), so the CSV holds the
training curve and the validation curve at the same steps. It also records ``eval/sharpe``,
``eval/total_return``, ``eval/max_drawdown`` and ``eval/trade_count`` to TensorBoard at the same step as SB3's
``eval/mean_reward``.

The episode is read as it ran: SB3's ``evaluate_policy`` steps the eval VecEnv until the episode ends, and the
VecEnv then resets the env at once (auto-reset), wiping the env's own equity curve. An
:class:`EpisodeRecorder` inside the eval VecEnv keeps the finished episode instead: the equity curve of the
terminal step's ``info["episode_equity"]`` and every ``info["trade"]`` of the episode. The curve is measured the
way :func:`experiments.evaluation.backtest.run_backtest` measures a backtest (after a risk halt the equity stays flat to
the window's end), so a row equals a direct backtest of the same checkpoint on the validation window.

Example:
    >>> eval_env = _eval_env(cfg)                                                   # doctest: +SKIP
    >>> insert_recorder(eval_env)                                                   # doctest: +SKIP
    >>> EvalCallback(eval_env, callback_after_eval=ValidationCurveCallback(run_dir / VAL_CURVE))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from experiments.evaluation import metrics

COLUMNS: tuple[str, ...] = (
    "timesteps",
    "eval_reward",
    "val_sharpe",
    "val_total_return",
    "val_max_drawdown",
    "trade_count",
    "val_flat_share",
    "train_episodes",
    "train_reward",
    "train_sharpe",
    "train_flat_share",
    "train_trade_count",
)
"""Columns of :data:`VAL_CURVE`, in order (runs from before the ``val_flat_share`` and ``train_*`` columns lack
them; readers treat missing columns as unknown)."""
TRAIN_KEYS: dict[str, str] = {
    "train_reward": "reward",
    "train_sharpe": "sharpe",
    "train_flat_share": "flat_share",
    "train_trade_count": "trade_count",
}
"""``train_*`` column -> key of the values :class:`agents.tier3.ppo.TradingMetricsCallback` reports per episode."""


class TrainingEpisodes:
    """The training episodes finished since the last evaluation: ``on_episode`` of
    :class:`~agents.tier3.ppo.TradingMetricsCallback` appends, :meth:`drain` averages and starts over."""

    def __init__(self) -> None:
        self._episodes: list[dict[str, float]] = []

    def __call__(self, values: Any) -> None:
        self._episodes.append({k: float(v) for k, v in dict(values).items()})

    def drain(self) -> dict[str, float]:
        """``train_episodes`` and the mean of each ``train_*`` column of :data:`TRAIN_KEYS` over the episodes
        since the last call (non-finite values left out; NaN when none is left), then forget them."""
        episodes, self._episodes = self._episodes, []
        row = {"train_episodes": float(len(episodes))}
        for column, key in TRAIN_KEYS.items():
            values = [e[key] for e in episodes if key in e and np.isfinite(e[key])]
            row[column] = float(np.mean(values)) if values else float("nan")
        return row


@dataclass(frozen=True)
class Episode:
    """One finished episode of an env copy.

    Attributes:
        equity: Per-bar equity from the episode's first bar, shape ``(n,)``, flat after a risk halt to the
            window's last bar (as a backtest's equity).
        trades: The closed-trade records of the episode, in order.
        start: Bar number of the episode's first bar.
    """

    equity: np.ndarray
    trades: tuple[dict[str, Any], ...]
    start: int
    decisions: int = 0
    """Steps of the episode (one decision each); 0 when unknown."""

    def row(self) -> dict[str, float]:
        """The curve's per-episode columns (the ``val_*`` ones and ``trade_count``)."""
        trades = float(metrics.trade_count(list(self.trades)))
        return {
            "val_sharpe": metrics.sharpe(metrics.bar_returns(self.equity)),
            "val_total_return": metrics.total_return(self.equity),
            "val_max_drawdown": metrics.max_drawdown(self.equity),
            "trade_count": trades,
            "val_flat_share": 1.0 - trades / self.decisions if self.decisions else float("nan"),
        }


class EpisodeRecorder(VecEnvWrapper):
    """Keeps the last finished episode of each env copy (equity curve and trades); passes everything through.

    Put it directly above the innermost VecEnv (:func:`insert_recorder`) so the VecEnv's auto-reset after the
    episode's last step does not lose the episode, and SB3's ``sync_envs_normalization`` still walks the
    training and evaluation wrapper chains in step.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self._trades: list[list[dict[str, Any]]] = [[] for _ in range(self.num_envs)]
        self._steps = [0] * self.num_envs
        self.episodes: list[Episode | None] = [None] * self.num_envs
        """The last finished episode of each env copy (None before the first one ends)."""

    def reset(self) -> Any:
        self._trades = [[] for _ in range(self.num_envs)]
        self._steps = [0] * self.num_envs
        return self.venv.reset()

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        for i, info in enumerate(infos):
            self._steps[i] += 1
            if "trade" in info:
                self._trades[i].append(info["trade"])
            if dones[i]:
                self._finish(i, info)
        return obs, rewards, dones, infos

    def _finish(self, i: int, info: dict[str, Any]) -> None:
        trades, self._trades[i] = tuple(self._trades[i]), []
        steps, self._steps[i] = self._steps[i], 0
        if "episode_equity" not in info:
            return
        equity = np.asarray(info["episode_equity"], dtype=np.float64)
        start = int(info.get("episode_start", 0))
        stop = int(self.venv.get_attr("window", indices=[i])[0][1])  # flat to the window's end after a halt
        curve = np.full(max(len(equity), stop - start), equity[-1])
        curve[: len(equity)] = equity
        self.episodes[i] = Episode(curve, trades, start, steps)


def insert_recorder(venv: VecEnv) -> EpisodeRecorder:
    """Put an :class:`EpisodeRecorder` right above the innermost VecEnv of ``venv``'s wrapper chain.

    The wrappers above (``VecMonitor``, ``VecNormalize``) keep their settings and their types, so the
    ``EvalCallback`` sees the same chain as before. Returns the recorder (already inserted).

    Raises:
        TypeError: ``venv`` is not wrapped (there is no wrapper to insert the recorder under).
    """
    if not isinstance(venv, VecEnvWrapper):
        raise TypeError(f"venv must be a VecEnvWrapper (e.g. VecMonitor(DummyVecEnv(...))), got {type(venv).__name__}")
    layer = venv
    while isinstance(layer.venv, VecEnvWrapper):
        if isinstance(layer.venv, EpisodeRecorder):
            return layer.venv
        layer = layer.venv
    recorder = EpisodeRecorder(layer.venv)
    layer.venv = recorder
    return recorder


def find_recorder(venv: VecEnv) -> EpisodeRecorder | None:
    """The :class:`EpisodeRecorder` in ``venv``'s wrapper chain, or None."""
    layer: Any = venv
    while isinstance(layer, VecEnvWrapper):
        if isinstance(layer, EpisodeRecorder):
            return layer
        layer = layer.venv
    return None


class ValidationCurveCallback(BaseCallback):
    """``callback_after_eval`` of SB3's ``EvalCallback``: one row of :data:`COLUMNS` per evaluation.

    Reads the episode the evaluation just ran from the :class:`EpisodeRecorder` in the eval env (see
    :func:`insert_recorder`), appends it to ``path`` (CSV, header written on the first row) and records
    ``eval/sharpe``, ``eval/total_return``, ``eval/max_drawdown`` and ``eval/trade_count`` to the logger.

    With ``select_best`` it also picks the best model by validation Sharpe (``train.select_by: sharpe``): a
    checkpoint whose Sharpe beats every earlier one (a NaN Sharpe never does) is saved as
    ``select_best / "best_model.zip"``, with its observation statistics when the run normalises observations.

    Args:
        path: The CSV file (``run_dir / VAL_CURVE``).
        select_best: Folder of the best model to keep by validation Sharpe, or None (the EvalCallback keeps it
            by reward).
        training: The training episodes to average into the ``train_*`` columns (NaN columns without it).
    """

    def __init__(
        self,
        path: Path,
        verbose: int = 0,
        select_best: Path | None = None,
        training: TrainingEpisodes | None = None,
    ) -> None:
        super().__init__(verbose)
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []
        self.select_best = None if select_best is None else Path(select_best)
        self.best_sharpe = -np.inf
        self.training = training

    def _on_step(self) -> bool:
        parent: Any = self.parent  # the EvalCallback (eval_env, last_mean_reward)
        recorder = find_recorder(parent.eval_env) if parent is not None else None
        episode = recorder.episodes[0] if recorder is not None else None
        if episode is None:
            warnings.warn(
                "the eval env has no EpisodeRecorder with a finished episode; wrap it with "
                "experiments.training.learning_curve.insert_recorder to log the validation curve",
                stacklevel=2,
            )
            return True
        train = self.training.drain() if self.training is not None else dict.fromkeys(COLUMNS[7:], float("nan"))
        row = {
            "timesteps": float(self.num_timesteps),
            "eval_reward": float(parent.last_mean_reward),
            **episode.row(),
            **train,
        }
        self._append(row)
        for key in ("sharpe", "total_return", "max_drawdown"):
            if np.isfinite(row[f"val_{key}"]):
                self.logger.record(f"eval/{key}", row[f"val_{key}"])
        self.logger.record("eval/trade_count", row["trade_count"])
        self.logger.dump(self.num_timesteps)  # the EvalCallback dumped eval/mean_reward at this step already
        if self.select_best is not None and row["val_sharpe"] > self.best_sharpe:  # NaN > x is False
            self._save_best(row["val_sharpe"])
        return True

    def _save_best(self, sharpe: float) -> None:
        from agents.tier3.obs_norm import ObsNormalizer

        self.best_sharpe = sharpe
        assert self.select_best is not None and self.model is not None
        self.select_best.mkdir(parents=True, exist_ok=True)
        self.model.save(self.select_best / "best_model.zip")
        venv = self.model.get_vec_normalize_env()
        if venv is not None:
            ObsNormalizer.from_vec_normalize(venv).save(self.select_best)

    def _append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
            if new:
                writer.writeheader()
            writer.writerow({k: repr(float(row[k])) if k != "timesteps" else int(row[k]) for k in COLUMNS})
