"""Tier 4's adaptation, measured: the share of the gap between no adaptation and the oracle closed after K trades.

**Tasks.** One-regime synthetic markets (:class:`meta.tasks.RegimeParams`: drift, vol, tail, four component hit
rates, drawn uniformly from :class:`meta.tasks.TaskRanges`). Training tasks never touch the held-out bands
(:data:`HELD_OUT`: drift in [-0.2%, -0.1%] a bar, or a ``technical`` hit rate in [0.60, 0.65]); each held-out task
draws its banded parameter inside one band. Every task is one seeded path: ``20 * max(K)`` observation bars, then
``--score-bars`` scored bars.

**Policies and score.** The candidates are the menu rules of :mod:`meta.fullinfo` (51: flat, always long, follow a
component, trend, momentum, consensus, defensive; each with its hold). A policy's score is its log growth per bar
over the scored window, trading in sequence through the full-information outcomes of the bracket menu (the env's
own fills, costs and risk levels).

* ``oracle``: the rule that scores best on a **separate** ``--oracle-bars`` path of the task's true parameters
  (it knows the regime, never the scored window); ``no_adapt``: the rule of the best mean score over the training
  tasks (what a policy without adaptation does).
* ``posterior`` and its levers: the Gaussian posterior of :mod:`meta.posterior` on each rule's growth per bar, with
  the prior from the training tasks, updated with the rules' trades closed within the K observed bars; the chosen
  rule trades the scored window. ``posterior_t4`` / ``posterior_t16``: prior variance x 4 / x 16 (tempered);
  ``posterior_family``: the prior pooled over rules that differ only in their component (band-agnostic);
  ``posterior_small``: 15 candidate rules instead of 51; ``dense``: evidence from every observed decision bar;
  ``*_lcb``: choose by the posterior's one-sd lower bound (``mean - sd``), not its mean. ``leader``: no prior, the
  rule of the best running score.
* ``finetune`` / ``scratch`` / ``fomaml`` / ``maml``: the linear categorical policy over the menu of
  :mod:`meta.menu_maml`, pretrained on the training tasks then fine-tuned on the observed bars; learnt from the
  observed bars only; meta-trained (first / second order) then adapted with the same inner loop as fine-tuning.
  ``metasgd``: first-order Meta-SGD (a step size per parameter entry, meta-learnt) from the pretrained start.
  Each adapts on the full-information outcomes of the observed bars (trades still open at the last observed bar
  close there) and then trades greedily.
* ``rule_adapter``: the online object the backtest and the live brain run (:class:`meta.rule_adapter.RuleAdapter`,
  the ``posterior_dense_t16_lcb`` settings) handed the task's bars up to the decision: a check, not a candidate.
  The training tasks, their scores and this adapter's prior come from :mod:`meta.rule_prior`, the functions
  ``tradebrain meta-train`` calls to write ``rule_adapter.json``.

**Headline.** ``gap_closed = sum(method - no_adapt) / sum(oracle - no_adapt)`` over tasks and seeds (a ratio of
means), with a 90% bootstrap interval resampling (seed, task) units. K counts trades of 20 bars: the method sees
``20 * K`` bars (both printed): the decisions at the first ``20 * K`` bars of the task, each trade once it has
closed, by the close of bar ``20 * K`` at the latest; every K is scored on the same window after bar ``20 * 30``.
Before that, the check that the oracle scores at least no adaptation on the scored window, task by task.

**Default method.** Chosen among the numpy methods (what the live brain can run: the posterior levers and the
leader) on *validation* tasks: pseudo-held-out bands inside the training distribution (:data:`VALIDATION`), with
the prior fitted on the training tasks outside them; never on the held-out tasks.

Usage::

    python -m experiments.benchmarks.adaptation --quick --out runs/bench/adaptation-quick   # about 40 s
    python -m experiments.benchmarks.adaptation --out runs/bench/adaptation                 # under 3 minutes

Writes ``OUT/summary.json`` (``{"default_method": NAME, "gap_closed": {METHOD: {K: [point, low, high]}}}``),
``OUT/adaptation.json`` (settings, every task's scores, validation, checks) and ``OUT/adaptation.md`` (the tables).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

TRADE_BARS = 20
"""One trade's worth of bars (the menu's longest hold)."""
KS: tuple[int, ...] = (1, 3, 5, 10, 30)
VARIANTS: dict[str, dict[str, Any]] = {
    "posterior": {},
    "posterior_t4": {"temper": 4.0},
    "posterior_t16": {"temper": 16.0},
    "posterior_t64": {"temper": 64.0},
    "posterior_family": {"family": True},
    "posterior_family_t4": {"family": True, "temper": 4.0},
    "posterior_family_t16": {"family": True, "temper": 16.0},
    "posterior_small": {"small": True},
    "posterior_small_t16": {"small": True, "temper": 16.0},
    "posterior_dense": {"dense": True},
    "posterior_dense_t16": {"dense": True, "temper": 16.0},
    "posterior_t16_lcb": {"temper": 16.0, "lcb": 1.0},
    "posterior_dense_t16_lcb": {"dense": True, "temper": 16.0, "lcb": 1.0},
    "posterior_small_t16_lcb": {"small": True, "temper": 16.0, "lcb": 1.0},
}
"""The posterior's levers: ``temper`` (prior variance x), ``family`` (prior pooled over the component a rule
follows), ``small`` (15 candidate rules), ``dense`` (evidence from every observed decision bar, not only the
rule's own sequence of trades), ``lcb`` (choose by the posterior's ``mean - lcb * sd``, not its mean)."""
NUMPY_METHODS: tuple[str, ...] = (*VARIANTS, "leader", "leader_dense", "leader_small")
TORCH_METHODS: tuple[str, ...] = ("finetune", "scratch", "fomaml", "maml")
ONLINE = "rule_adapter"
"""The shipped online object (:class:`meta.rule_adapter.RuleAdapter`: dense evidence, prior variance x 16, a one-sd
lower bound) handed the task's bars up to the decision: the check that it scores as ``posterior_dense_t16_lcb`` (it
waits one bar longer for trades that close at the decision bar). Not a candidate for the default."""
METHODS: tuple[str, ...] = (*NUMPY_METHODS, *TORCH_METHODS, ONLINE, "metasgd")
SMALL_RULES: tuple[str, ...] = (
    "flat",
    *(f"long/h{h}/b0" for h in (1, 5, 20)),
    *(f"follow/{c}/h{h}" for c in ("theme", "technical", "ai", "sentiment") for h in (5, 20)),
    "trend/h5",
    "trend/h20",
    "defensive/h5",
)
"""The 15 candidates of ``posterior_small``."""


def _bands() -> tuple[Any, Any]:
    from meta.rule_prior import held_out_bands
    from meta.tasks import Band

    held_out = held_out_bands()
    validation = (Band("drift", -0.001, -0.0005), Band("hit_ai", 0.60, 0.65))
    return held_out, validation


HELD_OUT_TEXT = "drift in [-0.002, -0.001] a bar, or hit_technical in [0.60, 0.65]"
VALIDATION_TEXT = "drift in [-0.001, -0.0005] a bar, or hit_ai in [0.60, 0.65] (inside the training distribution)"


@dataclass(frozen=True)
class Settings:
    """Benchmark settings (``--quick`` shrinks them).

    Attributes:
        seeds: Seeds (each: its own training, validation and held-out tasks, and its own training of the methods).
        train_tasks: Training tasks per seed.
        val_tasks: Validation tasks per seed (pseudo-held-out bands inside the training distribution).
        tasks: Held-out tasks per seed.
        train_bars: Bars of a training task's path.
        score_bars: Scored bars of a held-out task (after its observation window).
        oracle_bars: Bars of the separate path the oracle picks its rule on.
        iterations: Outer steps of MAML and first-order MAML.
        n_boot: Bootstrap resamples of the intervals.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    train_tasks: int = 64
    val_tasks: int = 40
    tasks: int = 40
    train_bars: int = 1500
    score_bars: int = 2000
    oracle_bars: int = 4000
    iterations: int = 200
    n_boot: int = 2000

    def __post_init__(self) -> None:
        mins = {"train_tasks": 3, "val_tasks": 1, "tasks": 1, "train_bars": 300, "score_bars": 100,
                "oracle_bars": 100, "iterations": 0, "n_boot": 10}  # fmt: skip
        for name, low in mins.items():
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ValueError(
                    f"Settings.{name}={value!r} must be an integer >= {low}; "
                    f"pass --{name.replace('_', '-')} {max(1, 2 * low)} or more"
                )
        if not self.seeds:
            raise ValueError("Settings.seeds is empty; give at least one seed (e.g. --seeds 0)")


QUICK = Settings(seeds=(0,), train_tasks=32, val_tasks=24, tasks=24, score_bars=1500, oracle_bars=3000, iterations=100)


# ------------------------------------------------------------------------------------------------ tasks
def _path(params: Any, n_rows: int, seed: int) -> Any:
    from meta.rule_prior import task_path

    return task_path(params, n_rows, seed)


def _draw_in(bands: tuple[Any, ...], avoid: tuple[Any, ...], n: int, rng: np.random.Generator) -> list[Any]:
    """``n`` regimes each inside one of ``bands`` and outside every band of ``avoid``."""
    from meta.tasks import TaskDistribution

    dist = TaskDistribution(held_out=bands)
    out: list[Any] = []
    while len(out) < n:
        p = dist.sample_params(1, rng, "held_out")[0]
        if not any(b.contains(p) for b in avoid):
            out.append(p)
    return out


@dataclass
class Training:
    """What the methods learn from the training tasks of one seed."""

    rules: tuple[Any, ...]
    params: list[Any]
    scores: np.ndarray  # (tasks, rules) growth per bar
    noise: np.ndarray  # (tasks, rules) per-bar noise variance
    windows: list[Any]  # full-outcome windows of each path (menu policy)
    pairs: list[Any]  # (support, query) windows for MAML
    scale: tuple[np.ndarray, np.ndarray]


def _train_paths(params: list[Any], settings: Settings, rng: np.random.Generator) -> Training:
    from meta.fullinfo import menu_rules, task_scores
    from meta.menu_maml import Window

    rules = menu_rules()
    paths = [_path(p, settings.train_bars, int(rng.integers(2**31))) for p in params]
    scores, noise = task_scores(paths, rules, settings.train_bars)

    feats = np.concatenate([p.features[: settings.train_bars] for p in paths])
    scale = (feats.mean(axis=0), feats.std(axis=0) + 1e-8)
    n = settings.train_bars
    windows = [Window.of(p.features[:n], p.growth[:n], p.spans[:n], scale) for p in paths]
    return Training(rules, params, scores, noise, windows, _pairs(paths, scale, rng), scale)


def _pairs(paths: list[Any], scale: Any, rng: np.random.Generator) -> list[Any]:
    """Per training path and K: a support window of ``20 K`` observed bars (causal outcomes) and the 200 bars
    after it as the query (full outcomes); a K that does not fit the path is skipped."""
    from meta.menu_maml import Window

    pairs = []
    for path in paths:
        for k in KS:
            if TRADE_BARS * k + 260 > len(path):  # a K whose support and query do not fit the path
                continue
            t0 = int(rng.integers(0, len(path) - TRADE_BARS * k - 260 + 1))
            t1 = t0 + TRADE_BARS * k
            support = Window.of(*path.observed(t0, t1), scale)
            q = slice(t1, t1 + 200)
            pairs.append((support, Window.of(path.features[q], path.growth[q], path.spans[q], scale)))
    return pairs


def _subset(training: Training, keep: np.ndarray) -> Training:
    """The training tasks where ``keep`` is true (the prior of the validation protocol)."""
    return dataclasses.replace(
        training,
        params=[p for p, k in zip(training.params, keep, strict=True) if k],
        scores=training.scores[keep],
        noise=training.noise[keep],
    )


# ------------------------------------------------------------------------------------------------ methods
def choosers(training: Training) -> dict[str, Any]:
    """The numpy methods: ``name -> f(evidence) -> rule index`` (``evidence``: the causal totals of
    :func:`evidence`), and ``no_adapt``."""
    from meta.posterior import RulePosterior, fit_prior, leader
    from meta.rule_prior import default_adapter

    rules = training.rules
    family = ["follow/" + r.name.split("/")[-1] if r.family == "follow" else r.name for r in rules]
    small = np.array([r.name in SMALL_RULES for r in rules])
    no_adapt = RulePosterior(fit_prior(training.scores, training.noise)).default

    def variant(
        temper: float = 1.0, family_prior: bool = False, subset: bool = False, dense: bool = False, lcb: float = 0.0
    ) -> Any:
        prior = fit_prior(training.scores, training.noise, temper=temper, groups=family if family_prior else None)
        post = RulePosterior(prior, lcb=lcb)

        def choose(ev: dict[str, np.ndarray]) -> int:
            g, s = (ev["dense_g"], ev["dense_s"]) if dense else (ev["g"], ev["s"])
            score = post.score(g, s, ev["q"], ev["n"])
            return int(np.argmax(np.where(small, score, -np.inf) if subset else score))

        return choose

    out: dict[str, Any] = {}
    for name, v in VARIANTS.items():
        out[name] = variant(
            v.get("temper", 1.0),
            v.get("family", False),
            v.get("small", False),
            v.get("dense", False),
            v.get("lcb", 0.0),
        )
    out["leader"] = lambda ev: leader(ev["g"], ev["s"], no_adapt)
    out["leader_dense"] = lambda ev: leader(ev["dense_g"], ev["dense_s"], no_adapt)
    out["leader_small"] = lambda ev: leader(ev["g"], np.where(small, ev["s"], 0), no_adapt)
    out["no_adapt"] = lambda ev: no_adapt
    out[ONLINE] = default_adapter(training.scores, training.noise, rules)
    return out


def evidence(items: np.ndarray, path: Any, t: int) -> dict[str, np.ndarray]:
    """What the K observed bars ``[0, t)`` tell about each rule, causally (trades closed by ``t``)."""
    from meta.fullinfo import chain_totals, dense_totals

    g, s, n, q = chain_totals(items, path, 0, t, known_by=t)
    dg, ds = dense_totals(items, path, 0, t)
    return {"g": g, "s": s, "n": n, "q": q, "dense_g": dg, "dense_s": ds}


INNER_LRS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
"""Inner step sizes tried on the training tasks' (support, query) pairs; the best is used at test time."""


def train_menu_policies(training: Training, config: Any, seed: int) -> tuple[dict[str, Any], Any, dict[str, float]]:
    """The menu policy's starting points (pretrained; first- and second-order MAML and first-order Meta-SGD from the
    pretrained), the config with the inner step size of the lowest mean query loss after fine-tuning on the training
    pairs, and that grid."""
    from meta.menu_maml import adapt, loss, meta_train, meta_train_sgd, pretrain

    pre = pretrain(training.windows, config, seed)
    grid = {}
    for lr in INNER_LRS:
        values = [float(loss(adapt(pre, sup, lr, config.inner_steps), q).detach()) for sup, q in training.pairs]
        grid[str(lr)] = float(np.mean(values))
    config = dataclasses.replace(config, inner_lr=float(min(grid, key=lambda k: grid[k])))
    return (
        {
            "finetune": pre,
            "fomaml": meta_train(training.pairs, pre, config, order=1, seed=seed),
            "maml": meta_train(training.pairs, pre, config, order=2, seed=seed),
            "metasgd": meta_train_sgd(training.pairs, pre, config, seed=seed),
        },
        config,
        grid,
    )


# ------------------------------------------------------------------------------------------------ one task
def evaluate_task(
    params: Any, seed: int, settings: Settings, chooser: dict[str, Any], menu: dict[str, Any] | None,
    training: Training, config: Any,
) -> dict[str, Any]:  # fmt: skip
    """Scores (growth per bar on the scored window) of the oracle, no adaptation and every method at every K."""
    from meta.fullinfo import rule_scores
    from meta.rule_adapter import market_slice

    obs = TRADE_BARS * max(KS)
    path = _path(params, obs + settings.score_bars, seed)
    items = path.items(training.rules)
    scored = rule_scores(items, path, obs, obs + settings.score_bars)
    o_path = _path(params, settings.oracle_bars, seed + 1)
    best = int(np.argmax(rule_scores(o_path.items(training.rules), o_path, 0, settings.oracle_bars)))
    no = chooser["no_adapt"](None)
    out: dict[str, Any] = {"oracle": float(scored[best]), "no_adapt": float(scored[no]),
                           "oracle_rule": training.rules[best].name, "methods": {}}  # fmt: skip
    for k in KS:
        t = TRADE_BARS * k
        ev = evidence(items, path, t)
        row = {m: float(scored[chooser[m](ev)]) for m in NUMPY_METHODS}
        choice = chooser[ONLINE].choose(market_slice(path.env.data, 0, path.start + t + 1))
        row[ONLINE] = float(scored[choice.rule])
        if menu is not None:
            row.update(_menu_scores(path, t, obs, settings, menu, training, config, seed))
        out["methods"][str(k)] = row
    return out


def _menu_scores(
    path: Any, t: int, obs: int, settings: Settings, menu: dict[str, Any], training: Training, config: Any, seed: int
) -> dict[str, float]:
    from meta.fullinfo import rule_scores
    from meta.menu_maml import Window, adapt, greedy_items, scratch

    support = Window.of(*path.observed(0, t), training.scale)
    x_all = Window.of(path.features, path.growth, path.spans, training.scale).x
    fitted = {
        "finetune": adapt(menu["finetune"], support, config.inner_lr, config.inner_steps, 1),
        "scratch": scratch(support, config, seed),
        "fomaml": adapt(menu["fomaml"], support, config.inner_lr, config.inner_steps, 1),
        "maml": adapt(menu["maml"], support, config.inner_lr, config.inner_steps, 1),
        "metasgd": adapt(menu["metasgd"][0], support, menu["metasgd"][1], config.inner_steps, 1),
    }
    out = {}
    for name, params in fitted.items():
        items = greedy_items(params, x_all)[:, None]
        out[name] = float(rule_scores(items, path, obs, obs + settings.score_bars)[0])
    return out


# ------------------------------------------------------------------------------------------------ one seed
def run_seed(settings: Settings, seed: int, torch_methods: bool = True) -> dict[str, Any]:
    """Train with ``seed``, choose the default on validation tasks, score every method on the held-out tasks."""
    import torch

    from meta.menu_maml import MenuMamlConfig
    from meta.rule_prior import training_params

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    held_out, validation = _bands()
    rng = np.random.default_rng(seed)
    params = training_params(settings.train_tasks, rng)
    training = _train_paths(params, settings, rng)
    config = MenuMamlConfig(iterations=settings.iterations)
    # validation: prior from the training tasks outside the validation bands, tasks inside them
    keep = np.array([not any(b.contains(p) for b in validation) for p in params])
    val_train = _subset(training, keep)
    val_chooser = choosers(val_train)
    val_params = _draw_in(validation, held_out, settings.val_tasks, rng)
    val_seeds = rng.integers(2**31, size=len(val_params))
    val = [evaluate_task(p, int(s), settings, val_chooser, None, val_train, config)
           for p, s in zip(val_params, val_seeds, strict=True)]  # fmt: skip
    t_val = time.perf_counter()
    menu, grid = None, {}
    if torch_methods:
        menu, config, grid = train_menu_policies(training, config, seed)
    t_train = time.perf_counter()
    chooser = choosers(training)
    test_params = _draw_in(held_out, (), settings.tasks, rng)
    test_seeds = rng.integers(2**31, size=len(test_params))
    tasks = [evaluate_task(p, int(s), settings, chooser, menu, training, config)
             for p, s in zip(test_params, test_seeds, strict=True)]  # fmt: skip
    for task, p in zip(tasks, test_params, strict=True):
        task["params"] = dataclasses.asdict(p)
    return {
        "seed": seed,
        "inner_lr_query_loss": grid,
        "inner_lr": config.inner_lr,
        "no_adapt_rule": training.rules[chooser["no_adapt"](None)].name,
        "validation": val,
        "tasks": tasks,
        "seconds": {
            "validation": t_val - t0,
            "menu_training": t_train - t_val,
            "held_out": time.perf_counter() - t_train,
        },
    }


# ------------------------------------------------------------------------------------------------ summary
def gap_closed(tasks: list[dict[str, Any]], method: str, k: int, n_boot: int, rng: np.random.Generator) -> list[float]:
    """``[point, low, high]``: ``sum(method - no_adapt) / sum(oracle - no_adapt)`` with a 90% bootstrap interval
    over the (seed, task) units."""
    num = np.array([t["methods"][str(k)][method] - t["no_adapt"] for t in tasks])
    den = np.array([t["oracle"] - t["no_adapt"] for t in tasks])
    if den.sum() <= 0:
        return [float("nan")] * 3
    idx = rng.integers(len(num), size=(n_boot, len(num)))
    boot = num[idx].sum(axis=1) / np.where(den[idx].sum(axis=1) > 0, den[idx].sum(axis=1), np.nan)
    lo, hi = np.nanpercentile(boot, [5, 95])
    return [float(num.sum() / den.sum()), float(lo), float(hi)]


def table(tasks: list[dict[str, Any]], methods: tuple[str, ...], n_boot: int, seed: int = 0) -> dict[str, Any]:
    """Gap closed per method and K; each method's bootstrap has its own seed (its intervals do not depend on which
    other methods are in the table)."""
    out = {}
    for m in methods:
        rng = np.random.default_rng([seed, zlib.crc32(m.encode())])
        out[m] = {str(k): gap_closed(tasks, m, k, n_boot, rng) for k in KS}
    return out


def oracle_check(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the oracle scores at least no adaptation on the scored window, and the mean scores (bp/bar)."""
    o = np.array([t["oracle"] for t in tasks])
    n = np.array([t["no_adapt"] for t in tasks])
    return {
        "tasks": len(tasks),
        "oracle_ge_no_adapt": int((o >= n).sum()),
        "oracle_bp_per_bar": float(o.mean() * 1e4),
        "no_adapt_bp_per_bar": float(n.mean() * 1e4),
        "gap_bp_per_bar": float((o - n).mean() * 1e4),
    }


def by_band(tasks: list[dict[str, Any]], methods: tuple[str, ...], n_boot: int, k: int = 5) -> dict[str, Any]:
    """Per held-out band: the tasks, their mean gap (bp per bar) and every method's gap closed at ``k``."""
    from meta.tasks import RegimeParams

    held_out, _ = _bands()
    out: dict[str, Any] = {}
    for band in held_out:
        mine = [
            t
            for t in tasks
            if band.contains(RegimeParams(**{**t["params"], "hit_rates": tuple(t["params"]["hit_rates"])}))
        ]
        if not mine:
            continue
        gap = float(np.mean([t["oracle"] - t["no_adapt"] for t in mine]) * 1e4)
        rows = {m: gap_closed(mine, m, k, n_boot, np.random.default_rng([0, zlib.crc32(m.encode())])) for m in methods}
        out[f"{band.param} in [{band.lo}, {band.hi}]"] = {"tasks": len(mine), "gap_bp_per_bar": gap, "gap_closed": rows}
    return out


def band_markdown(bands: dict[str, Any], k: int = 5) -> str:
    names = list(bands)
    lines = [
        f"Gap closed at K={k} by held-out band (point [90% CI]):",
        "",
        "| method | "
        + " | ".join(f"{n} ({bands[n]['tasks']} tasks, gap {bands[n]['gap_bp_per_bar']:.2f} bp/bar)" for n in names)
        + " |",
    ]
    lines.append("|" + "---|" * (len(names) + 1))
    for m in bands[names[0]]["gap_closed"]:
        cells = [f"{p:.0%} [{lo:.0%}, {hi:.0%}]" for p, lo, hi in (bands[n]["gap_closed"][m] for n in names)]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(gaps: dict[str, Any], title: str, default: str | None = None) -> str:
    head = "| method | " + " | ".join(f"K={k} ({TRADE_BARS * k} bars)" for k in KS) + " |"
    lines = [title, "", head, "|" + "---|" * (len(KS) + 1)]
    for m, row in gaps.items():
        cells = [f"{p:.0%} [{lo:.0%}, {hi:.0%}]" for p, lo, hi in (row[str(k)] for k in KS)]
        lines.append(f"| {m}{' (default)' if m == default else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one seed, fewer and shorter tasks (about 40 s)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds")
    p.add_argument("--tasks", type=int, default=None, help="override the held-out tasks per seed")
    p.add_argument("--train-tasks", type=int, default=None, help="override the training tasks per seed")
    p.add_argument("--val-tasks", type=int, default=None, help="override the validation tasks per seed")
    p.add_argument("--iterations", type=int, default=None, help="override the MAML outer steps")
    p.add_argument("--score-bars", type=int, default=None, help="override the scored bars of a held-out task")
    p.add_argument("--oracle-bars", type=int, default=None, help="override the bars of the oracle's own path")
    p.add_argument("--train-bars", type=int, default=None, help="override the bars of a training task")
    p.add_argument("--no-torch", action="store_true", help="skip the menu-policy methods (finetune, scratch, MAML)")
    p.add_argument("--out", default="runs/bench/adaptation", help="folder of summary.json, adaptation.json/.md")
    args = p.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    over = {"seeds": tuple(args.seeds) if args.seeds else None, "tasks": args.tasks, "train_tasks": args.train_tasks,
            "val_tasks": args.val_tasks, "iterations": args.iterations, "score_bars": args.score_bars,
            "oracle_bars": args.oracle_bars, "train_bars": args.train_bars}  # fmt: skip
    settings = dataclasses.replace(settings, **{k: v for k, v in over.items() if v is not None})
    t0 = time.perf_counter()
    runs = [run_seed(settings, s, not args.no_torch) for s in settings.seeds]
    wall = time.perf_counter() - t0
    methods = METHODS if not args.no_torch else (*NUMPY_METHODS, ONLINE)
    tasks = [t for r in runs for t in r["tasks"]]
    val_tasks = [t for r in runs for t in r["validation"]]
    val = table(val_tasks, NUMPY_METHODS, settings.n_boot)
    default = max(NUMPY_METHODS, key=lambda m: val[m]["5"][0])
    gaps = table(tasks, methods, settings.n_boot)
    check, val_check = oracle_check(tasks), oracle_check(val_tasks)
    bands = by_band(tasks, methods, settings.n_boot)
    text = _report(settings, gaps, val, default, check, val_check, runs, wall) + "\n" + band_markdown(bands)
    print(text)
    out = Path(args.out)
    write_json(out / "summary.json", {"default_method": default, "gap_closed": gaps})
    validation = {"gap_closed": val, "oracle_check": val_check}
    record = {"settings": dataclasses.asdict(settings), "wall_seconds": wall, "oracle_check": check, "by_band": bands}
    write_json(out / "adaptation.json", {**record, "validation": validation, "runs": runs})
    (out / "adaptation.md").write_text(text)
    print(f"wrote {out}/summary.json, adaptation.json, adaptation.md")
    return 0


def _report(
    settings: Settings, gaps: dict[str, Any], val: dict[str, Any], default: str, check: dict[str, Any],
    val_check: dict[str, Any], runs: list[dict[str, Any]], wall: float,
) -> str:  # fmt: skip
    rules = sorted({r["no_adapt_rule"] for r in runs})
    lines = [
        f"Oracle check (held-out, scored window): oracle >= no_adapt on {check['oracle_ge_no_adapt']} of "
        f"{check['tasks']} tasks; mean oracle {check['oracle_bp_per_bar']:.2f} bp/bar, no_adapt "
        f"{check['no_adapt_bp_per_bar']:.2f}, gap {check['gap_bp_per_bar']:.2f} (no_adapt rule: {', '.join(rules)})",
        f"Oracle check (validation): {val_check['oracle_ge_no_adapt']} of {val_check['tasks']}; gap "
        f"{val_check['gap_bp_per_bar']:.2f} bp/bar",
        "",
        markdown(val, "Validation (choice of the default; bands " + VALIDATION_TEXT + "): gap closed, 90% CI", default),
        markdown(gaps, "Held-out (" + HELD_OUT_TEXT + "): share of the gap closed (point [90% CI])", default),
        f"default_method: {default} (best validation gap closed at K=5)",
        "inner step size of finetune/fomaml/maml (lowest query loss on the training pairs): "
        + ", ".join(f"seed {r['seed']}: {r['inner_lr']}" for r in runs),
        "Settings: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(settings).items()),
        f"wall {wall:.0f} s (one process, torch 1 thread); python {platform.python_version()}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
