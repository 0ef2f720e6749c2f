"""PPO training throughput on the full env stack against the same SB3 configuration on a trivial env.

Both runs use the same PPOConfig, the same number of DummyVecEnv copies with a VecMonitor, one torch thread,
the same seed and the same number of steps, in one process, alternating (trivial, stack, trivial, stack, ...)
so drifts in machine load hit both. The trivial env has the same spaces (Box(27) observations, Box(4)
actions), returns zeros and ends every 252 steps: what is left is PPO's own cost. The stack's share of
training time is ``1 - steps_per_s(stack) / steps_per_s(trivial)``, by wall-clock medians and, more robust on a
shared machine, per (trivial, stack) pair by the process's CPU time (one torch thread, pinned to one core), with
the median over pairs.

Usage::

    python -m experiments.benchmarks.ppo_overhead                      # SB3's default PPO settings, full stack
    python -m experiments.benchmarks.ppo_overhead --ppo quickstart     # the cheaper settings `make run` trains with
    python -m experiments.benchmarks.ppo_overhead --steps 50000 --no-tiers

The share depends on how much work PPO does per step: with SB3's defaults (2048 steps per env per rollout,
minibatch 64, 10 epochs) a step costs PPO several times what it costs with the quick-start settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from agents.config import StackConfig, TierConfig
from agents.tier3.config import PPOConfig
from agents.tier3.ppo import make_ppo
from agents.vec import make_vec_env
from envs.layout import OBS_LAYOUT
from experiments.benchmarks import write_json

PPO_SETTINGS = {
    # SB3's PPO defaults (n_steps 2048, batch 64, 10 epochs, log_std_init 0) with our 64x64 nets
    "sb3-default": PPOConfig(n_steps=2048, batch_size=64, n_epochs=10, log_std_init=0.0),
    # what experiments/config/presets/quickstart.yaml trains with
    "quickstart": PPOConfig(n_steps=256, batch_size=128, n_epochs=5),
}


class TrivialEnv(gym.Env):
    """Same spaces as TradingEnv, zero observations and rewards, 252-step episodes.

    Args:
        menu_items: 0 for the env's 4-dim Box action; else a ``Discrete(menu_items)`` action, as the bracket menu's.
    """

    def __init__(self, menu_items: int = 0) -> None:
        self.observation_space = gym.spaces.Box(OBS_LAYOUT.low, OBS_LAYOUT.high, dtype=np.float32)
        self.action_space: gym.spaces.Space = (
            gym.spaces.Discrete(menu_items) if menu_items else gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        )
        self._obs = np.zeros(OBS_LAYOUT.size, dtype=np.float32)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        return self._obs.copy(), 0.0, False, self._t >= 252, {}


def _time(venv: Any, cfg: PPOConfig, steps: int, seed: int) -> tuple[float, float]:
    """Steps per second of ``model.learn(steps)``: by wall-clock time and by this process's CPU time."""
    model = make_ppo(cfg, venv, seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(steps)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    venv.close()
    return steps / seconds, steps / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tiers", action="store_true", help="bare TradingEnv instead of the Tier 1+2 stack")
    parser.add_argument("--ppo", choices=sorted(PPO_SETTINGS), default="sb3-default", help="PPO settings")
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    torch.set_num_threads(1)
    cfg = PPO_SETTINGS[args.ppo]
    stack = StackConfig(tiers=TierConfig(tier1=not args.no_tiers, tier2=not args.no_tiers))
    trivial_sps, stack_sps, trivial_cpu, stack_cpu = [], [], [], []
    for k in range(args.repeats):
        trivial = VecMonitor(DummyVecEnv([TrivialEnv for _ in range(args.n_envs)]))
        wall, cpu = _time(trivial, cfg, args.steps, args.seed + k)
        trivial_sps.append(wall)
        trivial_cpu.append(cpu)
        wall, cpu = _time(make_vec_env(stack, args.n_envs, args.seed + k), cfg, args.steps, args.seed + k)
        stack_sps.append(wall)
        stack_cpu.append(cpu)
    t, s = float(np.median(trivial_sps)), float(np.median(stack_sps))
    # CPU time of this single-threaded, pinned process: other load on the machine does not count in it.
    cpu_shares = [1.0 - sc / tc for sc, tc in zip(stack_cpu, trivial_cpu, strict=True)]
    result = {
        "benchmark": "ppo_overhead",
        "settings": {
            "steps": args.steps,
            "repeats": args.repeats,
            "n_envs": args.n_envs,
            "tiers": "tier1+tier2" if not args.no_tiers else "none",
            "ppo_settings": args.ppo,
            "ppo": dict(cfg.__dict__),
            "data": stack.data,
            "train_window": stack.train,
            "torch_threads": 1,
            "pinned_core": 0,
        },
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "trivial_steps_per_second": [round(x) for x in trivial_sps],
        "stack_steps_per_second": [round(x) for x in stack_sps],
        "median_trivial_steps_per_second": round(t),
        "median_stack_steps_per_second": round(s),
        "stack_share_of_training_time": round(1.0 - s / t, 4),
        "trivial_steps_per_cpu_second": [round(x) for x in trivial_cpu],
        "stack_steps_per_cpu_second": [round(x) for x in stack_cpu],
        "stack_share_of_cpu_time_per_pair": [round(x, 4) for x in cpu_shares],
        "median_stack_share_of_cpu_time": round(float(np.median(cpu_shares)), 4),
        "target_share": 0.15,
    }
    print(json.dumps(result, indent=2, default=str))
    write_json(args.out, result, indent=2)


if __name__ == "__main__":
    main()
