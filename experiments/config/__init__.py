"""Run configs: YAML presets (``presets/``) resolved into typed, frozen dataclasses, without torch.

* :mod:`experiments.config.schema`: :class:`RunConfig`, :class:`TrainConfig`.
* :mod:`experiments.config.windows`: the date windows, their checks and ``auto``/fractional windows.
* :mod:`experiments.config.loader`: :func:`load_config`, dotted overrides, :func:`to_yaml`.
"""

from experiments.config.errors import ConfigError
from experiments.config.loader import (
    CONFIG_DIR,
    config_keys,
    config_tree,
    load_config,
    load_with_section,
    resolve_path,
    to_yaml,
)
from experiments.config.schema import RunConfig, TrainConfig, config_warnings, evaluations_planned
from experiments.config.windows import check_data_fit, check_windows, look_back, window_from_fractions

__all__ = [
    "CONFIG_DIR",
    "ConfigError",
    "RunConfig",
    "TrainConfig",
    "check_data_fit",
    "check_windows",
    "config_keys",
    "config_tree",
    "config_warnings",
    "evaluations_planned",
    "load_config",
    "load_with_section",
    "look_back",
    "resolve_path",
    "to_yaml",
    "window_from_fractions",
]
