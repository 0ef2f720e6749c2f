"""The report's "Did it learn?" section: the training and validation curves, flat decisions, plain flags.

The verdict says whether the trained policy beat the baselines; this section says what the agent did while it
learned and on the test window, read from the run's files:

* ``best/val_curve.csv`` (:mod:`experiments.training.learning_curve`): at each evaluation, the mean episode reward,
  Sharpe, flat share and trade count of the training episodes finished since the previous evaluation, and the
  same of the validation episode;
* the backtest of each trained policy: the share of its decisions on the test window that opened no trade.

It flags, in plain words:

* a policy that **mostly stays flat**: :data:`FLAT_FLAG` or more of its decisions open no trade, on the test
  window or in the training episodes at the last evaluation (a policy that never trades has learned to avoid the
  reward's penalties, not to trade);
* a **kept checkpoint that is not the best by validation Sharpe**: ``best_model.zip`` is picked by
  ``train.select_by`` (the episode reward by default), and another evaluation had a higher validation Sharpe.

The kept checkpoint is found by the rule that kept it: the first evaluation with the highest ``eval_reward``
(SB3's ``EvalCallback`` saves on a strictly higher mean reward) or, with ``train.select_by: sharpe``, the first
with the highest ``val_sharpe`` (NaN never wins).

It also quotes the latest learnability certification (:data:`CERTIFICATION`, written by
``python -m experiments.benchmarks.certify --publish``): whether the certified config earned enough of the planted
rule's growth on every market of the planted family, and whether this run's learner settings are the certified ones
(:data:`LEARNER_KEYS`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from experiments.evaluation.backtest import BacktestResult
from experiments.reporting import plots

FLAT_FLAG = 0.8
"""Share of decisions that open no trade at or above which a policy is flagged as mostly staying flat."""
LEARNING_CURVE = "learning_curve.png"
"""The plot of the curves, next to ``report.md``."""
BEST_MODEL = "best/best_model.zip"
"""The model file, relative to the run folder, that the kept checkpoint was saved as."""

CERTIFICATION = Path(__file__).resolve().parent / "certification.json"
"""The latest published learnability certification (:mod:`experiments.benchmarks.certify`)."""
LEARNER_KEYS: tuple[str, ...] = (
    "algo",
    "algo_kwargs",
    "ppo",
    "stack.action",
    "stack.menu",
    "stack.reward",
    "stack.tiers",
    "train.total_timesteps",
    "train.n_envs",
    "train.select_by",
)
"""The config keys that make a learner: a run whose values equal the certified config's is certified."""

_TABLE: tuple[tuple[str, str, str], ...] = (
    ("train_reward", "Train reward", "{:.3f}"),
    ("train_sharpe", "Train Sharpe", "{:.2f}"),
    ("train_flat_share", "Train flat", "{:.0%}"),
    ("train_trade_count", "Train trades", "{:.1f}"),
    ("eval_reward", "Val reward", "{:.3f}"),
    ("val_sharpe", "Val Sharpe", "{:.2f}"),
    ("val_flat_share", "Val flat", "{:.0%}"),
    ("trade_count", "Val trades", "{:.0f}"),
)
"""Columns of the curve table: CSV column, header, format."""


def read_curve(path: Path) -> pd.DataFrame | None:
    """The run's ``best/val_curve.csv``, or None when the run has none (or an empty one)."""
    if not Path(path).exists():
        return None
    curve = pd.read_csv(path)
    return curve if len(curve) else None


def _first_max(values: pd.Series) -> int | None:
    arr = values.to_numpy(dtype=float)
    return int(np.nanargmax(arr)) if np.isfinite(arr).any() else None


def kept_row(curve: pd.DataFrame, select_by: str = "reward") -> int | None:
    """Row of the checkpoint kept as ``best_model.zip``: the first highest ``eval_reward`` (``select_by="reward"``)
    or ``val_sharpe`` (``"sharpe"``); None when no row has a finite value."""
    return _first_max(curve["val_sharpe" if select_by == "sharpe" else "eval_reward"])


def flat_share(result: BacktestResult) -> tuple[float, int]:
    """Share of a backtest's decisions that opened no trade, and the number of decisions (NaN, 0 with none).

    Each decision opens at most one trade (the env steps from decision to exit), so it is 1 - trades / decisions.
    """
    n = plots.decisions(result)
    return (1.0 - len(result.trades) / n, n) if n else (math.nan, 0)


def _fmt(value: float, fmt: str) -> str:
    return "n/a" if value is None or not np.isfinite(value) else fmt.format(value)


def _table(curve: pd.DataFrame, kept: int | None, best: int | None) -> list[str]:
    header = ["Steps", *(h for _, h, _ in _TABLE), "Checkpoint"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header[:-1]) + "|---|"]
    for i, row in curve.iterrows():
        note = ", ".join(
            n for n, hit in (("kept", i == kept), ("best validation Sharpe", i == best and best != kept)) if hit
        )
        cells = [_fmt(float(row[c]), f) if c in curve.columns else "n/a" for c, _, f in _TABLE]
        lines.append(f"| {int(row['timesteps']):,} | " + " | ".join(cells) + f" | {note} |")
    return lines


def _test_flat(results: Mapping[str, BacktestResult], policies: Sequence[str]) -> tuple[list[str], list[str]]:
    """(flags, facts) about the flat decisions of each trained policy on the test window."""
    flags, facts = [], []
    for name in policies:
        share, n = flat_share(results[name])
        if not n:
            continue
        facts.append(f"`{name}` {share:.0%} of its {n} decisions ({len(results[name].trades)} trades)")
        if share >= FLAT_FLAG:
            flags.append(
                f"`{name}` stayed flat on {share:.0%} of its {n} decisions on the test window (flagged at "
                f"{FLAT_FLAG:.0%} or more): it mostly does not trade, so its test metrics say little about a "
                "trading skill"
            )
    return flags, facts


def _train_flat(curve: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """(flags, facts) about the flat share of the training episodes, first and last evaluation."""
    if curve is None or "train_flat_share" not in curve.columns or not curve["train_flat_share"].notna().any():
        return [], []
    shares = curve["train_flat_share"].dropna()
    first, last = float(shares.iloc[0]), float(shares.iloc[-1])
    fact = f"{first:.0%} at the first evaluation, {last:.0%} at the last (TensorBoard: `reward/flat_share`)"
    if last < FLAT_FLAG:
        return [], [fact]
    flag = (
        f"training drifted to flat: {last:.0%} of the decisions of the last training episodes opened no trade "
        f"(was {first:.0%} at the first evaluation)"
    )
    return [flag], [fact]


def _kept_flag(curve: pd.DataFrame, kept: int | None, best: int | None, select_by: str) -> str | None:
    if kept is None or best is None:
        return None
    k_sharpe, b_sharpe = float(curve["val_sharpe"].iloc[kept]), float(curve["val_sharpe"].iloc[best])
    if np.isfinite(k_sharpe) and k_sharpe >= b_sharpe:
        return None
    steps = curve["timesteps"]
    how = "the validation Sharpe" if select_by == "sharpe" else "the validation episode reward"
    return (
        f"the kept checkpoint ({int(steps.iloc[kept]):,} steps, validation Sharpe {_fmt(k_sharpe, '{:.2f}')}) is "
        f"not the best by validation Sharpe ({int(steps.iloc[best]):,} steps, {b_sharpe:.2f}): it was picked by "
        f"{how} (train.select_by={select_by}); train.select_by=sharpe keeps the other"
    )


def learning_section(
    run_dir: Path,
    results: Mapping[str, BacktestResult],
    policies: Sequence[str],
    val_curve: Path | None,
    select_by: str = "reward",
) -> list[str]:
    """Markdown of the "Did it learn?" section; draws :data:`LEARNING_CURVE` (deleted when there is no curve).

    Args:
        run_dir: The run folder.
        results: Backtest results by name.
        policies: The trained policies in ``results`` (the first is the run's ``ppo``).
        val_curve: The run's ``best/val_curve.csv`` (None: not a training run, only the flat shares are shown).
        select_by: ``train.select_by`` of the run (which rule kept ``best_model.zip``).
    """
    curve = read_curve(val_curve) if val_curve is not None else None
    model = results[policies[0]].run_info.get("model")
    kept = kept_row(curve, select_by) if curve is not None and model == BEST_MODEL else None
    best = _first_max(curve["val_sharpe"]) if curve is not None else None
    test_flags, test_facts = _test_flat(results, policies)
    train_flags, train_facts = _train_flat(curve)
    flags = [*test_flags, *train_flags]
    flags += [f for f in [_kept_flag(curve, kept, best, select_by)] if f and curve is not None]
    lines = ["## Did it learn?", ""]
    lines += [f"> **FLAG: {f}.**\n" for f in flags]
    if not flags:
        checked = (
            "the kept checkpoint is also the best by validation Sharpe"
            if kept is not None
            else ("no checkpoint was picked on the validation window")
        )
        lines += [f"No flag: fewer than {FLAT_FLAG:.0%} of the decisions were flat and {checked}.", ""]
    if test_facts:
        lines.append(f"- Flat decisions (no trade opened) on the test window: {'; '.join(test_facts)}")
    if train_facts:
        lines.append(f"- Flat decisions of the training episodes: {train_facts[0]}")
    if model:
        at = f", kept at {int(curve['timesteps'].iloc[kept]):,} steps" if curve is not None and kept is not None else ""
        lines.append(f"- `{policies[0]}` is `{model}`{at} (`train.select_by: {select_by}`)")
    lines += certification_lines(run_dir)
    lines.append("")
    if curve is None:
        (Path(run_dir) / LEARNING_CURVE).unlink(missing_ok=True)
        if val_curve is not None:
            lines += [
                f"- No learning curve: this run has no `{Path(val_curve).name}`; no evaluation on the validation "
                "window ran (`train.eval_freq` was 0 or above the step budget; `train.eval_freq: auto` evaluates "
                "every tenth of it), or the run predates the curve.",
                "",
            ]
        return lines
    plots.plot_learning_curve(Path(run_dir) / LEARNING_CURVE, curve, kept, best)
    lines += [
        f"At each of the {len(curve)} evaluations: the training episodes finished since the previous evaluation "
        "(mean episode reward, Sharpe, flat share, trades) and the validation window (one episode).",
        "",
        *_table(curve, kept, best),
        "",
        f"![learning_curve]({LEARNING_CURVE})",
        "",
    ]
    return lines


def learner_settings(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The values of :data:`LEARNER_KEYS` in a config tree (``config_tree`` of a run config)."""
    out: dict[str, Any] = {}
    for key in LEARNER_KEYS:
        node: Any = tree
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        out[key] = node
    return out


def certification_lines(run_dir: Path, path: Path = CERTIFICATION) -> list[str]:
    """The report's line on the latest certification (none when none was published)."""
    if not path.is_file():
        return []
    cert = json.loads(path.read_text(encoding="utf-8"))
    shares = ", ".join(f"{m} {r['share']:.2f}" for m, r in cert["markets"].items())
    verdict = "passed" if cert["passed"] else "not passed"
    line = (
        f"- Learnability certification of `{cert['config']}` ({cert['date']}, commit {cert['commit']}): **{verdict}** "
        f"(goal: {cert['goal']:.0%} of the planted rule's growth and 90% decision accuracy on every market; share "
        f"earned by market: {shares}); `{cert['command']}` (docs/results/learnability.md)"
    )
    config = Path(run_dir) / "config.yaml"
    if config.is_file():
        same = learner_settings(yaml.safe_load(config.read_text(encoding="utf-8")) or {}) == cert["learner"]
        line += ". This run's learner settings are " + ("the certified ones." if same else "not the certified ones.")
    return [line]
