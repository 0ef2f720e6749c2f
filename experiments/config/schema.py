"""The run config's schema: :class:`RunConfig` (one experiment) and :class:`TrainConfig` (the training loop).

Both are frozen dataclasses that check their values when built; the YAML loader is :mod:`experiments.config.loader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.config import VEC_ENVS, StackConfig
from agents.tier3.config import ALGOS, PPOConfig
from experiments.config.errors import ConfigError
from experiments.config.windows import check_windows

SELECT_BY: tuple[str, ...] = ("reward", "sharpe")
"""Values of ``train.select_by``."""


@dataclass(frozen=True)
class TrainConfig:
    """Training loop settings.

    Attributes:
        total_timesteps: PPO environment steps (decisions) over all envs.
        n_envs: Env copies trained on (stepped as ``vec_env`` says).
        eval_freq: Steps (over all envs) between evaluations on the validation window; 0 = none.
        checkpoint_freq: Steps (over all envs) between checkpoints; 0 = none.
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
    eval_freq: int = 10_000
    checkpoint_freq: int = 25_000
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
        if self.eval_freq < 0 or self.checkpoint_freq < 0:
            raise ConfigError("train.eval_freq and train.checkpoint_freq must be >= 0 (0 = never)")
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
        name: Run name; the run folder is ``<runs_dir>/<name>-<time>``.
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
        ConfigError: The date windows ``stack.train``, ``stack.val``, ``stack.test`` are not dates, are reversed,
            overlap or are out of order (see :func:`check_windows`).
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
        for key, value, low in (
            ("ppo.batch_size", self.ppo.batch_size, 2),  # SB3's PPO asserts batch_size > 1
            ("ppo.n_steps", self.ppo.n_steps, 2 if self.train.n_envs == 1 else 1),  # rollout of > 1 step
            ("ppo.n_epochs", self.ppo.n_epochs, 1),
        ):
            if value < low:
                raise ConfigError(f"{key}={value!r} must be >= {low}, e.g. {getattr(PPOConfig, key[4:])}")
        if self.ppo.full_info < 0 or self.ppo.full_info_epochs < 1:
            raise ConfigError(
                f"ppo.full_info={self.ppo.full_info!r} must be >= 0 and ppo.full_info_epochs="
                f"{self.ppo.full_info_epochs!r} >= 1, e.g. ppo.full_info=10"
            )
        if self.ppo.full_info > 0 and (self.stack.action != "menu" or self.algo != "ppo"):
            raise ConfigError(
                f"ppo.full_info={self.ppo.full_info!r} scores the items of the bracket menu: it needs algo: ppo and "
                f"stack.action: menu (now algo={self.algo!r}, stack.action={self.stack.action!r}); set "
                "stack.action=menu or ppo.full_info=0"
            )
        if not self.ppo.learning_rate > 0:
            raise ConfigError(f"ppo.learning_rate={self.ppo.learning_rate!r} must be > 0, e.g. 3e-4")
        if self.n_trials < 1:
            raise ConfigError(
                f"n_trials={self.n_trials!r} must be >= 1: it counts the configurations tried, this one included"
            )
        check_windows(self.stack)
