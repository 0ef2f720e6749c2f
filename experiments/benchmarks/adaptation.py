"""Tier 4's adaptation claim, measured: the return after K trades on held-out regimes, method by method.

The seed system claimed its meta-learner adapts to a new regime in 3 to 5 trades instead of 20 to 30. Here,
per seed, every method is trained on the same synthetic regime tasks (:class:`meta.tasks.TaskDistribution`, split
``train``: never inside a held-out band), then each held-out task (split ``held_out``: a moderate up-trend band
and a high-volatility band) is traded for K decisions of its adaptation window and scored on its scoring window
(:mod:`meta.adaptation`: mean net return per decision of the greedy policy, the oracle's measure). Rows:

* ``maml``: second-order MAML; ``fomaml``: first-order MAML (the default); ``reptile``: Reptile;
* ``pretrained``: one policy trained on all training tasks with the same policy-gradient loss and no inner loop
  (the meta-training loop with ``inner_steps=0``), fine-tuned at test time like the others;
* ``random``: SB3's initialisation, fine-tuned like the others;
* ``bandit``: Thompson sampling over the three meta-trained specialists (:mod:`meta.specialists`) for the K
  decisions, then the specialist of the best posterior mean;
* ``selector``: K round-robin decisions of the specialists, then the trained selector network's pick;
* ``oracle``: the best constant bracket of the scoring window (:func:`meta.tasks.oracle`), which knows the regime.

Every gradient method adapts with the same inner loop (``--inner-steps`` steps of size ``--inner-lr`` on the K
decisions; Reptile meta-trains and adapts with ``--reptile-inner-steps`` steps of ``inner_lr / steps``: several
plain policy-gradient steps of the full size on the same K decisions diverge). Printed and written (``--out`` folder):
per method and K, the mean score (x 10^4, i.e. basis points per decision) and the share of the oracle's return
(sum of scores / sum of the oracle's scores over tasks and seeds), each with a 90% bootstrap CI that resamples
tasks and seeds; ``adaptation.json``, ``adaptation.md`` (the tables of docs/results/tier4.md) and ``adaptation.png``
(the curves).

Usage::

    python -m experiments.benchmarks.adaptation                          # 3 seeds, 24 held-out tasks
    python -m experiments.benchmarks.adaptation --seeds 0 --tasks 6 --iterations 20   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json
from experiments.training.meta import MetaTrainConfig
from meta.config import BASELINES

DEFAULTS = MetaTrainConfig()
"""The settings the benchmark starts from: those of ``tradebrain meta-train``."""

KS: tuple[int, ...] = (0, 1, 3, 5, 10, 20, 30)  # meta.adaptation.ADAPTATION_KS (imported lazily: no torch here)
GRADIENT_METHODS: tuple[str, ...] = ("maml", "fomaml", "reptile", "pretrained", "random")
METHODS: tuple[str, ...] = (*GRADIENT_METHODS, "bandit", "selector", "oracle")


def _meta_config(args: argparse.Namespace, method: str) -> Any:
    base = dataclasses.replace(
        DEFAULTS.maml,
        iterations=args.iterations,
        meta_batch=args.meta_batch,
        k_support=args.k_support,
        k_query=args.k_query,
        inner_lr=args.inner_lr,
        inner_steps=args.inner_steps,
        outer_lr=args.outer_lr,
        baseline=args.baseline,
    )
    if method == "maml":
        return dataclasses.replace(base, order=2)
    if method == "reptile":
        steps = args.reptile_inner_steps
        return dataclasses.replace(base, algorithm="reptile", inner_steps=steps, inner_lr=args.inner_lr / steps)
    if method == "pretrained":
        return dataclasses.replace(base, inner_steps=0)
    return base


def _distribution(args: argparse.Namespace) -> Any:
    from meta.tasks import TaskDistribution

    return TaskDistribution(n_bars=args.n_bars, adapt_bars=args.adapt_bars)


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Train every method with ``seed`` and score it on the held-out tasks; scores ``[method][K] -> per task``."""
    import torch

    from meta.adaptation import adapted_score, selector_pick, specialist_scores
    from meta.brain import train_tier4
    from meta.maml import meta_train
    from meta.policy import init_params
    from meta.selector import bandit_pick
    from meta.specialists import SPECIALISTS
    from meta.tasks import oracle

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    dist = _distribution(args)
    inits: dict[str, Any] = {"random": init_params(seed)}
    train_s: dict[str, float] = {}
    for method in ("maml", "fomaml", "reptile", "pretrained"):
        t = time.perf_counter()
        inits[method] = meta_train(dist, _meta_config(args, method), seed).params
        train_s[method] = time.perf_counter() - t
    t = time.perf_counter()
    brain, report = train_tier4(dist, _meta_config(args, "fomaml"), seed, selector_tasks=args.selector_tasks, ks=KS)
    specialists, selector = brain.pairs(), brain.selector
    train_s["specialists+selector"] = time.perf_counter() - t
    label_share = np.bincount(report.selector_data.labels, minlength=3) // len(KS)

    tasks = dist.sample(args.tasks, args.task_seed, "held_out")
    rng = np.random.default_rng(seed)
    scores: dict[str, dict[int, list[float]]] = {m: {k: [] for k in KS} for m in METHODS}
    picks: dict[str, dict[int, list[int]]] = {m: {k: [] for k in KS} for m in ("bandit", "selector")}
    default = [s.name for s in SPECIALISTS].index("balanced")
    t = time.perf_counter()
    for task in tasks:
        o = oracle(task).mean_return
        spec_s = specialist_scores(task, specialists)
        for k in KS:
            s_seed = int(rng.integers(2**31))
            for method in GRADIENT_METHODS:
                cfg = _meta_config(args, "fomaml" if method in ("pretrained", "random") else method)
                scores[method][k].append(adapted_score(inits[method], task, k, cfg, s_seed))
            arm, _ = bandit_pick(task.make_env("train"), specialists, k, s_seed, default=default)
            scores["bandit"][k].append(float(spec_s[arm]))
            picks["bandit"][k].append(arm)
            arm, _ = selector_pick(selector, task, specialists, k, s_seed)
            scores["selector"][k].append(float(spec_s[arm]))
            picks["selector"][k].append(arm)
            scores["oracle"][k].append(o)
    eval_s = time.perf_counter() - t
    return {
        "seed": seed,
        "scores": scores,
        "picks": picks,
        "tasks": [task.name for task in tasks],
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "seconds": time.perf_counter() - t0,
        "selector_final_loss": report.selector_loss[-1],
        "selector_label_counts": label_share.tolist(),
    }


def _boot(num: np.ndarray, den: np.ndarray | None, n_boot: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Point and 90% CI of ``sum(num) / sum(den)`` (or the mean of ``num``), resampling tasks and seeds.

    ``num`` and ``den`` have shape ``(seeds, tasks)``."""

    def stat(n: np.ndarray, d: np.ndarray | None) -> float:
        return float(n.sum() / d.sum()) if d is not None else float(n.mean())

    s, t = num.shape
    out = []
    for _ in range(n_boot):
        si, ti = rng.integers(s, size=s), rng.integers(t, size=t)
        out.append(stat(num[np.ix_(si, ti)], None if den is None else den[np.ix_(si, ti)]))
    lo, hi = np.percentile(out, [5, 95])
    return stat(num, den), float(lo), float(hi)


def summarise(runs: list[dict[str, Any]], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Per method and K: mean score (bp per decision) and share of the oracle, with 90% CIs."""
    rng = np.random.default_rng(seed)
    oracle = np.array([r["scores"]["oracle"][KS[0]] for r in runs])
    table: dict[str, dict[str, Any]] = {}
    for method in METHODS:
        table[method] = {}
        for k in KS:
            x = np.array([r["scores"][method][k] for r in runs])
            table[method][str(k)] = {
                "score_bp": _boot(x * 1e4, None, n_boot, rng),
                "share_of_oracle": _boot(x, oracle, n_boot, rng),
            }
    return table


def first_k_reaching(table: dict[str, Any], method: str, level: float = 0.8) -> int | None:
    """The smallest K whose share of the oracle is at least ``level`` (point estimate), or None."""
    for k in KS:
        if table[method][str(k)]["share_of_oracle"][0] >= level:
            return k
    return None


def markdown(table: dict[str, Any], settings: dict[str, Any]) -> str:
    head = "| method | " + " | ".join(f"K={k}" for k in KS) + " | K for 80% |"
    lines = [
        "Share of the oracle's return on held-out regimes after K trades (point, 90% CI over tasks and seeds):",
        "",
        head,
        "|" + "---|" * (len(KS) + 2),
    ]
    for method in METHODS:
        cells = []
        for k in KS:
            p, lo, hi = table[method][str(k)]["share_of_oracle"]
            cells.append(f"{p:.0%} [{lo:.0%}, {hi:.0%}]")
        reach = first_k_reaching(table, method)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {'not reached' if reach is None else reach} |")
    lines += [
        "",
        "Mean score, basis points of net return per decision (point, 90% CI):",
        "",
        head.replace(" K for 80% |", ""),
        "|" + "---|" * (len(KS) + 1),
    ]
    for method in METHODS:
        cells = []
        for k in KS:
            p, lo, hi = table[method][str(k)]["score_bp"]
            cells.append(f"{p:.1f} [{lo:.1f}, {hi:.1f}]")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    return "\n".join(lines) + "\n"


def plot(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.arange(len(KS))
    for method in METHODS:
        pts = np.array([table[method][str(k)]["share_of_oracle"] for k in KS])
        ax.plot(x, pts[:, 0], marker="o", label=method, linestyle="--" if method == "oracle" else "-")
        ax.fill_between(x, pts[:, 1], pts[:, 2], alpha=0.12)
    ax.axhline(0.8, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, [str(k) for k in KS])
    ax.set_xlabel("K: trades of adaptation on the new regime")
    ax.set_ylabel("share of the oracle's return (90% CI)")
    ax.set_title("Adaptation on held-out regimes")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--tasks", type=int, default=24, help="held-out tasks (the same for every seed)")
    p.add_argument("--task-seed", type=int, default=10_000)
    m = DEFAULTS.maml  # the defaults of `tradebrain meta-train` (experiments.training.meta.MetaTrainConfig)
    p.add_argument("--iterations", type=int, default=m.iterations, help="meta-training iterations per method")
    p.add_argument("--meta-batch", type=int, default=m.meta_batch)
    p.add_argument("--k-support", type=int, default=m.k_support)
    p.add_argument("--k-query", type=int, default=m.k_query)
    p.add_argument("--inner-lr", type=float, default=m.inner_lr)
    p.add_argument("--inner-steps", type=int, default=m.inner_steps)
    p.add_argument("--reptile-inner-steps", type=int, default=5)
    p.add_argument("--outer-lr", type=float, default=m.outer_lr)
    p.add_argument("--baseline", default=m.baseline, choices=list(BASELINES))
    p.add_argument("--n-bars", type=int, default=DEFAULTS.n_bars, help="tradable bars of a task's market")
    p.add_argument("--adapt-bars", type=int, default=DEFAULTS.adapt_bars, help="of which the adaptation window")
    p.add_argument("--selector-tasks", type=int, default=DEFAULTS.selector_tasks, help="training tasks of the selector")
    p.add_argument("--jobs", type=int, default=min(len(os.sched_getaffinity(0)), 3))
    p.add_argument("--out", default="runs/bench/adaptation", help="folder of adaptation.json/.md/.png")
    args = p.parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "jobs")}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run_seed, [args] * len(args.seeds), args.seeds))
    wall = time.perf_counter() - t0
    table = summarise(runs)
    md = markdown(table, settings)
    print(md)
    for r in runs:
        trained = ", ".join(f"{k} {v:.0f}" for k, v in r["train_seconds"].items())
        print(
            f"seed {r['seed']}: {r['seconds']:.0f} s (train {trained}, "
            f"eval {r['eval_seconds']:.0f}); selector labels conservative/balanced/aggressive "
            f"{r['selector_label_counts']}, final loss {r['selector_final_loss']:.3f}"
        )
    print(f"wall {wall:.0f} s with {args.jobs} jobs; python {platform.python_version()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "adaptation.json", {"settings": settings, "table": table, "runs": runs, "wall_seconds": wall})
    (out / "adaptation.md").write_text(md)
    plot(table, out / "adaptation.png")
    print(f"wrote {out}/adaptation.json, adaptation.md, adaptation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
