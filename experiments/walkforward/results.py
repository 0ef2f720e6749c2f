"""The walk-forward results page: ``results.md`` and its PNGs, built only from a run folder's unit files.

What each number is (every statistic is a function of :mod:`experiments.evaluation.metrics`):

* **Per-unit metrics** (Sharpe, Sortino, max drawdown, win rate, profit factor, CAGR) come from each unit's test
  year. The table gives their **median over folds x seeds** and a 95% stationary-bootstrap interval of that
  median (stationary bootstrap of the unit values in fold order, mean block = the number of
  seeds, so a fold's seeds tend to be drawn together); ``inf`` (a profit factor with no losing trade) counts.
  A test year without any position has Sharpe and Sortino 0 (:func:`flat_year`; the page counts such years).
* **Concatenated out-of-sample returns**: for each seed, the test years' per-bar returns joined in date order.
  The **deflated Sharpe ratio** is computed on them with every configuration on the page counted as trials: the
  sum over configurations of the trials behind each (PPO: ``n_trials`` x checkpoints scored on the validation
  window, median over units; a rule: 1); the table shows the median over seeds.
* **Paired Sharpe difference** against ``buy_and_hold_full``, ``buy_and_hold_cap`` and ``ma_trend``: (a) on the
  concatenated returns of each seed, paired stationary bootstrap
  (:func:`~experiments.evaluation.stats.paired_sharpe_difference`), the median over seeds of the difference and of each
  interval end; (b) over folds: the median over folds x seeds
  of the per-test-year Sharpe differences with its bootstrap interval as above.
* **Tier 4's rules** (tier set ``all``): the menu rules the rule adapter chose, as counted in each unit file
  (decisions per rule, from the backtest's ``run_info["rule_choices"]``), pooled over folds and seeds.
* **Per-regime breakdown**: each bar's return is labelled with the regime the fold's own detector (fitted on the
  bars before the test year) gave that bar at its close; Sharpe of the returns inside each regime, pooled over
  folds and seeds, and the share of bars.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.layout import REGIMES
from experiments.evaluation import metrics, stats
from experiments.evaluation.backtest import decode_metrics
from experiments.reporting.report import _pyplot, _save

BENCHMARKS: tuple[str, ...] = ("buy_and_hold_full", "buy_and_hold_cap", "ma_trend")
"""The paired Sharpe differences are taken against these."""
PROMISED: dict[str, tuple[str, str, str]] = {
    "sharpe_annual": ("0.8", "1.1-1.3", "1.5-2.0"),
    "win_rate_frac": ("(not given)", "improves", "improves"),
    "max_drawdown_frac": ("(not given)", "improves", "improves"),
    "profit_factor": ("(not given)", "improves", "improves"),
}
"""The seed system's promise: before the learning tiers, with Tiers 1+2, with all tiers."""
PROMISE_ROWS: tuple[tuple[str, str], ...] = (
    ("composite_fixed", "before: composite rule, fixed equal weights, no regimes"),
    ("rules", "Tiers 1+2: composite rule with Tier 1 weights and Tier 2 regimes"),
    ("all", "all tiers: Tier 1+2+3+4"),
)
FALLBACK: dict[str, tuple[str, ...]] = {"all": ("all_maml", "tier1+2+3")}
"""Shown in the promise table (and named so) when a run has no ``all`` tier set: the first of these that it has."""
TOP_RULES = 5
"""Rules named per configuration in the table of Tier 4's choices."""
STATS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("sharpe_annual", "Sharpe", lambda x: f"{x:.2f}"),
    ("sortino_annual", "Sortino", lambda x: f"{x:.2f}"),
    ("max_drawdown_frac", "max DD", lambda x: f"{x:.1%}"),
    ("win_rate_frac", "win rate", lambda x: f"{x:.1%}"),
    ("profit_factor", "profit factor", lambda x: f"{x:.2f}"),
    ("cagr_frac", "CAGR", lambda x: f"{x:.1%}"),
)


@dataclass(frozen=True)
class Record:
    """One configuration's test year in one unit: fold, seed, metrics, per-bar returns and their regime labels."""

    config: str
    fold: int
    seed: int
    metrics: dict[str, float]
    returns: np.ndarray
    regimes: list[str]
    trials: int
    rules: Mapping[str, int] | None = None
    """Decisions per menu rule (Tier 4's rule adapter, tier set ``all``), else None."""


FLAT_YEAR = "flat_year"
"""Metric key set to 1.0 on a test year in which the policy never held a position (every return exactly 0)."""


def flat_year(m: dict[str, float], returns: np.ndarray) -> dict[str, float]:
    """A test year without a position has an undefined Sharpe and Sortino (zero volatility): count them as 0.

    The book earned exactly the risk-free rate (0 here), so its excess return is 0. Leaving such a year out of the
    median over folds would drop exactly the years the agent chose to sit out (a crash it avoided counts, and so
    does a rally it missed), and the paired difference against a benchmark would lose that year too.
    """
    if returns.size == 0 or np.any(returns != 0.0):
        return m
    return {**m, "sharpe_annual": 0.0, "sortino_annual": 0.0, FLAT_YEAR: 1.0}


def policy_metrics(pol: Mapping[str, Any]) -> tuple[dict[str, float], np.ndarray]:
    """A unit file's policy entry as the page reads it: its metrics (a flat year counted as Sharpe 0,
    :func:`flat_year`) and its per-bar returns."""
    r = metrics.bar_returns(np.asarray(pol["equity"], dtype=np.float64))
    return flat_year(decode_metrics(pol["metrics"]), r), r


def load_records(root: Path) -> tuple[dict[str, Any], dict[str, list[Record]], list[str]]:
    """The plan, ``{configuration: records}`` (ordered: tier sets, then baselines) and the keys not on disk yet."""
    from experiments.walkforward.plan import PLAN

    plan_path = root / PLAN
    if not plan_path.exists():
        raise FileNotFoundError(f"{root} is not a walk-forward run (no {PLAN}); run `tradebrain walk-forward` first")
    plan = json.loads(plan_path.read_text())
    records: dict[str, list[Record]] = defaultdict(list)
    missing = []
    for unit in plan["units"]:
        path = root / "units" / f"{unit['key']}.json"
        if not path.exists():
            missing.append(unit["key"])
            continue
        payload = json.loads(path.read_text())
        labels = payload["regimes"][:-1]  # the return from bar t to t + 1 is labelled by the regime at t
        for name, pol in payload["policies"].items():
            m, r = policy_metrics(pol)
            rec = Record(name, payload["fold"], payload["seed"], m, r, labels, pol["trials"], pol.get("rules"))
            records[name].append(rec)
    tier_sets = [t for t in plan["walkforward"]["tier_sets"] if t in records]
    order = tier_sets + sorted(k for k in records if k not in tier_sets)
    return plan, {k: sorted(records[k], key=lambda x: (x.fold, x.seed)) for k in order}, missing


def median_ci(values: np.ndarray, n_seeds: int, n_boot: int, seed: int = 0) -> tuple[float, float, float]:
    """Median of ``values`` (fold-major order; ``nan`` left out, ``inf`` kept) and a 95% stationary-bootstrap
    interval of it (:func:`experiments.evaluation.stats.stationary_bootstrap_indices`, mean block ``n_seeds``).

    ``inf`` stays in (a profit factor with no losing trade is a best case, not a missing value); the interval ends
    are order statistics of the bootstrap medians, never interpolated between ``inf`` and a number.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]  # in the given order: the blocks are neighbouring units (a fold's seeds, adjacent years)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    idx = stats.stationary_bootstrap_indices(v.size, float(max(1, n_seeds)), n_boot, seed)
    boot = np.median(v[idx], axis=1)  # the mean of inf and a number is inf: no nan
    low, high = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")
    return float(np.median(v)), float(low), float(high)


def concatenated(recs: list[Record], folds: list[int] | None = None) -> dict[int, np.ndarray]:
    """``{seed: returns of the test years joined in date order}`` (only ``folds`` when given)."""
    by_seed: dict[int, list[Record]] = defaultdict(list)
    for r in recs:
        if folds is None or r.fold in folds:
            by_seed[r.seed].append(r)
    return {s: np.concatenate([r.returns for r in sorted(rs, key=lambda x: x.fold)]) for s, rs in by_seed.items()}


def total_trials(records: Mapping[str, list[Record]]) -> int:
    """Every configuration on the page counted: sum over configurations of the median trials behind one unit."""
    return int(sum(max(1, round(float(np.median([r.trials for r in recs])))) for recs in records.values() if recs))


def _fmt(x: float, fmt: Callable[[float], str]) -> str:
    if math.isnan(x):
        return "n/a"
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else fmt(x)


def _cell(med: float, low: float, high: float, fmt: Callable[[float], str]) -> str:
    return f"{_fmt(med, fmt)} [{_fmt(low, fmt)}, {_fmt(high, fmt)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def performance_table(records: Mapping[str, list[Record]], n_seeds: int, n_boot: int) -> tuple[list[str], dict]:
    """Median [CI] of each statistic per configuration, and the DSR on concatenated returns; also the medians."""
    trials = total_trials(records)
    rows, medians = [], {}
    for name, recs in records.items():
        cells, medians[name] = [name, str(len(recs))], {}
        for key, _, fmt in STATS:
            med, low, high = median_ci(np.array([r.metrics[key] for r in recs]), n_seeds, n_boot)
            medians[name][key] = (med, low, high)
            cells.append(_cell(med, low, high, fmt))
        dsr = [stats.deflated_sharpe(r, trials) for r in concatenated(recs).values()]
        cells.append(_fmt(float(np.nanmedian(dsr)) if np.isfinite(dsr).any() else math.nan, lambda x: f"{x:.2f}"))
        rows.append(cells)
    header = ["configuration", "units", *(label for _, label, _ in STATS), f"DSR ({trials} trials)"]
    return _table(header, rows), medians


def _concatenated_difference(recs: list[Record], bench: list[Record], n_boot: int) -> str:
    """Median over seeds of the paired Sharpe difference on the test years both have for that seed."""
    diffs = []
    for seed in sorted({r.seed for r in recs}):
        folds = [r.fold for r in recs if r.seed == seed]
        folds = sorted(set(folds) & {b.fold for b in bench if b.seed == seed})
        a, b = concatenated(recs, folds).get(seed), concatenated(bench, folds).get(seed)
        if a is not None and b is not None and a.size > 2:
            diffs.append(stats.paired_sharpe_difference(a, b, n_boot=n_boot, rng=seed))
    if not diffs:
        return "n/a"
    fields = ("diff_sharpe_annual", "ci_low_annual", "ci_high_annual")
    med, low, high = (float(np.nanmedian([getattr(d, f) for d in diffs])) for f in fields)
    return _cell(med, low, high, lambda x: f"{x:+.2f}")


def _paired_cells(recs: list[Record], bench: list[Record], n_seeds: int, n_boot: int) -> tuple[str, str]:
    bench_sharpe = {(r.fold, r.seed): r.metrics["sharpe_annual"] for r in bench}
    per_unit = np.array([r.metrics["sharpe_annual"] - bench_sharpe.get((r.fold, r.seed), math.nan) for r in recs])
    over_folds = _cell(*median_ci(per_unit, n_seeds, n_boot), lambda x: f"{x:+.2f}")
    return _concatenated_difference(recs, bench, n_boot), over_folds


def difference_table(records: Mapping[str, list[Record]], n_seeds: int, n_boot: int) -> list[str]:
    """Paired Sharpe difference of every configuration against each benchmark, concatenated and over folds."""
    benches = [b for b in BENCHMARKS if b in records]
    rows = []
    for name, recs in records.items():
        cells = [name]
        for b in benches:
            cells.extend(["-", "-"] if b == name else _paired_cells(recs, records[b], n_seeds, n_boot))
        rows.append(cells)
    header = ["configuration"]
    for b in benches:
        header += [f"vs {b}: concatenated", f"vs {b}: over folds"]
    return _table(header, rows)


def fold_table(records: Mapping[str, list[Record]]) -> tuple[list[str], dict[str, dict[int, float]]]:
    """Median over seeds of the Sharpe ratio per test year and configuration."""
    folds = sorted({r.fold for recs in records.values() for r in recs})
    per: dict[str, dict[int, float]] = {}
    for name, recs in records.items():
        per[name] = {}
        for f in folds:
            vals = [r.metrics["sharpe_annual"] for r in recs if r.fold == f]
            per[name][f] = float(np.nanmedian(vals)) if vals and np.isfinite(vals).any() else math.nan
    rows = [[name, *(_fmt(per[name][f], lambda x: f"{x:.2f}") for f in folds)] for name in records]
    return _table(["configuration", *map(str, folds)], rows), per


def regime_sharpes(records: Mapping[str, list[Record]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per configuration and regime: (Sharpe of the bar returns inside it, share of bars), pooled over folds and
    seeds; a regime with no bar is left out."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name, recs in records.items():
        r = np.concatenate([x.returns for x in recs])
        labels = np.concatenate([np.asarray(x.regimes[: x.returns.size]) for x in recs])
        out[name] = {}
        for regime in REGIMES:
            inside = r[labels == regime]
            if inside.size:
                out[name][regime] = (float(metrics.sharpe(inside)), inside.size / max(1, r.size))
    return out


def regime_table(records: Mapping[str, list[Record]]) -> list[str]:
    """Sharpe inside each regime (as each fold's detector labelled the bars), pooled over folds and seeds."""
    rows = []
    for name, per in regime_sharpes(records).items():
        cells = [name]
        for regime in REGIMES:
            if regime not in per:
                cells.append("-")
                continue
            sharpe, share = per[regime]
            cells.append(f"{_fmt(sharpe, lambda x: f'{x:.2f}')} ({share:.0%})")
        rows.append(cells)
    return _table(["configuration", *(f"{g}: Sharpe (bars)" for g in REGIMES)], rows)


def promise_table(medians: Mapping[str, Mapping[str, tuple[float, float, float]]]) -> list[str]:
    """The seed's promised figures beside the measured medians [CI] (rows: the four statistics)."""
    shown = [next((n for n in (name, *FALLBACK.get(name, ())) if n in medians), name) for name, _ in PROMISE_ROWS]
    header = ["statistic"]
    for (name, label), used in zip(PROMISE_ROWS, shown, strict=True):
        header += [f"promised: {label}", f"measured: {used}" + (f" ({name} not run)" if used != name else "")]
    rows = []
    fmts = {key: fmt for key, _, fmt in STATS}
    labels = {key: label for key, label, _ in STATS}
    for key, promised in PROMISED.items():
        cells = [labels[key]]
        for name, p in zip(shown, promised, strict=True):
            cells += [p, _cell(*medians[name][key], fmts[key]) if name in medians else "not run"]
        rows.append(cells)
    return _table(header, rows)


def rule_table(records: Mapping[str, list[Record]]) -> list[str]:
    """Per configuration traded by Tier 4's rule adapter: its decisions, the distinct rules it chose and the
    :data:`TOP_RULES` most chosen with their share of decisions, pooled over folds and seeds (empty: none)."""
    rows = []
    for name, recs in records.items():
        counts: Counter[str] = Counter()
        for r in recs:
            counts.update(r.rules or {})
        total = sum(counts.values())
        if total:
            top = ", ".join(f"{rule} {n / total:.0%}" for rule, n in counts.most_common(TOP_RULES))
            rows.append([name, str(total), str(len(counts)), top])
    header = ["configuration", "decisions", "rules chosen", "most chosen (share of decisions)"]
    return _table(header, rows) if rows else []


PLOTTED_BASELINES: tuple[str, ...] = (*BENCHMARKS, "composite_fixed")
"""Baselines drawn (dashed) beside the tier sets in the PNGs; every baseline is in the tables."""


def _style(name: str, k: int) -> dict[str, Any]:
    baseline = name in PLOTTED_BASELINES
    return {"label": name, "lw": 1.0 if baseline else 2.0, "ls": "--" if baseline else "-", "color": f"C{k % 10}"}


def _plotted(records: Mapping[str, Any]) -> list[str]:
    return [n for n in records if n in PLOTTED_BASELINES or not _is_baseline(n)]


def _is_baseline(name: str) -> bool:
    from experiments.walkforward.plan import TIER_SETS

    return name not in TIER_SETS


def _plot_folds(path: Path, per: Mapping[str, Mapping[int, float]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k, name in enumerate(_plotted(per)):
        years = sorted(per[name])
        ax.plot(years, [per[name][y] for y in years], marker="o", **_style(name, k))
        ax.set_xticks(years)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_title("Out-of-sample Sharpe per test year (median over seeds; dashed: baselines)")
    ax.set_xlabel("test year")
    ax.set_ylabel("Sharpe (annualised)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    _save(fig, path)


def _plot_equity(path: Path, records: Mapping[str, list[Record]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k, name in enumerate(_plotted(records)):
        curves = [np.cumprod(1.0 + r) for r in concatenated(records[name]).values()]
        n = min(c.size for c in curves)
        ax.plot(np.median([c[:n] for c in curves], axis=0), **_style(name, k))
    first = next(iter(records.values()))
    edge = 0
    for fold in sorted({r.fold for r in first}):  # test-year boundaries, from the first seed's records
        rec = next(r for r in first if r.fold == fold)
        ax.axvline(edge, color="k", lw=0.4, alpha=0.5)
        ax.text(edge, 1.0, f" {fold}", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
        edge += rec.returns.size
    ax.set_title("Concatenated out-of-sample equity (test years joined; median over seeds; dashed: baselines)")
    ax.set_xlabel("out-of-sample bar")
    ax.set_ylabel("growth of 1 (log scale)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    _save(fig, path)


def _plot_regimes(path: Path, records: Mapping[str, list[Record]]) -> None:
    """Grouped bars: Sharpe inside each regime per configuration (the per-regime table as a chart)."""
    plt = _pyplot()
    per = regime_sharpes(records)
    names = _plotted(per)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(REGIMES))
    for k, name in enumerate(names):
        values = [per[name].get(g, (np.nan, 0.0))[0] for g in REGIMES]
        style = _style(name, k)
        ax.bar(
            x + (k - (len(names) - 1) / 2) * width,
            np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0),
            width,
            label=name,
            color=style.get("color"),
            alpha=0.55 if style.get("ls") == "--" else 0.9,
        )
    ax.set_xticks(x, [g.replace("_", " ") for g in REGIMES])
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_title("Sharpe inside each regime (each fold's detector; pooled over folds and seeds; pale: baselines)")
    ax.set_ylabel("Sharpe (annualised)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=3)
    _save(fig, path)


def _budget(plan: Mapping[str, Any]) -> str:
    import yaml

    return f"{yaml.safe_load(plan['config'])['train']['total_timesteps']:,}"


def tier_set_descriptions(plan: Mapping[str, Any]) -> dict[str, str]:
    """What each tier set of the run meant when it ran: the plan's ``tier_sets``; a plan written before it has none,
    and its ``all`` was the MAML specialists and the selector (now ``all_maml``)."""
    from experiments.walkforward.plan import TIER_SETS

    if "tier_sets" in plan:
        return dict(plan["tier_sets"])
    old = {"all": f"{TIER_SETS['all_maml'].description} (a run from before the rule adapter: now `all_maml`)"}
    return {t: old.get(t, TIER_SETS[t].description) for t in plan["walkforward"]["tier_sets"] if t in TIER_SETS}


def _header(root: Path, plan: Mapping[str, Any], records: Mapping[str, list[Record]], missing: list[str]) -> list[str]:
    wf = plan["walkforward"]
    folds = plan["folds"]
    timing_path = root / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    lines = [
        f"# Walk-forward results: {root.name}",
        "",
        f"Command: `tradebrain {plan['command']}`; {len(folds)} folds (test years {folds[0]['test_year']}-"
        f"{folds[-1]['test_year']}, {wf['train_years']} years of past each, the last {wf['val_years']} for "
        f"validation), seeds {wf['seeds']}, tier sets {', '.join(wf['tier_sets'])}"
        f"{', every baseline' if wf['baselines'] else ''}; PPO budget {_budget(plan)} steps per unit. Units on disk: "
        f"{len(plan['units']) - len(missing)} of {len(plan['units'])}.",
    ]
    if timing:
        lines.append(
            f"Last invocation: wall time {timing['seconds']:.0f} s, {timing['units_run']} units run "
            f"({timing['units_per_minute']:.2f} units/min), {timing['units_cached']} reused, "
            f"{timing['units_failed']} failed; executor {timing['executor']}, jobs {timing['jobs']}."
        )
    if missing:
        lines.append(f"**Incomplete**: {len(missing)} units missing (failed or not run yet); rerun the command.")
    flat = {k: sum(1 for r in recs if r.metrics.get(FLAT_YEAR)) for k, recs in records.items()}
    if any(flat.values()):
        counts = ", ".join(f"{k} {n}" for k, n in flat.items() if n)
        lines.append(
            f"Test years without any position (Sharpe and Sortino undefined, counted as 0: the book earned the "
            f"risk-free rate, 0 here): {counts}."
        )
    described = tier_set_descriptions(plan)
    if described:
        lines += ["", "Tier sets:", "", *(f"- `{t}`: {d}." for t, d in described.items())]
    lines += ["", "Folds:", ""]
    lines += _table(
        ["test year", "train", "val", "test"],
        [[str(f["test_year"]), *(" .. ".join(f[k]) for k in ("train", "val", "test"))] for f in folds],
    )
    lines += [
        "",
        "<details><summary>Base config</summary>",
        "",
        "```yaml",
        plan["config"].rstrip(),
        "```",
        "</details>",
    ]
    return lines


INTRO: dict[str, str] = {
    "performance": (
        "Median [95% bootstrap CI] over folds x seeds of each test year's statistic; DSR: deflated Sharpe of the "
        "concatenated out-of-sample returns (median over seeds), every configuration on this page counted as "
        "trials. `composite_score` is the `rules` tier set run as a baseline; `composite_fixed` is the seed's "
        "rule before its learning tiers."
    ),
    "promise": "The seed system's promised figures beside the measured median [95% CI] over folds x seeds.",
    "difference": (
        "Concatenated: Sharpe(a) - Sharpe(b) on the joined test years, paired stationary bootstrap, median over "
        "seeds of the difference [and of each interval end]. Over folds: median [95% CI] over folds x seeds of the "
        "test-year Sharpe differences. An interval that contains 0 does not separate the two."
    ),
    "rules": (
        "The rules Tier 4's online rule adapter traded (`meta.rule_adapter`: at each decision, the menu rule of the "
        "highest posterior lower bound): decisions pooled over folds and seeds, how many of the menu's rules it chose "
        "at least once, and the most chosen with their share of decisions."
    ),
    "regimes": (
        "Sharpe of the bar returns inside each regime as each fold's detector labelled them (fitted on the bars "
        "before its test year), pooled over folds and seeds; in brackets the share of bars."
    ),
}


def _sections(root: Path, records: Mapping[str, list[Record]], n_seeds: int, n_boot: int) -> list[str]:
    perf, medians = performance_table(records, n_seeds, n_boot)
    folds, per = fold_table(records)
    _plot_folds(root / "fold_sharpe.png", per)
    _plot_equity(root / "oos_equity.png", records)
    _plot_regimes(root / "regime_sharpe.png", records)
    rules = rule_table(records)
    return [
        *("", "## Out-of-sample performance over folds and seeds", "", INTRO["performance"], "", *perf),
        *("", "## Promised vs measured", "", INTRO["promise"], "", *promise_table(medians)),
        *(("", "## Tier 4's rules", "", INTRO["rules"], "", *rules) if rules else ()),
        *("", "## Paired Sharpe difference against the benchmarks", "", INTRO["difference"], ""),
        *difference_table(records, n_seeds, n_boot),
        *("", "## Sharpe per test year (median over seeds)", "", "![per-fold Sharpe](fold_sharpe.png)", "", *folds),
        *("", "## Concatenated out-of-sample equity", "", "![out-of-sample equity](oos_equity.png)"),
        *("", "## Per-regime breakdown", "", INTRO["regimes"], "", "![Sharpe per regime](regime_sharpe.png)", ""),
        *regime_table(records),
    ]


def write_results(root: str | Path) -> Path:
    """Build ``results.md``, ``fold_sharpe.png``, ``oos_equity.png`` and ``regime_sharpe.png`` in the run folder
    from its unit files."""
    root = Path(root)
    plan, records, missing = load_records(root)
    wf = plan["walkforward"]
    lines = _header(root, plan, records, missing)
    lines += _sections(root, records, len(wf["seeds"]), int(wf["n_boot"])) if records else ["", "No unit finished yet."]
    path = root / "results.md"
    path.write_text("\n".join(lines) + "\n")
    return path
