"""Does a trained agent follow the component that carries the edge in each regime of a planted-edge market?

For each run folder (a ``planted_edge`` or ``planted_edge_2regime`` benchmark run, whose config names the market
draw ``synthetic:<market>:<seed>``), the best model trades the test window; every decision is labelled with the
generator's true regime, and per regime this prints the correlation of the size asked with each component score
and the mean size when that component is positive. An agent that follows the regime's component has a high
correlation with ``technical`` in the calm regime (0) and with ``theme`` in the choppy one (1).

Example::

    python -m experiments.benchmarks.regime_follow runs/bench/planted_edge/planted_edge_2regime-*-s0-*
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

COMPONENTS = ("theme", "technical")


def _market(data: str) -> tuple[str, int] | None:
    """``(preset, seed)`` of a ``synthetic:<preset>[:<seed>]`` dataset, or None for any other data."""
    from envs.synthetic import PRESETS

    kind, _, rest = data.partition(":")
    market, _, seed = rest.partition(":")
    if kind != "synthetic" or market not in PRESETS or not (seed.isdigit() or not seed):
        return None
    return market, int(seed or 0)


def follow(run: Path) -> dict[int, dict[str, float]]:
    """``{regime: {"n": decisions, "corr_<c>": corr(size, c), "size_<c>": mean size when c > 0}}``."""
    import torch

    torch.set_num_threads(1)
    from agents.stack import make_env
    from envs.layout import OBS_LAYOUT
    from envs.synthetic import PRESET_BARS, PRESETS
    from experiments.config import load_config
    from experiments.evaluation.policies import load_policy

    cfg = load_config(run / "config.yaml")
    market, seed = _market(cfg.stack.data) or ("", 0)
    labels = PRESETS[market]().generate(PRESET_BARS, seed=seed).labels
    policy = load_policy(run / "best" / "best_model.zip")
    env = make_env(cfg.stack, "test")
    obs, info = env.reset(seed=0)
    slots = [OBS_LAYOUT.index(c) for c in COMPONENTS]
    rows, done = [], False
    while not done:
        action = policy(obs, info)
        size = env.unwrapped.action_map.decode(action).size
        rows.append([*(obs[i] for i in slots), size, labels[info["bar"]]])
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    r = np.array(rows, dtype=np.float64)
    out: dict[int, dict[str, float]] = {}
    for k in np.unique(r[:, -1]).astype(int):
        m = r[:, -1] == k
        size = r[m, -2]
        stats = {"n": float(m.sum())}
        for j, c in enumerate(COMPONENTS):
            stats[f"corr_{c}"] = float(np.corrcoef(r[m, j], size)[0, 1])
            stats[f"size_{c}"] = float(size[r[m, j] > 0].mean())
        out[int(k)] = stats
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="benchmark run folders (with config.yaml and best/)")
    args = p.parse_args(argv)
    from experiments.config import load_config

    for run in args.runs:
        missing = [f for f in ("config.yaml", "best/best_model.zip") if not (run / f).is_file()]
        data = "" if missing else load_config(run / "config.yaml").stack.data
        if missing or _market(data) is None:
            why = f"has no {missing[0]}" if missing else f"trades {data!r}, not a synthetic preset with known regimes"
            print(
                f"error: run folder {str(run)!r} {why}; pass a planted-edge benchmark run folder, e.g. "
                "runs/bench/planted_edge/planted_edge_2regime-<variant>-s0-<time>",
                file=sys.stderr,
            )
            return 2
    for run in args.runs:
        for k, s in follow(run).items():
            cells = ", ".join(f"corr(size, {c}) {s[f'corr_{c}']:+.2f}" for c in COMPONENTS)
            sizes = ", ".join(f"size | {c} > 0 {s[f'size_{c}']:.3f}" for c in COMPONENTS)
            print(f"{run.name}: regime {k}, {int(s['n'])} decisions: {cells}; {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
