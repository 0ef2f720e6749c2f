"""Out-of-sample report: a verdict in plain words, the metrics table of the policy against every baseline, plots.

:func:`write_report` writes into a run folder::

    report.md           verdict (with a warning when the test window is too short to separate policies);
                        "Did it learn?" (experiments.reporting.learning: training and validation curves, flat
                        decisions, flags); window, costs, limits, trials counted for the DSR; metrics table;
                        plots; notes; config
    equity.png          equity: the capped runs on their own scale, then with buy_and_hold_full (two panels)
    drawdown.png        drawdown from the running peak, the same two panels
    regimes.png         price shaded by the most likely Tier 2 regime of the policy run (not drawn with Tier 2 off)
    weights.png         Tier 1 component weights of the policy run (not drawn with Tier 1 off)
    positions.png       position size per bar and rolling exposure of each trained policy
    actions.png         distribution of size, hold, stop and target over the trained policies' trades
    learning_curve.png  reward, Sharpe, flat share and trades of the training episodes and the validation window
                        at each evaluation (runs with best/val_curve.csv)

**The verdict** (:func:`verdict`) compares each trained policy with each baseline on the same bars: the paired
Sharpe difference (:func:`experiments.evaluation.stats.paired_sharpe_difference`, stationary bootstrap seeded with the
policy run's seed, 95% percentile interval). The policy *beat* a baseline when the interval lies above zero,
*lost to* it when it lies below, and there is *no evidence either way* otherwise. A warning line follows when a
trivial baseline (:data:`TRIVIAL_BASELINES`: the random policy, buy-and-hold at the position cap) had a higher
Sharpe than the policy, and a warning before the verdict when the test window is too short to separate policies
(:func:`window_warning`: the half-width of the policy's own Sharpe interval is above :data:`WIDE_INTERVAL` and some
baseline got no evidence either way).
:func:`verdict_text` gives the same verdict as plain text for the CLI.

:func:`metrics_table` returns the markdown table, for the CLI to print. Every number comes from
``BacktestResult.metrics`` (:func:`experiments.evaluation.stats.summarize`); when a run has no Sharpe difference against
the full buy-and-hold benchmark (run without ``benchmark_returns``), it is computed here with the same function
(:func:`experiments.evaluation.stats.paired_sharpe_difference`) on the same bars.

A run can hold several trained policies: ``ppo`` (the best model on the validation window, or the final model
when there is no best) and ``ppo_final`` (the final model, backtested with ``tradebrain backtest --model final``);
both get a table row and a verdict.

Example:
    >>> results = {"ppo": run_backtest(env, SB3Policy(model)), **baseline_results}     # doctest: +SKIP
    >>> write_report(Path("runs/q"), results, title="Quick start, test 2015-2018")    # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.layout import ActionMap
from experiments.evaluation.backtest import BacktestResult
from experiments.evaluation.baselines import BuyAndHold, RandomPolicy
from experiments.evaluation.stats import paired_sharpe_difference
from experiments.reporting import learning, plots
from experiments.reporting.plots import _pyplot, _save  # noqa: F401 (experiments.walkforward.results draws with them)

BENCHMARK = plots.BENCHMARK
"""Name of the market benchmark the Sharpe differences of the table are measured against."""
POLICY = "ppo"
"""Name of the trained policy: the best model on the validation window (the final model when there is none)."""
FINAL = "ppo_final"
"""Name of the final model when the run also has a best model (``tradebrain backtest --model final``)."""
PLOTS: tuple[str, ...] = ("equity.png", "drawdown.png", "regimes.png", "weights.png", "positions.png", "actions.png")
"""The plot files :func:`write_report` writes next to ``report.md`` (regimes and weights only with their tier on)."""
LEARNING_CURVE = learning.LEARNING_CURVE
"""The plot of the training and validation curves, written when the run logged one."""
WIDE_INTERVAL = 1.0
"""Half-width (annualised Sharpe) of the trained policy's own 95% Sharpe interval on the test window above which the
report warns that the window is too short to separate policies: a Sharpe difference of 1, the gap between a good
strategy (Sharpe 1) and cash, could then hide inside the interval. For a Sharpe near 0 of serially uncorrelated daily
returns the half-width is about 1.96 * sqrt(252 / bars): 1.0 at about 970 bars, four years of days. (The paired
intervals of the verdict are narrower for policies that trade alike; this one bounds how well the window knows a
policy at all.)"""
TRIVIAL_BASELINES: dict[str, str] = {
    RandomPolicy.name: "uniform random actions",
    BuyAndHold.name: "buy-and-hold at the position cap",
}
"""Baselines any learned policy should beat: a warning line when one has a higher Sharpe than the policy."""
OUTCOMES: dict[str, str] = {
    "beat": "beat it",
    "lost": "lost to it",
    "none": "no evidence either way",
    "n/a": "not comparable",
}
"""The verdict against one baseline, in words."""


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
"""Table columns: header and formatter of a :func:`~experiments.evaluation.stats.summarize` dict."""


def is_trained(name: str) -> bool:
    """Whether a result name is a trained policy of a run (``ppo``, ``ppo_final``, ``ppo_<model>``)."""
    return name == POLICY or name.startswith(f"{POLICY}_")


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


# Verdict ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A policy against one baseline on the same bars: the paired Sharpe difference and what it says.

    Attributes:
        policy: Name of the policy.
        baseline: Name of the baseline.
        diff_annual: Sharpe(policy) - Sharpe(baseline), annualised.
        ci_low_annual: Lower end of its 95% stationary-bootstrap interval.
        ci_high_annual: Upper end.
        policy_sharpe: Annualised Sharpe of the policy.
        baseline_sharpe: Annualised Sharpe of the baseline.
    """

    policy: str
    baseline: str
    diff_annual: float
    ci_low_annual: float
    ci_high_annual: float
    policy_sharpe: float
    baseline_sharpe: float

    @property
    def outcome(self) -> str:
        """``"beat"`` (interval above 0), ``"lost"`` (below 0), ``"none"`` (it holds 0) or ``"n/a"``."""
        if math.isnan(self.ci_low_annual) or math.isnan(self.ci_high_annual):
            return "n/a"
        if self.ci_low_annual > 0:
            return "beat"
        if self.ci_high_annual < 0:
            return "lost"
        return "none"

    @property
    def trivial_ahead(self) -> bool:
        """The baseline is trivial (:data:`TRIVIAL_BASELINES`) and had the higher Sharpe."""
        return self.baseline in TRIVIAL_BASELINES and self.baseline_sharpe > self.policy_sharpe


def compare(policy: BacktestResult, baseline: BacktestResult, *, n_boot: int = 1000) -> Comparison:
    """:class:`Comparison` of two runs on the same bars, seeded with the policy run's seed.

    The benchmark difference already in the policy's metrics (``sharpe_diff_*``, computed by the backtest against
    ``buy_and_hold_full``) is reused, so the verdict and the table agree; any other pair is bootstrapped here.
    Runs on different bars are not comparable (all differences ``nan``).
    """
    p_sharpe = float(policy.metrics.get("sharpe_annual", math.nan))
    b_sharpe = float(baseline.metrics.get("sharpe_annual", math.nan))
    nan = Comparison(policy.name, baseline.name, math.nan, math.nan, math.nan, p_sharpe, b_sharpe)
    if not policy.equity.index.equals(baseline.equity.index):
        return nan
    m = policy.metrics
    if baseline.name == BENCHMARK and not math.isnan(m.get("sharpe_diff_ci_low_annual", math.nan)):
        diff, low, high = m["sharpe_diff_annual"], m["sharpe_diff_ci_low_annual"], m["sharpe_diff_ci_high_annual"]
    else:
        seed = int(policy.run_info.get("seed", 0))
        d = paired_sharpe_difference(policy.returns, baseline.returns, n_boot=n_boot, rng=seed)
        diff, low, high = d.diff_sharpe_annual, d.ci_low_annual, d.ci_high_annual
    return Comparison(policy.name, baseline.name, float(diff), float(low), float(high), p_sharpe, b_sharpe)


def trained_policies(results: Mapping[str, BacktestResult]) -> list[str]:
    """The trained policies among ``results`` (:func:`is_trained`), else the first result."""
    names = [n for n in results if is_trained(n)]
    return names or list(results)[:1]


def verdict(
    results: Mapping[str, BacktestResult], policies: Sequence[str] | None = None, *, n_boot: int = 1000
) -> dict[str, list[Comparison]]:
    """``{policy: [Comparison against each baseline]}``; the baselines are every result not in ``policies``.

    Args:
        results: Backtest results by name, all on the same bars.
        policies: The policies to judge (default :func:`trained_policies`).
        n_boot: Bootstrap samples of each interval.
    """
    policies = list(policies) if policies is not None else trained_policies(results)
    missing = [p for p in policies if p not in results]
    if missing:
        raise ValueError(f"policies {missing} are not in results; have {sorted(results)}")
    baselines = [n for n in results if n not in policies]
    return {p: [compare(results[p], results[b], n_boot=n_boot) for b in baselines] for p in policies}


def _names(comparisons: Sequence[Comparison], outcome: str, quote: str) -> str:
    return ", ".join(f"{quote}{c.baseline}{quote}" for c in comparisons if c.outcome == outcome)


def _sentence(policy: str, comparisons: Sequence[Comparison], quote: str = "") -> str:
    """E.g. ``ppo beat 1 of the 7 baselines (vol_target), lost to 2 (ma_trend, random), no evidence either way
    against 4 (...).``; ``none`` and ``all 7`` where they apply (the names listed only for a part of them)."""
    if not comparisons:
        return f"{quote}{policy}{quote}: no baseline in this report, so no verdict."
    n = len(comparisons)
    plural = f"baseline{'s' if n != 1 else ''}"

    def part(words: str, outcome: str, of_n: str = "") -> str:
        k = sum(c.outcome == outcome for c in comparisons)
        if k == 0:
            return f"{words} none{of_n}"
        if k == n and n > 1:
            return f"{words} all {n}{of_n and f' {plural}'}"
        return f"{words} {k}{of_n} ({_names(comparisons, outcome, quote)})" if k < n else f"{words} {k}{of_n}"

    parts = [
        part("beat", "beat", f" of the {n} {plural}"),
        part("lost to", "lost"),
        part("no evidence either way against", "none"),
    ]
    if any(c.outcome == "n/a" for c in comparisons):
        parts.append(part("not comparable (other bars) with", "n/a"))
    return f"{quote}{policy}{quote} " + ", ".join(parts) + "."


def _warnings(comparisons: Sequence[Comparison], quote: str = "") -> list[str]:
    return [
        f"WARNING: the trivial baseline {quote}{c.baseline}{quote} ({TRIVIAL_BASELINES[c.baseline]}) had a higher "
        f"Sharpe than {quote}{c.policy}{quote}: {c.baseline_sharpe:.3f} against {c.policy_sharpe:.3f} "
        f"(higher by {c.baseline_sharpe - c.policy_sharpe:.2g})."
        for c in comparisons
        if c.trivial_ahead
    ]


def half_width(result: BacktestResult) -> float:
    """Half-width of the 95% interval of a run's annualised Sharpe (``sharpe_ci_*_annual``; NaN when unknown)."""
    low = float(result.metrics.get("sharpe_ci_low_annual", math.nan))
    high = float(result.metrics.get("sharpe_ci_high_annual", math.nan))
    return (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan


def window_warning(policy: BacktestResult, comparisons: Sequence[Comparison], quote: str = "") -> str | None:
    """A warning when the test window is too short to separate policies: the half-width of the policy's own
    Sharpe interval (:func:`half_width`) is above :data:`WIDE_INTERVAL` and the verdict has no evidence either way
    against at least one baseline (a window that separated the policy from every baseline was long enough for
    it); None otherwise."""
    width = half_width(policy)
    if not width > WIDE_INTERVAL or not any(c.outcome == "none" for c in comparisons):
        return None
    low, high = policy.metrics["sharpe_ci_low_annual"], policy.metrics["sharpe_ci_high_annual"]
    return (
        f"WARNING: the test window ({len(policy.equity)} bars) is too short to separate policies: it pins the Sharpe "
        f"of {quote}{policy.name}{quote} only to ±{width:.2f} (95% CI [{low:.2f}, {high:.2f}]; the report warns above "
        f"±{WIDE_INTERVAL:.2f}), so policies whose Sharpe differs by less cannot be told apart unless they trade "
        "alike; test on a longer window (more bars, or a larger share for stack.test)."
    )


def _bars(results: Mapping[str, BacktestResult]) -> int:
    return len(next(iter(results.values())).equity) if results else 0


def verdict_text(
    results: Mapping[str, BacktestResult],
    policies: Sequence[str] | None = None,
    *,
    n_boot: int = 1000,
    judged: Mapping[str, list[Comparison]] | None = None,
) -> str:
    """The verdict as plain text (for the CLI summary): one sentence per policy, warnings, one line per baseline.

    Args:
        results: Backtest results by name.
        policies: Policies to judge (default :func:`trained_policies`).
        n_boot: Bootstrap samples of each interval.
        judged: A :func:`verdict` already computed (else computed here).
    """
    judged = judged if judged is not None else verdict(results, policies, n_boot=n_boot)
    lines = [f"Verdict (paired Sharpe difference on the same {_bars(results)} bars, 95% CI must exclude zero):"]
    first = next(iter(judged), None)
    short = window_warning(results[first], judged[first]) if first is not None else None
    lines += [f"  {short}"] if short else []
    for policy, comparisons in judged.items():
        lines.append(f"  {_sentence(policy, comparisons)}")
        lines += [f"  {w}" for w in _warnings(comparisons)]
        for c in comparisons:
            diff = f"{c.diff_annual:+.2f} {_interval(c.ci_low_annual, c.ci_high_annual)}"
            lines.append(f"    vs {c.baseline:<20} ΔSharpe {diff:<22} {OUTCOMES[c.outcome]}")
    return "\n".join(lines)


def _verdict_markdown(judged: Mapping[str, list[Comparison]], bars: int, policy: BacktestResult) -> list[str]:
    lines = ["## Verdict", ""]
    short = window_warning(policy, next(iter(judged.values()), []), quote="`")
    lines += [f"> **{short}**", ""] if short else []
    for policy, comparisons in judged.items():
        lines += [f"**{_sentence(policy, comparisons, quote='`')}**", ""]
        lines += [f"> **{w}**" + "\n" for w in _warnings(comparisons, quote="`")]
        if not comparisons:
            continue
        lines += [
            f"| `{policy}` against | Sharpe of baseline | ΔSharpe | 95% CI | Verdict |",
            "|---|---:|---:|---:|---|",
        ]
        for c in comparisons:
            lines.append(
                f"| {c.baseline} | {_num(c.baseline_sharpe)} | {_num(c.diff_annual)} | "
                f"{_interval(c.ci_low_annual, c.ci_high_annual)} | {OUTCOMES[c.outcome]} |"
            )
        lines.append("")
    if any(judged.values()):
        lines += [
            f"ΔSharpe is the annualised Sharpe of the policy minus the baseline's on the same {bars} bars; the 95% CI "
            "is a paired stationary bootstrap. *Beat* or *lost to* needs the whole interval on one side of zero; "
            "otherwise the test window cannot tell the two apart.",
            "",
        ]
    return lines


# Markdown ---------------------------------------------------------------------------------------------------


def _trials(policy: BacktestResult) -> str:
    """``n_trials`` of the policy's metrics, with how it was counted when the run says (``run_info["trials"]``)."""
    text = _num(policy.metrics.get("n_trials", math.nan), "{:.0f}")
    how = (policy.run_info.get("trials") or {}).get("counted_as")
    return f"{text} ({how})" if how else text


def _header(policies: Sequence[str], results: Mapping[str, BacktestResult]) -> list[str]:
    policy = results[policies[0]]
    info = policy.run_info
    start, end = info.get("window_dates", [str(policy.equity.index[0].date()), str(policy.equity.index[-1].date())])
    costs = info.get("costs") or {}
    trials = "; ".join([_trials(policy), *(f"`{p}`: {_trials(results[p])}" for p in policies[1:])])
    lines = [
        f"- Test window: {start} to {end} ({len(policy.equity)} bars) of `{info.get('data', '?')}`",
        f"- Costs: commission {costs.get('commission_bps', float('nan')):g} bps and slippage "
        f"{costs.get('slippage_bps', float('nan')):g} bps per side, in every run (fills at the next open)",
        f"- Trials counted for the deflated Sharpe ratio (DSR): {trials}",
        f"- Initial equity: {info.get('initial_equity', float('nan')):,.0f}",
    ]
    models = [f"`{p}`: {results[p].run_info['model']}" for p in policies if results[p].run_info.get("model")]
    if models:
        lines.append(f"- Models: {'; '.join(models)}")
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


def _cap(policy: BacktestResult) -> float | None:
    limits = policy.run_info.get("limits") or {}
    return float(limits["max_position"]) if "max_position" in limits else None


def _action_ranges(policy: BacktestResult, action_map: ActionMap | None) -> dict[str, tuple[float, float]]:
    """The range of each action field: of ``action_map``, else of the default map at the run's cap."""
    amap = action_map or ActionMap(max_position=_cap(policy) or ActionMap.max_position)
    return {"size": (0.0, amap.max_position), "hold": (1.0, amap.max_hold), "stop": amap.stop_range,
            "target": amap.target_range}  # fmt: skip


def _tier_plots(run_dir: Path, policy: BacktestResult, tiers: Any) -> list[str]:
    """Draw regimes.png and weights.png for the tiers that were on; markdown for both (a sentence when off)."""
    lines = []
    specs = (
        ("tier2", "regimes.png", plots.plot_regimes, "Tier 2 was off (`stack.tiers.tier2: false`): no regime "
         "probabilities and no crisis rule, so there is no regime chart."),
        ("tier1", "weights.png", plots.plot_weights, "Tier 1 was off (`stack.tiers.tier1: false`): the component "
         "weights stayed at 0.25 each, so there is no weights chart."),
    )  # fmt: skip
    for attr, png, draw, off in specs:
        if tiers is not None and not getattr(tiers, attr):
            (run_dir / png).unlink(missing_ok=True)  # a chart from an earlier report would contradict the text
            lines += [f"- {off}", ""]
        else:
            draw(run_dir / png, policy)
            lines += [f"![{png[:-4]}]({png})", ""]
    return lines


def _plots(
    run_dir: Path,
    results: Mapping[str, BacktestResult],
    policies: Sequence[str],
    tiers: Any,
    action_map: ActionMap | None,
) -> list[str]:
    """Draw every plot; the markdown of the Plots section."""
    policy = results[policies[0]]
    cap = _cap(policy)
    lines = ["## Plots", ""]
    for png, drawdown in (("equity.png", False), ("drawdown.png", True)):
        caption = plots.plot_lines(run_dir / png, results, policies, drawdown=drawdown, cap=cap)
        lines += [f"![{png[:-4]}]({png})", "", caption, ""]
    plots.plot_positions(run_dir / "positions.png", results, policies, cap)
    plots.plot_actions(run_dir / "actions.png", results, policies, _action_ranges(policy, action_map))
    lines += ["![positions](positions.png)", "", "![actions](actions.png)", ""]
    lines += _tier_plots(run_dir, policy, tiers)
    return lines


def write_report(
    run_dir: Path,
    results: Mapping[str, BacktestResult],
    *,
    title: str,
    policy_name: str = POLICY,
    config_text: str | None = None,
    notes: list[str] | None = None,
    others: Sequence[str] = (),
    tiers: Any = None,
    val_curve: Path | None = None,
    action_map: ActionMap | None = None,
    n_boot: int = 1000,
    select_by: str = "reward",
) -> Path:
    """Write ``report.md`` and the plots of :data:`PLOTS` (and :data:`LEARNING_CURVE`) into ``run_dir``.

    Args:
        run_dir: Run folder (created if missing).
        results: Backtest results by name: the policy and every baseline (and ideally ``buy_and_hold_full``).
        title: Report title.
        policy_name: Key of the policy in ``results``; its row comes first, its regimes and weights are plotted.
        config_text: Resolved config (YAML) to append, or None.
        notes: Extra bullet points (e.g. caveats), or None.
        others: Further policies in ``results`` judged like the policy (e.g. ``ppo_final``), not as baselines.
        tiers: The run's tier switches (``cfg.stack.tiers``: ``tier1``, ``tier2``); a tier that was off gets a
            sentence instead of its chart. None: unknown, both charts drawn.
        val_curve: The run's curve CSV (``run_dir / experiments.evaluation.runfiles.VAL_CURVE``): its table and
            plot in "Did it learn?" when it exists, a sentence when it does not; None: not a training run (the
            section shows the flat decisions only).
        action_map: The env's action map, for the ranges drawn in ``actions.png`` (None: the default map at
            the run's position cap).
        n_boot: Bootstrap samples of the verdict's intervals.
        select_by: ``train.select_by`` of the run: the rule that kept ``best/best_model.zip``.

    Returns:
        Path of ``report.md``.

    Raises:
        ValueError: ``policy_name`` or one of ``others`` is not in ``results``.
    """
    policies = [policy_name, *(o for o in others if o != policy_name)]
    missing = [p for p in policies if p not in results]
    if missing:
        raise ValueError(f"policy_name={missing[0]!r} is not in results; have {sorted(results)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ordered = {**{p: results[p] for p in policies}, **{k: v for k, v in results.items() if k not in policies}}
    judged = verdict(ordered, policies, n_boot=n_boot)
    lines = [f"# {title}", "", *_verdict_markdown(judged, _bars(ordered), ordered[policies[0]])]
    lines += learning.learning_section(run_dir, ordered, policies, val_curve, select_by)
    lines += ["## Run", ""]
    lines += [*_header(policies, ordered), "", "## Metrics", "", metrics_table(ordered), ""]
    lines += [
        "Sharpe, Sortino and volatility are annualised (252 bars); CIs are stationary-bootstrap percentile intervals;",
        "PSR is P(Sharpe > 0); DSR deflates it for the number of trials counted.",
        "",
    ]
    lines += _plots(run_dir, ordered, policies, tiers, action_map)
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    if config_text:
        lines += ["## Config", "", "```yaml", config_text.rstrip(), "```", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
