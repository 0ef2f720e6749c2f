"""One walk-forward unit: a (fold, seed, tier set), a pure function of its inputs.

:func:`run_unit` trains (PPO units), fits or reads Tier 4 (``all``: the rule adapter's prior, :func:`rule_adapter`;
``all_maml``: :func:`tier4_brain`) or runs the rules (``baselines``), backtests on the fold's test year and
writes one JSON file atomically under :func:`unit_file` (the unit's key, see
:attr:`experiments.walkforward.plan.Unit.key`); a file that exists is a finished unit and is never run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.config import StackConfig
from agents.stack import fit_detector, make_env
from agents.tier2 import RegimeWrapper
from envs.data import load
from envs.layout import REGIMES
from experiments.config import RunConfig, to_yaml
from experiments.evaluation.backtest import BacktestResult, encode_json, run_backtest
from experiments.evaluation.baselines import CompositeScoreRule, buy_and_hold_full, make_baselines
from experiments.evaluation.policies import load_policy
from experiments.files import write_json_atomic
from experiments.reporting.evaluate import trials_counted
from experiments.training import train as train_mod
from experiments.walkforward.plan import BASELINES, BEFORE, MARKET, TIER4_PAST, TIER4_RULES, TIER_SETS, Unit


def unit_file(root: Path, unit: Unit) -> Path:
    return Path(root) / "units" / f"{unit.key}.json"


def _one_thread() -> None:
    """One torch thread per unit (the pool runs one unit per core)."""
    import torch

    torch.set_num_threads(1)


def regime_labels(stack: StackConfig, data: Any, detector: Any) -> list[str]:
    """Most likely regime at each bar of the test window as the fold's detector labels it (filtered, causal)."""
    env = make_env(
        replace(stack, tiers=replace(stack.tiers, tier1=False, tier2=True)), "test", data=data, detector=detector
    )
    while not isinstance(env, RegimeWrapper):
        env = env.env
    start, stop = env.unwrapped.window
    return [REGIMES[i] for i in np.argmax(env.probs[start:stop], axis=1)]


def _payload(res: BacktestResult, trials: int) -> dict[str, Any]:
    out = {
        "metrics": res.metrics,
        "dates": [str(d.date()) for d in res.equity.index],
        "equity": [float(x) for x in res.equity.to_numpy()],
        "trials": int(trials),
        "halted": bool(res.halted),
    }
    if "rule_choices" in res.run_info:  # Tier 4's rule adapter: decisions per rule, for the results page
        out["rules"] = dict(Counter(name for _, name, _ in res.run_info["rule_choices"]).most_common())
    return out


def _policy_results(unit: Unit, cfg: RunConfig, data: Any, detector: Any, unit_dir: Path) -> dict[str, Any]:
    """Backtest the unit's policies on the fold's test window; ``{name: payload}``."""
    stack = cfg.stack
    det = detector if stack.tiers.tier2 else None

    def test_env() -> Any:
        return make_env(stack, "test", data=data, detector=det)

    probe = test_env().unwrapped
    bench = buy_and_hold_full(
        probe.data, probe.window, probe.costs, initial_equity=stack.initial_equity, seed=unit.seed, n_boot=unit.n_boot
    )
    kw: dict[str, Any] = {"seed": unit.seed, "benchmark_returns": bench.returns, "n_boot": unit.n_boot}
    out: dict[str, BacktestResult] = {}
    trials = {}
    if unit.tier_set == BASELINES:
        for name, policy in make_baselines(probe.action_map, unit.seed).items():
            out[name] = run_backtest(test_env(), policy, **kw)
        bare = replace(stack, tiers=replace(stack.tiers, tier1=False, tier2=False))
        before = CompositeScoreRule(probe.action_map)
        before.name = BEFORE
        out[BEFORE] = run_backtest(make_env(bare, "test", data=data), before, **kw)
        out[MARKET] = bench
    elif TIER_SETS[unit.tier_set].tier4:
        out[unit.tier_set] = _tier4_backtest(unit, cfg, test_env(), tier4_cache(unit_dir), kw)
    elif TIER_SETS[unit.tier_set].ppo:
        result = train_mod.train(cfg, run_dir=unit_dir, progress=False)
        model = result.best_model_path or result.model_path
        trials[unit.tier_set] = trials_counted(cfg, unit_dir, model).total
        out[unit.tier_set] = run_backtest(test_env(), load_policy(model, unit.tier_set), **kw)
    else:
        rule = CompositeScoreRule(probe.action_map)
        rule.name = unit.tier_set
        out[unit.tier_set] = run_backtest(test_env(), rule, **kw)
    for name, res in out.items():
        res.to_files(unit_dir / "backtest" / name)
    return {name: _payload(res, trials.get(name, 1)) for name, res in out.items()}


def _tier4_backtest(unit: Unit, cfg: RunConfig, env: Any, cache: Path, kw: dict[str, Any]) -> BacktestResult:
    """Backtest the unit's Tier 4 on ``env`` (the fold's Tier 1+2 test env); its choices go to ``run_info``
    (``rule_choices``: decision bar, rule, menu item; ``selector_choices`` for ``all_maml``)."""
    kind = TIER_SETS[unit.tier_set].tier4
    if kind in (TIER4_RULES, TIER4_PAST):
        from meta.rule_adapter import RuleAdapterPolicy

        adapter = rule_adapter(unit, cfg, cache) if kind == TIER4_RULES else past_rule_adapter(cfg, env)
        rules = RuleAdapterPolicy(adapter, env, HISTORY_BARS, unit.tier_set)
        res = run_backtest(env, rules, **kw)
        res.run_info["rule_choices"] = [list(c) for c in rules.choices]
        return res
    from meta.brain import Tier4Policy

    specialists = Tier4Policy(tier4_brain(unit, cfg, cache), name=unit.tier_set)
    res = run_backtest(env, specialists, **kw)
    res.run_info["selector_choices"] = [list(c) for c in specialists.choices]
    return res


HISTORY_BARS = 600
"""Bars the rule adapter is handed at each decision: the live brain's ``features.history_bars``
(:data:`experiments.live.export.HISTORY_BARS`, checked equal by a test), taken from the whole series up to the
decision bar, so the test year's first decision sees the bars before the test year and none after the bar."""


def tier4_cache(unit_dir: Path) -> Path:
    """The run's ``tier4/`` folder (Tier 4 fitted once per seed and settings, shared by the folds' units)."""
    return unit_dir.parents[3] / "tier4"


def rule_adapter(unit: Unit, cfg: RunConfig, cache: Path) -> Any:
    """The ``all`` unit's Tier 4, the online rule adapter (:class:`meta.rule_adapter.RuleAdapter`), its prior fitted
    as ``tradebrain meta-train`` fits it, or read from ``cache``.

    :func:`meta.rule_prior.fit_synthetic` with ``unit.rules`` (``walkforward.rule_tasks`` synthetic tasks of
    ``walkforward.rule_bars`` bars; meta-train's defaults), the seed, and the fold's costs, limits, action map and
    ``min_trade`` (:func:`experiments.training.meta.rule_env_kwargs`, what a bundle gives the live brain). The tasks
    are synthetic markets, nothing of any fold's data, so one prior per (seed, settings) serves every fold: it is
    fitted once and written atomically to ``cache/rules-seed<seed>-<hash>.json`` (written to a temporary file, then
    renamed), which the other folds' units read.
    """
    from experiments.training.meta import rule_env_kwargs
    from meta.rule_adapter import FORMAT_VERSION, RuleAdapter
    from meta.rule_prior import DEFAULT_METHOD, fit_synthetic

    n_tasks, n_bars = unit.rules
    env_kwargs = rule_env_kwargs(cfg)
    settings = "|".join(f"{k}={v}" for k, v in env_kwargs.items())
    spec = f"{DEFAULT_METHOD}|v{FORMAT_VERSION}|{n_tasks}|{n_bars}|{settings}"
    path = cache / f"rules-seed{unit.seed}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}.json"
    if path.exists():
        return RuleAdapter.from_json(json.loads(path.read_text()))
    adapter = fit_synthetic(n_tasks, n_bars, unit.seed, **env_kwargs)
    write_json_atomic(path, adapter.to_json())  # a unit of this seed that finished first wrote the same prior
    return adapter


PAST_SEGMENT_BARS = 252
"""Decision rows of each task of :func:`past_rule_adapter`'s prior: a year of the fold's past."""


def past_rule_adapter(cfg: RunConfig, env: Any) -> Any:
    """The ``all_past`` unit's Tier 4: the rule adapter with its prior fitted on the fold's own past
    (:func:`meta.rule_prior.fit_past`), the bars from the start of the fold's training window up to the bar before
    its test window (training and validation: what every other tier set of the fold may learn from), each year of
    them a task, with the fold's costs, limits, action map and ``min_trade``. Fitted per unit (about a second)."""
    from experiments.training.meta import rule_env_kwargs
    from meta.rule_adapter import market_slice
    from meta.rule_prior import fit_past

    base = env.unwrapped
    past = market_slice(base.data, base.data.bar_at(cfg.stack.train[0]), int(base.window[0]))
    return fit_past(past, PAST_SEGMENT_BARS, **rule_env_kwargs(cfg))


def tier4_brain(unit: Unit, cfg: RunConfig, cache: Path) -> Any:
    """The ``all_maml`` unit's Tier 4 (specialists and selector), meta-trained on synthetic single-regime tasks with
    the fold's costs and limits, or read from ``cache``.

    The tasks are synthetic markets (:class:`meta.tasks.TaskDistribution`), not the fold's data, so Tier 4 sees
    nothing of any fold's test year, and one brain per (seed, settings) serves every fold: it is trained once,
    saved under ``cache/<seed and settings hash>/`` (written to a temporary folder, then renamed), and read by the
    other folds' units.
    """
    from experiments.training.meta import MetaTrainConfig, distribution
    from meta.brain import Tier4, train_tier4
    from meta.config import MetaConfig

    iterations, selector_tasks = unit.meta
    mc = MetaTrainConfig(
        maml=MetaConfig(iterations=iterations), selector_tasks=selector_tasks, eval_tasks=0, backtest=False
    )
    stack = replace(cfg.stack, reward=replace(cfg.stack.reward, kind="log_return"))
    spec = f"{mc}|{stack.costs}|{stack.limits}|{stack.reward}|{stack.min_trade}|{stack.max_hold}"
    folder = cache / f"seed{unit.seed}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}"
    if (folder / "tier4.json").exists():
        return Tier4.load(folder)
    brain, _ = train_tier4(
        distribution(mc, replace(cfg, stack=stack)), mc.maml, unit.seed, selector_tasks=selector_tasks
    )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{folder.name}."))
    brain.save(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another unit of this seed finished first: keep its brain
        shutil.rmtree(tmp, ignore_errors=True)
        return Tier4.load(folder)
    return brain


def run_unit(unit: Unit, root: str | Path) -> dict[str, Any]:
    """Run one unit and write ``units/<key>.json`` atomically; a unit already on disk is read, not rerun.

    Returns:
        The unit's payload (``key``, ``fold``, ``seed``, ``tier_set``, ``windows``, ``regimes``, ``policies``,
        ``seconds``, ``cached``).
    """
    path = unit_file(Path(root), unit)
    if path.exists():
        return {**json.loads(path.read_text()), "cached": True}
    _one_thread()
    t0 = time.perf_counter()
    cfg = unit.config()
    unit_dir = path.with_suffix("")
    shutil.rmtree(unit_dir, ignore_errors=True)  # what an interrupted or failed attempt left behind
    unit_dir.mkdir(parents=True)
    (unit_dir / "config.yaml").write_text(to_yaml(cfg))
    data = load(cfg.stack.data)
    label_stack = replace(cfg.stack, tiers=replace(cfg.stack.tiers, tier2=True))
    detector = fit_detector(label_stack, data, "test")
    policies = _policy_results(unit, cfg, data, detector, unit_dir)
    payload = {
        "key": unit.key,
        "fold": unit.fold.test_year,
        "seed": unit.seed,
        "tier_set": unit.tier_set,
        "windows": {"train": unit.fold.train, "val": unit.fold.val, "test": unit.fold.test},
        "regimes": regime_labels(cfg.stack, data, detector),
        "policies": policies,
        "seconds": time.perf_counter() - t0,
    }
    write_json_atomic(path, encode_json(payload))
    return {**payload, "cached": False}


def _safe_run(unit: Unit, root: str) -> tuple[str, dict[str, Any] | None, str | None]:
    """:func:`run_unit` that returns ``(key, payload, None)`` or ``(key, None, error)`` instead of raising."""
    try:
        return unit.key, run_unit(unit, root), None
    except Exception as exc:  # a unit that raises must not stop the others
        return unit.key, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
