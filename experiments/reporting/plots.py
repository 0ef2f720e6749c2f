"""The report's PNG plots (matplotlib, Agg backend), one function per file; every number from the results.

Each function takes backtest results (:class:`~experiments.evaluation.backtest.BacktestResult`) or a run's logged curve
and writes one PNG. :mod:`experiments.reporting.report` decides which are drawn and writes the markdown around them:

    equity.png           upper panel: the capped policies (every env-driven run, position <= max_position) on
                         their own scale; lower panel: the same with the fully invested buy_and_hold_full
    drawdown.png         drawdown from the running peak, the same two panels
    regimes.png          price shaded by the most likely Tier 2 regime of a run
    weights.png          Tier 1 component weights of a run (stacked)
    positions.png        position size per bar (fraction of equity, the cap drawn) and 63-bar rolling exposure
    actions.png          distribution of size, hold, stop and target over a run's trades
    learning_curve.png   at each evaluation: reward, Sharpe, flat share and trades of the training episodes and
                         of the validation window, the kept checkpoint marked
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.layout import COMPONENTS, REGIMES
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult
from experiments.evaluation.metrics import drawdown_series

BENCHMARK = "buy_and_hold_full"
"""The fully invested market benchmark: drawn only in the lower equity and drawdown panels."""
EXPOSURE_BARS = 63
"""Bars of the rolling exposure in ``positions.png`` (about a quarter of a year)."""
REGIME_COLORS: dict[str, str] = {
    "bull_momentum": "#2ca02c",
    "bear_defensive": "#ff7f0e",
    "choppy": "#7f7f7f",
    "crisis": "#d62728",
    "theme_driven": "#9467bd",
}
ACTION_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("size", "size approved by the risk layer (% of equity)", 100.0),
    ("hold", "hold (bars asked for)", 1.0),
    ("stop", "stop distance (%)", 100.0),
    ("target", "target distance (%)", 100.0),
)
"""Trade columns of ``actions.png``: column, axis label, scale (x100 for percentages)."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cap_text(cap: float | None) -> str:
    return f"position <= {cap:.0%} of equity" if cap is not None else "position capped by the risk layer"


def _lines(ax: Any, results: Mapping[str, BacktestResult], policies: Sequence[str], drawdown: bool) -> None:
    for name, r in results.items():
        y = -100.0 * drawdown_series(r.equity.to_numpy()) if drawdown else r.equity.to_numpy()
        bold = name in policies
        ax.plot(r.equity.index, y, label=name, lw=2.2 if bold else 1.0, zorder=3 if bold else 2)
    ax.set_ylabel("drawdown (%)" if drawdown else "equity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)


def plot_lines(
    path: Path,
    results: Mapping[str, BacktestResult],
    policies: Sequence[str],
    *,
    drawdown: bool,
    cap: float | None = None,
) -> str:
    """Equity (or drawdown) curves in two panels; returns the caption saying how they are scaled.

    The upper panel holds every run but :data:`BENCHMARK` on its own y scale, so policies capped at a 20%
    position are not a flat band under a fully invested curve; the lower panel adds :data:`BENCHMARK`. With no
    benchmark in ``results`` there is one panel.
    """
    plt = _pyplot()
    capped = {k: v for k, v in results.items() if k != BENCHMARK}
    what = "Drawdown from the running peak" if drawdown else "Equity"
    panels = [(capped, f"{what}: the capped runs ({_cap_text(cap)}) on their own scale")]
    if BENCHMARK in results and capped:
        panels.append((dict(results), f"{what} with the fully invested market benchmark {BENCHMARK}"))
    elif not capped:
        panels = [(dict(results), f"{what}")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 4.0 * len(panels)), sharex=True, squeeze=False)
    for ax, (runs, title) in zip(axes[:, 0], panels, strict=True):
        _lines(ax, runs, policies, drawdown)
        ax.set_title(title, fontsize=10)
    _save(fig, path)
    if len(panels) == 1:
        return f"{what} of every run."
    return (
        f"{what}. Upper panel: every run except `{BENCHMARK}` on its own scale ({_cap_text(cap)}); "
        f"lower panel: the same runs with the fully invested `{BENCHMARK}`, which sets the scale."
    )


def _per_bar(frame: pd.DataFrame, columns: tuple[str, ...], index: pd.DatetimeIndex) -> pd.DataFrame:
    """Per-decision values held until the next decision, on every bar of ``index``."""
    if frame.empty:
        return pd.DataFrame(np.nan, index=index, columns=list(columns))
    frame = frame.assign(date=pd.to_datetime(frame["date"]))  # dates read back from CSV are strings
    values = frame.drop_duplicates("date", keep="last").set_index("date")[list(columns)].astype(float)
    return values.reindex(index, method="ffill")


def plot_regimes(path: Path, result: BacktestResult) -> None:
    """Price shaded by the most likely regime of ``result`` at each bar (no shading where it is unknown)."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    price = result.price if result.price is not None else result.equity
    probs = _per_bar(result.regimes, REGIME_COLUMNS, price.index).to_numpy()
    finite = np.isfinite(probs).all(axis=1)
    spread = np.zeros(len(probs))
    spread[finite] = probs[finite].max(axis=1) - probs[finite].min(axis=1)
    known = finite & (spread > 1e-6)  # uniform probabilities (Tier 2 off) carry no regime
    label = np.where(known, np.argmax(np.nan_to_num(probs, nan=0.0), axis=1), -1)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = price.index
    cuts = np.flatnonzero(np.diff(label)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(label)], strict=True):
        if label[lo] >= 0:  # a run of bars with the same most likely regime, up to the next run's first bar
            color = REGIME_COLORS[REGIMES[label[lo]]]
            ax.axvspan(x[lo], x[min(hi, len(x) - 1)], color=color, alpha=0.25, linewidth=0)
    ax.plot(price.index, price.to_numpy(), color="black", lw=1.0)
    handles = [Patch(color=REGIME_COLORS[r], alpha=0.4, label=r) for r in REGIMES]
    ax.legend(handles=handles, fontsize=8, ncol=5, loc="upper left")
    note = "" if known.any() else " (Tier 2 off: no regime information)"
    ax.set_title(f"Price shaded by the most likely regime of {result.name}{note}")
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_weights(path: Path, result: BacktestResult) -> None:
    """Tier 1 component weights of ``result`` at each bar, stacked."""
    plt = _pyplot()
    weights = _per_bar(result.weights, WEIGHT_COLUMNS, result.equity.index).fillna(1.0 / len(COMPONENTS))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(weights.index, weights.to_numpy().T, labels=list(COMPONENTS), alpha=0.8, step="post")
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight")
    ax.set_title(f"Tier 1 component weights of {result.name}")
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    _save(fig, path)


def position_series(result: BacktestResult) -> pd.Series:
    """Position size per bar (fraction of equity at entry) on ``result.equity``'s index.

    A trade holds its ``size`` on bars ``entry_bar .. exit_bar`` inclusive (the convention of
    :func:`experiments.evaluation.metrics.exposure`, so ``mean(position > 0)`` is the run's ``exposure_frac``).
    """
    n = len(result.equity)
    pos = np.zeros(n)
    trades = result.trades
    if len(trades) and {"entry_bar", "exit_bar", "size"} <= set(trades.columns):
        exits = trades["exit_bar"].fillna(n - 1)
        for entry, exit_, size in zip(trades["entry_bar"], exits, trades["size"], strict=True):
            pos[int(entry) : int(exit_) + 1] += float(size)
    return pd.Series(pos, index=result.equity.index, name="position")


def plot_positions(
    path: Path, results: Mapping[str, BacktestResult], policies: Sequence[str], cap: float | None
) -> None:
    """Position size per bar and its rolling exposure, for each run in ``policies``."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for name in policies:
        pos = position_series(results[name])
        top.step(pos.index, 100.0 * pos.to_numpy(), where="post", lw=1.0, label=name)
        share = (pos > 0).astype(float).rolling(EXPOSURE_BARS, min_periods=1).mean()
        exposure = results[name].metrics.get("exposure_frac", float(np.mean(pos.to_numpy() > 0)))
        bottom.plot(share.index, 100.0 * share.to_numpy(), lw=1.2, label=f"{name} (whole window {exposure:.0%})")
    if cap is not None:
        top.axhline(100.0 * cap, color="red", ls="--", lw=1.0, label=f"position cap {cap:.0%}")
    top.set_ylabel("position (% of equity)")
    top.set_title("Position size per bar (size at entry, held from the entry bar to the exit bar)", fontsize=10)
    bottom.set_ylabel("bars in the market (%)")
    bottom.set_ylim(-2, 102)
    bottom.set_title(f"Exposure: share of the last {EXPOSURE_BARS} bars with an open position", fontsize=10)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def decisions(result: BacktestResult) -> int:
    """Decisions of a run: one per env step (the rows of its weights log)."""
    return len(result.weights)


def plot_actions(
    path: Path,
    results: Mapping[str, BacktestResult],
    policies: Sequence[str],
    ranges: Mapping[str, tuple[float, float]],
) -> None:
    """Histograms of size, hold, stop and target over the trades of each run in ``policies``.

    ``ranges`` gives each field's action-map range (drawn as dotted lines; e.g. size ``(0, max_position)``).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    counts = []
    for name in policies:
        trades = results[name].trades
        n_dec = decisions(results[name])
        counts.append(
            f"{name}: {len(trades)} trades of {n_dec} decisions" if n_dec else f"{name}: {len(trades)} trades"
        )
        for ax, (column, _, scale) in zip(axes.flat, ACTION_FIELDS, strict=True):
            values = trades[column].dropna().to_numpy(dtype=float) * scale if column in trades.columns else np.empty(0)
            if len(values):
                ax.hist(values, bins=_bins(column, ranges.get(column), scale, values), alpha=0.55, label=name)
    for ax, (column, label, scale) in zip(axes.flat, ACTION_FIELDS, strict=True):
        for bound in ranges.get(column, ()):
            ax.axvline(bound * scale, color="gray", ls=":", lw=1.0)
        ax.set_xlabel(label)
        ax.set_ylabel("trades")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("Actions of the trades (dotted: the action map's range); " + "; ".join(counts), fontsize=10)
    _save(fig, path)


def _bins(column: str, bounds: tuple[float, float] | None, scale: float, values: np.ndarray) -> np.ndarray:
    """Histogram bins over the action map's range (one per bar for ``hold``), else over the values."""
    lo, hi = (bounds[0] * scale, bounds[1] * scale) if bounds else (float(values.min()), float(values.max()))
    if column == "hold":
        return np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0, 1.0)
    return np.linspace(lo, hi, 41) if hi > lo else np.linspace(lo - 0.5, lo + 0.5, 3)


LEARNING_PANELS: tuple[tuple[str, str, str], ...] = (
    ("train_reward", "eval_reward", "episode reward"),
    ("train_sharpe", "val_sharpe", "Sharpe (annual)"),
    ("train_flat_share", "val_flat_share", "flat share of decisions"),
    ("train_trade_count", "trade_count", "trades per episode"),
)
"""Panels of ``learning_curve.png``: training column, validation column, axis label (columns of
:data:`experiments.training.learning_curve.COLUMNS`)."""


def plot_learning_curve(path: Path, curve: pd.DataFrame, kept: int | None = None, best: int | None = None) -> None:
    """Training episodes (mean since the previous evaluation) and the validation episode at each evaluation: reward,
    Sharpe, flat share, trades. ``kept``: row of the checkpoint kept as ``best_model.zip`` (dashed green);
    ``best``: row of the best validation Sharpe when it differs (dotted orange). Missing columns are not drawn."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(LEARNING_PANELS), 1, figsize=(10, 9), sharex=True)
    x = curve["timesteps"].to_numpy()
    for ax, (train, val, label) in zip(axes, LEARNING_PANELS, strict=True):
        for column, name, style in ((train, "training episodes", "-"), (val, "validation window", "--")):
            if column in curve.columns and curve[column].notna().any():
                ax.plot(x, curve[column].to_numpy(dtype=float), ls=style, marker="o", ms=3, lw=1.2, label=name)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
        if kept is not None:
            ax.axvline(x[kept], color="green", ls="--", lw=1.0)
        if best is not None and best != kept:
            ax.axvline(x[best], color="orange", ls=":", lw=1.4)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    title = "At each evaluation: the training episodes since the previous one (mean) and the validation window"
    marks = "\ndashed green: the checkpoint kept as best_model.zip; dotted orange: the best validation Sharpe"
    axes[0].set_title(title + (marks if kept is not None else ""), fontsize=9)
    axes[-1].set_xlabel("training steps")
    _save(fig, path)
