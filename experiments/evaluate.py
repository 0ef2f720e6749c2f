"""Out-of-sample evaluation of a trained run: the policy and every baseline through the same test-window stack.

Each policy gets a fresh env stack on the test window (same data, costs, limits, Tier 2 detector fitted on the
bars before the window; a fresh Tier 1 bandit that learns online from that policy's own trades, as it would
live). Results land in the run folder::

    backtest/<policy>/{equity,trades,weights,regimes}.csv, metrics.json
    metrics.json     {policy: metrics} of every policy
    trades.csv       the trained policy's trades
    report.md        metrics table and the PNG plots
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from agents.stack import fit_detector, make_env
from envs.data import load
from experiments.backtest import BacktestResult, SB3Policy, run_backtest
from experiments.baselines import buy_and_hold_full, make_baselines
from experiments.config import RunConfig, to_yaml
from experiments.report import write_report
from experiments.train import load_model

logger = logging.getLogger(__name__)

POLICY = "ppo"


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
    policies = {POLICY: SB3Policy(load_model(model_path), name=POLICY), **make_baselines(probe.action_map, cfg.seed)}
    results: dict[str, BacktestResult] = {}
    for name, policy in policies.items():
        trials = cfg.n_trials if name == POLICY else 1
        logger.info("backtest %s on %s .. %s", name, *cfg.stack.test)
        results[name] = run_backtest(
            fresh_env(), policy, seed=cfg.seed, progress=progress, benchmark_returns=bench.returns, n_trials=trials
        )
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
    (run_dir / "metrics.json").write_text(json.dumps({k: v["metrics"] for k, v in merged.items()}, indent=2) + "\n")
    if POLICY in results:
        results[POLICY].trades.to_csv(run_dir / "trades.csv", index=False)


def load_results(run_dir: Path) -> dict[str, BacktestResult]:
    """Read back what :func:`save_results` wrote (for ``tradebrain report``)."""
    root = run_dir / "backtest"
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir} has no backtest/ folder; run `tradebrain backtest --run {run_dir}` first")
    out: dict[str, BacktestResult] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = json.loads((folder / "metrics.json").read_text())
        equity = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)["equity"]

        def frame(name: str, folder: Path = folder) -> pd.DataFrame:
            path = folder / name
            return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()

        metrics = {k: float("nan") if v is None else v for k, v in meta["metrics"].items()}
        out[folder.name] = BacktestResult(
            name=meta["name"],
            equity=equity,
            trades=frame("trades.csv"),
            weights=frame("weights.csv"),
            regimes=frame("regimes.csv"),
            breaker_events=meta.get("breaker_events", []),
            halted=bool(meta.get("halted", False)),
            metrics=metrics,
            run_info=meta.get("run_info", {}),
        )
    order = [POLICY, *[k for k in out if k != POLICY]]
    return {k: out[k] for k in order if k in out}
