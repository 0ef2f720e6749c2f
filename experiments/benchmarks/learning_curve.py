"""Learning curve: validation and test Sharpe against training steps, over seeds, to see where training stops helping.

For each seed, trains the config once for ``--steps`` and snapshots the model (with its frozen observation
statistics when the config normalises) at ``--points`` evenly spaced budgets; each snapshot is backtested on the
validation and on the test window. Printed per budget: median and range over seeds of the validation and test
Sharpe and the trade count, with the settings used.

Usage::

    python -m experiments.benchmarks.learning_curve                                 # quickstart, seeds 0-2
    python -m experiments.benchmarks.learning_curve --config planted_edge --steps 200000 --points 5 --jobs 2
    python -m experiments.benchmarks.learning_curve --set stack.reward.kind=dsr --out runs/bench/curve.json

Snapshots go under ``--runs-dir`` (default ``runs/bench/learning_curve``).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json


def _snapshot_callback(every: int, folder: Path) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.tier3.obs_norm import ObsNormalizer

    class Snapshot(BaseCallback):
        """Saves ``<folder>/<steps>/model.zip`` (+ ``obs_norm.json``) every ``every`` steps."""

        def __init__(self) -> None:
            super().__init__()
            self.next = every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                out = folder / str(self.next)
                out.mkdir(parents=True, exist_ok=True)
                self.model.save(out / "model.zip")
                venv = self.model.get_vec_normalize_env()
                if venv is not None:
                    ObsNormalizer.from_vec_normalize(venv).save(out)
                self.next += every
            return True

    return Snapshot()


def run_seed(config: str, overrides: list[str], seed: int, steps: int, points: int, runs_dir: str) -> dict[str, Any]:
    """Train one seed with snapshots, then backtest every snapshot on the validation and test windows."""
    import torch

    torch.set_num_threads(1)
    from agents.stack import make_env
    from agents.tier3 import algos
    from experiments.config import load_config, to_yaml
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.policies import load_policy
    from experiments.training.train import train_env

    cfg = load_config(config, overrides=[*overrides, f"seed={seed}", f"train.total_timesteps={steps}"])
    folder = Path(runs_dir) / f"{cfg.name}-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(to_yaml(cfg))
    venv = train_env(cfg)
    model = algos.make_model(cfg.algo, cfg.ppo, venv, seed=seed, algo_kwargs=cfg.algo_kwargs)
    t0 = time.perf_counter()
    model.learn(steps, callback=_snapshot_callback(max(1, steps // points), folder))
    seconds = time.perf_counter() - t0
    rows = []
    for snap in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: int(p.name)):
        policy = load_policy(snap / "model.zip", algo=cfg.algo)
        row: dict[str, Any] = {"steps": int(snap.name)}
        for split in ("val", "test"):
            res = run_backtest(make_env(cfg.stack, split), policy, seed=seed, n_boot=10)
            row[f"{split}_sharpe"] = float(res.metrics["sharpe_annual"])
            row[f"{split}_trades"] = len(res.trades)
        rows.append(row)
    return {"seed": seed, "train_seconds": seconds, "points": rows}


def _stats(values: list[float]) -> str:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return "n/a" if a.size == 0 else f"{np.median(a):+.2f} [{a.min():+.2f}, {a.max():+.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quickstart")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", default="runs/bench/learning_curve")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.points < 1 or args.jobs < 1:
        print("error: --steps, --points and --jobs must be >= 1", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    jobs = [(args.config, args.set, s, args.steps, args.points, args.runs_dir) for s in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        seeds = list(pool.map(run_seed, *zip(*jobs, strict=True)))
    print(f"learning curve: config {args.config} {args.set}, seeds {args.seeds}, {args.steps} steps, {args.jobs} jobs")
    train_s = [round(s["train_seconds"]) for s in seeds]
    print(f"wall time {time.perf_counter() - t0:.0f} s; training seconds per seed {train_s}")
    print("steps      val Sharpe median [min, max]   test Sharpe median [min, max]   test trades median")
    budgets = sorted({p["steps"] for s in seeds for p in s["points"]})
    table = []
    for b in budgets:
        pts = [p for s in seeds for p in s["points"] if p["steps"] == b]
        row = {
            "steps": b,
            "val_sharpe": [p["val_sharpe"] for p in pts],
            "test_sharpe": [p["test_sharpe"] for p in pts],
            "test_trades": [p["test_trades"] for p in pts],
        }
        table.append(row)
        trades = float(np.median(row["test_trades"]))
        print(f"{b:>8}   {_stats(row['val_sharpe']):<30} {_stats(row['test_sharpe']):<31} {trades:.0f}")
    write_json(args.out, {"settings": vars(args), "table": table, "seeds": seeds}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
