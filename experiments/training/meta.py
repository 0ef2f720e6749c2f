"""``tradebrain meta-train``: meta-train Tier 4 (three specialists and the selector), log it to TensorBoard, save it.

The config (``experiments/config/presets/meta.yaml``) is a run config (its ``stack`` gives costs, limits, reward and,
for real-data tasks, the data, windows and tiers) plus a ``meta:`` section (:class:`MetaTrainConfig`). Tasks:

* ``tasks: synthetic`` (default): single-regime synthetic markets (:class:`meta.tasks.TaskDistribution`; the
  stack's costs, limits and reward, tiers off), held-out bands for the evaluation;
* ``tasks: segments``: runs of bars of the stack's training window labelled by its Tier 2 detector
  (:class:`meta.segments.SegmentDistribution`); the evaluation uses segments of the validation window.

After training, each specialist, the Thompson bandit over them and the selector are scored on ``eval_tasks``
held-out tasks after K in :data:`meta.adaptation.ADAPTATION_KS` trades (:mod:`meta.adaptation`), beside the
oracle. Run folder (``<runs_dir>/<name>/`` or ``--run``)::

    config.yaml      the run config and the meta section as run
    tb/              TensorBoard: <specialist>/meta/loss, .../meta/pre_return, .../meta/post_return,
                     .../adapt/support_loss_step<j> per iteration; selector/loss per epoch; after training, with
                     K as the step: compare/<specialist>_bp, compare/bandit_bp, compare/selector_bp,
                     compare/oracle_bp (mean net return per decision, basis points: the learner performance
                     comparison), selector/choice/<specialist> (share of tasks it picked), and per held-out task
                     task<i>/<specialist>_bp (its adaptation curves)
    tier4/           tier4.pt + tier4.json (meta.brain.Tier4.load)
    rule_adapter.json  with ``meta.rule_adapter`` (default): Tier 4 adapting online, the prior fitted on the
                     adaptation benchmark's training distribution (:func:`fit_rule_adapter`), which
                     ``tradebrain export --tier4 rules`` bundles
    meta_eval.json   the evaluation: per K, each learner's mean score and the selector's and bandit's choices
    backtest/        with ``meta.backtest`` (default): Tier 4 online (:class:`meta.brain.Tier4Policy`) and every
                     baseline on the stack's test window, as `tradebrain backtest` writes them; metrics.json
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from experiments.config import ConfigError, RunConfig, load_with_section, to_yaml
from experiments.files import write_json_atomic
from meta.config import MetaConfig

TASK_KINDS = ("synthetic", "segments")
RULE_ADAPTER_FILE = "rule_adapter.json"
"""Tier 4's rule adapter in a meta-train run folder (``tradebrain export --tier4 rules`` bundles it)."""


def _maml_default() -> MetaConfig:
    return MetaConfig(iterations=300)


@dataclass(frozen=True)
class MetaTrainConfig:
    """The ``meta:`` section.

    Attributes:
        tasks: ``synthetic`` or ``segments`` (see the module docstring).
        maml: The meta-training settings (:class:`meta.config.MetaConfig`: algorithm, order, iterations, meta
            batch, support and query decisions, inner and outer step sizes, baseline); keys ``meta.maml.*``.
        n_bars: Tradable bars of a synthetic task.
        adapt_bars: Adaptation window of a synthetic held-out task (the rest is scored).
        min_segment_bars: Shortest real-data segment kept.
        selector_tasks: Training tasks of the selector.
        eval_tasks: Held-out tasks of the evaluation (0: no evaluation).
        eval_seed: Seed of the held-out tasks.
        backtest: Backtest the online Tier 4 policy (:class:`meta.brain.Tier4Policy`) and the baselines on the
            stack's test window (real data) after training.
        rule_adapter: Fit Tier 4's rule adapter (:func:`meta.rule_prior.fit_synthetic`: the adaptation benchmark's
            training distribution and default method) and write ``rule_adapter.json``.
        rule_tasks: Training tasks of the rule adapter's prior (the benchmark's: 64).
        rule_bars: Bars of each of those tasks (the benchmark's: 1500).
    """

    tasks: str = "synthetic"
    maml: MetaConfig = field(default_factory=_maml_default)
    n_bars: int = 750
    adapt_bars: int = 250
    min_segment_bars: int = 60
    selector_tasks: int = 120
    eval_tasks: int = 12
    eval_seed: int = 10_000
    backtest: bool = True
    rule_adapter: bool = True
    rule_tasks: int = 64
    rule_bars: int = 1500

    def __post_init__(self) -> None:
        if self.tasks not in TASK_KINDS:
            raise ConfigError(f"meta.tasks={self.tasks!r}; choose one of {', '.join(TASK_KINDS)}")
        for name, low, example in (("rule_tasks", 2, 64), ("rule_bars", 300, 1500)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ConfigError(f"meta.{name}={value!r} must be an integer >= {low}; e.g. meta.{name}={example}")
        for name in ("selector_tasks", "min_segment_bars"):
            if getattr(self, name) < 2:
                raise ConfigError(f"meta.{name}={getattr(self, name)!r} must be >= 2")
        if self.eval_tasks < 0:
            raise ConfigError(f"meta.eval_tasks={self.eval_tasks!r} must be >= 0 (0: no evaluation)")


def load_meta(source: str | Path, overrides: Iterable[str] = ()) -> tuple[MetaTrainConfig, RunConfig]:
    """A meta config (a ``meta:`` section plus :class:`RunConfig` keys) with dotted overrides."""
    return load_with_section(source, "meta", MetaTrainConfig, overrides)  # type: ignore[no-any-return]


def distribution(mc: MetaTrainConfig, cfg: RunConfig) -> Any:
    """The task distribution the config asks for."""
    if mc.tasks == "synthetic":
        from meta.tasks import TASK_STACK, TaskDistribution

        s = cfg.stack
        stack = replace(
            TASK_STACK, costs=s.costs, limits=s.limits, reward=s.reward, min_trade=s.min_trade, max_hold=s.max_hold
        )
        return TaskDistribution(n_bars=mc.n_bars, adapt_bars=mc.adapt_bars, stack=stack)
    from envs.data import load
    from meta.segments import SegmentDistribution

    return SegmentDistribution(cfg.stack, load(cfg.stack.data), min_bars=mc.min_segment_bars)


def evaluate_tier4(brain: Any, tasks: list[Any], seed: int, log: Any = None) -> dict[str, Any]:
    """Score each specialist (adapted on K trades), the bandit and the selector on ``tasks``; per K."""
    from meta.adaptation import ADAPTATION_KS, selector_pick, specialist_scores
    from meta.selector import bandit_pick
    from meta.tasks import oracle

    names = brain.names
    default = names.index("balanced") if "balanced" in names else 0
    rng = np.random.default_rng(seed)
    oracle_scores = [oracle(t).mean_return for t in tasks]
    fixed_scores = [specialist_scores(t, brain.pairs()) for t in tasks]  # unadapted: the same for every K
    rows: dict[str, Any] = {}
    for k in ADAPTATION_KS:
        learners: dict[str, list[float]] = {n: [] for n in names}
        learners.update(bandit=[], selector=[])
        choices: dict[str, list[int]] = {"bandit": [], "selector": []}
        for task, fixed in zip(tasks, fixed_scores, strict=True):
            s_seed = int(rng.integers(2**31))
            for spec, params in brain.pairs():
                learners[spec.name].append(adapted_score_bounded(params, spec, task, k, brain.meta_config, s_seed))
            arm, _ = bandit_pick(task.make_env("train"), brain.pairs(), k, s_seed, default=default)
            learners["bandit"].append(float(fixed[arm]))
            choices["bandit"].append(arm)
            arm, _ = selector_pick(brain.selector, task, brain.pairs(), k, s_seed)
            learners["selector"].append(float(fixed[arm]))
            choices["selector"].append(arm)
        rows[str(k)] = {
            "score_bp": {n: 1e4 * float(np.mean(v)) for n, v in learners.items()},
            "share_of_oracle": {n: float(np.sum(v) / np.sum(oracle_scores)) for n, v in learners.items()},
            "choices": {c: np.bincount(v, minlength=len(names)).tolist() for c, v in choices.items()},
            "per_task_bp": {n: [1e4 * x for x in v] for n, v in learners.items() if n in names},
        }
        if log is not None:
            for n, v in learners.items():
                log(f"compare/{n}_bp", 1e4 * float(np.mean(v)), k)
            log("compare/oracle_bp", 1e4 * float(np.mean(oracle_scores)), k)
            counts = np.bincount(choices["selector"], minlength=len(names)) / len(tasks)
            for n, share in zip(names, counts, strict=True):
                log(f"selector/choice/{n}", float(share), k)
            for i in range(len(tasks)):
                for n in names:
                    log(f"task{i:02d}/{n}_bp", rows[str(k)]["per_task_bp"][n][i], k)
    return {
        "ks": list(ADAPTATION_KS),
        "tasks": [t.name for t in tasks],
        "oracle_bp": 1e4 * float(np.mean(oracle_scores)),
        "by_k": rows,
    }


def adapted_score_bounded(params: Any, spec: Any, task: Any, k: int, config: Any, seed: int) -> float:
    """A specialist adapted on ``k`` of its own support decisions (its reward and size bound), scored with its
    size bound on the task's scoring window."""
    from meta.adaptation import adapt, score_params
    from meta.specialists import SpecialistTask

    adapted = adapt(params, SpecialistTask(task, spec), k, config, seed)  # type: ignore[arg-type]
    return score_params(task.make_env("val"), adapted, spec)


def backtest_tier4(cfg: RunConfig, brain: Any, root: Path) -> dict[str, Any]:
    """Backtest :class:`meta.brain.Tier4Policy` and every baseline on the config's test window (the Tier 1+2 stack
    of ``cfg.stack``); writes ``root/backtest/`` and ``root/metrics.json``; returns the results."""
    from agents.stack import fit_detector, make_env
    from envs.data import load
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.baselines import buy_and_hold_full, make_baselines
    from experiments.reporting.evaluate import save_results
    from meta.brain import Tier4Policy

    data = load(cfg.stack.data)
    detector = fit_detector(cfg.stack, data, "test") if cfg.stack.tiers.tier2 else None

    def fresh_env() -> Any:
        return make_env(cfg.stack, "test", data=data, detector=detector)

    probe = fresh_env().unwrapped
    bench = buy_and_hold_full(probe.data, probe.window, probe.costs, initial_equity=cfg.stack.initial_equity, seed=0)
    tier4 = Tier4Policy(brain)
    policies = {"tier4": tier4, **make_baselines(probe.action_map, cfg.seed)}
    results = {
        name: run_backtest(fresh_env(), policy, seed=cfg.seed, benchmark_returns=bench.returns)
        for name, policy in policies.items()
    }
    results[bench.name] = bench
    results["tier4"].run_info["selector_choices"] = [list(c) for c in tier4.choices]
    save_results(root, results)
    return results


def write_config(mc: MetaTrainConfig, cfg: RunConfig, root: Path) -> None:
    """Write ``root/config.yaml``: the run config and the meta section as run."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(to_yaml(cfg) + yaml.safe_dump({"meta": dataclasses.asdict(mc)}, sort_keys=False))


def rule_env_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """The simulation settings of the rule adapter: the stack's costs, limits, action map and ``min_trade`` (what
    a bundle exported from the run gives :class:`experiments.live.brain.LiveBrain`)."""
    from envs.layout import ActionMap

    s = cfg.stack
    return {"costs": s.costs, "limits": s.limits, "action_map": ActionMap(s.limits.max_position, s.max_hold),
            "min_trade": s.min_trade}  # fmt: skip


def fit_rule_adapter(mc: MetaTrainConfig, cfg: RunConfig, root: Path) -> dict[str, Any]:
    """Fit the rule adapter's prior (:func:`meta.rule_prior.fit_synthetic` with ``meta.rule_tasks`` tasks of
    ``meta.rule_bars`` bars, the run's seed and :func:`rule_env_kwargs`) and write ``root/rule_adapter.json``
    (:meth:`meta.rule_adapter.RuleAdapter.to_json`); returns what happened (file, method, tasks, bars, seconds)."""
    from meta.rule_prior import DEFAULT_METHOD, fit_synthetic

    t0 = time.perf_counter()
    adapter = fit_synthetic(mc.rule_tasks, mc.rule_bars, cfg.seed, **rule_env_kwargs(cfg))
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / RULE_ADAPTER_FILE, adapter.to_json())
    return {"file": str(root / RULE_ADAPTER_FILE), "method": DEFAULT_METHOD, "tasks": mc.rule_tasks,
            "bars": mc.rule_bars, "seed": cfg.seed, "seconds": time.perf_counter() - t0}  # fmt: skip


def run_meta_train(mc: MetaTrainConfig, cfg: RunConfig, root: Path) -> dict[str, Any]:
    """Train, evaluate and save Tier 4 into ``root``; returns the evaluation (also ``meta_eval.json``)."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from meta.brain import train_tier4

    torch.set_num_threads(1)
    write_config(mc, cfg, root)
    dist = distribution(mc, cfg)
    writer = SummaryWriter(log_dir=str(root / "tb"))
    t0 = time.perf_counter()
    try:
        brain, report = train_tier4(dist, mc.maml, cfg.seed, selector_tasks=mc.selector_tasks, log=writer.add_scalar)
        train_s = time.perf_counter() - t0
        brain.save(root / "tier4")
        result: dict[str, Any] = {"train_seconds": train_s}
        if mc.rule_adapter:
            result["rule_adapter"] = fit_rule_adapter(mc, cfg, root)
        if mc.eval_tasks:
            tasks = dist.sample(mc.eval_tasks, mc.eval_seed, "held_out")
            result.update(evaluate_tier4(brain, tasks, cfg.seed, log=writer.add_scalar))
        if mc.backtest:
            from experiments.reporting.report import metrics_table

            results = backtest_tier4(cfg, brain, root)
            result["backtest"] = {"window": list(cfg.stack.test), "table": metrics_table(results)}
            picks = [name for _, name in results["tier4"].run_info["selector_choices"]]
            result["backtest"]["selector_picks"] = {n: picks.count(n) for n in brain.names}
        result["seconds"] = time.perf_counter() - t0
        result["selector_final_loss"] = report.selector_loss[-1]
    finally:
        writer.close()
    (root / "meta_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def summary_table(result: dict[str, Any]) -> str:
    """The evaluation as a text table: mean score (bp per decision) per learner and K."""
    if "by_k" not in result:
        return "(no evaluation: meta.eval_tasks=0)"
    ks = result["ks"]
    learners = list(result["by_k"][str(ks[0])]["score_bp"])
    lines = [f"{'learner':<14}" + "".join(f"{'K=' + str(k):>9}" for k in ks)]
    for n in learners:
        lines.append(f"{n:<14}" + "".join(f"{result['by_k'][str(k)]['score_bp'][n]:>9.1f}" for k in ks))
    lines.append(f"{'oracle':<14}" + "".join(f"{result['oracle_bp']:>9.1f}" for _ in ks))
    return "\n".join(lines)
