"""Walk-forward evaluation and tier ablations: rolling folds, one cached unit per (fold, seed, tier set).

* :mod:`experiments.walkforward.plan`: :class:`WalkForwardConfig`, the tier sets, folds and units (with their keys).
* :mod:`experiments.walkforward.units`: one unit, a pure function of its inputs written atomically under its key.
* :mod:`experiments.walkforward.executors`: map units over this process, a process pool or Ray.
* :mod:`experiments.walkforward.runner`: a whole run (plan, units, timing, results page).
* :mod:`experiments.walkforward.results`: the results page.
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "WalkForwardConfig": "experiments.walkforward.plan",
        "TIER_SETS": "experiments.walkforward.plan",
        "load_walkforward": "experiments.walkforward.plan",
        "make_folds": "experiments.walkforward.plan",
        "plan_units": "experiments.walkforward.plan",
        "run_unit": "experiments.walkforward.units",
        "execute": "experiments.walkforward.executors",
        "run_walkforward": "experiments.walkforward.runner",
        "write_results": "experiments.walkforward.results",
    },
)
