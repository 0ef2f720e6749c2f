"""Evaluation: point metrics and statistics of an equity curve, the backtest, policies, baselines, run files.

Every policy (trained, rule or baseline) is scored by one backtest (:func:`run_backtest`) through the env's own
fills, costs and risk layer; :func:`summarize` turns its equity curve and trades into every metric.
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BacktestResult": "experiments.evaluation.backtest",
        "run_backtest": "experiments.evaluation.backtest",
        "Policy": "experiments.evaluation.policies",
        "SB3Policy": "experiments.evaluation.policies",
        "load_policy": "experiments.evaluation.policies",
        "make_baselines": "experiments.evaluation.baselines",
        "buy_and_hold_full": "experiments.evaluation.baselines",
        "summarize": "experiments.evaluation.stats",
        "deflated_sharpe": "experiments.evaluation.stats",
        "paired_sharpe_difference": "experiments.evaluation.stats",
        "sharpe": "experiments.evaluation.metrics",
        "model_path": "experiments.evaluation.runfiles",
    },
)
