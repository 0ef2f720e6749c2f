"""Out-of-sample evaluation of a trained run: the policy and every baseline through the same test-window stack.

Each policy gets a fresh env stack on the test window (same data, costs, limits, Tier 2 detector fitted on the
bars before the window; a fresh Tier 1 bandit that learns online from that policy's own trades, as it would
live). Results land in the run folder::

    backtest/<policy>/{equity,trades,weights,regimes}.csv, metrics.json
    metrics.json     {policy: metrics} of every policy under backtest/ (non-finite floats as "inf", "-inf", "nan";
                     see experiments.evaluation.backtest.NON_FINITE; read it back with load_metrics)
    trades.csv       the trained policy's trades (``ppo``)
    report.md        verdict, metrics table and the PNG plots (see experiments.reporting.report)
    tb/ppo_1/        the test metrics as TensorBoard scalars ``test/*`` (``test_final/*`` for the final model),
                     the values of the HParams tab (see experiments.reporting.hparams)

**Which model is which.** The best model on the validation window (``best/best_model.zip``) is ``ppo``; the final
model (``model.zip``) is ``ppo_final``, so ``tradebrain backtest --model final`` adds ``backtest/ppo_final/`` and a
row next to ``ppo`` instead of overwriting it (:func:`policy_name`). A run without a best model (trained
without evaluations) has one model: ``model.zip`` is then ``ppo``. Any other model file (a checkpoint) is
``ppo_<file stem>``. The report judges every trained policy backtested so far; readers of ``backtest/ppo`` and
``metrics.json["ppo"]`` keep reading the best model.

Trials for the deflated Sharpe ratio of the trained policy (:func:`trials_counted`): every configuration tried
(``cfg.n_trials``, tuning outside this run) times every checkpoint scored on the validation window to pick the
model (the EvalCallback's evaluations, ``best/evaluations.npz``). The final model (``--model final``) was not
picked among checkpoints: its count is ``cfg.n_trials``. Baselines are fixed rules: 1 trial each.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.stack import fit_detector, make_env
from envs.data import load
from envs.layout import ActionMap
from experiments.config import RunConfig, evaluations_planned, to_yaml
from experiments.evaluation.backtest import BacktestResult, decode_metrics, run_backtest
from experiments.evaluation.baselines import buy_and_hold_full, make_baselines
from experiments.evaluation.policies import load_policy
from experiments.evaluation.runfiles import EVALUATIONS, VAL_CURVE, checkpoints_scored
from experiments.reporting.hparams import write_test_metrics
from experiments.reporting.report import FINAL, POLICY, is_trained, write_report

logger = logging.getLogger(__name__)


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
        scored = max(1, evaluations_planned(cfg))
        warnings.warn(
            f"{Path(run_dir) / EVALUATIONS} is missing (trained before it was written); counting {scored} "
            "validation checkpoints from the config",
            stacklevel=2,
        )
    return TrialCount(cfg.n_trials, scored)


def policy_name(run_dir: Path, model_path: Path) -> str:
    """The result name of the model at ``model_path``: ``ppo`` (the model ``--model best`` picks), ``ppo_final``
    (``model.zip`` of a run that also has a best model) or ``ppo_<stem>`` (any other file)."""
    model = Path(model_path).resolve()
    best = Path(run_dir) / "best" / "best_model.zip"
    if model == (best if best.exists() else Path(run_dir) / "model.zip").resolve():
        return POLICY
    if model == (Path(run_dir) / "model.zip").resolve():
        return FINAL
    return f"{POLICY}_{re.sub(r'[^A-Za-z0-9_.-]', '_', model.stem)}"


def evaluate(
    cfg: RunConfig, run_dir: Path, model_path: Path, *, progress: bool = False, name: str | None = None
) -> dict[str, BacktestResult]:
    """Backtest the model at ``model_path`` and every baseline on ``cfg.stack.test``; write files and the report.

    Args:
        cfg: The run's config.
        run_dir: The run folder.
        model_path: The model to backtest (best, final, or a checkpoint).
        progress: Show progress bars.
        name: Result name of the model (default :func:`policy_name`).

    Returns:
        What the report shows: this backtest's results and the other trained policies of the run backtested
        earlier (e.g. ``ppo`` when this was ``ppo_final``), trained policies first.
    """
    name = name or policy_name(run_dir, model_path)
    data = load(cfg.stack.data)
    detector = fit_detector(cfg.stack, data, "test") if cfg.stack.tiers.tier2 else None

    def fresh_env() -> Any:
        return make_env(cfg.stack, "test", data=data, detector=detector)

    probe = fresh_env().unwrapped
    bench = buy_and_hold_full(
        probe.data, probe.window, probe.costs, initial_equity=cfg.stack.initial_equity, seed=cfg.seed
    )
    model = load_policy(model_path, name)
    policies = {name: model, **make_baselines(probe.action_map, cfg.seed)}
    count = trials_counted(cfg, run_dir, model_path)
    results: dict[str, BacktestResult] = {}
    for key, policy in policies.items():
        trials = count.total if key == name else 1
        logger.info("backtest %s on %s .. %s", key, *cfg.stack.test)
        results[key] = run_backtest(
            fresh_env(), policy, seed=cfg.seed, progress=progress, benchmark_returns=bench.returns, n_trials=trials
        )
    results[name].run_info["trials"] = {**asdict(count), "total": count.total, "counted_as": count.describe()}
    results[name].run_info["model"] = str(_relative(model_path, run_dir))
    results[bench.name] = bench
    save_results(run_dir, results)
    root = Path(run_dir) / "backtest"
    earlier = [p for p in root.iterdir() if is_trained(p.name) and p.name not in results and p.is_dir()]
    shown = _ordered({**results, **{p.name: BacktestResult.from_files(p) for p in earlier}})
    _write(cfg, run_dir, shown)
    step = int(getattr(model.model, "num_timesteps", 0) or cfg.train.total_timesteps)
    write_test_metrics(run_dir, name, {k: v.metrics for k, v in shown.items()}, step)
    return shown


def _relative(path: Path, root: Path) -> Path:
    path, root = Path(path), Path(root)
    return path.relative_to(root) if path.is_relative_to(root) else path


def _order(names: list[str]) -> list[str]:
    """Trained policies first (``ppo``, ``ppo_final``, others by name), then the rest in their order."""
    trained = sorted((k for k in names if is_trained(k)), key=lambda k: (k != POLICY, k != FINAL, k))
    return [*trained, *(k for k in names if not is_trained(k))]


def _ordered(results: dict[str, BacktestResult]) -> dict[str, BacktestResult]:
    return {k: results[k] for k in _order(list(results))}


def _write(cfg: RunConfig, run_dir: Path, results: dict[str, BacktestResult]) -> Path:
    """The run's report of ``results`` (trained policies first)."""
    policies = [k for k in results if is_trained(k)] or list(results)[:1]
    return write_report(
        run_dir,
        results,
        title=f"{cfg.name}: {cfg.stack.data} test window {cfg.stack.test[0]} .. {cfg.stack.test[1]}",
        policy_name=policies[0],
        others=policies[1:],
        config_text=to_yaml(cfg),
        tiers=cfg.stack.tiers,
        val_curve=Path(run_dir) / VAL_CURVE,
        action_map=ActionMap(max_position=cfg.stack.limits.max_position, max_hold=cfg.stack.max_hold),
        select_by=cfg.train.select_by,
    )


def save_results(run_dir: Path, results: dict[str, BacktestResult]) -> None:
    """Per-policy files under ``backtest/``; ``metrics.json`` of every policy there; ``ppo``'s trades in ``trades.csv``.

    ``metrics.json`` is rebuilt from every ``backtest/<policy>/metrics.json``, so the results of earlier backtests
    of other models (``ppo`` and ``ppo_final``) stay in it.
    """
    root = Path(run_dir) / "backtest"
    for name, res in results.items():
        res.to_files(root / name)
    earlier = sorted(p.name for p in root.iterdir() if (p / "metrics.json").exists() and p.name not in results)
    names = _order([*results, *earlier])
    top = {name: json.loads((root / name / "metrics.json").read_text())["metrics"] for name in names}
    (Path(run_dir) / "metrics.json").write_text(json.dumps(top, indent=2, allow_nan=False) + "\n")
    if POLICY in results:
        results[POLICY].trades.to_csv(Path(run_dir) / "trades.csv", index=False)


def load_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """``{policy: metrics}`` from a run's ``metrics.json``, non-finite values decoded (``"inf"`` -> ``inf``)."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no metrics.json; run `tradebrain backtest --run {run_dir}` first")
    return {name: decode_metrics(m) for name, m in json.loads(path.read_text()).items()}


def load_results(run_dir: Path) -> dict[str, BacktestResult]:
    """Read back what :func:`save_results` wrote (for ``tradebrain report``); every metric as written.

    Trained policies come first (``ppo``, ``ppo_final``), then the rest by name.
    """
    root = Path(run_dir) / "backtest"
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir} has no backtest/ folder; run `tradebrain backtest --run {run_dir}` first")
    out = {folder.name: BacktestResult.from_files(folder) for folder in sorted(p for p in root.iterdir() if p.is_dir())}
    return _ordered(out)


def rebuild_report(run_dir: Path, cfg: RunConfig) -> Path:
    """Rewrite ``report.md`` and the plots of a run from its ``backtest/`` files (``tradebrain report --run``)."""
    import pandas as pd

    results = load_results(run_dir)
    if any(res.price is None for res in results.values()):  # equity.csv written without the close column
        data = load(cfg.stack.data)
        close = pd.Series(data.close, index=data.index)
        for res in results.values():
            res.price = close.reindex(res.equity.index) if res.price is None else res.price
    return _write(cfg, run_dir, results)
