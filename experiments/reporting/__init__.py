"""Reporting: a run's test evaluation and ``report.md`` with its plots, seed spreads, test metrics in TensorBoard."""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "evaluate": "experiments.reporting.evaluate",
        "rebuild_report": "experiments.reporting.evaluate",
        "write_report": "experiments.reporting.report",
        "verdict": "experiments.reporting.report",
        "write_seed_report": "experiments.reporting.seeds",
    },
)
