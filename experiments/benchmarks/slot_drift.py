"""Do the portfolio and performance slots mean the same in training and in the test?

Training episodes are ``stack.episode_bars`` long (252 by default) and start at random bars; the test is one episode
over the whole test window (years). A slot whose values in the test lie outside the range it took in training asks
the network to extrapolate. For a config, this drives the training stack for ``--episodes`` random-start episodes and
the test stack once, both with the same policy, and prints for each
portfolio and performance slot the share of test decisions outside the training [1%, 99%] range. For
``equity_log_growth`` it also prints the share under env version 1's definition (log growth since the episode start),
computed from the same equity curves. Policies (``--policies``): ``long``, always the menu's longest hold with the
widest brackets (buy-and-hold at the cap, near enough: it survives the test), and ``random``, uniform random menu
items (seeded; it often ends the test early at the 15% drawdown halt).

Usage::

    python -m experiments.benchmarks.slot_drift --config quickstart planted_edge
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

SLOTS = ("equity_log_growth", "drawdown", "daily_loss_used", "breaker_level", "dsr_mean", "dsr_dev", "win_rate")


def _run(env: Any, pick: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One episode: the observations at every decision and the v1 growth (since the episode start)."""
    base = env.unwrapped
    obs, _ = env.reset(seed=seed)
    start = int(base.bar)
    rows, v1 = [obs], [0.0]
    done = False
    while not done:
        obs, _, term, trunc, _ = env.step(pick())
        done = term or trunc
        if not done:
            rows.append(obs)
            v1.append(math.log(base.equity_curve[base.bar] / base.equity_curve[start]))
    return np.asarray(rows), np.asarray(v1)


def measure(config: str, policy: str, episodes: int, seed: int) -> dict[str, Any]:
    from agents.stack import make_env
    from envs.data import load
    from envs.layout import OBS_LAYOUT
    from experiments.config import load_config

    cfg = load_config(config)
    stack = dataclasses.replace(cfg.stack, action="menu")
    data = load(stack.data)
    rng = np.random.default_rng(seed)
    train_env, test_env = make_env(stack, "train", data=data), make_env(stack, "test", data=data)
    items = stack.menu.params(train_env.unwrapped.action_map)  # (k, 4): size, hold, stop, target; item 0 flat
    longest = int(np.lexsort((-items[:, 2], -items[:, 1]))[0])  # the longest hold, then the widest stop

    def pick() -> int:
        return longest if policy == "long" else int(rng.integers(len(items)))

    train = [_run(train_env, pick, seed + k) for k in range(episodes)]
    test_obs, test_v1 = _run(test_env, pick, seed)
    train_obs = np.concatenate([o for o, _ in train])
    train_v1 = np.concatenate([v for _, v in train])
    out: dict[str, Any] = {
        "config": config,
        "policy": policy,
        "train_decisions": len(train_obs),
        "test_decisions": len(test_obs),
    }

    def outside(train_col: np.ndarray, test_col: np.ndarray) -> float:
        lo, hi = np.quantile(train_col, [0.01, 0.99])
        return float(np.mean((test_col < lo) | (test_col > hi)))

    for name in SLOTS:
        i = OBS_LAYOUT.index(name)
        out[name] = outside(train_obs[:, i], test_obs[:, i])
    out["equity_log_growth_v1"] = outside(train_v1, test_v1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", nargs="+", default=["quickstart", "planted_edge"])
    p.add_argument("--policies", nargs="+", default=["long", "random"], choices=["long", "random"])
    p.add_argument("--episodes", type=int, default=40, help="random-start training episodes (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for summary.json")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    from experiments.config.errors import ConfigError

    try:
        rows = [measure(c, pol, args.episodes, args.seed) for c in args.config for pol in args.policies]
    except ConfigError as exc:  # an unknown config name: one line, exit 2
        p.error(str(exc))
    print(f"share of test decisions outside the training [1%, 99%] range; seed {args.seed}, "
          f"{args.episodes} training episodes")  # fmt: skip
    print(
        "| config | policy | decisions train / test | equity_log_growth, v1 | equity_log_growth, v2 | "
        + " | ".join(SLOTS[1:])
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * (len(SLOTS) - 1))
    for r in rows:
        rest = " | ".join(f"{r[s]:.1%}" for s in SLOTS[1:])
        head = f"| {r['config']} | {r['policy']} | {r['train_decisions']} / {r['test_decisions']}"
        print(f"{head} | {r['equity_log_growth_v1']:.1%} | {r['equity_log_growth']:.1%} | {rest} |")
    seconds = time.perf_counter() - t0
    print(f"{seconds:.0f} s")
    if args.out:
        write_json(f"{args.out}/summary.json", {"benchmark": "slot_drift", "settings": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
