"""Component statistics per regime (for reports): how each component's sign agreed with forward returns in each
labelled regime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def component_stats_by_regime(
    bandit_stats: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> dict[str, Any]:
    """Which components worked in which regime, from the Tier 1 bandit's ``regime_stats()``.

    Args:
        bandit_stats: ``{regime: {component: {"alpha", "beta", "mean", "n_effective"}}}``.

    Returns:
        ``{regime: {"best": component, "ranking": [components by posterior mean, best first],
        "components": {component: {"mean", "edge", "n_effective"}}}}``, ``edge = mean - 0.5`` (0 = coin).
    """
    out: dict[str, Any] = {}
    for regime, comps in bandit_stats.items():
        table = {}
        for comp, st in comps.items():
            missing = [k for k in ("mean", "n_effective") if k not in st]
            if missing:
                raise ValueError(f"bandit_stats[{regime!r}][{comp!r}] lacks {missing}; pass Tier 1 regime_stats()")
            table[comp] = {
                "mean": float(st["mean"]),
                "edge": float(st["mean"]) - 0.5,
                "n_effective": float(st["n_effective"]),
            }
        ranking = sorted(table, key=lambda c: -table[c]["mean"])
        out[regime] = {"best": ranking[0] if ranking else None, "ranking": ranking, "components": table}
    return out


def format_component_stats(stats: Mapping[str, Any]) -> str:
    """Markdown table (regimes as rows) of the output of :func:`component_stats_by_regime`."""
    comps = list(dict.fromkeys(c for row in stats.values() for c in row["components"]))
    lines = ["| regime | " + " | ".join(comps) + " | best |", "|---" * (len(comps) + 2) + "|"]
    for regime, row in stats.items():
        cells = [
            f"{row['components'][c]['mean']:.2f} (n={row['components'][c]['n_effective']:.0f})"
            if c in row["components"]
            else "-"
            for c in comps
        ]
        lines.append(f"| {regime} | " + " | ".join(cells) + f" | {row['best']} |")
    return "\n".join(lines)
