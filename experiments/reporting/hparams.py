"""A run in TensorBoard's HParams tab: every setting at training start, the test metrics once backtested.

At training start :class:`agents.tier3.ppo.HParamCallback` records :func:`run_hparams` (every ``ppo.*``, ``stack.*``,
``train.*`` and ``algo_kwargs.*`` setting, ``algo``, ``seed``, ``n_trials``) and declares the metric tags of
:func:`metric_tags`: the training scalars, ``eval/sharpe`` (see :mod:`experiments.training.learning_curve`) and the test
metrics. After a backtest, :func:`write_test_metrics` writes the test metrics as scalars into the run's
TensorBoard folder (``tb/ppo_1``, the folder holding the training events), so the tab shows them per run:

=====================================================  ================================================
tag (``test/`` for the best model ``ppo``,             value (``metrics.json`` of the policy)
``test_final/`` for the final model ``ppo_final``)
=====================================================  ================================================
``sharpe``                                             ``sharpe_annual``
``total_return``                                       ``total_return_frac``
``max_drawdown``                                       ``max_drawdown_frac``
``trade_count``                                        ``trade_count``
``win_rate``                                           ``win_rate_frac``
``dsr``                                                ``dsr_prob``
``sharpe_diff_vs_buy_and_hold_full``                   ``sharpe_diff_annual`` (paired, same bars)
``sharpe_diff_vs_buy_and_hold_cap``                    ``sharpe_annual`` minus that of ``buy_and_hold_cap``
=====================================================  ================================================

Non-finite values (an undefined Sharpe) are not written. TensorBoard stores scalars as float32.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.tier3.config import HPARAM_METRICS, flat_hparams
from experiments.config import RunConfig

logger = logging.getLogger(__name__)

TEST_METRICS: dict[str, str] = {
    "sharpe": "sharpe_annual",
    "total_return": "total_return_frac",
    "max_drawdown": "max_drawdown_frac",
    "trade_count": "trade_count",
    "win_rate": "win_rate_frac",
    "dsr": "dsr_prob",
    "sharpe_diff_vs_buy_and_hold_full": "sharpe_diff_annual",
}
"""Test metric tag suffix -> key of the policy's metrics (:func:`experiments.evaluation.stats.summarize`)."""
CAPPED_BENCHMARK = "buy_and_hold_cap"
"""The capped buy-and-hold baseline (experiments.evaluation.baselines.BuyAndHold) of
``sharpe_diff_vs_buy_and_hold_cap``."""
TRAINED_PREFIXES: dict[str, str] = {"ppo": "test", "ppo_final": "test_final"}
"""Tag prefix of the test metrics of each trained policy name (the best and the final model)."""


def run_hparams(cfg: RunConfig) -> dict[str, Any]:
    """Every setting of ``cfg`` that shapes the trained model, flattened (``"train.eval_freq": 10000``)."""
    out = {**flat_hparams(cfg.ppo, "ppo."), **flat_hparams(cfg.stack, "stack."), **flat_hparams(cfg.train, "train.")}
    out.update({"algo": cfg.algo, "seed": cfg.seed, "n_trials": cfg.n_trials})
    out.update({f"algo_kwargs.{k}": v for k, v in cfg.algo_kwargs.items()})
    return out


def result_tags(prefix: str = "test") -> list[str]:
    """``<prefix>/<metric>`` for every test metric."""
    return [f"{prefix}/{m}" for m in (*TEST_METRICS, f"sharpe_diff_vs_{CAPPED_BENCHMARK}")]


def metric_tags() -> list[str]:
    """The metric tags the HParams record declares: training scalars, ``eval/sharpe``, test metrics."""
    return [*HPARAM_METRICS, "eval/sharpe", *(t for p in TRAINED_PREFIXES.values() for t in result_tags(p))]


def result_scalars(name: str, metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{tag: value}`` of policy ``name`` from ``{policy: metrics}`` (as in ``metrics.json``); finite values only.

    Raises:
        KeyError: ``name`` is not in ``metrics``.
    """
    m = metrics[name]
    prefix = TRAINED_PREFIXES.get(name, f"test_{name}")
    out = {f"{prefix}/{tag}": float(m.get(key, math.nan)) for tag, key in TEST_METRICS.items()}
    cap = metrics.get(CAPPED_BENCHMARK)
    diff = m.get("sharpe_annual", math.nan) - cap.get("sharpe_annual", math.nan) if cap else math.nan
    out[f"{prefix}/sharpe_diff_vs_{CAPPED_BENCHMARK}"] = float(diff)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def tensorboard_dir(run_dir: Path) -> Path | None:
    """The folder under ``run_dir/tb`` holding the training's event files (the last ``<name>_<n>``), or None."""
    root = Path(run_dir) / "tb"
    if not root.is_dir():
        return None
    folders = {p.parent for p in root.rglob("events.out.tfevents.*")}

    def order(folder: Path) -> tuple[int, str]:
        number = re.search(r"_(\d+)$", folder.name)
        return (int(number.group(1)) if number else -1, folder.name)

    return max(folders, key=order) if folders else None


def write_test_metrics(run_dir: Path, name: str, metrics: Mapping[str, Mapping[str, float]], step: int) -> Path | None:
    """Write :func:`result_scalars` of ``name`` as scalars at ``step`` into :func:`tensorboard_dir`.

    Returns:
        The folder written to, or None when the run has no TensorBoard events (nothing is written).
    """
    folder = tensorboard_dir(run_dir)
    if folder is None:
        logger.warning("%s has no TensorBoard event files under tb/: test metrics not written", run_dir)
        return None
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    try:
        for tag, value in result_scalars(name, metrics).items():
            writer.add_scalar(tag, value, global_step=int(step))
    finally:
        writer.close()
    return folder
