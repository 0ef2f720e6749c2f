"""Real-data regime report: what the Tier 2 labels say, year by year, on the bundled S&P 500 bars.

Protocol (the stack's own, see :func:`agents.stack.fit_detector`): for each year ``Y`` from ``first_year`` to
``last_year``, a :class:`agents.tier2.RegimeDetector` is fitted walk-forward on the ``fit_bars`` bars *before*
``Y`` (never on a bar it labels), then run as a **filter** over the series from its first bar (as the wrapper
does), with the env's default theme component; the bars of ``Y`` get the argmax label of the filtered regime
probabilities. Reported per year: the share of days of each of the five labels and the number of label
switches; then the median switches per year (aim: at most 12) and sanity checks (labels of Aug 2008, Oct 2008,
Mar 2009, 2013, 2017; crisis share 2008 vs 2017).

Writes a JSON with everything and a PNG: the close (log scale) shaded by label, and the per-year label shares
as stacked bars.

Run: ``python -m experiments.benchmarks.regime_report [--out runs/bench/regime_report.json]
[--png runs/bench/regime_report.png] [--first-year 2002] [--last-year 2018]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agents.tier2 import RegimeDetector
from envs.data import DataError, MarketData, load
from envs.features import compute_features
from envs.layout import REGIMES

SHORT = {"bull_momentum": "bull", "bear_defensive": "bear", "choppy": "choppy", "crisis": "crisis"}
SHORT["theme_driven"] = "theme"
COLOURS = {"bull_momentum": "#2ca02c", "bear_defensive": "#ff7f0e", "choppy": "#9e9e9e", "crisis": "#d62728"}
COLOURS["theme_driven"] = "#1f77b4"
CHECKS = ("2008-08", "2008-10", "2009-03", "2013", "2017")


@dataclass
class ReportConfig:
    """Settings of the report."""

    data: str = "sp500"
    """Dataset name (bundled) or path."""
    first_year: int = 2002
    """First labelled year (needs ``fit_bars`` bars before it: sp500 starts in 1999)."""
    last_year: int = 2018
    """Last labelled year (inclusive)."""
    fit_bars: int = 750
    """Bars before each year the detector is fitted on (``TierConfig.tier2_fit_bars``)."""
    n_states: int = 3
    """Hidden states (``TierConfig.tier2_states``)."""
    n_restarts: int = 3
    """EM restarts (``TierConfig.tier2_restarts``)."""
    out: str = "runs/bench/regime_report.json"
    """Where the JSON results go."""
    png: str = "runs/bench/regime_report.png"
    """Where the figure goes ("" for none)."""


def label_year(data: MarketData, theme: np.ndarray, year: int, cfg: ReportConfig) -> tuple[pd.Series, float]:
    """Argmax labels of the bars of ``year`` (a Series indexed by date) and the fit time in seconds."""
    start = data.bar_at(f"{year}-01-01")
    stop = int(data.index.searchsorted(pd.Timestamp(f"{year + 1}-01-01")))
    lo = max(0, start - cfg.fit_bars)
    if start - lo < cfg.fit_bars:
        raise ValueError(f"only {start - lo} bars before {year}; need fit_bars={cfg.fit_bars}: raise --first-year")
    t0 = time.perf_counter()
    det = RegimeDetector(n_states=cfg.n_states, n_restarts=cfg.n_restarts)
    det.fit(data.close[lo:start], None if data.vix is None else data.vix[lo:start])
    seconds = time.perf_counter() - t0
    vix = None if data.vix is None else data.vix[:stop]
    probs = det.regime_probs(data.close[:stop], vix, theme[:stop])[start:]
    names = np.array(REGIMES)[probs.argmax(axis=1)]
    return pd.Series(names, index=data.index[start:stop]), seconds


def year_row(labels: pd.Series) -> dict[str, float | int]:
    """Label shares (one per regime) and the number of label switches of one year's labels."""
    values = labels.to_numpy()
    row: dict[str, float | int] = {r: float((values == r).mean()) for r in REGIMES}
    row["switches"] = int((values[1:] != values[:-1]).sum())
    row["days"] = len(values)
    return row


def sanity_checks(labels: pd.Series) -> dict[str, dict[str, float]]:
    """Label shares in the periods of :data:`CHECKS` and the crisis share of 2008 and 2017."""
    out = {}
    for period in CHECKS:
        sel = labels.loc[period]
        if len(sel):
            out[period] = {r: round(float((sel == r).mean()), 3) for r in REGIMES if (sel == r).any()}
    for year in ("2008", "2017"):
        sel = labels.loc[year]
        if len(sel):
            out[f"crisis share {year}"] = {"crisis": round(float((sel == "crisis").mean()), 3)}
    return out


def plot(data: MarketData, labels: pd.Series, table: pd.DataFrame, path: Path) -> None:
    """Close with regime shading (top) and stacked per-year label shares (bottom), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(13, 8), height_ratios=(2, 1))
    close = pd.Series(data.close, index=data.index).loc[labels.index]
    ax1.semilogy(close.index, close.to_numpy(), color="black", lw=0.8)
    runs = (labels != labels.shift()).cumsum()
    for _, run in labels.groupby(runs):
        ax1.axvspan(run.index[0], run.index[-1], color=COLOURS[run.iloc[0]], alpha=0.3, lw=0)
    ax1.set_title(f"{data.name}: walk-forward Tier 2 labels (filtered argmax)")
    bottom = np.zeros(len(table))
    for r in REGIMES:
        ax2.bar(table.index.astype(str), table[r], bottom=bottom, color=COLOURS[r], label=r)
        bottom += table[r].to_numpy()
    ax2.set_ylabel("share of days")
    ax2.legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(cfg: ReportConfig) -> tuple[dict, pd.Series, pd.DataFrame, MarketData]:
    """Label every year; returns the results dict, all labels, the per-year table and the data."""
    data = load(cfg.data)
    theme = np.nan_to_num(np.asarray(compute_features(data).components[:, 0], dtype=np.float64), nan=0.0)
    parts, rows, seconds = [], {}, []
    for year in range(cfg.first_year, cfg.last_year + 1):
        labels, secs = label_year(data, theme, year, cfg)
        parts.append(labels)
        rows[year] = year_row(labels)
        seconds.append(secs)
    labels = pd.concat(parts)
    table = pd.DataFrame.from_dict(rows, orient="index")
    res = {
        "config": asdict(cfg),
        "years": {str(y): r for y, r in rows.items()},
        "median_switches_per_year": float(table["switches"].median()),
        "checks": sanity_checks(labels),
        "mean_fit_seconds": float(np.mean(seconds)),
    }
    return res, labels, table, data


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point: run, print the table and checks, write the JSON and the PNG."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=ReportConfig.data)
    ap.add_argument("--first-year", type=int, default=ReportConfig.first_year)
    ap.add_argument("--last-year", type=int, default=ReportConfig.last_year)
    ap.add_argument("--out", default=ReportConfig.out)
    ap.add_argument("--png", default=ReportConfig.png)
    args = ap.parse_args(argv)
    cfg = ReportConfig(args.data, args.first_year, args.last_year, out=args.out, png=args.png)
    cpu = platform.processor() or platform.machine()
    machine = f"{platform.platform()} | {cpu} | Python {platform.python_version()} | numpy {np.__version__}"
    print(f"Tier 2 regime report | {cfg.data} {cfg.first_year}-{cfg.last_year} | fit on the {cfg.fit_bars} bars")
    print(f"before each year, n_states={cfg.n_states} n_restarts={cfg.n_restarts}; filtered argmax labels")
    print(f"machine: {machine}\n")
    t0 = time.perf_counter()
    try:
        res, labels, table, data = run(cfg)
    except (DataError, ValueError) as exc:  # a bad --data or year range: one line, exit code 2
        print(f"regime_report: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    res["machine"], res["wall_seconds"] = machine, time.perf_counter() - t0
    print(f"{'year':<6}" + "".join(f"{SHORT[r]:>8}" for r in REGIMES) + f"{'switches':>10}")
    for year, row in table.iterrows():
        print(f"{year:<6}" + "".join(f"{row[r]:>8.2f}" for r in REGIMES) + f"{int(row['switches']):>10d}")
    print(f"median switches per year: {res['median_switches_per_year']:.1f} (aim <= 12)\n")
    for period, shares in res["checks"].items():
        print(f"{period:<18}" + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1), encoding="utf-8")
    if cfg.png:
        plot(data, labels, table, Path(cfg.png))
        print(f"wrote {cfg.png}")
    print(f"mean fit {res['mean_fit_seconds']:.2f} s; wall {res['wall_seconds']:.1f} s; wrote {out}")
    return res


if __name__ == "__main__":
    main()
