"""The quick start over several seeds: the spread of its out-of-sample figures, and same-seed reproducibility.

Runs ``tradebrain quickstart`` (train, select on the validation window, backtest on the test window) once per
seed, ``--jobs`` at a time in separate processes with one torch thread each, and prints per seed the trained
policy's test Sharpe, its trade count and its paired Sharpe difference against buy-and-hold with its 90% CI,
then the median and range over seeds beside the baselines (which do not depend on the PPO seed except the
random policy). ``--repeat-seed S`` runs seed ``S`` a second time and reports whether both runs' metrics are
bit-identical (the same machine and seed must give identical results).

Usage::

    python -m experiments.benchmarks.quickstart_seeds                       # seeds 0-4, 2 jobs, repeat seed 0
    python -m experiments.benchmarks.quickstart_seeds --seeds 0 1 --set train.total_timesteps=20000

Run folders go under ``--runs-dir`` (default ``runs/bench/quickstart_seeds``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

POLICY = "ppo"
_SHOWN = (
    "sharpe_annual",
    "trade_count",
    "max_drawdown_frac",
    "sharpe_diff_annual",
    "sharpe_diff_ci_low_annual",
    "sharpe_diff_ci_high_annual",
)


def run_seed(seed: int, overrides: list[str], runs_dir: str, tag: str) -> dict[str, Any]:
    """Train and evaluate the quick start with ``seed``; returns ``{policy: metrics}`` and the run folder."""
    import torch

    torch.set_num_threads(1)
    from experiments.config import load_config
    from experiments.reporting.evaluate import evaluate, load_metrics
    from experiments.training.train import train

    cfg = load_config(
        "quickstart", overrides=[*overrides, f"seed={seed}", f"runs_dir={runs_dir}", f"name=quickstart-s{seed}{tag}"]
    )
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    model = result.best_model_path or result.model_path
    evaluate(cfg, result.run_dir, model)
    metrics = load_metrics(result.run_dir)
    return {"seed": seed, "run_dir": str(result.run_dir), "seconds": time.perf_counter() - t0, "metrics": metrics}


def _row(res: dict[str, Any], name: str) -> dict[str, Any]:
    m = res["metrics"].get(name, {})
    return {k: m.get(k) for k in _SHOWN}


def _summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": float(np.median(a)), "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat-seed", type=int, default=0, help="run this seed twice; -1 to skip")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--runs-dir", default="runs/bench/quickstart_seeds")
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    from experiments.config import ConfigError, load_config

    try:  # a bad override fails here, in one line, before any process starts
        load_config("quickstart", overrides=[*args.set, f"runs_dir={args.runs_dir}"])
    except ConfigError as exc:
        print(f"quickstart_seeds: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    jobs = [(s, "") for s in args.seeds]
    if args.repeat_seed >= 0:
        jobs.append((args.repeat_seed, "-repeat"))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_seed, s, args.set, args.runs_dir, tag) for s, tag in jobs]
        results = [f.result() for f in futures]
    main_runs = results[: len(args.seeds)]
    policies = list(main_runs[0]["metrics"])
    out: dict[str, Any] = {
        "benchmark": "quickstart_seeds",
        "settings": {"config": "quickstart", "overrides": args.set, "seeds": args.seeds, "jobs": args.jobs},
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "per_seed": [{"seed": r["seed"], "run_dir": r["run_dir"], POLICY: _row(r, POLICY)} for r in main_runs],
        "summary": {
            name: {
                k: _summary([r["metrics"][name].get(k) for r in main_runs]) for k in ("sharpe_annual", "trade_count")
            }
            for name in policies
        },
    }
    if args.repeat_seed >= 0:
        first = next(r for r in main_runs if r["seed"] == args.repeat_seed)
        out["same_seed_bit_identical"] = repr(first["metrics"]) == repr(results[-1]["metrics"])
    print(json.dumps(out, indent=2, default=str))
    print()
    print(f"{'policy':<22} {'Sharpe median':>13} {'min':>7} {'max':>7}  (test window, {len(main_runs)} seeds)")
    for name, s in out["summary"].items():
        sh = s["sharpe_annual"]
        print(f"{name:<22} {sh['median']:>13.2f} {sh['min']:>7.2f} {sh['max']:>7.2f}")
    write_json(args.out, out, indent=2)


if __name__ == "__main__":
    main()
