"""The rule adapter's prior from synthetic training tasks: one implementation for the adaptation benchmark and
``tradebrain meta-train``.

The adaptation benchmark (``experiments/benchmarks/adaptation.py``, issue 25) draws its training tasks, scores every
menu rule on them and fits the prior of its posterior methods with these functions; ``tradebrain meta-train`` calls
:func:`fit_synthetic` with the benchmark's full settings (64 tasks of 1,500 bars, the run's seed) and writes the
result, a :class:`meta.rule_adapter.RuleAdapter`, as ``rule_adapter.json`` (about 10 s on one core).

**Training distribution.** One-regime synthetic markets (:class:`meta.tasks.RegimeParams`) drawn uniformly from
:class:`meta.tasks.TaskRanges`, rejecting every draw inside the benchmark's held-out bands (:func:`held_out_bands`:
drift in [-0.2%, -0.1%] a bar, or a ``technical`` hit rate in [0.60, 0.65]). Each task is one seeded path of
``n_bars`` scored rows; a rule's score is its log growth per bar traded in sequence through the full-information
outcomes of the bracket menu (:mod:`meta.fullinfo`).

**Default settings** (:data:`DEFAULT_METHOD`, chosen by the benchmark on validation bands): dense evidence, the
prior's variance x 16, the choice by the posterior's one-sd lower bound.

Example:
    >>> adapter = fit_synthetic(n_tasks=64, n_bars=1500, seed=0)     # doctest: +SKIP
    >>> adapter.to_json()["prior"]["mean"][:2]                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.features import LOOKBACK
from envs.market import MarketData
from meta.fullinfo import FullInfoPath, MenuRule, chain_totals, menu_rules, task_scores
from meta.posterior import fit_prior
from meta.rule_adapter import RuleAdapter

__all__ = [
    "DEFAULT_METHOD",
    "default_adapter",
    "fit_past",
    "fit_synthetic",
    "held_out_bands",
    "task_path",
    "training_params",
]

DEFAULT_METHOD = "posterior_dense_t16_lcb"
"""The benchmark's default method (its summary's ``default_method``), the settings below."""
DEFAULT_TEMPER = 16.0
"""Prior variance multiplier of the default."""
DEFAULT_DENSE = True
"""The default's evidence: every observed decision bar (:func:`meta.fullinfo.dense_totals`)."""
DEFAULT_LCB = 1.0
"""The default chooses by the posterior's ``mean - 1 * sd``."""
TAIL_BARS = 20
"""Bars simulated after a path's last scored row (the menu's longest hold), so its last trades close."""


def held_out_bands() -> tuple[Any, ...]:
    """The adaptation benchmark's held-out bands (:class:`meta.tasks.Band`): no training task is drawn in them."""
    from meta.tasks import Band

    return (Band("drift", -0.002, -0.001), Band("hit_technical", 0.60, 0.65))


def training_params(n_tasks: int, rng: np.random.Generator) -> list[Any]:
    """``n_tasks`` regimes of the training distribution (outside :func:`held_out_bands`), drawn with ``rng``."""
    from meta.tasks import TaskDistribution

    return TaskDistribution(held_out=held_out_bands()).sample_params(n_tasks, rng, "train")  # type: ignore[no-any-return]


def task_path(params: Any, n_rows: int, seed: int, **env_kwargs: Any) -> FullInfoPath:
    """One seeded path of the regime ``params`` with ``n_rows`` scored rows (plus the features' look-back and
    :data:`TAIL_BARS`); ``env_kwargs`` (costs, limits, action_map, min_trade) configure the simulation."""
    data = params.market().generate(LOOKBACK + n_rows + TAIL_BARS + 1, seed=seed).data
    return FullInfoPath.of(data, **env_kwargs)


def default_adapter(scores: np.ndarray, noise: np.ndarray, rules: Sequence[MenuRule]) -> RuleAdapter:
    """The adapter of :data:`DEFAULT_METHOD` with the prior fitted on ``scores`` and ``noise`` (``(tasks, rules)``)."""
    prior = fit_prior(scores, noise, temper=DEFAULT_TEMPER)
    return RuleAdapter(prior, [r.name for r in rules], dense=DEFAULT_DENSE, lcb=DEFAULT_LCB)


def fit_synthetic(n_tasks: int = 64, n_bars: int = 1500, seed: int = 0, **env_kwargs: Any) -> RuleAdapter:
    """The default adapter fitted on ``n_tasks`` training tasks of ``n_bars`` rows drawn with ``seed``, as the
    benchmark fits it for that seed (the same draws: the same prior when ``env_kwargs`` are the env's defaults).

    Args:
        n_tasks: Training tasks (>= 2; the benchmark's full run: 64).
        n_bars: Scored rows of each task's path (>= 300; the benchmark: 1,500).
        seed: Seed of the draws (regimes, then each path's seed).
        **env_kwargs: Costs, limits, action map and ``min_trade`` of the simulation (default: the env's).
    """
    if int(n_tasks) != n_tasks or n_tasks < 2:
        raise ValueError(f"n_tasks={n_tasks!r} must be an integer >= 2 (the prior needs a spread; e.g. 64)")
    if int(n_bars) != n_bars or n_bars < 300:
        raise ValueError(f"n_bars={n_bars!r} must be an integer >= 300 (e.g. 1500)")
    rng = np.random.default_rng(seed)
    params = training_params(int(n_tasks), rng)
    paths = [task_path(p, int(n_bars), int(rng.integers(2**31)), **env_kwargs) for p in params]
    rules = menu_rules()
    return default_adapter(*task_scores(paths, rules, int(n_bars)), rules)


def fit_past(data: MarketData, segment_bars: int = 252, **env_kwargs: Any) -> RuleAdapter:
    """The default adapter with its prior fitted on a market's own past: every bar of ``data`` is before the first
    decision the adapter will make (the caller cuts ``data`` there), and its tasks are consecutive segments of
    ``segment_bars`` decision rows, each rule scored by the trades decided in the segment (a trade still open at the
    end of ``data`` is closed at its last bar, as the full-information outcomes close it).

    Args:
        data: The past bars (at least the features' look-back plus two segments).
        segment_bars: Decision rows per task (>= 20; 252: a year of daily bars).
        **env_kwargs: Costs, limits, action map and ``min_trade`` of the simulation.

    Raises:
        ValueError: ``data`` holds fewer than two segments after the look-back.
    """
    if int(segment_bars) != segment_bars or segment_bars < 20:
        raise ValueError(f"segment_bars={segment_bars!r} must be an integer >= 20 (e.g. 252: a year of daily bars)")
    seg = int(segment_bars)
    path = FullInfoPath.of(data, **env_kwargs)
    n_seg = len(path) // seg
    if n_seg < 2:
        raise ValueError(
            f"{len(data)} past bars give {len(path)} decision rows after the look-back: fewer than two segments of "
            f"{segment_bars}; give more past bars or a smaller segment_bars"
        )
    rules = menu_rules()
    items = path.items(tuple(rules))
    scores, noise = [], []
    for k in range(n_seg):
        lo = len(path) - (n_seg - k) * seg  # the segments end at the last row: the most recent past
        g, bars, n, q = chain_totals(items, path, lo, lo + seg)
        scores.append(g / np.maximum(bars, 1))
        noise.append(q / np.maximum(n, 1))
    return default_adapter(np.array(scores), np.array(noise), rules)
