"""The run config's schema: :class:`RunConfig` (one experiment) and :class:`TrainConfig` (the training loop).

Both are frozen dataclasses that check their values when built; the YAML loader is :mod:`experiments.config.loader`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config import VEC_ENVS, StackConfig
from agents.tier3.config import ALGOS, PPOConfig
from experiments.config.errors import ConfigError
from experiments.config.windows import check_windows

SELECT_BY: tuple[str, ...] = ("reward", "sharpe")
"""Values of ``train.select_by``."""

EVALUATIONS_PER_RUN = 10
"""``train.eval_freq: auto`` scores a checkpoint on the validation window every tenth of the budget."""
CHECKPOINTS_PER_RUN = 4
"""``train.checkpoint_freq: auto`` saves a checkpoint every quarter of the budget."""
MAX_SEED = 2**32 - 1
"""numpy and torch take seeds in [0, 2**32); env copy ``i`` gets ``seed + i``."""


def auto_freq(total_timesteps: int, per_run: int, n_envs: int) -> int:
    """Steps between events that happen ``per_run`` times over ``total_timesteps`` (at least one step of every
    env copy, so ``freq // n_envs`` is never 0)."""
    return max(n_envs, total_timesteps // per_run)


@dataclass(frozen=True)
class TrainConfig:
    """Training loop settings.

    Attributes:
        total_timesteps: PPO environment steps (decisions) over all envs.
        n_envs: Env copies trained on (stepped as ``vec_env`` says).
        eval_freq: Steps (over all envs) between evaluations on the validation window; 0 = none. ``auto`` (YAML;
            ``None`` in Python; the default) = a tenth of ``total_timesteps`` (:data:`EVALUATIONS_PER_RUN`), so
            any budget gets about ten evaluations; the resolved number is what the run's ``config.yaml`` holds.
        checkpoint_freq: Steps (over all envs) between checkpoints; 0 = none. ``auto`` (the default) = a quarter
            of ``total_timesteps`` (:data:`CHECKPOINTS_PER_RUN`).
        normalize_obs: Train behind SB3's ``VecNormalize`` (running mean and variance of each observation slot,
            observations only); the statistics are frozen at evaluation and saved beside every model as
            ``obs_norm.json`` (see :mod:`agents.tier3.obs_norm`).
        norm_clip_obs: Clip of the normalised observation.
        select_by: What picks ``best/best_model.zip`` among the checkpoints scored on the validation window:
            ``reward`` (the episode reward, SB3's ``EvalCallback``) or ``sharpe`` (the validation Sharpe of
            ``best/val_curve.csv``, the measure the backtest reports). Either way every scored checkpoint counts
            as a trial for the deflated Sharpe ratio.
        vec_env: How the ``n_envs`` env copies run: ``batched`` (every copy in one compiled call of the batched
            core, :class:`agents.batch.StackVecEnv`), ``dummy`` (one process, SB3's ``DummyVecEnv``) or
            ``subproc`` (one process per copy, SB3's ``SubprocVecEnv``). All three give the same training for the
            same seed.
        torch_threads: Torch threads of the training process (1 unless measured otherwise).
        init_from: Start PPO from a Tier 4 specialist's meta-learned parameters: ``<tier4 folder>:<specialist>``
            (e.g. ``runs/meta/tier4:balanced``, written by ``tradebrain meta-train``); empty: SB3's initialisation.
    """

    total_timesteps: int = 50_000
    n_envs: int = 4
    eval_freq: int | None = None
    checkpoint_freq: int | None = None
    normalize_obs: bool = False
    norm_clip_obs: float = 10.0
    vec_env: str = "batched"
    select_by: str = "reward"
    torch_threads: int = 1
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.select_by not in SELECT_BY:
            raise ConfigError(f"train.select_by={self.select_by!r} is not one of {list(SELECT_BY)}; e.g. reward")
        if self.vec_env not in VEC_ENVS:
            raise ConfigError(f"train.vec_env={self.vec_env!r} is not one of {list(VEC_ENVS)}; e.g. batched")
        if self.n_envs < 1:
            raise ConfigError(f"train.n_envs={self.n_envs!r} must be >= 1 (env copies), e.g. 4")
        if self.torch_threads < 1:
            raise ConfigError(f"train.torch_threads={self.torch_threads!r} must be >= 1, e.g. 1")
        if self.total_timesteps < 1:
            raise ConfigError(f"train.total_timesteps={self.total_timesteps!r} must be >= 1, e.g. 50000")
        for key, per_run in (("eval_freq", EVALUATIONS_PER_RUN), ("checkpoint_freq", CHECKPOINTS_PER_RUN)):
            value = getattr(self, key)
            if value is None or value == "auto":
                object.__setattr__(self, key, auto_freq(self.total_timesteps, per_run, self.n_envs))
            elif value < 0:
                raise ConfigError(
                    f"train.{key}={value!r} must be >= 0 steps (0 = never) or auto (1/{per_run} of the budget)"
                )
        if not self.norm_clip_obs > 0:
            raise ConfigError(f"train.norm_clip_obs={self.norm_clip_obs!r} must be > 0, e.g. 10")
        if self.init_from and (":" not in self.init_from or self.normalize_obs):
            raise ConfigError(
                f"train.init_from={self.init_from!r} must be '<tier4 folder>:<specialist>', e.g. "
                "runs/meta/tier4:balanced, with train.normalize_obs=false (the specialists learned on raw observations)"
            )


@dataclass(frozen=True)
class RunConfig:
    """One experiment.

    Attributes:
        name: Run name; the run folder is ``<runs_dir>/<name>-<data>-<time>`` (letters, digits, ``_ . + -``).
        seed: Seed of everything (env copies get seed, seed + 1, ...).
        runs_dir: Parent folder of run folders.
        n_trials: Configurations tried outside this run (e.g. the trials of a hyper-parameter search), >= 1.
            The deflated Sharpe ratio of the backtest counts ``n_trials`` x the checkpoints scored on the
            validation window to pick the model (see :func:`experiments.reporting.evaluate.trials_counted`).
        stack: The environment stack (data, windows, costs, limits, reward, tiers).
        algo: The learner: ``ppo``, ``a2c``, ``sac``, ``td3`` or ``recurrent_ppo`` (see :mod:`agents.tier3.algos`).
        algo_kwargs: Further keywords of the learner's SB3 constructor (e.g. ``learning_starts`` for SAC).
        ppo: Settings of the PPO family (PPO, RecurrentPPO, and the fields A2C shares); SAC and TD3 take
            ``algo_kwargs`` only (see :class:`agents.tier3.config.PPOConfig`).
        train: Training loop settings.
        data_sha256: SHA-256 of the data file ``stack.data`` (None for a bundled dataset). :func:`load_config`
            fills it in and, when a config already holds one (a run's ``config.yaml``), checks the file against it.

    Raises:
        ConfigError: A value out of its range (the message names the key, the value and the fix), e.g. date
            windows ``stack.train``, ``stack.val``, ``stack.test`` that are not dates, are reversed, overlap or
            are out of order (see :func:`check_windows`).
    """

    name: str = "experiment"
    seed: int = 0
    runs_dir: str = "runs"
    n_trials: int = 1
    stack: StackConfig = field(default_factory=StackConfig)
    algo: str = "ppo"
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"algo={self.algo!r} is not one of {list(ALGOS)}; e.g. algo: ppo")
        if self.algo_kwargs:  # checked against the SB3 constructor's signature: imports torch and SB3
            from agents.tier3.algos import AlgoError, check_kwargs

            try:
                check_kwargs(self.algo, self.algo_kwargs)
            except AlgoError as exc:
                raise ConfigError(str(exc)) from None
        if self.ppo.n_steps < 2 and self.train.n_envs == 1:  # SB3 needs a rollout of more than one step
            raise ConfigError(
                f"ppo.n_steps={self.ppo.n_steps!r} must be >= 2 with train.n_envs=1, e.g. {PPOConfig.n_steps}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.+-]*", self.name) or self.name.startswith("."):  # "" in walk-forward keys
            raise ConfigError(
                f"name={self.name!r} must be a folder name of letters, digits and _ . + - (runs go to "
                f"<runs_dir>/<name>-<data>-<time>/), e.g. name=my_experiment"
            )
        if not 0 <= self.seed <= MAX_SEED - self.train.n_envs + 1:
            raise ConfigError(
                f"seed={self.seed!r} must be in [0, {MAX_SEED - self.train.n_envs + 1}] (numpy seeds are in "
                "[0, 2**32) and env copy i gets seed + i), e.g. seed=0"
            )
        if Path(self.runs_dir).exists() and not Path(self.runs_dir).is_dir():
            raise ConfigError(
                f"runs_dir={self.runs_dir!r} is a file, not a folder: run folders go inside it; give a folder, "
                "e.g. runs_dir=runs"
            )
        if self.ppo.full_info > 0 and (self.stack.action != "menu" or self.algo != "ppo"):
            raise ConfigError(
                f"ppo.full_info={self.ppo.full_info!r} scores the items of the bracket menu: it needs algo: ppo and "
                f"stack.action: menu (now algo={self.algo!r}, stack.action={self.stack.action!r}); set "
                "stack.action=menu or ppo.full_info=0"
            )
        if self.ppo.menu_head != "free" and (self.stack.action != "menu" or self.algo != "ppo"):
            raise ConfigError(
                f"ppo.menu_head={self.ppo.menu_head!r} is a head over the items of the bracket menu: it needs "
                "algo: ppo and "
                f"stack.action: menu (now algo={self.algo!r}, stack.action={self.stack.action!r}); set "
                "stack.action=menu or ppo.menu_head=free"
            )
        if self.ppo.menu_head == "pooled" and self.ppo.full_info <= 0:
            raise ConfigError(
                "ppo.menu_head='pooled' sets its item preference from the full-information outcomes: it needs "
                f"ppo.full_info > 0 (now {self.ppo.full_info!r}); set ppo.full_info=10 or ppo.menu_head=factored"
            )
        if self.train.init_from and self.stack.action != "box":
            raise ConfigError(
                f"train.init_from={self.train.init_from!r} starts PPO's Gaussian policy on the 4-dim Box from a MAML "
                f"specialist: it needs stack.action: box (now {self.stack.action!r}); set stack.action=box and "
                "ppo.full_info=0"
            )
        if self.n_trials < 1:
            raise ConfigError(
                f"n_trials={self.n_trials!r} must be >= 1: it counts the configurations tried, this one included"
            )
        check_windows(self.stack)


def evaluations_planned(cfg: RunConfig) -> int:
    """Checkpoints a run of ``cfg`` scores on the validation window: SB3 steps all env copies at once and rounds
    the budget up to whole rollouts (``n_steps`` per copy for PPO and RecurrentPPO, 5 for A2C unless
    ``algo_kwargs`` says otherwise, ``train_freq`` steps for SAC and TD3), and the EvalCallback runs every
    ``eval_freq // n_envs`` of those steps."""
    n_envs, freq = cfg.train.n_envs, int(cfg.train.eval_freq or 0)
    if freq <= 0:
        return 0
    if cfg.algo in ("ppo", "recurrent_ppo"):
        rollout = int(cfg.algo_kwargs.get("n_steps", cfg.ppo.n_steps))
    elif cfg.algo == "a2c":
        rollout = int(cfg.algo_kwargs.get("n_steps", 5))
    else:
        every = cfg.algo_kwargs.get("train_freq", 1)
        rollout = int(every if isinstance(every, int) else 1)
    calls = math.ceil(cfg.train.total_timesteps / (rollout * n_envs)) * rollout
    return calls // max(1, freq // n_envs)


def config_warnings(cfg: RunConfig) -> list[str]:
    """What a run of ``cfg`` will go without, one line each (printed by the CLI before training starts)."""
    budget = f"train.total_timesteps={cfg.train.total_timesteps}"
    out = []
    if evaluations_planned(cfg) == 0:
        why = "" if not cfg.train.eval_freq else f" is above the step budget ({budget})"
        out.append(
            f"train.eval_freq={cfg.train.eval_freq}{why}: no evaluation on the validation window will run, so "
            "the run keeps no best model, the report has no learning curve and uses the final model; set "
            "train.eval_freq=auto (a tenth of the budget) to evaluate"
        )
    return out
