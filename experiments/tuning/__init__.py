"""Tuning: an Optuna search over the config on validation folds that never touch a test window."""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {"tune": "experiments.tuning.tune", "load_tuning_config": "experiments.tuning.tune"}
)
