"""Out-of-sample report: a metrics table of the policy against every baseline, and four plots.

:func:`write_report` writes into a run folder::

    report.md       window, costs, limits, trials counted for the DSR, the metrics table, plots, notes, config
    equity.png      equity of the policy and every baseline
    drawdown.png    drawdown from the running peak of each
    regimes.png     price shaded by the most likely Tier 2 regime of the policy run
    weights.png     Tier 1 component weights of the policy run (stacked)

:func:`metrics_table` returns the same markdown table, for the CLI to print. Every number comes from
``BacktestResult.metrics`` (:func:`experiments.metrics.summarize`); when a run has no Sharpe difference against
the full buy-and-hold benchmark (run without ``benchmark_returns``), it is computed here with the same function
(:func:`experiments.metrics.paired_sharpe_difference`) on the same bars.

Example:
    >>> results = {"ppo": run_backtest(env, SB3Policy(model)), **baseline_results}     # doctest: +SKIP
    >>> write_report(Path("runs/q"), results, title="Quick start, test 2015-2018")    # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.layout import COMPONENTS, REGIMES
from experiments.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult
from experiments.metrics import drawdown_series, paired_sharpe_difference

BENCHMARK = "buy_and_hold_full"
"""Name of the market benchmark the Sharpe differences are measured against."""
PLOTS: tuple[str, ...] = ("equity.png", "drawdown.png", "regimes.png", "weights.png")
"""The plot files :func:`write_report` writes next to ``report.md``."""
REGIME_COLORS: dict[str, str] = {
    "bull_momentum": "#2ca02c",
    "bear_defensive": "#ff7f0e",
    "choppy": "#7f7f7f",
    "crisis": "#d62728",
    "theme_driven": "#9467bd",
}


def _pct(x: float) -> str:
    return _num(x, "{:.2%}")


def _num(x: float, fmt: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return fmt.format(x)


def _interval(low: float, high: float) -> str:
    return "n/a" if math.isnan(low) or math.isnan(high) else f"[{low:.2f}, {high:.2f}]"


def _diff(m: Mapping[str, float]) -> str:
    if math.isnan(m["sharpe_diff_annual"]):
        return "n/a"
    return f"{m['sharpe_diff_annual']:.2f} {_interval(m['sharpe_diff_ci_low_annual'], m['sharpe_diff_ci_high_annual'])}"


COLUMNS: tuple[tuple[str, Callable[[Mapping[str, float]], str]], ...] = (
    ("Total return", lambda m: _pct(m["total_return_frac"])),
    ("CAGR", lambda m: _pct(m["cagr_frac"])),
    ("Vol", lambda m: _pct(m["vol_annual"])),
    ("Sharpe", lambda m: _num(m["sharpe_annual"])),
    ("Sortino", lambda m: _num(m["sortino_annual"])),
    ("Max DD", lambda m: _pct(m["max_drawdown_frac"])),
    ("Calmar", lambda m: _num(m["calmar_ratio"])),
    ("Win rate", lambda m: _pct(m["win_rate_frac"])),
    ("Profit factor", lambda m: _num(m["profit_factor"])),
    ("Trades", lambda m: _num(m["trade_count"], "{:.0f}")),
    ("Exposure", lambda m: _pct(m["exposure_frac"])),
    ("Turnover /yr", lambda m: _num(m["turnover_annual"])),
    ("PSR", lambda m: _num(m["psr_prob"], "{:.3f}")),
    ("DSR", lambda m: _num(m["dsr_prob"], "{:.3f}")),
    ("Sharpe 95% CI", lambda m: _interval(m["sharpe_ci_low_annual"], m["sharpe_ci_high_annual"])),
    (f"ΔSharpe vs {BENCHMARK} [95% CI]", lambda m: _diff(m)),
)
"""Table columns: header and formatter of a :func:`~experiments.metrics.summarize` dict."""


def _with_benchmark_diff(result: BacktestResult, bench: BacktestResult | None) -> dict[str, float]:
    """The result's metrics; the Sharpe difference against ``bench`` filled in when the run lacks it."""
    m = dict(result.metrics)
    if bench is None or result is bench or not math.isnan(m.get("sharpe_diff_annual", math.nan)):
        return m
    if not result.equity.index.equals(bench.equity.index):
        return m
    seed = int(result.run_info.get("seed", 0))
    diff = paired_sharpe_difference(result.returns, bench.returns, rng=seed)
    m.update(
        sharpe_diff_annual=diff.diff_sharpe_annual,
        sharpe_diff_ci_low_annual=diff.ci_low_annual,
        sharpe_diff_ci_high_annual=diff.ci_high_annual,
        sharpe_diff_p_le_zero=diff.p_le_zero,
    )
    return m


def metrics_table(results: Mapping[str, BacktestResult]) -> str:
    """Markdown table, one row per result (in the mapping's order), the columns of :data:`COLUMNS`.

    Percentages for returns, volatility, drawdown, win rate and exposure (``12.34%``); two decimals for ratios;
    ``n/a`` where a value is undefined. The Sharpe difference is against ``results["buy_and_hold_full"]``.
    """
    if not results:
        raise ValueError("results is empty: pass at least one BacktestResult")
    bench = results.get(BENCHMARK)
    header = ["Policy", *(c for c, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *("---:" for _ in COLUMNS)]) + "|"]
    for name, result in results.items():
        m = _with_benchmark_diff(result, bench)
        label = f"{name} (halted)" if result.halted else name
        lines.append("| " + " | ".join([label, *(fmt(m) for _, fmt in COLUMNS)]) + " |")
    return "\n".join(lines)


# Plots ------------------------------------------------------------------------------------------------------


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


def _plot_lines(path: Path, results: Mapping[str, BacktestResult], policy: str, *, drawdown: bool) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, r in results.items():
        y = -100.0 * drawdown_series(r.equity.to_numpy()) if drawdown else r.equity.to_numpy()
        ax.plot(r.equity.index, y, label=name, lw=2.2 if name == policy else 1.0, zorder=3 if name == policy else 2)
    ax.set_title("Drawdown from the running peak" if drawdown else "Equity: policy vs baselines")
    ax.set_ylabel("drawdown (%)" if drawdown else "equity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    _save(fig, path)


def _per_bar(frame: pd.DataFrame, columns: tuple[str, ...], index: pd.DatetimeIndex) -> pd.DataFrame:
    """Per-decision values held until the next decision, on every bar of ``index``."""
    if frame.empty:
        return pd.DataFrame(np.nan, index=index, columns=list(columns))
    frame = frame.assign(date=pd.to_datetime(frame["date"]))  # dates read back from CSV are strings
    values = frame.drop_duplicates("date", keep="last").set_index("date")[list(columns)].astype(float)
    return values.reindex(index, method="ffill")


def _plot_regimes(path: Path, result: BacktestResult) -> None:
    plt = _pyplot()
    from matplotlib.patches import Patch

    price = result.price if result.price is not None else result.equity
    probs = _per_bar(result.regimes, REGIME_COLUMNS, price.index).to_numpy()
    known = np.isfinite(probs).all(axis=1) & (np.nanmax(probs, axis=1) - np.nanmin(probs, axis=1) > 1e-6)
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


def _plot_weights(path: Path, result: BacktestResult) -> None:
    plt = _pyplot()
    weights = _per_bar(result.weights, WEIGHT_COLUMNS, result.equity.index).fillna(1.0 / len(COMPONENTS))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(weights.index, weights.to_numpy().T, labels=list(COMPONENTS), alpha=0.8, step="post")
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight")
    ax.set_title(f"Tier 1 component weights of {result.name}")
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    _save(fig, path)


# Markdown ---------------------------------------------------------------------------------------------------


def _trials(policy: BacktestResult) -> str:
    """``n_trials`` of the policy's metrics, with how it was counted when the run says (``run_info["trials"]``)."""
    text = _num(policy.metrics.get("n_trials", math.nan), "{:.0f}")
    how = (policy.run_info.get("trials") or {}).get("counted_as")
    return f"{text} ({how})" if how else text


def _header(title: str, policy: BacktestResult, results: Mapping[str, BacktestResult]) -> list[str]:
    info = policy.run_info
    start, end = info.get("window_dates", [str(policy.equity.index[0].date()), str(policy.equity.index[-1].date())])
    costs = info.get("costs") or {}
    lines = [
        f"# {title}",
        "",
        f"- Test window: {start} to {end} ({len(policy.equity)} bars) of `{info.get('data', '?')}`",
        f"- Costs: commission {costs.get('commission_bps', float('nan')):g} bps and slippage "
        f"{costs.get('slippage_bps', float('nan')):g} bps per side, in every run (fills at the next open)",
        f"- Trials counted for the deflated Sharpe ratio (DSR): {_trials(policy)}",
        f"- Initial equity: {info.get('initial_equity', float('nan')):,.0f}",
    ]
    if info.get("limits"):
        lim = info["limits"]
        lines.append(
            f"- Risk limits (all env runs): position <= {lim['max_position']:.0%}, daily loss {lim['daily_loss']:.0%}, "
            f"halt at drawdown {lim['max_drawdown']:.0%}, crisis regime = cash"
        )
    if BENCHMARK in results:
        lines.append(f"- `{BENCHMARK}` is the market benchmark: fully invested, same costs, outside the risk layer")
    halted = [f"{n} ({r.run_info.get('halt_time')})" for n, r in results.items() if r.halted]
    lines.append(f"- Risk halts: {', '.join(halted) if halted else 'none'}")
    return lines


def write_report(
    run_dir: Path,
    results: Mapping[str, BacktestResult],
    *,
    title: str,
    policy_name: str = "ppo",
    config_text: str | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write ``report.md`` and the plots of :data:`PLOTS` into ``run_dir``.

    Args:
        run_dir: Run folder (created if missing).
        results: Backtest results by name: the policy and every baseline (and ideally ``buy_and_hold_full``).
        title: Report title.
        policy_name: Key of the policy in ``results``; its row comes first, its regimes and weights are plotted.
        config_text: Resolved config (YAML) to append, or None.
        notes: Extra bullet points (e.g. caveats), or None.

    Returns:
        Path of ``report.md``.

    Raises:
        ValueError: ``policy_name`` is not in ``results``.
    """
    if policy_name not in results:
        raise ValueError(f"policy_name={policy_name!r} is not in results; have {sorted(results)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    policy = results[policy_name]
    ordered = {policy_name: policy, **{k: v for k, v in results.items() if k != policy_name}}
    _plot_lines(run_dir / "equity.png", ordered, policy_name, drawdown=False)
    _plot_lines(run_dir / "drawdown.png", ordered, policy_name, drawdown=True)
    _plot_regimes(run_dir / "regimes.png", policy)
    _plot_weights(run_dir / "weights.png", policy)
    lines = [*_header(title, policy, ordered), "", "## Metrics", "", metrics_table(ordered), ""]
    lines += [
        "Sharpe, Sortino and volatility are annualised (252 bars); CIs are stationary-bootstrap percentile intervals;",
        "PSR is P(Sharpe > 0); DSR deflates it for the number of trials counted.",
        "",
        "## Plots",
        "",
    ]
    for png in PLOTS:
        lines += [f"![{png[:-4]}]({png})", ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    if config_text:
        lines += ["## Config", "", "```yaml", config_text.rstrip(), "```", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
