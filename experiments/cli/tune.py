"""``tradebrain tune``: an Optuna search on validation folds (see :mod:`experiments.tuning`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_tune(args: argparse.Namespace) -> int:
    from experiments.tuning.tune import default_storage, load_tuning_config, tune

    overrides = list(args.set or [])
    cfg, wf = load_tuning_config(args.config, overrides)
    out = Path(args.out) if args.out else Path(cfg.runs_dir) / f"tune-{cfg.name}"
    study = tune(
        cfg,
        args.trials,
        out=out,
        storage=args.storage,
        study_name=args.study_name,
        n_folds=args.folds,
        sampler_seed=args.sampler_seed,
        walkforward=wf,
    )
    storage = args.storage or default_storage(out)
    print(f"study      : {study.study_name} ({len(study.trials)} trials; storage {storage})")
    if (out / "best.yaml").exists():
        print(f"best       : mean validation Sharpe {study.best_value:.3f}, trial {study.best_trial.number}")
        print(f"best config: {out / 'best.yaml'}   (tradebrain train --config {out / 'best.yaml'})")
        if wf is not None:
            wf_file = out / "best-walkforward.yaml"
            print(f"walk-forward: {wf_file}   (tradebrain ablate --config {wf_file})")
    print(f"plots      : {out / 'history.png'}, {out / 'importance.png'}")
    return 0


def register(sub: Any) -> None:
    """Add ``tradebrain tune`` to the CLI's subparsers."""
    p = sub.add_parser("tune", help="Optuna search on validation folds (never a test window); writes best.yaml")
    p.add_argument(
        "--config", default="quickstart", help="config name under experiments/config/presets/ or a YAML path"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--trials", type=int, default=20, help="trials to add to the study")
    p.add_argument("--folds", type=int, default=2, help="validation folds per trial (rolling back in time)")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: SQLite in the tuning folder)")
    p.add_argument("--study-name", default=None, help="study name (default: tradebrain-<config name>)")
    p.add_argument(
        "--sampler-seed",
        type=int,
        default=None,
        help="TPE seed (default: config seed + trials already in the study); give each concurrent worker its own",
    )
    p.add_argument("--out", default=None, help="tuning folder (default: <runs_dir>/tune-<config name>)")
    p.set_defaults(func=cmd_tune)
