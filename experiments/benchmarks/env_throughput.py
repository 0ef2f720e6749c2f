"""Env throughput: steps per second of ``TradingEnv`` with random actions, on one core.

Usage::

    python -m experiments.benchmarks.env_throughput            # sp500, 200k steps, pinned to core 0
    python -m experiments.benchmarks.env_throughput --steps 50000 --data nasdaq --wrapped

Prints the settings, the machine and: steps/s, bars simulated per second, mean bars per step, share of steps
that traded. ``--wrapped`` measures the Tier 1 + Tier 2 stack (the detector fit is outside the timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import envs
from envs.trading_env import TradingEnv
from experiments.benchmarks import write_json


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _make(data: str, wrapped: bool):  # type: ignore[no-untyped-def]
    if not wrapped:
        return TradingEnv(data, random_start=True, episode_bars=252)
    from agents.config import StackConfig
    from agents.stack import make_env

    return make_env(StackConfig(data=data), "train")


def run(steps: int, data: str, seed: int, wrapped: bool) -> dict[str, object]:
    env = _make(data, wrapped)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 4)).astype(np.float32)
    bars = trades = episodes = 0
    base = env.unwrapped
    start_bar = base.bar
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, info = env.step(a)
        bars += base.bar - start_bar
        start_bar = base.bar
        trades += "trade" in info
        if term or trunc:
            env.reset()
            start_bar = base.bar
            episodes += 1
    seconds = time.perf_counter() - t0
    return {
        "steps": steps,
        "seconds": seconds,
        "steps_per_second": steps / seconds,
        "bars_per_second": bars / seconds,
        "bars_per_step": bars / steps,
        "trade_share": trades / steps,
        "episodes": episodes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--data", default="sp500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="report the best of this many runs")
    parser.add_argument("--wrapped", action="store_true", help="measure the Tier 1 + Tier 2 stack")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to core 0")
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    runs = [run(args.steps, args.data, args.seed + k, args.wrapped) for k in range(args.repeats)]
    best = max(runs, key=lambda r: float(r["steps_per_second"]))  # type: ignore[arg-type]
    result = {
        "benchmark": "env_throughput",
        "settings": {
            "data": args.data,
            "steps": args.steps,
            "repeats": args.repeats,
            "seed": args.seed,
            "wrapped": args.wrapped,
            "episode_bars": 252,
            "actions": "uniform in [-1, 1]^4",
            "pinned_core": None if args.no_pin else 0,
        },
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tradebrain_env": envs.ENV_ID,
        },
        "best": best,
        "all_steps_per_second": [round(float(r["steps_per_second"])) for r in runs],  # type: ignore[arg-type]
    }
    print(json.dumps(result, indent=2))
    write_json(args.out, result, indent=2)


if __name__ == "__main__":
    main()
