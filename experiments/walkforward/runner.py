"""A whole walk-forward run: the plan, the units through an executor, timing and failures, the results page.

Run folder (``<runs_dir>/<name>/`` or ``--run``)::

    walkforward.json   the plan: settings, base config, folds and unit keys of the last invocation
    units/<key>.json   one finished unit: metrics, per-bar equity, regime labels, trials counted
    units/<key>/       a PPO unit's training run (config.yaml, tb/, best/, model.zip) and its backtest files
    failures.json      units that raised in the last invocation (key and error)
    timing.json        wall time and units per minute of the last invocation
    results.md + PNGs  the results page (:mod:`experiments.walkforward.results`)

Example:
    >>> wf, cfg = load_walkforward("walkforward", ["walkforward.seeds=[0]"])              # doctest: +SKIP
    >>> summary = run_walkforward(wf, cfg, Path("runs/walkforward"), jobs=2)              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from experiments.config import RunConfig, to_yaml
from experiments.evaluation.backtest import encode_json
from experiments.files import write_json_atomic
from experiments.walkforward.executors import RunSummary, execute
from experiments.walkforward.plan import PLAN, TIER_SETS, Fold, Unit, WalkForwardConfig, make_folds, plan_units


def write_plan(
    root: Path, wf: WalkForwardConfig, cfg: RunConfig, folds: list[Fold], units: list[Unit], cmd: str
) -> None:
    """The plan of this invocation: what the results page shows (``tradebrain report --run`` reads it), with what
    each tier set meant when it ran (``tier_sets``: name -> description)."""
    write_json_atomic(
        root / PLAN,
        encode_json(
            {
                "command": cmd,
                "walkforward": dataclasses.asdict(wf),
                "config": to_yaml(cfg),
                "tier_sets": {t: TIER_SETS[t].description for t in wf.tier_sets},
                "folds": [dataclasses.asdict(f) for f in folds],
                "units": [
                    {"key": u.key, "fold": u.fold.test_year, "seed": u.seed, "tier_set": u.tier_set} for u in units
                ],
            }
        ),
    )


def run_walkforward(
    wf: WalkForwardConfig,
    cfg: RunConfig,
    root: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    command: str = "walk-forward",
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Plan, run (skipping finished units), record timing and failures, and write the results page."""
    from experiments.walkforward.results import write_results

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    folds = make_folds(wf, cfg)
    units = plan_units(wf, cfg, folds)
    write_plan(root, wf, cfg, folds, units, command)
    log(
        f"{command}: {len(folds)} folds ({folds[0].test_year}-{folds[-1].test_year}) x {len(wf.seeds)} seeds x "
        f"{len(units) // (len(folds) * len(wf.seeds))} tier sets = {len(units)} units; {cfg.train.total_timesteps} "
        f"PPO steps per unit; executor {executor}, jobs {jobs}; folder {root}"
    )
    summary = execute(units, root, jobs=jobs, executor=executor, address=address, log=log)
    timing = {
        "seconds": summary.seconds,
        "units_total": summary.total,
        "units_run": len(summary.ran),
        "units_cached": len(summary.cached),
        "units_failed": len(summary.failed),
        "units_per_minute": summary.units_per_minute,
        "jobs": jobs,
        "executor": executor,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json_atomic(root / "timing.json", encode_json(timing))
    write_json_atomic(root / "failures.json", encode_json(summary.failed))
    page = write_results(root)
    log(
        f"wall time {summary.seconds:.1f} s; {len(summary.ran)} units run ({summary.units_per_minute:.2f} units/min), "
        f"{len(summary.cached)} reused, {len(summary.failed)} failed"
    )
    log(f"results: {page}")
    return summary


def is_walkforward_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / PLAN).exists()
