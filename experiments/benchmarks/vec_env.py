"""PPO training throughput with ``train.vec_env: dummy`` against ``subproc``, at the quick start's settings.

Both kinds train the same PPO (``experiments/config/presets/quickstart.yaml``: 4 env copies, n_steps 256, batch 128,
5 epochs, Tier 1 + 2 on, sp500) for the same number of steps with one torch thread, the same seed per pair,
alternating (dummy, subproc, dummy, subproc, ...) so drifts in machine load hit both. What is timed is
``model.learn(steps)``: steps per second of wall-clock time (the subproc workers' CPU time is not this
process's, so no CPU-time figure). Building the vectorised env is timed apart (the data and the Tier 2 detector
are made once, before the first pair, and cached; what is left is the workers' start). The load average of
the machine is recorded before and after each run: the numbers mean little on a busy machine.

Usage::

    python -m experiments.benchmarks.vec_env                          # 3 pairs of 30,000 steps
    python -m experiments.benchmarks.vec_env --steps 20000 --repeats 5 --out runs/bench/vec_env.json
    python -m experiments.benchmarks.vec_env --start-method forkserver

With ``subproc`` the envs step in parallel processes while the policy runs in this one; each step sends the
actions and receives observations, rewards and infos through pipes. It pays when an env step costs much more
than that round trip and there are idle cores; the stack's step is a fraction of a millisecond.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np
import torch

from agents.tier3.ppo import make_ppo
from agents.vec import make_vec_env, subproc_start_method
from experiments.benchmarks import write_json
from experiments.config import load_config

KINDS = ("dummy", "subproc")


def _run(cfg: Any, kind: str, steps: int, seed: int, start_method: str | None) -> dict[str, float]:
    """Build the VecEnv, train ``steps`` steps; seconds to build and steps per second of ``learn``."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    venv = make_vec_env(cfg.stack, cfg.train.n_envs, seed, vec_env=kind, start_method=start_method)
    built = time.perf_counter() - t0
    model = make_ppo(cfg.ppo, venv, seed=seed)
    t1 = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - t1
    venv.close()
    return {
        "build_seconds": built,
        "steps_per_second": steps / seconds,
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", default="quickstart", help="config name or path (its stack, ppo and n_envs)")
    parser.add_argument("--start-method", default=None, help="subproc start method; default: the stack's choice")
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    start_method = args.start_method or subproc_start_method()
    make_vec_env(cfg.stack, 1, 0).close()  # load the data and fit (and cache) the detector before timing
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for k in range(args.repeats):
        for kind in KINDS:
            runs[kind].append(_run(cfg, kind, args.steps, cfg.seed + k, start_method))
            print(f"pair {k + 1}/{args.repeats} {kind:>7}: {runs[kind][-1]['steps_per_second']:,.0f} steps/s")
    median = {kind: float(np.median([r["steps_per_second"] for r in runs[kind]])) for kind in KINDS}
    ratios = [
        s["steps_per_second"] / d["steps_per_second"] for d, s in zip(runs["dummy"], runs["subproc"], strict=True)
    ]
    result = {
        "benchmark": "vec_env",
        "settings": {
            "config": args.config,
            "steps": args.steps,
            "repeats": args.repeats,
            "n_envs": cfg.train.n_envs,
            "ppo": dict(cfg.ppo.__dict__),
            "data": cfg.stack.data,
            "train_window": cfg.stack.train,
            "tiers": dict(cfg.stack.tiers.__dict__),
            "torch_threads": 1,
            "subproc_start_method": start_method,
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "runs": {kind: [{k: round(v, 3) for k, v in r.items()} for r in runs[kind]] for kind in KINDS},
        "median_steps_per_second": {kind: round(v) for kind, v in median.items()},
        "subproc_over_dummy_per_pair": [round(x, 3) for x in ratios],
        "median_subproc_over_dummy": round(float(np.median(ratios)), 3),
        "faster": max(KINDS, key=lambda kind: median[kind]),
    }
    print(json.dumps(result, indent=2, default=str))
    write_json(args.out, result, indent=2)


if __name__ == "__main__":
    main()
