"""Throughput of the env and of PPO training: the batched core against the single env, SB3 on a null env and
gym-anytrading, measured in one run.

Three parts (``--part env ppo train``, all by default):

* ``env``: decisions per second with uniform random actions of gym-anytrading's ``StocksEnv`` (``stocks-v0``, the
  popular reference, if installed: ``pip install tradebrain[bench]``), the single ``TradingEnv``, the single
  Tier 1 + Tier 2 stack (:func:`agents.stack.make_env`), the batched core (:class:`envs.batch.BatchCore`) and the
  batched stack (:class:`agents.batch.StackVecEnv`) at ``--copies``. Best of ``--repeats``.
* ``ppo``: SB3 PPO steps per second at each setting of :data:`SETTINGS` (copies, n_steps, batch, epochs) on the
  full stack, batched and (for the smaller settings) through SB3's ``DummyVecEnv``, and on a null env with the
  same spaces in a ``DummyVecEnv`` (zero observations and rewards, 252-step episodes): what is left is PPO's own
  cost. Runs alternate null and stack, and the ratio is stack / null.
* ``train``: ``train()`` end to end (callbacks, validation, checkpoints) on the quick start's data, the same number
  of steps side by side: the quick start before 2026-12-06 (PPO on the Box with the DSR reward, 4 copies in a
  ``DummyVecEnv``, n_steps 256, batch 128: ``old_quickstart``), the same through the batched core
  (``old_quickstart_batched``), the Box learner on 64 batched copies with n_steps 64 and batch 1024 (``box_64``),
  and today's quick-start preset (``quickstart``: the bracket menu with full-information learning on 64 batched
  copies), whose learner is the planted-edge preset's (``menu_full_info_64`` reads it from there: the two arms
  agree while the presets do).

One torch thread; the machine and the settings are printed with the numbers.

Usage::

    python -m experiments.benchmarks.throughput --out runs/bench/throughput.json
    python -m experiments.benchmarks.throughput --part ppo --rollouts 4
    python -m experiments.benchmarks.throughput --part ppo --settings preset   # the quick-start preset's setting only
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import tempfile
import time
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from agents.batch import StackVecEnv
from agents.config import StackConfig
from agents.stack import make_env
from agents.tier3.config import PPOConfig
from agents.tier3.ppo import make_ppo
from agents.vec import make_vec_env
from envs.batch import BatchCore
from envs.data import load
from envs.trading_env import TradingEnv
from experiments.benchmarks import write_json
from experiments.benchmarks.ppo_overhead import TrivialEnv

SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (4, 256, 128, 5),  # the quick start before the batched core
    (16, 256, 1024, 5),
    (32, 128, 1024, 5),
    (64, 128, 2048, 5),
    (64, 64, 1024, 5),
)
"""(copies, n_steps, batch_size, n_epochs) of the ``ppo`` part, on the 4-dim Box action."""

MENU_SETTING = (64, 64, 1024, 5)
"""The quick-start preset's setting, measured on the bracket menu's ``Discrete`` action (plain SB3 PPO on both sides:
the full-information update is the learner's own cost, measured by the ``train`` part)."""


def _best(fn: Any, repeats: int) -> float:
    return max(fn() for _ in range(repeats))


def _single_rate(env: Any, steps: int, seed: int, sample: Any) -> float:
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(sample())
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def env_part(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    box = lambda: rng.uniform(-1, 1, 4).astype(np.float32)  # noqa: E731
    out: dict[str, Any] = {}
    try:
        import gym_anytrading  # noqa: F401
        import gymnasium as gym

        stocks = gym.make("stocks-v0")
        out["gym_anytrading_stocks"] = _best(
            lambda: _single_rate(stocks, args.env_steps, args.seed, lambda: int(rng.integers(2))), args.repeats
        )
    except ImportError:
        out["gym_anytrading_stocks"] = None
    cfg = StackConfig()
    data = load(cfg.data)

    def bare() -> TradingEnv:
        return TradingEnv(data, window=cfg.train, random_start=True, episode_bars=cfg.episode_bars)

    out["single_env"] = _best(lambda: _single_rate(bare(), args.env_steps, args.seed, box), args.repeats)
    stack = make_env(cfg, "train", data=data)
    out["single_stack"] = _best(lambda: _single_rate(stack, args.env_steps // 4, args.seed, box), args.repeats)
    n = args.copies
    acts = rng.uniform(-1, 1, (max(2, args.env_steps // n), n, 4)).astype(np.float32)

    def core_rate() -> float:
        core = BatchCore(bare(), n)
        core.reset_all(seeds=range(n))
        core.step(acts[0])
        t0 = time.perf_counter()
        for a in acts[1:]:
            _, _, te, tr = core.step(a)
            for i in np.flatnonzero(te | tr).tolist():
                core.reset(i)
        return (len(acts) - 1) * n / (time.perf_counter() - t0)

    def stack_rate() -> float:
        venv = StackVecEnv(cfg, n, seed=args.seed, data=data)
        venv.reset()
        venv.step(acts[0])
        t0 = time.perf_counter()
        for a in acts[1 : max(2, len(acts) // 4)]:
            venv.step(a)
        return (max(2, len(acts) // 4) - 1) * n / (time.perf_counter() - t0)

    out[f"batched_env_{n}"] = _best(core_rate, args.repeats)
    out[f"batched_stack_{n}"] = _best(stack_rate, args.repeats)
    ref = out["gym_anytrading_stocks"]
    if ref:
        out["ratio_to_gym_anytrading"] = {k: v / ref for k, v in out.items() if k != "gym_anytrading_stocks"}
    return out


def _ppo_rate(venv: Any, setting: tuple[int, int, int, int], rollouts: int, seed: int) -> float:
    n, n_steps, batch, epochs = setting
    model = make_ppo(PPOConfig(n_steps=n_steps, batch_size=batch, n_epochs=epochs), venv, seed=seed)
    model.learn(n * n_steps)  # warm-up: the first rollout (and the core's compilation)
    steps = rollouts * n * n_steps
    t0 = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t0)


def ppo_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    box = StackConfig()
    data = load(box.data)
    menu = dataclasses.replace(box, action="menu")
    rows = []
    settings = [] if args.settings == "preset" else [(s, box) for s in SETTINGS]
    for setting, cfg in [*settings, (MENU_SETTING, menu)]:
        n = setting[0]
        items = len(cfg.menu) if cfg.action == "menu" else 0
        null_envs = [functools.partial(TrivialEnv, items) for _ in range(n)]
        null = _ppo_rate(VecMonitor(DummyVecEnv(null_envs)), setting, args.rollouts, args.seed)
        batched = _ppo_rate(VecMonitor(StackVecEnv(cfg, n, args.seed, data=data)), setting, args.rollouts, args.seed)
        dummy = None
        if n <= 16:
            dummy = _ppo_rate(make_vec_env(cfg, n, args.seed, vec_env="dummy"), setting, args.rollouts, args.seed)
        row = {
            "action": cfg.action,
            "copies": n,
            "n_steps": setting[1],
            "batch_size": setting[2],
            "n_epochs": setting[3],
            "null_env": null,
            "stack_batched": batched,
            "stack_dummy": dummy,
            "ratio_batched_to_null": batched / null,
        }
        print(" ".join(f"{k}={v:,.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


BOX_LEARNER = {"stack.action": "box", "ppo.full_info": 0, "ppo.gamma": 0.99, "stack.reward.kind": "dsr"}
"""The learner of the presets before 2026-12-06 (PPO on the 4-dim Box, DSR reward), over today's quick start."""


def learner_preset() -> list[str]:
    """The planted-edge preset's learner (the bracket menu with full-information learning) as overrides for the
    quick start's data, read from the preset itself."""
    from experiments.config import load_config

    pe = load_config("planted_edge")
    return [
        f"stack.action={pe.stack.action}",
        f"ppo.full_info={pe.ppo.full_info}",
        f"ppo.gamma={pe.ppo.gamma}",
        f"stack.reward.kind={pe.stack.reward.kind}",
    ]


def train_part(args: argparse.Namespace) -> dict[str, Any]:
    from experiments.config import load_config
    from experiments.training.train import train

    box = [f"{key}={value}" for key, value in BOX_LEARNER.items()]
    old = [
        *box,
        "train.n_envs=4",
        "train.vec_env=dummy",
        "ppo.n_steps=256",
        "ppo.batch_size=128",
        "ppo.n_epochs=5",
    ]
    wide = ["train.n_envs=64", "ppo.n_steps=64", "ppo.batch_size=1024"]
    arms = (
        ("old_quickstart", old),
        ("old_quickstart_batched", [o for o in old if o != "train.vec_env=dummy"]),
        ("box_64", [*box, *wide]),
        ("quickstart", []),
        ("menu_full_info_64", [*wide, *learner_preset()]),
    )
    out: dict[str, Any] = {"steps": args.train_steps}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in arms:
            cfg = load_config(
                "quickstart",
                overrides=[*overrides, f"train.total_timesteps={args.train_steps}", f"runs_dir={tmp}/{name}"],
            )
            t0 = time.perf_counter()
            result = train(cfg, progress=False)
            out[name] = {
                "seconds": time.perf_counter() - t0,
                "train": dataclasses.asdict(cfg.train),
                "ppo": dataclasses.asdict(cfg.ppo),
                "evaluations": result.evaluations,
            }
            print(f"{name}: {out[name]['seconds']:.1f} s for {args.train_steps} steps", flush=True)
    out["speedup"] = out["old_quickstart"]["seconds"] / out["quickstart"]["seconds"]
    out["speedup_by_arm"] = {name: out["old_quickstart"]["seconds"] / out[name]["seconds"] for name, _ in arms}
    print(
        "speed-up over the old quick-start settings: "
        + ", ".join(f"{k} {v:.2f}x" for k, v in out["speedup_by_arm"].items())
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", nargs="+", choices=("env", "ppo", "train"), default=["env", "ppo", "train"])
    p.add_argument("--env-steps", type=int, default=40_000, help="decisions per env measurement")
    p.add_argument("--copies", type=int, default=64, help="copies of the batched env measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rollouts", type=int, default=4, help="timed rollouts per PPO measurement (after one warm-up)")
    p.add_argument(
        "--settings",
        choices=("all", "preset"),
        default="all",
        help="ppo part: every setting of SETTINGS and the preset's, or the preset's alone (MENU_SETTING)",
    )
    p.add_argument("--train-steps", type=int, default=100_000, help="steps of each end-to-end train() run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result as JSON here")
    args = p.parse_args()
    torch.set_num_threads(1)
    result: dict[str, Any] = {
        "benchmark": "throughput",
        "settings": vars(args),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
    }
    if "env" in args.part:
        result["env_decisions_per_second"] = env_part(args)
        print({k: v for k, v in result["env_decisions_per_second"].items() if not isinstance(v, dict)}, flush=True)
    if "ppo" in args.part:
        result["ppo_steps_per_second"] = ppo_part(args)
    if "train" in args.part:
        result["train_end_to_end"] = train_part(args)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
