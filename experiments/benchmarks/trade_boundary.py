"""Where a trained menu policy draws its trade boundary on a planted market, and which item it trades.

Reads the run folders of a certification (``python -m experiments.benchmarks.certify --out DIR``) and, for every
market, seed and PPO learner, loads the policy the certification measured (the best checkpoint, else the final
model) and prints its probability of trading as the planted component runs from -0.4 to +0.4 with every other slot
at 0, the component value where that probability crosses 1/2, and the item the greedy policy trades. The planted
rule trades whenever the component is above 0; the component is spread about uniformly over [-1, 1], so a crossing
at +0.15 leaves about 15% of the signal-on decisions flat (accuracy on about 0.85).

Slots other than the component at 0 are a fair probe only for learners that read the components alone
(``ppo.inputs: [components]``); for others the line is printed with the caveat ``(reads other slots)``.

Usage::

    python -m experiments.benchmarks.trade_boundary runs/bench/certify-1r-pooled
    python -m experiments.benchmarks.trade_boundary runs/bench/certify-1r-pooled --model final
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

GRID = np.round(np.linspace(-0.4, 0.4, 9), 2)


def crossing(xs: np.ndarray, p: np.ndarray) -> float:
    """The first ``x`` where ``p`` reaches 1/2 (linear between grid points); NaN if it never does, -inf if at once."""
    above = np.nonzero(p >= 0.5)[0]
    if len(above) == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float("-inf")
    x0, x1, p0, p1 = xs[i - 1], xs[i], p[i - 1], p[i]
    return float(x0 + (0.5 - p0) * (x1 - x0) / (p1 - p0))


def probe(model_path: Path, component: str) -> dict:
    """The trade probability along ``component`` (other slots 0), its 1/2 crossing and the greedy item."""
    import torch
    from stable_baselines3 import PPO

    from envs.layout import OBS_LAYOUT

    model = PPO.load(model_path, device="cpu")
    xs = np.linspace(-1.0, 1.0, 201)
    obs = np.zeros((len(xs), OBS_LAYOUT.size), np.float32)
    obs[:, OBS_LAYOUT.index(component)] = xs
    with torch.no_grad():
        probs = model.policy.get_distribution(torch.as_tensor(obs)).distribution.probs.numpy()
    trade = 1.0 - probs[:, 0]
    greedy = probs[xs > 0.5].argmax(axis=1)  # the item it trades where the signal is strong
    groups = getattr(model.policy.features_extractor, "groups", None)
    return {
        "trade": np.interp(GRID, xs, trade),
        "crossing": crossing(xs, trade),
        "item": int(np.bincount(greedy).argmax()),
        "components_only": groups is not None and tuple(groups) == ("components",),
    }


def main() -> None:
    from experiments.benchmarks.certify import MARKETS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a certification's --out folder")
    parser.add_argument("--model", choices=("measured", "final"), default="measured")
    args = parser.parse_args()
    print(f"{args.folder}: P(trade) at component = {' '.join(f'{x:+.1f}' for x in GRID)}; crossing of 1/2; item")
    for unit in sorted((args.folder / "units").iterdir()):
        market, seed = unit.name.rsplit("-s", 1)
        if market not in MARKETS or len(MARKETS[market].regimes) != 1:
            continue
        component = MARKETS[market].regimes[0].component
        for learner in sorted(p for p in (unit / "runs").iterdir() if p.is_dir()):
            for run in sorted(learner.iterdir()):
                best = run / "best" / "best_model.zip"
                path = best if args.model == "measured" and best.exists() else run / "model.zip"
                if not path.exists():
                    continue
                r = probe(path, component)
                note = "" if r["components_only"] else "  (reads other slots)"
                print(
                    f"{market:14s} s{seed} {learner.name:16s} "
                    + " ".join(f"{p:.2f}" for p in r["trade"])
                    + f"  crossing {r['crossing']:+.2f}  item {r['item']}{note}"
                )


if __name__ == "__main__":
    main()
