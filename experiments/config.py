"""Run configuration: YAML files under ``experiments/configs/`` resolved into typed, frozen dataclasses.

An unknown key is an error that names the nearest valid key; a value of the wrong type is an error that names
the key, the value and the expected type. Command-line overrides use dotted keys: ``ppo.learning_rate=1e-4``.
The date windows ``stack.train``, ``stack.val`` and ``stack.test`` are checked when a :class:`RunConfig` is built:
each is ``[start, stop)`` with dates ``YYYY-MM-DD`` and start < stop, and they come in the order
train < val < test without overlapping (one window's stop may equal the next one's start).

Example:
    >>> cfg = load_config("quickstart", overrides=["train.total_timesteps=2000"])   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import itertools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agents.ppo import PPOConfig
from agents.stack import StackConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A config file or override that does not resolve; the message says which key and what to do."""


VEC_ENVS: tuple[str, ...] = ("dummy", "subproc")
"""Values of ``train.vec_env``."""


@dataclass(frozen=True)
class TrainConfig:
    """Training loop settings.

    Attributes:
        total_timesteps: PPO environment steps (decisions) over all envs.
        n_envs: Env copies in the DummyVecEnv.
        eval_freq: Steps (over all envs) between evaluations on the validation window; 0 = none.
        checkpoint_freq: Steps (over all envs) between checkpoints; 0 = none.
        normalize_obs: Train behind SB3's ``VecNormalize`` (running mean and variance of each observation slot,
            observations only); the statistics are frozen at evaluation and saved beside every model as
            ``obs_norm.json`` (see :mod:`agents.obs_norm`).
        norm_clip_obs: Clip of the normalised observation.
        vec_env: How the ``n_envs`` env copies run: ``dummy`` (one process, SB3's ``DummyVecEnv``) or
            ``subproc`` (one process per copy, SB3's ``SubprocVecEnv``).
    """

    total_timesteps: int = 50_000
    n_envs: int = 4
    eval_freq: int = 10_000
    checkpoint_freq: int = 25_000
    normalize_obs: bool = False
    norm_clip_obs: float = 10.0
    vec_env: str = "dummy"

    def __post_init__(self) -> None:
        if self.vec_env not in VEC_ENVS:
            raise ConfigError(f"train.vec_env={self.vec_env!r} is not one of {list(VEC_ENVS)}; e.g. dummy")
        if self.n_envs < 1:
            raise ConfigError(f"train.n_envs={self.n_envs!r} must be >= 1 (env copies), e.g. 4")
        if self.total_timesteps < 1:
            raise ConfigError(f"train.total_timesteps={self.total_timesteps!r} must be >= 1, e.g. 50000")
        if self.eval_freq < 0 or self.checkpoint_freq < 0:
            raise ConfigError("train.eval_freq and train.checkpoint_freq must be >= 0 (0 = never)")
        if not self.norm_clip_obs > 0:
            raise ConfigError(f"train.norm_clip_obs={self.norm_clip_obs!r} must be > 0, e.g. 10")


@dataclass(frozen=True)
class RunConfig:
    """One experiment.

    Attributes:
        name: Run name; the run folder is ``<runs_dir>/<name>-<time>``.
        seed: Seed of everything (env copies get seed, seed + 1, ...).
        runs_dir: Parent folder of run folders.
        n_trials: Configurations tried outside this run (e.g. the trials of a hyper-parameter search), >= 1.
            The deflated Sharpe ratio of the backtest counts ``n_trials`` x the checkpoints scored on the
            validation window to pick the model (see :func:`experiments.evaluate.trials_counted`).
        stack: The environment stack (data, windows, costs, limits, reward, tiers).
        algo: The learner: ``ppo``, ``a2c``, ``sac``, ``td3`` or ``recurrent_ppo`` (see :mod:`agents.algos`).
        algo_kwargs: Further keywords of the learner's SB3 constructor (e.g. ``learning_starts`` for SAC).
        ppo: PPO hyper-parameters (shared by RecurrentPPO; the network size and torch threads of every learner).
        train: Training loop settings.

    Raises:
        ConfigError: The date windows ``stack.train``, ``stack.val``, ``stack.test`` are not dates, are reversed,
            overlap or are out of order (see :func:`check_windows`).
    """

    name: str = "experiment"
    seed: int = 0
    runs_dir: str = "runs"
    n_trials: int = 1
    stack: StackConfig = field(default_factory=StackConfig)
    algo: str = "ppo"
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        from agents.algos import ALGOS, AlgoError, check_kwargs

        if self.algo not in ALGOS:
            raise ConfigError(f"algo={self.algo!r} is not one of {list(ALGOS)}; e.g. algo: ppo")
        try:
            check_kwargs(self.algo, self.algo_kwargs)
        except AlgoError as exc:
            raise ConfigError(str(exc)) from None
        if self.n_trials < 1:
            raise ConfigError(
                f"n_trials={self.n_trials!r} must be >= 1: it counts the configurations tried, this one included"
            )
        check_windows(self.stack)


SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The date windows of :class:`~agents.stack.StackConfig`, in the order they must come."""


def _window_dates(stack: StackConfig, split: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and stop of ``stack.<split>`` as timestamps; ConfigError naming the key, the value and the fix."""
    key, window = f"stack.{split}", tuple(getattr(stack, split))
    stamps = []
    for value in window:
        reason = "it does not start with a year"
        if str(value)[:1].isdigit():  # pd.Timestamp would also take "now" and "today"
            try:
                stamps.append(pd.Timestamp(str(value)))
                continue
            except ValueError as exc:
                reason = str(exc)
        raise ConfigError(
            f"{key}={list(window)!r}: {value!r} is not a date ({reason}); write dates as 'YYYY-MM-DD', "
            "e.g. '2015-01-01'"
        )
    start, stop = stamps
    if start >= stop:
        fix = [window[1], window[0]] if start > stop else [window[0], str((start + pd.DateOffset(years=1)).date())]
        raise ConfigError(
            f"{key}={list(window)!r} is empty or reversed: start {window[0]!r} must be before stop {window[1]!r} "
            f"(windows are [start, stop)); e.g. {key}={fix!r}"
        )
    return start, stop


def check_windows(stack: StackConfig) -> None:
    """Check ``stack.train``, ``stack.val`` and ``stack.test``: dates, start < stop, train < val < test.

    Windows are half-open ``[start, stop)``: ``train`` may stop on the date ``val`` starts.

    Raises:
        ConfigError: A window that is not dates, is reversed, overlaps another or comes in the wrong order; the
            message names the keys, the values and the fix.
    """
    dates = {split: _window_dates(stack, split) for split in SPLITS}
    for early, late in itertools.pairwise(SPLITS):
        if dates[early][1] > dates[late][0]:
            a, b = list(getattr(stack, early)), list(getattr(stack, late))
            how = "overlaps" if dates[early][0] < dates[late][1] else "comes after"
            raise ConfigError(
                f"stack.{early}={a!r} {how} stack.{late}={b!r}: windows go {' < '.join(SPLITS)} and must not "
                f"overlap; end stack.{early} on or before {b[0]!r} (its stop may equal the start of stack.{late})"
            )


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid keys: {', '.join(valid)}"


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type ``tp`` or raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping of {tp.__name__} fields, got {value!r}")
        return build(tp, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        return _coerce_tuple(value, typing.get_args(tp), where)
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r} must be a mapping of keywords, e.g. {{learning_starts: 1000}}")
        return {str(k): v for k, v in value.items()}
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in typing.get_args(tp):
            return None
        return _coerce(value, next(a for a in typing.get_args(tp) if a is not type(None)), where)
    return _coerce_scalar(value, tp, where)


def _coerce_tuple(value: Any, args: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}={value!r} must be a list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{where}={value!r} must have {len(args)} items")
    return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))


def _coerce_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} must be true or false")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}={value!r} must be an integer")
    if tp is float:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 1e-4 as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where}={value!r} must be a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}={value!r} must be a number")
        return float(value)
    if tp is str and isinstance(value, datetime.date):  # YAML reads an unquoted 2015-01-01 as a date
        return value.isoformat()
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}={value!r} must be a string")
    return value


def build(cls: type, values: dict[str, Any], where: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, recursively; unknown keys get a suggestion."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}; {_suggest(str(key), names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def _set_dotted(tree: dict[str, Any], dotted: str) -> None:
    if "=" not in dotted:
        raise ConfigError(f"override {dotted!r} must look like key.sub=value, e.g. ppo.learning_rate=1e-4")
    key, raw = dotted.split("=", 1)
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            f"override {dotted!r}: the value {raw!r} is not valid YAML ({problem}); quote strings and close "
            "brackets, e.g. stack.val=['2013-01-01', '2015-01-01']"
        ) from None


def resolve_path(name_or_path: str | Path) -> Path:
    """A config name (``quickstart``) under ``experiments/configs/`` or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        return p
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        names = sorted(x.stem for x in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"no config named {str(name_or_path)!r}; {_suggest(str(name_or_path), names)}")
    return candidate


def load_config(source: str | Path | dict[str, Any] | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Resolve a YAML file, a config name or a mapping (plus dotted overrides) into a :class:`RunConfig`."""
    if source is None:
        tree: dict[str, Any] = {}
    elif isinstance(source, dict):
        tree = dict(source)
    else:
        path = resolve_path(source)
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
        tree = loaded
    for item in overrides or []:
        _set_dotted(tree, item)
    return build(RunConfig, tree)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def to_yaml(cfg: RunConfig) -> str:
    """The fully resolved config as YAML (written into every run folder; loads back to an equal config)."""
    return yaml.safe_dump(_plain(dataclasses.asdict(cfg)), sort_keys=False)
