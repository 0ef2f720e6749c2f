"""``tradebrain tune``: Optuna search over PPO, the reward's penalties and observation normalisation.

Each trial samples a configuration (:func:`suggest`), trains it once per *validation fold* and scores the final
model (no checkpoint picking inside a trial) by its Sharpe ratio on that fold's validation window; the trial's
value is the mean over folds. Folds roll the config's ``(train, val)`` pair back in time by one validation
length each (fold 0 is the config's own pair), so no fold ever reaches the test window: a test year is never
seen by tuning. The median pruner stops a trial whose running mean after a fold (not the last: a trial that
scored every fold is complete) is below the median of earlier trials at the same fold.

The study lives in an Optuna storage URL: by default SQLite in the tuning folder (``<out>/study.db``), or any
database URL Optuna supports (``postgresql://...``) so several machines can work on one study. A second call
with the same folder (or URL and study name) adds trials to the same study.

Outputs in the tuning folder::

    study.db            the study (default storage)
    best.yaml           the best trial's config, loadable by `tradebrain train` and `walk-forward`; its
                        ``n_trials`` counts every trial of the study (for the deflated Sharpe ratio)
    trials.csv          every trial: number, state, value, parameters, per-fold scores
    history.png         optimisation history; importance.png: parameter importances (once 2 trials finished)
    trials/<n>/fold<k>/ each trial's run folders (TensorBoard logs, models)
    best-walkforward.yaml
                        when the config is a walk-forward config: the same best config with its
                        ``walkforward:`` section, for `tradebrain walk-forward` and `tradebrain ablate`

A walk-forward config (one with a ``walkforward:`` section) is tuned on the validation windows that precede its
first test year: fold 0 is the first walk-forward fold's own training and validation windows, and the folds
before it roll back from there, so no test year of any walk-forward fold is seen while tuning.

Example::

    tradebrain tune --config planted_edge --trials 20 --folds 2 --set train.total_timesteps=50000
    tradebrain train --config runs/tune-planted_edge/best.yaml
    tradebrain tune --config walkforward --trials 20 --set train.total_timesteps=50000
    tradebrain ablate --config runs/tune-walkforward/best-walkforward.yaml --timesteps 50000
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from experiments.config import ConfigError, RunConfig, config_tree, load_config, resolve_path, to_yaml

if TYPE_CHECKING:
    from experiments.walkforward.plan import WalkForwardConfig


logger = logging.getLogger(__name__)


SEARCH_SPACE: dict[str, str] = {
    "ppo.learning_rate": "log-uniform 1e-5 .. 1e-3",
    "ppo.n_steps": "128, 256, 512",
    "ppo.batch_size": "64, 128, 256",
    "ppo.n_epochs": "3 .. 10",
    "ppo.gamma": "0, 0.5, 0.9, 0.99",
    "ppo.ent_coef": "log-uniform 1e-6 .. 1e-2",
    "ppo.log_std_init": "-1.5 .. 0",
    "stack.reward.kind": "dsr, log_return",
    "stack.reward.drawdown_penalty": "0 .. 20",
    "stack.reward.clip_penalty": "0 .. 1",
    "stack.reward.bar_cost": "0 .. 0.01",
    "train.normalize_obs": "true, false",
}
"""What :func:`suggest` searches (documentation; the code below is the definition)."""


def suggest(trial: Any) -> list[str]:
    """Dotted overrides for one trial (the search space of :data:`SEARCH_SPACE`)."""
    n_steps = trial.suggest_categorical("ppo.n_steps", [128, 256, 512])
    batch = trial.suggest_categorical("ppo.batch_size", [64, 128, 256])
    values: dict[str, Any] = {
        "ppo.learning_rate": trial.suggest_float("ppo.learning_rate", 1e-5, 1e-3, log=True),
        "ppo.n_steps": n_steps,
        "ppo.batch_size": batch,
        "ppo.n_epochs": trial.suggest_int("ppo.n_epochs", 3, 10),
        "ppo.gamma": trial.suggest_categorical("ppo.gamma", [0.0, 0.5, 0.9, 0.99]),
        "ppo.ent_coef": trial.suggest_float("ppo.ent_coef", 1e-6, 1e-2, log=True),
        "ppo.log_std_init": trial.suggest_float("ppo.log_std_init", -1.5, 0.0),
        "stack.reward.kind": trial.suggest_categorical("stack.reward.kind", ["dsr", "log_return"]),
        "stack.reward.drawdown_penalty": trial.suggest_float("stack.reward.drawdown_penalty", 0.0, 20.0),
        "stack.reward.clip_penalty": trial.suggest_float("stack.reward.clip_penalty", 0.0, 1.0),
        "stack.reward.bar_cost": trial.suggest_float("stack.reward.bar_cost", 0.0, 0.01),
        "train.normalize_obs": trial.suggest_categorical("train.normalize_obs", [True, False]),
    }
    return [f"{k}={v}" for k, v in values.items()]


# ---------------------------------------------------------------------------------------------- folds
def load_tuning_config(source: str | Path, overrides: list[str]) -> tuple[RunConfig, WalkForwardConfig | None]:
    """The run config to tune and, for a walk-forward config, its ``walkforward:`` section (else ``None``).

    A walk-forward config is tuned on its first fold's training and validation windows (the test window is that
    fold's test year, never scored): every earlier fold of :func:`validation_folds` ends before it.
    """
    path = resolve_path(source)
    tree = yaml.safe_load(path.read_text()) or {}
    if not (isinstance(tree, dict) and "walkforward" in tree):
        return load_config(source, overrides=overrides), None
    from experiments.walkforward.plan import load_walkforward, make_folds

    wf, cfg = load_walkforward(source, overrides)
    first = make_folds(replace(wf, last_test_year=wf.first_test_year), cfg)[0]
    stack = replace(cfg.stack, train=first.train, val=first.val, test=first.test)
    return replace(cfg, stack=stack), wf


def validation_folds(cfg: RunConfig, n_folds: int) -> list[RunConfig]:
    """``n_folds`` configs whose ``(train, val)`` windows roll back by one validation length each.

    Fold 0 is ``cfg`` itself; fold ``k`` validates on ``[val_start - k * L, val_end - k * L)`` and trains from the
    config's train start up to that validation start. The test window is untouched and after every fold's
    validation window.
    """
    if n_folds < 1:
        raise ConfigError(f"folds={n_folds!r} must be >= 1")
    t0, v0, v1 = (pd.Timestamp(x) for x in (cfg.stack.train[0], cfg.stack.val[0], cfg.stack.val[1]))
    length = v1 - v0
    out = []
    for k in range(n_folds):
        vs, ve = v0 - k * length, v1 - k * length
        if vs - t0 < pd.Timedelta(days=365):
            raise ConfigError(
                f"fold {k} would validate on {vs.date()} .. {ve.date()} with less than a year of training from "
                f"{t0.date()}; use fewer folds (--folds {k}) or an earlier stack.train start"
            )
        windows = {"train": (str(t0.date()), str(vs.date())), "val": (str(vs.date()), str(ve.date()))}
        out.append(replace(cfg, stack=replace(cfg.stack, **windows)))
    return out


def validation_sharpe(cfg: RunConfig, model_path: Path) -> float:
    """Sharpe ratio (annualised) of the model at ``model_path`` on ``cfg``'s validation window."""
    from agents.stack import make_env
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.policies import load_policy

    result = run_backtest(make_env(cfg.stack, "val"), load_policy(model_path, algo=cfg.algo), seed=cfg.seed, n_boot=10)
    value = float(result.metrics["sharpe_annual"])
    return value if math.isfinite(value) else 0.0  # a flat book has no Sharpe: score it as no edge


# ---------------------------------------------------------------------------------------------- study
def trial_config(cfg: RunConfig, overrides: list[str], number: int) -> RunConfig:
    """``cfg`` with a trial's overrides, named after the trial."""
    tree = yaml.safe_load(to_yaml(cfg))
    tree["name"] = f"{cfg.name}-trial{number}"
    return load_config(tree, overrides=overrides)


def objective_factory(cfg: RunConfig, out: Path, n_folds: int) -> Any:
    """The Optuna objective: train each fold, score it on the fold's validation window, report, maybe prune."""
    import optuna

    from experiments.training.train import train

    folds = validation_folds(cfg, n_folds)

    def objective(trial: optuna.Trial) -> float:
        overrides = suggest(trial)
        scores: list[float] = []
        for k, fold in enumerate(folds):
            tcfg = trial_config(fold, overrides, trial.number)
            tcfg = replace(tcfg, train=replace(tcfg.train, eval_freq=0, checkpoint_freq=0))
            run_dir = out / "trials" / str(trial.number) / f"fold{k}"
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(to_yaml(tcfg))
            result = train(tcfg, run_dir=run_dir, progress=False)
            scores.append(validation_sharpe(tcfg, result.model_path))
            trial.set_user_attr(f"fold{k}_val_sharpe", scores[-1])
            trial.report(float(np.mean(scores)), step=k)
            if k < len(folds) - 1 and trial.should_prune():  # after the last fold the trial is complete
                raise optuna.TrialPruned(f"mean validation Sharpe {np.mean(scores):.3f} after fold {k}")
        return float(np.mean(scores))

    return objective


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


def tune(
    cfg: RunConfig,
    n_trials: int,
    *,
    out: Path,
    storage: str | None = None,
    study_name: str | None = None,
    n_folds: int = 2,
    sampler_seed: int | None = None,
    walkforward: WalkForwardConfig | None = None,
) -> Any:
    """Run ``n_trials`` more trials of the study (created or resumed) and write the outputs into ``out``.

    The TPE sampler's seed is ``sampler_seed``, by default the config's seed plus the number of trials already in
    the study: a resumed study draws new parameters (with one fixed seed a second call would repeat the first
    call's random start-up trials), and the same calls in the same order give the same study. Workers that start
    on one study at the same time need distinct ``sampler_seed`` values, for the same reason.
    """
    import optuna

    if n_trials < 1:
        raise ConfigError(f"trials={n_trials!r} must be >= 1")
    validation_folds(cfg, n_folds)  # a bad fold count is an error before anything is written
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out)
    study = optuna.create_study(
        study_name=study_name or f"tradebrain-{cfg.name}",
        storage=storage,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        load_if_exists=True,
    )
    seed = cfg.seed + len(study.trials) if sampler_seed is None else sampler_seed
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    study.set_user_attr("base_config", to_yaml(cfg))
    before = len(study.trials)
    t0 = time.perf_counter()
    study.optimize(objective_factory(cfg, out, n_folds), n_trials=n_trials, gc_after_trial=True)
    logger.info("%d trials in %.0f s (%d in the study)", n_trials, time.perf_counter() - t0, len(study.trials))
    write_outputs(study, cfg, out, walkforward)
    assert len(study.trials) >= before + n_trials
    return study


def trials_evaluated(study: Any) -> int:
    """Trials that trained and scored at least one fold (complete or pruned): each counts for the DSR."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(1 for t in study.trials if t.state in states)


def best_config(study: Any, cfg: RunConfig) -> RunConfig:
    """The base config with the best trial's parameters and ``n_trials`` = every trial evaluated."""
    overrides = [f"{k}={v}" for k, v in study.best_trial.params.items()]
    best = load_config(yaml.safe_load(to_yaml(cfg)), overrides=overrides)
    return replace(best, name=f"{cfg.name}-tuned", n_trials=max(cfg.n_trials, trials_evaluated(study)))


def write_outputs(study: Any, cfg: RunConfig, out: Path, walkforward: WalkForwardConfig | None = None) -> None:
    """best.yaml (and best-walkforward.yaml with the ``walkforward`` section when given), trials.csv and the PNG
    plots (history always, importance once two trials completed)."""
    import optuna

    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs"))
    frame.to_csv(out / "trials.csv", index=False)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = best_config(study, cfg)
        header = (
            f"# best of {len(study.trials)} trials of study {study.study_name!r}: mean validation Sharpe "
            f"{study.best_value:.3f} (trial {study.best_trial.number}); n_trials counts every trial evaluated\n"
        )
        (out / "best.yaml").write_text(header + to_yaml(best))
        if walkforward is not None:
            tree = {"walkforward": config_tree(walkforward), **config_tree(best)}
            note = "# every fold of `tradebrain walk-forward` / `ablate` sets its own stack windows\n"
            (out / "best-walkforward.yaml").write_text(header + note + yaml.safe_dump(tree, sort_keys=False))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    with _quiet_experimental():
        ax = ovm.plot_optimization_history(study)
        ax.figure.savefig(out / "history.png", dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
        if len(complete) >= 2:
            try:
                ax = ovm.plot_param_importances(study)
                ax.figure.savefig(out / "importance.png", dpi=100, bbox_inches="tight")
                plt.close(ax.figure)
            except (RuntimeError, ValueError) as exc:  # e.g. every completed trial scored the same
                logger.warning("no importance plot: %s", exc)


class _quiet_experimental:
    """Silence Optuna's ExperimentalWarning of its matplotlib plots."""

    def __enter__(self) -> None:
        import warnings

        import optuna

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
