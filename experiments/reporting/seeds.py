"""Seed spread: several backtested runs of one config that differ only by their seed, in one report.

``tradebrain report --run R1 --run R2 ... [--out DIR]`` calls :func:`write_seed_report`, which writes into ``DIR``
(default: the first run's folder, next to its own ``report.md``)::

    seeds.md           the config checked identical but for the seed; per-seed metrics of the trained policy
                       with their median and range (min to max); each seed's verdict counts (beat / lost to /
                       no evidence either way against the baselines, as in experiments.reporting.report.verdict)
    seeds.csv          the per-seed table
    seeds_equity.png   the policy's equity of every seed, their median and min-max band, with buy_and_hold_cap

Every number comes from each run's ``backtest/`` files (:func:`experiments.reporting.evaluate.load_results`): run
``tradebrain backtest`` (or ``quickstart``) on each run first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.tier3.config import flatten_dict
from experiments.config import ConfigError, RunConfig, load_config
from experiments.evaluation.backtest import BacktestResult
from experiments.reporting.plots import _pyplot, _save
from experiments.reporting.report import BENCHMARK, POLICY, is_trained, verdict

FILES: tuple[str, ...] = ("seeds.md", "seeds.csv", "seeds_equity.png")
"""What :func:`write_seed_report` writes."""
IGNORED_KEYS: frozenset[str] = frozenset({"seed", "name", "runs_dir"})
"""Config keys runs of one config may differ in."""
REFERENCE = "buy_and_hold_cap"
"""The baseline drawn in the equity band for scale (capped like the policy)."""
METRICS: tuple[tuple[str, str, str], ...] = (
    ("sharpe_annual", "Sharpe", "{:.2f}"),
    ("total_return_frac", "Total return", "{:.2%}"),
    ("max_drawdown_frac", "Max DD", "{:.2%}"),
    ("trade_count", "Trades", "{:.0f}"),
    ("exposure_frac", "Exposure", "{:.1%}"),
    ("sharpe_diff_annual", f"ΔSharpe vs {BENCHMARK}", "{:.2f}"),
)
"""Per-seed columns: metric key, header, format."""
COUNTS: tuple[tuple[str, str], ...] = (("beat", "Beat"), ("lost", "Lost to"), ("none", "No evidence"))


def check_same_config(configs: Sequence[RunConfig]) -> None:
    """Raise unless every config equals the first in every key but :data:`IGNORED_KEYS`.

    Raises:
        ConfigError: Two runs differ in another key (the keys and both values are named).
    """
    first = flatten_dict(dataclasses.asdict(configs[0]))
    for i, cfg in enumerate(configs[1:], start=2):
        other = flatten_dict(dataclasses.asdict(cfg))
        diff = [
            k for k in sorted(first.keys() | other.keys()) if k not in IGNORED_KEYS and first.get(k) != other.get(k)
        ]
        if diff:
            shown = ", ".join(f"{k} ({first.get(k)!r} vs {other.get(k)!r})" for k in diff[:5])
            raise ConfigError(
                f"run 1 and run {i} differ in more than the seed: {shown}; a seed-spread report compares the seeds "
                "of one config"
            )


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """One run of the spread: its folder, seed and backtest results."""

    run_dir: Path
    seed: int
    results: dict[str, BacktestResult]


def load_runs(run_dirs: Sequence[Path], policy: str = POLICY) -> list[SeedRun]:
    """Each run's config and backtest results, checked to be one config over distinct seeds on the same bars.

    Raises:
        ConfigError: Fewer than two runs, configs that differ in more than the seed (:func:`check_same_config`),
            a repeated seed, or runs tested on different bars.
        FileNotFoundError: A run has no config, no backtest files or no backtest of ``policy``.
    """
    from experiments.reporting.evaluate import load_results

    if len(run_dirs) < 2:
        raise ConfigError(f"a seed spread needs at least two runs, got {len(run_dirs)}")
    configs = []
    for run_dir in run_dirs:
        if not (Path(run_dir) / "config.yaml").exists():
            raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
        configs.append(load_config(Path(run_dir) / "config.yaml"))
    check_same_config(configs)
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"the runs repeat a seed ({seeds}); give runs of distinct seeds")
    runs = [SeedRun(Path(d), c.seed, load_results(Path(d))) for d, c in zip(run_dirs, configs, strict=True)]
    for run in runs:
        if policy not in run.results:
            raise FileNotFoundError(
                f"{run.run_dir} has no backtest of {policy!r}; run `tradebrain backtest --run {run.run_dir}`"
            )
        if not run.results[policy].equity.index.equals(runs[0].results[policy].equity.index):
            raise ConfigError(f"{run.run_dir} was tested on other bars than {runs[0].run_dir}; the windows must match")
    return sorted(runs, key=lambda r: r.seed)


def seed_table(runs: Sequence[SeedRun], policy: str = POLICY, *, n_boot: int = 1000) -> pd.DataFrame:
    """One row per seed: the metrics of :data:`METRICS` and the verdict counts of :data:`COUNTS`."""
    rows = []
    for run in runs:
        m = run.results[policy].metrics
        others = [k for k in run.results if k != policy and not is_trained(k)]
        judged = verdict({policy: run.results[policy], **{k: run.results[k] for k in others}}, [policy], n_boot=n_boot)
        outcomes = [c.outcome for c in judged[policy]]
        row: dict[str, Any] = {"seed": run.seed, "run_dir": str(run.run_dir)}
        row.update({key: float(m.get(key, math.nan)) for key, _, _ in METRICS})
        row.update({key: outcomes.count(key) for key, _ in COUNTS})
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float, fmt: str) -> str:
    return "n/a" if not np.isfinite(value) else fmt.format(value)


def _markdown_table(table: pd.DataFrame) -> list[str]:
    header = ["Seed", *(h for _, h, _ in METRICS), *(h for _, h in COUNTS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *("---:" for _ in header[1:])]) + "|"]
    for _, row in table.iterrows():
        cells = [str(row["seed"]), *(_fmt(row[k], f) for k, _, f in METRICS), *(str(row[k]) for k, _ in COUNTS)]
        lines.append("| " + " | ".join(cells) + " |")
    for label, agg in (("median", np.nanmedian), ("min", np.nanmin), ("max", np.nanmax)):
        cells = [f"**{label}**"]
        for key, _, fmt in METRICS:
            values = table[key].to_numpy(dtype=float)
            cells.append(_fmt(float(agg(values)), fmt) if np.isfinite(values).any() else "n/a")
        cells += [_fmt(float(agg(table[k].to_numpy(dtype=float))), "{:g}") for k, _ in COUNTS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot_band(path: Path, runs: Sequence[SeedRun], policy: str = POLICY) -> None:
    """The policy's equity of each seed (thin), the median (bold), the min-max band and :data:`REFERENCE`."""
    plt = _pyplot()
    index = runs[0].results[policy].equity.index
    curves = np.vstack([r.results[policy].equity.to_numpy() for r in runs])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.fill_between(index, curves.min(axis=0), curves.max(axis=0), alpha=0.2, label=f"{policy}: min-max of seeds")
    for run, curve in zip(runs, curves, strict=True):
        ax.plot(index, curve, lw=0.7, alpha=0.6, label=f"seed {run.seed}")
    ax.plot(index, np.median(curves, axis=0), lw=2.2, color="black", label=f"{policy}: median of seeds")
    reference = runs[0].results.get(REFERENCE)
    if reference is not None:
        ax.plot(reference.equity.index, reference.equity.to_numpy(), ls="--", color="gray", lw=1.2, label=REFERENCE)
    ax.set_title(f"Equity of {policy} over {len(runs)} seeds (capped runs' own scale; {BENCHMARK} not drawn)")
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    _save(fig, path)


def write_seed_report(
    run_dirs: Sequence[Path], out: Path | None = None, *, policy: str = POLICY, n_boot: int = 1000
) -> Path:
    """Write :data:`FILES` into ``out`` (default: the first run's folder); returns the path of ``seeds.md``."""
    runs = load_runs([Path(d) for d in run_dirs], policy)
    out = Path(out) if out is not None else Path(run_dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    table = seed_table(runs, policy, n_boot=n_boot)
    table.to_csv(out / "seeds.csv", index=False)
    plot_band(out / "seeds_equity.png", runs, policy)
    cfg = load_config(runs[0].run_dir / "config.yaml")
    first = runs[0].results[policy]
    dates = first.run_info.get("window_dates") or [
        str(first.equity.index[0].date()),
        str(first.equity.index[-1].date()),
    ]
    lines = [
        f"# Seed spread: {cfg.name}, {len(runs)} seeds",
        "",
        f"- Policy: `{policy}` of each run; test window {dates[0]} to {dates[1]} ({len(first.equity)} bars) of "
        f"`{cfg.stack.data}`",
        f"- Configs: identical in every key but {', '.join(sorted(IGNORED_KEYS))} (checked)",
        *(f"- Seed {r.seed}: `{r.run_dir}`" for r in runs),
        "",
        "## Metrics per seed",
        "",
        *_markdown_table(table),
        "",
        "Beat / Lost to / No evidence count the baselines of each run whose paired Sharpe difference has a 95% CI "
        "above zero / below zero / holding zero (the verdict of each run's report).",
        "",
        "![seeds_equity](seeds_equity.png)",
        "",
    ]
    path = out / "seeds.md"
    path.write_text("\n".join(lines))
    return path
