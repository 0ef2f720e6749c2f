"""Do the tier slots tell the regimes of a two-regime planted market apart?

On the certification's two-regime markets (:data:`experiments.benchmarks.certify.MARKETS`) the component with the
edge moves with the regime. A stack whose Tiers 1 and 2 work puts that regime into the observation: Tier 1's weight of
the choppy regime's component above the calm one's, Tier 2's probabilities. For each market and seed this drives the
training stack of the certification (an 8,000-bar draw, its training window, 64 batched copies) with random
bracket-menu items for ``--steps`` steps, labels every observation with the generator's true regime, and prints the
ROC AUC of:

* ``vol_20``: the 20-bar realised volatility slot (the regimes differ in volatility: what separation is possible);
* ``w_diff``: Tier 1's weight of the choppy regime's component minus that of the calm regime's component;
* ``best p_*``: the best of Tier 2's five probability slots (each read in the direction that separates best);

for Tier 1 learning from the copies' own trades (``tier1_learns_from: trades``, restarting every episode) and from
the market (``market``, every bar's outcome ``tier1_horizon`` bars later, from the data's first bar), with one
posterior per Tier 2 regime (the default) or pooled (:data:`VARIANTS`).

Usage::

    python -m experiments.benchmarks.tier_slots --seeds 0 1 2 --out runs/bench/tier-slots
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

TWO_REGIME = ("two_regime_tech_theme", "two_regime_ai_sentiment")
VARIANTS: dict[str, list[str]] = {
    "trades": [],
    "market": ["stack.tiers.tier1_learns_from=market"],
    "market, pooled": ["stack.tiers.tier1_learns_from=market", "stack.tiers.tier1_per_regime=false"],
}
"""What Tier 1 learns from: the agent's trades (the default), the market with one posterior per Tier 2 regime (the
default ``tier1_per_regime``), the market pooled over regimes."""


def _auc(labels: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC read in the direction that separates (0.5 = none, 1 = perfect)."""
    from sklearn.metrics import roc_auc_score

    a = float(roc_auc_score(labels, score)) if np.ptp(score) > 0 else 0.5
    return max(a, 1.0 - a)


def measure(market_name: str, seed: int, variant: str, steps: int, root: Path) -> dict[str, Any]:
    """AUCs of the slots for the true regime over ``steps`` random-menu steps of 64 copies of the training stack."""
    from agents.batch import StackVecEnv
    from envs.data import load
    from envs.layout import OBS_LAYOUT
    from experiments.benchmarks.certify import COMPONENT_NAMES, MARKETS, TRAIN_BARS, _config, market_data

    market = MARKETS[market_name]
    data, labels = market_data(market, TRAIN_BARS, seed)
    csv = root / f"{market_name}-{seed}.csv"
    data.to_frame().rename_axis("date").to_csv(csv)
    cfg = _config("planted_edge", csv, root / "runs", VARIANTS[variant], seed, None)
    stack = dataclasses.replace(cfg.stack, action="menu")
    venv = StackVecEnv(stack, 64, seed=seed, data=load(stack.data))
    rng = np.random.default_rng(seed)
    obs, xs, bars = venv.reset(), [], []
    for _ in range(steps):
        bars.append(np.asarray(venv.get_attr("bar")))
        xs.append(obs.copy())
        obs, *_ = venv.step(rng.integers(0, len(stack.menu), 64))
    x, y = np.concatenate(xs), np.asarray(labels)[np.concatenate(bars)]
    calm, choppy = (OBS_LAYOUT.index(f"w_{r.component}") for r in market.regimes)
    assert {r.component for r in market.regimes} <= set(COMPONENT_NAMES)
    tier2 = OBS_LAYOUT.group_slice("tier2")
    return {
        "market": market_name,
        "seed": seed,
        "tier1": variant,
        "decisions": len(y),
        "vol_20": _auc(y, x[:, OBS_LAYOUT.index("vol_20")]),
        "w_diff": _auc(y, x[:, choppy] - x[:, calm]),
        "best_p": max(_auc(y, x[:, i]) for i in range(tier2.start, tier2.stop)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--markets", nargs="+", default=list(TWO_REGIME), choices=TWO_REGIME)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=400, help="steps of the 64 copies (default 400: 25,600 decisions)")
    p.add_argument("--out", type=Path, default=None, help="folder for summary.json")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for market in args.markets:
            for seed in args.seeds:
                for variant in VARIANTS:
                    rows.append(measure(market, seed, variant, args.steps, Path(tmp)))
    print(f"tier slots against the true regime: seeds {args.seeds}, {args.steps} steps x 64 copies, random menu items")
    print("| market | seed | Tier 1 learns from | vol_20 AUC | Tier 1 w_diff AUC | best Tier 2 p_* AUC |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['market']} | {r['seed']} | {r['tier1']} | {r['vol_20']:.3f} | {r['w_diff']:.3f} | "
            f"{r['best_p']:.3f} |"
        )
    seconds = time.perf_counter() - t0
    print(f"{seconds:.0f} s")
    if args.out is not None:
        settings = vars(args) | {"out": str(args.out)}
        write_json(
            args.out / "summary.json",
            {"benchmark": "tier_slots", "settings": settings, "rows": rows, "seconds": seconds},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
