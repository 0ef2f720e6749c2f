"""``tradebrain walk-forward | ablate``: rolling folds x seeds x tier sets (see :mod:`experiments.walkforward`)."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any


def _cmd(args: argparse.Namespace, ablate: bool) -> int:
    from experiments.walkforward.plan import ABLATION, load_walkforward
    from experiments.walkforward.runner import run_walkforward

    overrides = list(args.set or [])
    if args.timesteps:
        overrides.append(f"train.total_timesteps={args.timesteps}")
    wf, cfg = load_walkforward(args.config, overrides)
    if ablate and not any(o.startswith("walkforward.tier_sets") for o in overrides):
        wf = replace(wf, tier_sets=ABLATION)
    root = Path(args.run) if args.run else Path(cfg.runs_dir) / cfg.name
    summary = run_walkforward(
        wf, cfg, root, jobs=args.jobs, executor=args.executor, address=args.address,
        command=_command_line(args, ablate),
    )  # fmt: skip
    if summary.failed:
        print(
            f"{len(summary.failed)} of {summary.total} units failed (errors in {root / 'failures.json'}); "
            "run the same command again to finish them"
        )
        return 1
    return 0


def _command_line(args: argparse.Namespace, ablate: bool) -> str:
    """The invocation as a user would type it (for the results page)."""
    parts = ["ablate" if ablate else "walk-forward", "--config", str(args.config)]
    parts += [f"--set '{item}'" for item in args.set or []]
    parts += [f"--timesteps {args.timesteps}"] if args.timesteps else []
    parts += [f"--jobs {args.jobs}", f"--executor {args.executor}"] + (
        [f"--address {args.address}"] if args.address else []
    )
    return " ".join(parts)


def register(sub: Any) -> None:
    """Add ``walk-forward`` and ``ablate`` to the ``tradebrain`` subcommands."""
    for name, ablate, text in (
        ("walk-forward", False, "rolling folds x seeds for the configured tier sets and every baseline"),
        ("ablate", True, "walk-forward over the tier sets rules, tier3, tier1+3, tier2+3, tier1+2+3, all"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--config", default="walkforward", help="config name under experiments/config/presets/ or a YAML path"
        )
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key, e.g. walkforward.seeds=[0]")
        p.add_argument("--timesteps", type=int, help="shortcut for --set train.total_timesteps=N")
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="units at a time (default: all cores)")
        p.add_argument(
            "--executor",
            choices=("local", "ray"),
            default="local",
            help="local: a process pool on this machine (default); ray: Ray tasks (pip install tradebrain[ray])",
        )
        p.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
        p.add_argument("--run", help="run folder (default <runs_dir>/<name>); rerunning it skips finished units")
        p.set_defaults(func=lambda a, _ablate=ablate: _cmd(a, _ablate))
