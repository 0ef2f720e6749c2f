"""Learning curve over folds: how the out-of-sample Sharpe of a tier set depends on the PPO training budget.

The full ablation (12 folds x 3 seeds x 4 PPO tier sets) at the quick start's 400,000 steps per unit cannot finish
in 60 minutes on 2 cores. This benchmark runs the walk-forward of one tier set at several budgets (the same
folds, seeds and cache as ``tradebrain walk-forward``: each budget is a different unit key in one run folder) and
picks the smallest budget past which more training does not help: the smallest budget whose median test Sharpe
over folds x seeds is within ``--tolerance`` of every larger budget's (more training raises it by less than that).

Example (about 4 x 12 x 2 units; hours at the larger budgets; ``--first-year`` / ``--seeds`` to shrink it)::

    python -m experiments.benchmarks.walkforward_budget --budgets 25000 50000 100000 200000 --seeds 0 1 --jobs 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from experiments.benchmarks import write_json
from experiments.walkforward.plan import PLAN, Unit, load_walkforward, plan_units
from experiments.walkforward.results import policy_metrics
from experiments.walkforward.runner import run_walkforward
from experiments.walkforward.units import unit_file


def learning_curve(root: Path, units: Mapping[int, list[Unit]], tier_set: str) -> dict[int, dict[str, float]]:
    """``{budget: {"<test year>/seed<s>": test-year Sharpe}}`` of ``tier_set``, read from exactly the unit files
    planned at each budget (so units of an older config version left in the same folder are not counted again)."""
    curve: dict[int, dict[str, float]] = {}
    for budget, planned in sorted(units.items()):
        for unit in planned:
            if unit.tier_set != tier_set:
                continue
            pol = json.loads(unit_file(root, unit).read_text())["policies"][tier_set]
            value = policy_metrics(pol)[0]["sharpe_annual"]  # a year without a position: 0
            curve.setdefault(budget, {})[f"{unit.fold.test_year}/seed{unit.seed}"] = value
    return curve


def paired_gain(
    low: Mapping[str, float], high: Mapping[str, float], n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Median over (fold, seed) of ``high - low`` and its percentile-bootstrap 90% interval (units resampled)."""
    keys = sorted(set(low) & set(high))
    d = np.array([high[k] - low[k] for k in keys], dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boot = np.median(d[rng.integers(0, d.size, size=(n_boot, d.size))], axis=1)
    return float(np.median(d)), float(np.percentile(boot, 5)), float(np.percentile(boot, 95))


def smallest_sufficient_budget(medians: dict[int, float], tolerance: float) -> int:
    """The smallest budget whose median is within ``tolerance`` of the median of every larger budget."""
    budgets = sorted(medians)
    for i, b in enumerate(budgets):
        if all(medians[later] - medians[b] < tolerance for later in budgets[i + 1 :]):
            return b
    return budgets[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="walkforward")
    p.add_argument("--budgets", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000])
    p.add_argument("--tier-set", default="tier1+2+3")
    p.add_argument("--first-year", type=int, default=2007)
    p.add_argument("--last-year", type=int, default=2018)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument(
        "--tolerance", type=float, default=0.05, help="Sharpe gain below which more training 'does not help'"
    )
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--run", default="runs/bench/walkforward_budget")
    p.add_argument("--out", help="write the curve and the pick as JSON here")
    args = p.parse_args(argv)
    root = Path(args.run)
    t0 = time.perf_counter()
    sets = [
        f"walkforward.first_test_year={args.first_year}",
        f"walkforward.last_test_year={args.last_year}",
        f"walkforward.seeds={args.seeds}",
        f"walkforward.tier_sets=[{args.tier_set}]",
        "walkforward.baselines=false",
    ]
    planned: dict[int, list[Unit]] = {}
    for budget in args.budgets:
        wf, cfg = load_walkforward(args.config, [*sets, f"train.total_timesteps={budget}"])
        cfg = replace(cfg, train=replace(cfg.train, eval_freq=max(1, budget // 5)))  # 5 checkpoints scored each
        run_walkforward(wf, cfg, root, jobs=args.jobs, command=f"walk-forward (budget {budget})")
        planned[budget] = plan_units(wf, cfg)
    curve = learning_curve(root, planned, args.tier_set)
    medians = {b: float(np.nanmedian(list(v.values()))) for b, v in curve.items()}
    pick = smallest_sufficient_budget(medians, args.tolerance)
    seconds = time.perf_counter() - t0
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{args.tier_set}, test years {args.first_year}-{args.last_year}, seeds {args.seeds}, jobs {args.jobs}")
    budgets = sorted(curve)
    gains = {f"{a}->{b}": paired_gain(curve[a], curve[b]) for a, b in itertools.pairwise(budgets)}
    for prev, b in zip([None, *budgets], budgets, strict=False):
        line = f"  budget {b:>8,}: median test Sharpe {medians[b]:+.2f} over {len(curve[b])} units"
        if prev is not None:
            g = gains[f"{prev}->{b}"]
            line += f"; paired gain over {prev:,}: {g[0]:+.2f} [{g[1]:+.2f}, {g[2]:+.2f}] (90% CI)"
        print(line)
    print(f"smallest budget past which more training gains < {args.tolerance} Sharpe: {pick:,}; {seconds:.0f} s")
    result = {
        "curve": curve,
        "medians": medians,
        "paired_gains": gains,
        "pick": pick,
        "seconds": seconds,
        "plan": str(root / PLAN),
    }
    write_json(args.out, result, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
