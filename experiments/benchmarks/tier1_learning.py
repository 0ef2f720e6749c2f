"""Benchmark: how fast and how reliably the Tier 1 bandit finds the best component.

Synthetic trades with known component edges. Each trade's net return is positive or negative with
probability 1/2; component ``i``'s score has the sign of the return with probability ``p_i`` (its win rate)
and a magnitude uniform in [0.05, 1], so every score gives evidence. After N trades we check whether the
top-weighted component is the true best (strictly above the others) and record the weight on it. Every run
uses the real :class:`agents.tier1.ComponentBandit` on its own seeded trades (the weights themselves are a
deterministic quadrature: no seed).

Tasks:
    spread     win rates 0.40 / 0.50 / 0.60 / 0.70 (best: sentiment).
    realistic  win rates 0.50 / 0.52 / 0.54 / 0.58 (best: sentiment).
    switch     0.70 / 0.50 / 0.50 / 0.50 for 300 trades, then 0.50 / 0.50 / 0.50 / 0.70: is the new best on
               top at trades 320 .. 500?

Usage:
    .venv/bin/python -m experiments.benchmarks.tier1_learning [--runs 400] [--quick] [--out PATH]
    (--quick: 50 runs, a smoke run of a few seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from agents.tier1 import ComponentBandit
from envs.layout import COMPONENTS


@dataclass
class BenchConfig:
    """Settings of the benchmark."""

    runs: int = 400
    """Seeded runs per (task, gamma) setting."""
    seed: int = 0
    """Root seed; run r of task t uses SeedSequence([seed, t, r])."""
    gammas: tuple[float, ...] = (0.97, 0.99, 1.0)
    """Discounts compared (0.97 is the library default; 0.99 is shown for reference)."""
    trade_counts: tuple[int, ...] = (10, 20, 50, 100, 200, 500)
    """Checkpoints N (trades seen) of the stationary tasks."""
    switch_at: int = 300
    """Trade at which the best component changes in the switch task."""
    switch_checkpoints: tuple[int, ...] = (300, 320, 350, 400, 450, 500)
    """Checkpoints of the switch task (trades seen)."""
    stationary: dict[str, tuple[float, ...]] = field(
        default_factory=lambda: {"spread": (0.40, 0.50, 0.60, 0.70), "realistic": (0.50, 0.52, 0.54, 0.58)}
    )
    """Win rates per component of the stationary tasks."""
    switch_rates: tuple[tuple[float, ...], tuple[float, ...]] = (
        (0.70, 0.50, 0.50, 0.50),
        (0.50, 0.50, 0.50, 0.70),
    )
    """Win rates before and after the switch."""
    out: str = "runs/bench/tier1_learning.json"
    """Where the JSON results are written."""


def simulate_scores(rng: np.random.Generator, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw trades for win rates of shape (n_trades, 4): scores (n_trades, 4) and net returns (n_trades,)."""
    n = rates.shape[0]
    sign = rng.choice([-1.0, 1.0], size=n)
    net_return = sign * rng.uniform(0.001, 0.05, size=n)
    agree = np.where(rng.random((n, 4)) < rates, 1.0, -1.0)
    scores = rng.uniform(0.05, 1.0, size=(n, 4)) * agree * sign[:, None]
    return scores, net_return


def run_task(
    rates: np.ndarray, best: int, checkpoints: tuple[int, ...], gamma: float, task_id: int, cfg: BenchConfig
) -> dict[int, tuple[float, float]]:
    """Identification share and mean weight on ``best`` at each checkpoint, over ``cfg.runs`` seeded runs."""
    top = np.zeros((cfg.runs, len(checkpoints)), dtype=bool)
    weight = np.zeros((cfg.runs, len(checkpoints)))
    for r in range(cfg.runs):
        data_seed, _ = np.random.SeedSequence([cfg.seed, task_id, r]).spawn(2)  # the same trades as before
        scores, net_return = simulate_scores(np.random.default_rng(data_seed), rates)
        bandit = ComponentBandit(gamma=gamma)
        done = 0
        for c, n in enumerate(checkpoints):
            for t in range(done, n):
                bandit.update(scores[t], net_return[t])
            done = n
            w = bandit.weights()
            weight[r, c] = w[best]
            top[r, c] = w[best] > np.delete(w, best).max()
    return {n: (float(top[:, c].mean()), float(weight[:, c].mean())) for c, n in enumerate(checkpoints)}


def table(title: str, checkpoints: tuple[int, ...], rows: dict[str, dict[int, tuple[float, float]]]) -> str:
    """Plain-text table: one row per setting, cells 'identification / mean weight on the best'."""
    head = f"{'setting':<40}" + "".join(f"{'N=' + str(n):>14}" for n in checkpoints)
    lines = [title, head, "-" * len(head)]
    for name, res in rows.items():
        lines.append(f"{name:<40}" + "".join(f"{res[n][0]:>7.3f} /{res[n][1]:>5.2f}" for n in checkpoints))
    return "\n".join(lines)


def parse_args() -> BenchConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=BenchConfig.runs, help="seeded runs per setting (400)")
    parser.add_argument("--quick", action="store_true", help="50 runs: a smoke run")
    parser.add_argument("--out", default=BenchConfig.out, help="JSON output path")
    parser.add_argument("--seed", type=int, default=BenchConfig.seed, help="root seed (0)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs={args.runs} must be >= 1")
    if args.quick:
        return BenchConfig(runs=min(args.runs, 50), seed=args.seed, out=args.out)
    return BenchConfig(runs=args.runs, seed=args.seed, out=args.out)


Rows = dict[str, dict[int, tuple[float, float]]]


def flatten(base: dict[str, object], res: dict[int, tuple[float, float]]) -> list[dict[str, object]]:
    """One JSON record per checkpoint: ``base`` plus n_trades, identification and mean_weight_best."""
    return [{**base, "n_trades": n, "identification": i, "mean_weight_best": w} for n, (i, w) in res.items()]


def stationary_tasks(cfg: BenchConfig) -> tuple[Rows, list[dict[str, object]]]:
    """Run every stationary task at every gamma; returns the table rows and the JSON records."""
    rows: Rows = {}
    records: list[dict[str, object]] = []
    for task_id, (task, rates) in enumerate(cfg.stationary.items()):
        best = int(np.argmax(rates))
        per_trade = np.tile(np.asarray(rates), (max(cfg.trade_counts), 1))
        for gamma in cfg.gammas:
            res = run_task(per_trade, best, cfg.trade_counts, gamma, task_id, cfg)
            rows[f"{task} {rates} g={gamma}"] = res
            base = {"task": task, "rates": list(rates), "best": COMPONENTS[best], "gamma": gamma}
            records += flatten(base, res)
    return rows, records


def switch_task(cfg: BenchConfig) -> tuple[Rows, list[dict[str, object]]]:
    """Run the abrupt-switch task at every gamma; cells track the new best component."""
    before, after = cfg.switch_rates
    horizon = max(cfg.switch_checkpoints)
    per_trade = np.where(np.arange(horizon)[:, None] < cfg.switch_at, np.asarray(before), np.asarray(after))
    new_best = int(np.argmax(after))
    rows: Rows = {}
    records: list[dict[str, object]] = []
    for gamma in cfg.gammas:
        res = run_task(per_trade, new_best, cfg.switch_checkpoints, gamma, len(cfg.stationary), cfg)
        rows[f"switch@{cfg.switch_at} g={gamma}"] = res
        base = {"task": "switch", "rates_before": list(before), "rates_after": list(after)}
        records += flatten({**base, "switch_at": cfg.switch_at, "best": COMPONENTS[new_best], "gamma": gamma}, res)
    return rows, records


def main() -> None:
    cfg = parse_args()
    start = time.perf_counter()
    cpu = platform.processor() or platform.machine()
    machine = f"{platform.platform()} | {cpu} | Python {platform.python_version()} | numpy {np.__version__}"
    print(f"Tier 1 learning benchmark | runs={cfg.runs} seed={cfg.seed} | weights: deterministic quadrature")
    print(f"gammas={cfg.gammas}; 0.97 is the library default")
    print("bandit: ComponentBandit defaults otherwise (prior (1, 1), shrink=0.1, floor=0.05, cap=0.7)")
    print(f"machine: {machine}")
    print("cells: share of runs whose top-weighted component is the true best / mean weight on the true best")
    print(f"(binomial standard error of a share <= {0.5 / np.sqrt(cfg.runs):.3f})\n")

    stationary_rows, records = stationary_tasks(cfg)
    print(table("Stationary tasks", cfg.trade_counts, stationary_rows) + "\n")
    switch_rows, switch_records = switch_task(cfg)
    title = f"Switch task: {cfg.switch_rates[0]} -> {cfg.switch_rates[1]} at trade {cfg.switch_at} (NEW best)"
    print(table(title, cfg.switch_checkpoints, switch_rows) + "\n")

    ident = stationary_rows[f"spread {cfg.stationary['spread']} g=0.97"][100][0]
    recovery = switch_rows[f"switch@{cfg.switch_at} g=0.97"][max(cfg.switch_checkpoints)][0]
    targets = {
        "spread_identification_at_100_gamma_0.97": {"value": ident, "target": 0.9, "met": ident >= 0.9},
        "switch_recovery_at_500_gamma_0.97": {"value": recovery, "target": 0.7, "met": recovery >= 0.7},
    }
    for name, t in targets.items():
        print(f"target {name}: {t['value']:.3f} (>= {t['target']}) -> {'MET' if t['met'] else 'NOT MET'}")
    elapsed = time.perf_counter() - start
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {**asdict(cfg), "machine": machine, "elapsed_s": elapsed}
    payload = {"settings": settings, "targets": targets, "results": records + switch_records}
    out.write_text(json.dumps(payload, indent=1))
    print(f"\nelapsed {elapsed:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
