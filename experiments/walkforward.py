"""Walk-forward evaluation and tier ablations: rolling folds, one unit per (fold, seed, tier set), a resumable cache.

Protocol (defaults of :class:`WalkForwardConfig`, the ``walkforward:`` section of
``experiments/configs/walkforward.yaml``): for every test year ``Y`` from 2007 to 2018, the fold's past is the
8 years before ``Y``; its last 2 years are the validation window (model selection), the 6 before them the
training window, and the test window is the year ``Y``. Everything that learns is fitted inside the fold's past:
PPO trains on the training window and is picked on the validation window (:func:`experiments.train.train`); the
Tier 2 detector of each split is fitted on the ``tier2_fit_bars`` bars before that split's window
(:func:`agents.stack.fit_detector`), so the test window's detector sees only bars before the test year; the
Tier 1 bandit starts every episode from its prior. The training window never starts before the data's
``min_fit_bars``-th bar, so the training split's detector has bars to fit on (fold 2007 on ``sp500`` trains
from 1999-12-30).

A **unit** is one (fold, seed, tier set): a pure function of its inputs that writes one JSON file atomically
(temporary file, then ``os.replace``) under a key derived from them (the fold's resolved config hashed), like
joblib's ``Memory``: a run started again skips every unit whose file exists, and a changed config gets new keys.
The key does not hash the code or the data file's contents: after changing either, start a new ``--run`` folder.
The tier set ``baselines`` backtests every baseline of :func:`experiments.baselines.make_baselines` on the Tier 1+2
stack, the market (``buy_and_hold_full``) and the seed system's fixed-weight composite rule with Tiers 1 and 2 off
(``composite_fixed``, the "before" row of the results page). Executors only map units: in this process
(``jobs=1``), a local process pool with one torch thread per worker, or Ray.

Run folder (``<runs_dir>/<name>/`` or ``--run``)::

    walkforward.json   the plan: settings, base config, folds and unit keys of the last invocation
    units/<key>.json   one finished unit: metrics, per-bar equity, regime labels, trials counted
    units/<key>/       a PPO unit's training run (config.yaml, tb/, best/, model.zip) and its backtest files
    failures.json      units that raised in the last invocation (key and error)
    timing.json        wall time and units per minute of the last invocation
    results.md + PNGs  the results page (:mod:`experiments.results`)

Example:
    >>> wf, cfg = load_walkforward("walkforward", ["walkforward.seeds=[0]"])              # doctest: +SKIP
    >>> units = plan_units(wf, cfg)                                                       # doctest: +SKIP
    >>> summary = execute(units, Path("runs/walkforward"), jobs=2)                        # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.stack import StackConfig, fit_detector, make_env
from agents.tier2 import RegimeWrapper
from envs.data import load
from envs.layout import REGIMES
from experiments import train as train_mod
from experiments.backtest import BacktestResult, encode_json, run_backtest
from experiments.baselines import CompositeScoreRule, buy_and_hold_full, make_baselines
from experiments.config import ConfigError, RunConfig, load_with_section, to_yaml
from experiments.evaluate import trials_counted

PLAN = "walkforward.json"
"""The plan file that marks a folder as a walk-forward run (``tradebrain report --run`` looks for it)."""
BASELINES = "baselines"
"""Unit kind that backtests every baseline on the fold's Tier 1+2 stack."""
BEFORE = "composite_fixed"
"""The seed system before its learning tiers: the composite-score rule with fixed equal weights, no regimes."""
MARKET = "buy_and_hold_full"


@dataclass(frozen=True)
class TierSet:
    """Which tiers a unit switches on, and whether PPO (Tier 3) decides or the composite rule does."""

    name: str
    tier1: bool
    tier2: bool
    ppo: bool
    description: str
    meta: bool = False


TIER_SETS: dict[str, TierSet] = {
    t.name: t
    for t in (
        TierSet("rules", True, True, False, "rules only: the Tier 1+2 composite-score rule, no PPO"),
        TierSet("tier3", False, False, True, "Tier 3 alone: PPO on the bare env"),
        TierSet("tier1+3", True, False, True, "Tier 1+3: PPO with component weights"),
        TierSet("tier2+3", False, True, True, "Tier 2+3: PPO with regimes and the crisis rule"),
        TierSet("tier1+2+3", True, True, True, "Tier 1+2+3: the full stack without Tier 4"),
        TierSet(
            "all",
            True,
            True,
            False,
            "all tiers: the Tier 1+2 stack traded by Tier 4 (three meta-trained specialists with the PPO actor's "
            "network, and the selector)",
            meta=True,
        ),
    )
}
"""Tier sets by name."""
ABLATION: tuple[str, ...] = tuple(TIER_SETS)
"""The tier sets of ``tradebrain ablate``."""


@dataclass(frozen=True)
class WalkForwardConfig:
    """The ``walkforward:`` section of a walk-forward config.

    Attributes:
        first_test_year: Test year of the first fold.
        last_test_year: Test year of the last fold (inclusive).
        train_years: Years of past per fold (training plus validation).
        val_years: The last of those years, the validation window for model selection.
        min_fit_bars: The training window starts no earlier than the data's bar of this number, so the training
            split's Tier 2 detector has at least this many bars before it to fit on.
        seeds: Seeds per fold and tier set.
        tier_sets: Tier sets to run (names of :data:`TIER_SETS`); ``tradebrain ablate`` runs them all.
        baselines: Also backtest every baseline on every fold and seed.
        n_boot: Bootstrap samples of every confidence interval (units and the results page).
        meta_iterations: Meta-training iterations of each Tier 4 specialist (tier set ``all``).
        meta_selector_tasks: Training tasks of the Tier 4 selector.
    """

    first_test_year: int = 2007
    last_test_year: int = 2018
    train_years: int = 8
    val_years: int = 2
    min_fit_bars: int = 250
    seeds: tuple[int, ...] = (0, 1, 2)
    tier_sets: tuple[str, ...] = ("tier1+2+3",)
    baselines: bool = True
    n_boot: int = 1000
    meta_iterations: int = 300
    meta_selector_tasks: int = 120

    def __post_init__(self) -> None:
        if self.first_test_year > self.last_test_year:
            raise ConfigError(
                f"walkforward.first_test_year={self.first_test_year} is after walkforward.last_test_year="
                f"{self.last_test_year}; swap them"
            )
        if not 0 < self.val_years < self.train_years:
            raise ConfigError(
                f"walkforward.val_years={self.val_years} must be >= 1 and below walkforward.train_years="
                f"{self.train_years} (the validation years are the last of the training years)"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"walkforward.seeds={list(self.seeds)!r} must be distinct and not empty, e.g. [0, 1, 2]")
        for name in self.tier_sets:
            check_tier_set(name)
        if self.n_boot < 10:
            raise ConfigError(f"walkforward.n_boot={self.n_boot} must be >= 10 (1000 for the results page)")


def check_tier_set(name: str) -> TierSet:
    """The tier set called ``name``; ConfigError naming the valid ones."""
    if name in TIER_SETS:
        return TIER_SETS[name]
    raise ConfigError(f"walkforward.tier_sets: unknown tier set {name!r}; choose from {', '.join(TIER_SETS)}")


@dataclass(frozen=True)
class Fold:
    """One fold: ``[start, stop)`` date windows; the test window is the year ``test_year``."""

    test_year: int
    train: tuple[str, str]
    val: tuple[str, str]
    test: tuple[str, str]

    @property
    def name(self) -> str:
        return str(self.test_year)


def make_folds(wf: WalkForwardConfig, cfg: RunConfig) -> list[Fold]:
    """The folds of ``wf`` on the data of ``cfg`` (read once to clamp the first training windows and check years).

    Raises:
        ConfigError: A test year outside the data, or a training window left empty by ``min_fit_bars``.
    """
    data = load(cfg.stack.data)
    first, last = data.index[0], data.index[-1]
    earliest = data.index[min(wf.min_fit_bars, len(data) - 1)]
    folds = []
    for year in range(wf.first_test_year, wf.last_test_year + 1):
        if pd.Timestamp(f"{year}-01-01") > last or pd.Timestamp(f"{year + 1}-01-01") <= first:
            raise ConfigError(
                f"walkforward test year {year} is outside {cfg.stack.data} ({first.date()} .. {last.date()}); "
                "set walkforward.first_test_year / last_test_year inside the data"
            )
        val_start = f"{year - wf.val_years}-01-01"
        start = max(pd.Timestamp(f"{year - wf.train_years}-01-01"), earliest)
        if start >= pd.Timestamp(val_start) - pd.DateOffset(months=3):
            raise ConfigError(
                f"fold {year}: the training window {start.date()} .. {val_start} is shorter than 3 months "
                f"(the data starts {first.date()}, walkforward.min_fit_bars={wf.min_fit_bars}); start "
                "walkforward.first_test_year later or lower walkforward.val_years"
            )
        stop = min(pd.Timestamp(f"{year + 1}-01-01"), last.normalize() + pd.offsets.BDay(1))  # a last, short year
        folds.append(
            Fold(
                year,
                (str(start.date()), val_start),
                (val_start, f"{year}-01-01"),
                (f"{year}-01-01", str(stop.date())),
            )
        )
    return folds


@dataclass(frozen=True)
class Unit:
    """One (fold, seed, tier set) of a walk-forward run over the base config ``base``."""

    fold: Fold
    seed: int
    tier_set: str
    base: RunConfig = field(repr=False)
    n_boot: int = 1000
    meta: tuple[int, int] = (300, 120)
    """(meta_iterations, meta_selector_tasks) of a Tier 4 unit."""

    @property
    def tiers(self) -> tuple[bool, bool]:
        """(tier1, tier2) of the unit's stack; baselines trade through the Tier 1+2 stack."""
        if self.tier_set == BASELINES:
            return True, True
        ts = check_tier_set(self.tier_set)
        return ts.tier1, ts.tier2

    def config(self) -> RunConfig:
        """The base config with the fold's windows, the tier switches and the seed."""
        tier1, tier2 = self.tiers
        stack = replace(
            self.base.stack,
            train=self.fold.train,
            val=self.fold.val,
            test=self.fold.test,
            tiers=replace(self.base.stack.tiers, tier1=tier1, tier2=tier2),
        )
        name = f"{self.base.name}-{self.fold.name}-{self.tier_set}-s{self.seed}"
        return replace(self.base, name=name, seed=self.seed, stack=stack)

    @property
    def key(self) -> str:
        """``<test year>/<tier set>/seed<seed>-<hash of the resolved config>``: the cache key."""
        cfg = replace(self.config(), name="", runs_dir="")
        extra = f"|{self.meta}" if self.tier_set in TIER_SETS and TIER_SETS[self.tier_set].meta else ""
        digest = hashlib.sha256(f"{to_yaml(cfg)}|{self.tier_set}|{self.n_boot}{extra}".encode()).hexdigest()[:10]
        return f"{self.fold.name}/{self.tier_set}/seed{self.seed}-{digest}"


def plan_units(wf: WalkForwardConfig, cfg: RunConfig, folds: list[Fold] | None = None) -> list[Unit]:
    """Every unit of the run: folds x seeds x (tier sets, plus ``baselines`` when on), PPO units first."""
    folds = make_folds(wf, cfg) if folds is None else folds
    kinds = sorted(wf.tier_sets, key=lambda t: not TIER_SETS[t].ppo) + ([BASELINES] if wf.baselines else [])
    meta = (wf.meta_iterations, wf.meta_selector_tasks)
    return [Unit(f, s, k, cfg, wf.n_boot, meta) for k in kinds for f in folds for s in wf.seeds]


def load_walkforward(source: str | Path, overrides: Iterable[str] = ()) -> tuple[WalkForwardConfig, RunConfig]:
    """A walk-forward YAML (a ``walkforward:`` section plus :class:`RunConfig` keys) with dotted overrides.

    ``walkforward.*`` overrides go to :class:`WalkForwardConfig`, every other key to the run config.
    """
    return load_with_section(source, "walkforward", WalkForwardConfig, overrides)  # type: ignore[no-any-return]


# One unit ---------------------------------------------------------------------------------------------------


def unit_file(root: Path, unit: Unit) -> Path:
    return Path(root) / "units" / f"{unit.key}.json"


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write strict JSON to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(encode_json(payload), fh, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    return {
        "metrics": res.metrics,
        "dates": [str(d.date()) for d in res.equity.index],
        "equity": [float(x) for x in res.equity.to_numpy()],
        "trials": int(trials),
        "halted": bool(res.halted),
    }


def _policy_results(unit: Unit, cfg: RunConfig, data: Any, detector: Any, unit_dir: Path) -> dict[str, Any]:
    """Backtest the unit's policies on the fold's test window; ``{name: payload}``."""
    stack = cfg.stack
    det = detector if stack.tiers.tier2 else None
    probe = make_env(stack, "test", data=data, detector=det).unwrapped
    bench = buy_and_hold_full(
        probe.data, probe.window, probe.costs, initial_equity=stack.initial_equity, seed=unit.seed, n_boot=unit.n_boot
    )
    kw = {"seed": unit.seed, "benchmark_returns": bench.returns, "n_boot": unit.n_boot}
    out: dict[str, BacktestResult] = {}
    trials = {}
    if unit.tier_set == BASELINES:
        for name, policy in make_baselines(probe.action_map, unit.seed).items():
            out[name] = run_backtest(make_env(stack, "test", data=data, detector=det), policy, **kw)
        bare = replace(stack, tiers=replace(stack.tiers, tier1=False, tier2=False))
        before = CompositeScoreRule(probe.action_map)
        before.name = BEFORE
        out[BEFORE] = run_backtest(make_env(bare, "test", data=data), before, **kw)
        out[MARKET] = bench
    elif TIER_SETS[unit.tier_set].meta:
        from meta.brain import Tier4Policy

        brain = tier4_brain(unit, cfg, unit_dir.parents[3] / "tier4")
        policy = Tier4Policy(brain, name=unit.tier_set)
        out[unit.tier_set] = run_backtest(make_env(stack, "test", data=data, detector=det), policy, **kw)
        out[unit.tier_set].run_info["selector_choices"] = [list(c) for c in policy.choices]
    elif TIER_SETS[unit.tier_set].ppo:
        result = train_mod.train(cfg, run_dir=unit_dir, progress=False)
        model = result.best_model_path or result.model_path
        trials[unit.tier_set] = trials_counted(cfg, unit_dir, model).total
        policy = train_mod.load_policy(model, unit.tier_set)
        out[unit.tier_set] = run_backtest(make_env(stack, "test", data=data, detector=det), policy, **kw)
    else:
        rule = CompositeScoreRule(probe.action_map)
        rule.name = unit.tier_set
        out[unit.tier_set] = run_backtest(make_env(stack, "test", data=data, detector=det), rule, **kw)
    for name, res in out.items():
        res.to_files(unit_dir / "backtest" / name)
    return {name: _payload(res, trials.get(name, 1)) for name, res in out.items()}


def tier4_brain(unit: Unit, cfg: RunConfig, cache: Path) -> Any:
    """The unit's Tier 4 (specialists and selector), meta-trained on synthetic single-regime tasks with the fold's
    costs and limits, or read from ``cache``.

    The tasks are synthetic markets (:class:`meta.tasks.TaskDistribution`), not the fold's data, so Tier 4 sees
    nothing of any fold's test year, and one brain per (seed, settings) serves every fold: it is trained once,
    saved under ``cache/<seed and settings hash>/`` (written to a temporary folder, then renamed), and read by the
    other folds' units.
    """
    from experiments.meta_train import MetaTrainConfig, distribution
    from meta.brain import Tier4, train_tier4

    iterations, selector_tasks = unit.meta
    mc = MetaTrainConfig(iterations=iterations, selector_tasks=selector_tasks, eval_tasks=0, backtest=False)
    stack = replace(cfg.stack, reward=replace(cfg.stack.reward, kind="log_return"))
    spec = f"{mc}|{stack.costs}|{stack.limits}|{stack.reward}|{stack.min_trade}|{stack.max_hold}"
    folder = cache / f"seed{unit.seed}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}"
    if (folder / "tier4.json").exists():
        return Tier4.load(folder)
    brain, _ = train_tier4(
        distribution(mc, replace(cfg, stack=stack)), mc.meta_config(), unit.seed, selector_tasks=selector_tasks
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
    write_json_atomic(path, payload)
    return {**payload, "cached": False}


def _safe_run(unit: Unit, root: str) -> tuple[str, dict[str, Any] | None, str | None]:
    """:func:`run_unit` that returns ``(key, payload, None)`` or ``(key, None, error)`` instead of raising."""
    try:
        return unit.key, run_unit(unit, root), None
    except Exception as exc:  # a unit that raises must not stop the others
        return unit.key, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


# Executors --------------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What one invocation did: units run, read from the cache, failed (key -> error), and its wall time."""

    total: int
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def units_per_minute(self) -> float:
        """Units run (not read from the cache) per minute of wall time."""
        return len(self.ran) / (self.seconds / 60.0) if self.seconds > 0 else float("nan")


def _worker_init() -> None:
    """Process-pool worker start: one BLAS/OpenMP and one torch thread."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    _one_thread()


def _local_pool(pending: list[Unit], root: Path, jobs: int) -> Iterable[tuple[str, dict | None, str | None]]:
    if jobs == 1:  # in this process: no start-up cost, and a debugger or a test spy sees every call
        for unit in pending:
            yield _safe_run(unit, str(root))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that has torch threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_safe_run, unit, str(root)): unit for unit in pending}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker that died (BrokenProcessPool, out of memory, ...)
                yield futures[fut].key, None, f"{type(exc).__name__}: {exc}"


def _ray_pool(
    pending: list[Unit], root: Path, address: str | None, jobs: int
) -> Iterable[tuple[str, dict | None, str | None]]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'tradebrain[ray]' (or use the default --executor local)"
        ) from None
    started = not ray.is_initialized()
    if started:
        local = {} if address else {"num_cpus": jobs}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
    try:
        remote = ray.remote(num_cpus=1)(_safe_run)
        refs = {remote.remote(unit, str(root)): unit for unit in pending}
        while refs:
            (ref,), _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(ref)
            try:
                yield ray.get(ref)
            except Exception as exc:  # the task's worker died
                yield unit.key, None, f"{type(exc).__name__}: {exc}"
    finally:
        if started:
            ray.shutdown()


def execute(
    units: list[Unit],
    root: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Run every unit not yet on disk under ``root`` with the chosen executor; a failing unit does not stop the rest.

    Args:
        units: From :func:`plan_units`.
        root: The run folder (the cache is ``root/units/``).
        jobs: Units at a time (local pool workers, or the CPUs of a local Ray instance); 1 runs them here.
        executor: ``"local"`` (process pool) or ``"ray"``.
        address: Ray cluster address (``ray start --head`` prints it); None starts a local Ray instance.
        log: Where a line per finished unit goes.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: run at least 1 unit at a time (default: all cores)")
    root = Path(root)
    t0 = time.perf_counter()
    summary = RunSummary(total=len(units))
    done = {u.key for u in units if unit_file(root, u).exists()}
    pending = [u for u in units if u.key not in done]
    summary.cached = [u.key for u in units if u.key in done]
    if summary.cached:
        log(f"{len(summary.cached)} of {len(units)} units already done: reused")
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r}: choose 'local' or 'ray'")
    results: Iterable[tuple[str, dict | None, str | None]] = []
    if pending and executor == "ray":
        results = _ray_pool(pending, root, address, jobs)
    elif pending:
        results = _local_pool(pending, root, min(jobs, len(pending)))
    by_key = {u.key: u for u in pending}
    for k, (key, payload, error) in enumerate(results, start=1):
        if error is None and payload is not None:
            if not unit_file(root, by_key[key]).exists():  # a cluster node without our file system
                write_json_atomic(unit_file(root, by_key[key]), {k: v for k, v in payload.items() if k != "cached"})
            summary.ran.append(key)
            log(f"[{k}/{len(pending)}] {key} done in {payload.get('seconds', 0.0):.1f} s")
        else:
            summary.failed[key] = str(error)
            log(f"[{k}/{len(pending)}] {key} FAILED: {str(error).splitlines()[0]}")
    summary.seconds = time.perf_counter() - t0
    return summary


# The run ----------------------------------------------------------------------------------------------------


def write_plan(
    root: Path, wf: WalkForwardConfig, cfg: RunConfig, folds: list[Fold], units: list[Unit], cmd: str
) -> None:
    """The plan of this invocation: what the results page shows (``tradebrain report --run`` reads it)."""
    write_json_atomic(
        root / PLAN,
        {
            "command": cmd,
            "walkforward": dataclasses.asdict(wf),
            "config": to_yaml(cfg),
            "folds": [dataclasses.asdict(f) for f in folds],
            "units": [{"key": u.key, "fold": u.fold.test_year, "seed": u.seed, "tier_set": u.tier_set} for u in units],
        },
    )


def run_walkforward(
    wf: WalkForwardConfig,
    cfg: RunConfig,
    root: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    command: str = "walk-forward",
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Plan, run (skipping finished units), record timing and failures, and write the results page."""
    from experiments.results import write_results

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    folds = make_folds(wf, cfg)
    units = plan_units(wf, cfg, folds)
    write_plan(root, wf, cfg, folds, units, command)
    log(
        f"{command}: {len(folds)} folds ({folds[0].test_year}-{folds[-1].test_year}) x {len(wf.seeds)} seeds x "
        f"{len(units) // (len(folds) * len(wf.seeds))} tier sets = {len(units)} units; {cfg.train.total_timesteps} "
        f"PPO steps per unit; executor {executor}, jobs {jobs}; folder {root}"
    )
    summary = execute(units, root, jobs=jobs, executor=executor, address=address, log=log)
    timing = {
        "seconds": summary.seconds,
        "units_total": summary.total,
        "units_run": len(summary.ran),
        "units_cached": len(summary.cached),
        "units_failed": len(summary.failed),
        "units_per_minute": summary.units_per_minute,
        "jobs": jobs,
        "executor": executor,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json_atomic(root / "timing.json", timing)
    write_json_atomic(root / "failures.json", summary.failed)
    page = write_results(root)
    log(
        f"wall time {summary.seconds:.1f} s; {len(summary.ran)} units run ({summary.units_per_minute:.2f} units/min), "
        f"{len(summary.cached)} reused, {len(summary.failed)} failed"
    )
    log(f"results: {page}")
    return summary


# Command line -----------------------------------------------------------------------------------------------


def _cmd(args: argparse.Namespace, ablate: bool) -> int:
    overrides = list(args.set or [])
    if args.timesteps:
        overrides.append(f"train.total_timesteps={args.timesteps}")
    wf, cfg = load_walkforward(args.config, overrides)
    if ablate and not any(o.startswith("walkforward.tier_sets") for o in overrides):
        wf = replace(wf, tier_sets=ABLATION)
    root = Path(args.run) if args.run else Path(cfg.runs_dir) / cfg.name
    summary = run_walkforward(
        wf, cfg, root, jobs=args.jobs, executor=args.executor, address=args.address,
        command=_command_line(args, ablate),
    )  # fmt: skip
    if summary.failed:
        print(
            f"{len(summary.failed)} of {summary.total} units failed (errors in {root / 'failures.json'}); "
            "run the same command again to finish them"
        )
        return 1
    return 0


def _command_line(args: argparse.Namespace, ablate: bool) -> str:
    """The invocation as a user would type it (for the results page)."""
    parts = ["ablate" if ablate else "walk-forward", "--config", str(args.config)]
    parts += [f"--set '{item}'" for item in args.set or []]
    parts += [f"--timesteps {args.timesteps}"] if args.timesteps else []
    parts += [f"--jobs {args.jobs}", f"--executor {args.executor}"] + (
        [f"--address {args.address}"] if args.address else []
    )
    return " ".join(parts)


def cmd_report(run_dir: Path) -> int:
    """``tradebrain report --run`` on a walk-forward folder: rebuild ``results.md`` and its PNGs."""
    from experiments.results import write_results

    print(f"results: {write_results(Path(run_dir))}")
    return 0


def is_walkforward_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / PLAN).exists()


def register(sub: Any) -> None:
    """Add ``walk-forward`` and ``ablate`` to the ``tradebrain`` subcommands."""
    for name, ablate, text in (
        ("walk-forward", False, "rolling folds x seeds for the configured tier sets and every baseline"),
        ("ablate", True, "walk-forward over every tier set (rules, tier3, tier1+3, tier2+3, tier1+2+3, all)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", default="walkforward", help="config name under experiments/configs/ or a YAML path")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key, e.g. walkforward.seeds=[0]")
        p.add_argument("--timesteps", type=int, help="shortcut for --set train.total_timesteps=N")
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="units at a time (default: all cores)")
        p.add_argument(
            "--executor",
            choices=("local", "ray"),
            default="local",
            help="local: a process pool on this machine (default); ray: Ray tasks (pip install tradebrain[ray])",
        )
        p.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
        p.add_argument("--run", help="run folder (default <runs_dir>/<name>); rerunning it skips finished units")
        p.set_defaults(func=lambda a, _ablate=ablate: _cmd(a, _ablate))
