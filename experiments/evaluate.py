"""Out-of-sample evaluation of a trained run: the policy and every baseline through the same test-window stack.

Each policy gets a fresh env stack on the test window (same data, costs, limits, Tier 2 detector fitted on the
bars before the window; a fresh Tier 1 bandit that learns online from that policy's own trades, as it would
live). Results land in the run folder::

    backtest/<policy>/{equity,trades,weights,regimes}.csv, metrics.json
    metrics.json     {policy: metrics} of every policy (non-finite floats as "inf", "-inf", "nan"; see
                     experiments.backtest.NON_FINITE; read it back with load_metrics)
    trades.csv       the trained policy's trades
    report.md        metrics table and the PNG plots

Trials for the deflated Sharpe ratio of the trained policy (:func:`trials_counted`): every configuration tried
(``cfg.n_trials``, tuning outside this run) times every checkpoint scored on the validation window to pick the
model (the EvalCallback's evaluations, ``best/evaluations.npz``). The final model (``--model final``) was not
picked among checkpoints: its count is ``cfg.n_trials``. Baselines are fixed rules: 1 trial each.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.stack import fit_detector, make_env
from envs.data import load
from experiments.backtest import BacktestResult, decode_metrics, run_backtest
from experiments.baselines import buy_and_hold_full, make_baselines
from experiments.config import RunConfig, to_yaml
from experiments.report import write_report
from experiments.train import EVALUATIONS, checkpoints_scored, load_policy

logger = logging.getLogger(__name__)

POLICY = "ppo"


@dataclass(frozen=True)
class TrialCount:
    """Trials counted for the deflated Sharpe ratio: ``configurations x checkpoints``.

    Attributes:
        configurations: Configurations tried (``cfg.n_trials``: this run and any tuning trials before it).
        checkpoints: Checkpoints scored on the validation window to pick the model of each configuration
            (1 when the model was not picked among checkpoints).
        picked: Whether the model was picked among scored checkpoints (the best model) or not (the final one).
    """

    configurations: int
    checkpoints: int
    picked: bool = True

    @property
    def total(self) -> int:
        return self.configurations * self.checkpoints

    def describe(self) -> str:
        """E.g. ``"1 configuration x 3 checkpoints scored on the validation window"``."""
        configs = f"{self.configurations} configuration{'s' if self.configurations != 1 else ''}"
        if not self.picked:
            return f"{configs} x 1 (the final model, not picked among checkpoints)"
        scored = f"{self.checkpoints} checkpoint{'s' if self.checkpoints != 1 else ''}"
        return f"{configs} x {scored} scored on the validation window"


def _expected_evaluations(cfg: RunConfig) -> int:
    """Evaluations a run of ``cfg`` does (PPO rounds the budget up to whole rollouts), for runs with no log."""
    n_envs, freq = cfg.train.n_envs, cfg.train.eval_freq
    if freq <= 0:
        return 0
    rollout = cfg.ppo.n_steps * n_envs
    calls = math.ceil(cfg.train.total_timesteps / rollout) * rollout // n_envs
    return calls // max(1, freq // n_envs)


def trials_counted(cfg: RunConfig, run_dir: Path, model_path: Path) -> TrialCount:
    """Trials behind the model at ``model_path``: ``cfg.n_trials`` x the checkpoints it was picked among.

    The best model (``best/best_model.zip``) was picked among every checkpoint the EvalCallback scored on the
    validation window (counted from ``best/evaluations.npz``, or from the config for runs without that log).
    Any other model (the final ``model.zip``) was not picked: 1 checkpoint.
    """
    best = Path(run_dir) / "best" / "best_model.zip"
    if Path(model_path).resolve() != best.resolve():
        return TrialCount(cfg.n_trials, 1, picked=False)
    scored = checkpoints_scored(run_dir)
    if scored == 0:
        scored = max(1, _expected_evaluations(cfg))
        warnings.warn(
            f"{Path(run_dir) / EVALUATIONS} is missing (trained before it was written); counting {scored} "
            "validation checkpoints from the config",
            stacklevel=2,
        )
    return TrialCount(cfg.n_trials, scored)


def evaluate(cfg: RunConfig, run_dir: Path, model_path: Path, *, progress: bool = False) -> dict[str, BacktestResult]:
    """Backtest the model at ``model_path`` and every baseline on ``cfg.stack.test``; write files and the report."""
    data = load(cfg.stack.data)
    detector = fit_detector(cfg.stack, data, "test") if cfg.stack.tiers.tier2 else None

    def fresh_env() -> Any:
        return make_env(cfg.stack, "test", data=data, detector=detector)

    probe = fresh_env().unwrapped
    bench = buy_and_hold_full(
        probe.data, probe.window, probe.costs, initial_equity=cfg.stack.initial_equity, seed=cfg.seed
    )
    policies = {POLICY: load_policy(model_path, POLICY), **make_baselines(probe.action_map, cfg.seed)}
    count = trials_counted(cfg, run_dir, model_path)
    results: dict[str, BacktestResult] = {}
    for name, policy in policies.items():
        trials = count.total if name == POLICY else 1
        logger.info("backtest %s on %s .. %s", name, *cfg.stack.test)
        results[name] = run_backtest(
            fresh_env(), policy, seed=cfg.seed, progress=progress, benchmark_returns=bench.returns, n_trials=trials
        )
    results[POLICY].run_info["trials"] = {**asdict(count), "total": count.total, "counted_as": count.describe()}
    results[bench.name] = bench
    save_results(run_dir, results)
    write_report(
        run_dir,
        results,
        title=f"{cfg.name}: {cfg.stack.data} test window {cfg.stack.test[0]} .. {cfg.stack.test[1]}",
        policy_name=POLICY,
        config_text=to_yaml(cfg),
        notes=[f"model: {model_path.relative_to(run_dir) if model_path.is_relative_to(run_dir) else model_path}"],
    )
    return results


def save_results(run_dir: Path, results: dict[str, BacktestResult]) -> None:
    """Per-policy files under ``backtest/``, all metrics in ``metrics.json``, the policy's trades in ``trades.csv``."""
    for name, res in results.items():
        res.to_files(run_dir / "backtest" / name)
    merged = {name: json.loads((run_dir / "backtest" / name / "metrics.json").read_text()) for name in results}
    top = {k: v["metrics"] for k, v in merged.items()}
    (run_dir / "metrics.json").write_text(json.dumps(top, indent=2, allow_nan=False) + "\n")
    if POLICY in results:
        results[POLICY].trades.to_csv(run_dir / "trades.csv", index=False)


def load_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """``{policy: metrics}`` from a run's ``metrics.json``, non-finite values decoded (``"inf"`` -> ``inf``)."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no metrics.json; run `tradebrain backtest --run {run_dir}` first")
    return {name: decode_metrics(m) for name, m in json.loads(path.read_text()).items()}


def load_results(run_dir: Path) -> dict[str, BacktestResult]:
    """Read back what :func:`save_results` wrote (for ``tradebrain report``); every metric as written."""
    root = run_dir / "backtest"
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir} has no backtest/ folder; run `tradebrain backtest --run {run_dir}` first")
    out = {folder.name: BacktestResult.from_files(folder) for folder in sorted(p for p in root.iterdir() if p.is_dir())}
    order = [POLICY, *[k for k in out if k != POLICY]]
    return {k: out[k] for k in order if k in out}


def rebuild_report(run_dir: Path, cfg: RunConfig) -> Path:
    """Rewrite ``report.md`` and the plots of a run from its ``backtest/`` files (``tradebrain report --run``)."""
    import pandas as pd

    results = load_results(run_dir)
    if any(res.price is None for res in results.values()):  # equity.csv written without the close column
        data = load(cfg.stack.data)
        close = pd.Series(data.close, index=data.index)
        for res in results.values():
            res.price = close.reindex(res.equity.index) if res.price is None else res.price
    return write_report(
        run_dir, results, title=f"{cfg.name}: {cfg.stack.data}", policy_name=POLICY, config_text=to_yaml(cfg)
    )
