"""Two walk-forward runs of the same folds and seeds, paired unit by unit: did configuration B beat A?

For every configuration (tier set or baseline) in both runs' results, the test-year Sharpe of B minus that of A
on the same (test year, seed), with the results page's rules: a year without a position has Sharpe 0
(:func:`experiments.walkforward.results.flat_year`), and the median over the pairs gets the page's 95%
stationary-bootstrap interval (:func:`experiments.walkforward.results.median_ci`, mean block = the number of seeds).
Also printed: the median test-year Sharpe of each run and in how many pairs B is higher. Baselines do not depend on the
PPO config, so their rows check that both runs tested the same years (every difference 0).

Example (the tuned config against the defaults, both at 50,000 PPO steps per unit)::

    python -m experiments.benchmarks.compare_runs runs/ablate-50k runs/ablate-50k-tuned

Two tier sets of one run (Tier 4's ``all`` against ``tier1+2+3`` on the same test years and seeds)::

    python -m experiments.benchmarks.compare_runs runs/ablate runs/ablate --pair tier1+2+3 all
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json
from experiments.walkforward.results import Record, load_records, median_ci


def paired_sharpes(a: Mapping[str, list[Record]], b: Mapping[str, list[Record]]) -> dict[str, dict[str, Any]]:
    """``{configuration: {"a": [...], "b": [...], "keys": [...]}}``: test-year Sharpes of the (fold, seed) pairs
    both runs have, in fold-major order (the order :func:`~experiments.walkforward.results.median_ci` blocks by)."""
    out = {}
    for name in a:
        if name not in b:
            continue
        sa = {(r.fold, r.seed): r.metrics["sharpe_annual"] for r in a[name]}
        sb = {(r.fold, r.seed): r.metrics["sharpe_annual"] for r in b[name]}
        keys = sorted(set(sa) & set(sb))
        if keys:
            out[name] = {"keys": keys, "a": [sa[k] for k in keys], "b": [sb[k] for k in keys]}
    return out


def compare(
    run_a: Path, run_b: Path, n_boot: int = 1000, pair: tuple[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """Per configuration: pairs, medians of A and B, median of B - A with its 95% interval, pairs where B > A.

    ``pair = (config_a, config_b)`` compares configuration ``config_a`` of run A with ``config_b`` of run B instead
    (one row, named ``"config_b - config_a"``); the two runs may be the same folder (two tier sets of one ablation).
    """
    plan, rec_a, _ = load_records(run_a)
    _, rec_b, _ = load_records(run_b)
    if pair is not None:
        for run, name, recs in ((run_a, pair[0], rec_a), (run_b, pair[1], rec_b)):
            if name not in recs:
                raise FileNotFoundError(f"{run} has no configuration {name!r} (it has {', '.join(sorted(recs))})")
        label = f"{pair[1]} - {pair[0]}"
        rec_a, rec_b = {label: rec_a[pair[0]]}, {label: rec_b[pair[1]]}
    n_seeds = len(plan["walkforward"]["seeds"])
    rows = {}
    for name, p in paired_sharpes(rec_a, rec_b).items():
        a, b = np.asarray(p["a"], dtype=float), np.asarray(p["b"], dtype=float)
        med, low, high = median_ci(b - a, n_seeds, n_boot)
        rows[name] = {
            "pairs": len(a),
            "median_a": float(np.nanmedian(a)),
            "median_b": float(np.nanmedian(b)),
            "diff": med,
            "low": low,
            "high": high,
            "b_higher": int(np.sum(b > a)),
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", help="walk-forward run folder A (e.g. the defaults)")
    p.add_argument("run_b", help="walk-forward run folder B (e.g. the tuned config), same folds and seeds")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument(
        "--pair",
        nargs=2,
        metavar=("CONFIG_A", "CONFIG_B"),
        help="compare CONFIG_A of run A with CONFIG_B of run B (e.g. RUN RUN --pair tier1+2+3 all)",
    )
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    try:
        rows = compare(Path(args.run_a), Path(args.run_b), args.n_boot, tuple(args.pair) if args.pair else None)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {args.run_a} and {args.run_b} share no (configuration, test year, seed)", file=sys.stderr)
        return 2
    print(f"A = {args.run_a}, B = {args.run_b}; test-year Sharpe paired on (test year, seed); 95% block bootstrap")
    print(f"{'configuration':<20} {'pairs':>5} {'median A':>9} {'median B':>9}  {'B - A [95% CI]':<24} {'B > A':>6}")
    for name, r in rows.items():
        ci = f"{r['diff']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]"
        print(f"{name:<20} {r['pairs']:>5} {r['median_a']:>9.2f} {r['median_b']:>9.2f}  {ci:<24} {r['b_higher']:>6}")
    write_json(args.out, {"run_a": args.run_a, "run_b": args.run_b, "n_boot": args.n_boot, "rows": rows}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
