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

import copy
import dataclasses
import datetime
import difflib
import hashlib
import itertools
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agents.ppo import PPOConfig
from agents.stack import VEC_ENVS, StackConfig, TierConfig
from envs.data import MarketData, is_file_source

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A config file or override that does not resolve; the message says which key and what to do."""


SELECT_BY: tuple[str, ...] = ("reward", "sharpe")
"""Values of ``train.select_by``."""


@dataclass(frozen=True)
class TrainConfig:
    """Training loop settings.

    Attributes:
        total_timesteps: PPO environment steps (decisions) over all envs.
        n_envs: Env copies trained on (stepped as ``vec_env`` says).
        eval_freq: Steps (over all envs) between evaluations on the validation window; 0 = none.
        checkpoint_freq: Steps (over all envs) between checkpoints; 0 = none.
        normalize_obs: Train behind SB3's ``VecNormalize`` (running mean and variance of each observation slot,
            observations only); the statistics are frozen at evaluation and saved beside every model as
            ``obs_norm.json`` (see :mod:`agents.obs_norm`).
        norm_clip_obs: Clip of the normalised observation.
        select_by: What picks ``best/best_model.zip`` among the checkpoints scored on the validation window:
            ``reward`` (the episode reward, SB3's ``EvalCallback``) or ``sharpe`` (the validation Sharpe of
            ``best/val_curve.csv``, the measure the backtest reports). Either way every scored checkpoint counts
            as a trial for the deflated Sharpe ratio.
        vec_env: How the ``n_envs`` env copies run: ``dummy`` (one process, SB3's ``DummyVecEnv``) or
            ``subproc`` (one process per copy, SB3's ``SubprocVecEnv``).
        init_from: Start PPO from a Tier 4 specialist's meta-learned parameters: ``<tier4 folder>:<specialist>``
            (e.g. ``runs/meta/tier4:balanced``, written by ``tradebrain meta-train``); empty: SB3's initialisation.
    """

    total_timesteps: int = 50_000
    n_envs: int = 4
    eval_freq: int = 10_000
    checkpoint_freq: int = 25_000
    normalize_obs: bool = False
    norm_clip_obs: float = 10.0
    vec_env: str = "dummy"
    select_by: str = "reward"
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.select_by not in SELECT_BY:
            raise ConfigError(f"train.select_by={self.select_by!r} is not one of {list(SELECT_BY)}; e.g. reward")
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
        if self.init_from and (":" not in self.init_from or self.normalize_obs):
            raise ConfigError(
                f"train.init_from={self.init_from!r} must be '<tier4 folder>:<specialist>', e.g. "
                "runs/meta/tier4:balanced, with train.normalize_obs=false (the specialists learned on raw observations)"
            )


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
        data_sha256: SHA-256 of the data file ``stack.data`` (None for a bundled dataset). :func:`load_config`
            fills it in and, when a config already holds one (a run's ``config.yaml``), checks the file against it.

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
    data_sha256: str | None = None

    def __post_init__(self) -> None:
        from agents.algos import ALGOS, AlgoError, check_kwargs

        if self.algo not in ALGOS:
            raise ConfigError(f"algo={self.algo!r} is not one of {list(ALGOS)}; e.g. algo: ppo")
        try:
            check_kwargs(self.algo, self.algo_kwargs)
        except AlgoError as exc:
            raise ConfigError(str(exc)) from None
        for key, value, low in (
            ("ppo.batch_size", self.ppo.batch_size, 2),  # SB3's PPO asserts batch_size > 1
            ("ppo.n_steps", self.ppo.n_steps, 2 if self.train.n_envs == 1 else 1),  # rollout of > 1 step
            ("ppo.n_epochs", self.ppo.n_epochs, 1),
        ):
            if value < low:
                raise ConfigError(f"{key}={value!r} must be >= {low}, e.g. {getattr(PPOConfig, key[4:])}")
        if not self.ppo.learning_rate > 0:
            raise ConfigError(f"ppo.learning_rate={self.ppo.learning_rate!r} must be > 0, e.g. 3e-4")
        if self.n_trials < 1:
            raise ConfigError(
                f"n_trials={self.n_trials!r} must be >= 1: it counts the configurations tried, this one included"
            )
        check_windows(self.stack)


SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The date windows of :class:`~agents.stack.StackConfig`, in the order they must come."""


WINDOW_FORMS = (
    "dates 'YYYY-MM-DD' like ['2010-01-01', '2012-01-01'] (quoted or not), "
    "fractions of the data's usable span like [0.6, 0.8], or auto"
)
"""The accepted forms of ``stack.train``, ``stack.val`` and ``stack.test``, for messages."""
AUTO_FRACTIONS: dict[str, tuple[float, float]] = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
"""``auto`` windows: these fractions of the data's usable span (the bars after the look-back)."""
MIN_WINDOW_BARS: dict[str, int] = {"train": 250, "val": 60, "test": 60}
"""Fewest bars an ``auto`` or fractional window may hold."""
TIER2_MIN_FIT_BARS = 100
"""Fewest bars before a window that the Tier 2 detector is fitted on (see :func:`agents.stack.fit_detector`)."""


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
        raise ConfigError(f"{key}={list(window)!r}: {value!r} is not a date ({reason}); write {WINDOW_FORMS}")
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


_AUTO = (-1.0, -1.0)


def _fractions(value: Any) -> tuple[float, float] | None:
    """The fractions a window spec stands for (``auto`` or a pair of numbers in [0, 1]); None for dates."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return _AUTO
    if isinstance(value, (list, tuple)) and len(value) == 2:
        nums = [_number(v) if not isinstance(v, str) else None for v in value]
        if all(n is not None and 0.0 <= n <= 1.0 for n in nums):
            return (float(nums[0]), float(nums[1]))  # type: ignore[arg-type]
    return None


def look_back(data: MarketData, tiers: TierConfig) -> int:
    """Bars at the start of ``data`` no window may use: the features' warm-up, and the Tier 2 fit when it is on."""
    from envs.features import compute_features

    return max(compute_features(data).first_valid, tiers.tier2_fit_bars if tiers.tier2 else 0)


def window_from_fractions(
    data: MarketData, split: str, fractions: tuple[float, float], tiers: TierConfig
) -> tuple[str, str]:
    """The ``[start, stop)`` dates of the fractions ``[a, b]`` of the data's bars after :func:`look_back`.

    Raises:
        ConfigError: Reversed fractions or a window of fewer than :data:`MIN_WINDOW_BARS` bars; the message
            says how many bars the data has, how many the look-back takes, and the fixes.
    """
    a, b = fractions
    key = f"stack.{split}"
    if not a < b:
        raise ConfigError(f"{key}=[{a:g}, {b:g}]: fractions go [start, stop) with start < stop, e.g. [0.6, 0.8]")
    n, lead = len(data), look_back(data, tiers)
    lo, hi = lead + round(a * (n - lead)), lead + round(b * (n - lead))
    if hi - lo < MIN_WINDOW_BARS[split]:
        fit = (
            f"lower stack.tiers.tier2_fit_bars (now {tiers.tier2_fit_bars}, at least {TIER2_MIN_FIT_BARS}) or turn "
            "Tier 2 off (stack.tiers.tier2=false), "
            if tiers.tier2
            else ""
        )
        raise ConfigError(
            f"{key}=[{a:g}, {b:g}] of {data.name} holds {hi - lo} bars, fewer than the {MIN_WINDOW_BARS[split]} "
            f"a {split} window needs: the data has {n} bars and the first {lead} are look-back; use longer data, "
            f"{fit}or give {key} a larger share"
        )
    stop = str(data.index[hi].date()) if hi < n else str((data.index[-1] + pd.Timedelta(days=1)).date())
    return str(data.index[lo].date()), stop


def _resolve_windows(tree: dict[str, Any]) -> None:
    """Replace ``auto`` and fractional windows in ``tree["stack"]`` with dates of the data (loaded only if needed)."""
    stack = tree.get("stack") or {}
    specs = {split: _fractions(stack.get(split)) for split in SPLITS}
    specs = {split: AUTO_FRACTIONS[split] if f == _AUTO else f for split, f in specs.items() if f}
    if not specs:
        return
    from envs.data import DataError, load

    tiers = build(TierConfig, dict(stack.get("tiers") or {}), "stack.tiers")
    try:
        data = load(stack.get("data", StackConfig.data))
    except DataError as exc:
        raise ConfigError(f"stack.data: {exc}") from None
    for split, fractions in specs.items():
        stack[split] = list(window_from_fractions(data, split, fractions, tiers))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_data(tree: dict[str, Any]) -> None:
    """Store a data file as its absolute path and its SHA-256; refuse a file that differs from a recorded hash."""
    stack = tree.get("stack") or {}
    source = stack.get("data", StackConfig.data)
    if not (isinstance(source, str) and is_file_source(source)):
        tree["data_sha256"] = None
        return
    path = Path(source).expanduser()
    if not path.is_file():
        return  # the loader says the file does not exist, when something loads it
    tree.setdefault("stack", stack)["data"] = str(path.resolve())
    digest, recorded = file_sha256(path), tree.get("data_sha256")
    if recorded and recorded != digest:
        raise ConfigError(
            f"data file {str(path.resolve())!r} changed since this config was written: its sha256 is now "
            f"{digest[:12]}..., the config recorded {str(recorded)[:12]}... (data_sha256); restore the file, or "
            "retrain on the new data"
        )
    tree["data_sha256"] = digest


def check_data_fit(stack: StackConfig, data: MarketData | None = None) -> None:
    """Check that the windows lie inside the data with the look-back they need (features, Tier 2 fit).

    Raises:
        ConfigError: One line naming every window that does not fit, what the data covers, and the fixes.
    """
    from envs.data import load
    from envs.features import compute_features

    data = load(stack.data) if data is None else data
    index, n = data.index, len(data)
    first = max(compute_features(data).first_valid, TIER2_MIN_FIT_BARS if stack.tiers.tier2 else 0)
    if first >= n:
        raise ConfigError(f"{data.name} has {n} bars, fewer than the {first} bars of look-back a window needs")
    earliest, latest = index[first], index[-1].normalize() + pd.offsets.BDay(1)
    problems = []
    for split in SPLITS:
        start, stop = _window_dates(stack, split)
        window = list(getattr(stack, split))
        if start < earliest:
            problems.append(f"stack.{split}={window!r} starts before {earliest.date()}")
        elif stop > latest:
            problems.append(f"stack.{split}={window!r} ends after the data")
        elif index.searchsorted(stop) - index.searchsorted(start) < 2:
            problems.append(f"stack.{split}={window!r} holds fewer than 2 bars")
    if not problems:
        _check_env_settings(stack, data)
    if problems:
        need = "the features" + (" and the Tier 2 fit" if stack.tiers.tier2 else "")
        raise ConfigError(
            f"{'; '.join(problems)}: {data.name} covers {index[0].date()} .. {index[-1].date()} ({n} bars) and "
            f"windows can start on {earliest.date()}, after {first} bars of look-back for {need}; give windows inside "
            "that span, "
            "fractions of it (--set 'stack.train=[0.0, 0.6]'), or auto windows (--windows auto, the default with "
            "--data FILE)"
        )


def _check_env_settings(stack: StackConfig, data: MarketData) -> None:
    """Build the bare training env once, so its own checks of ``stack`` (episode length, hold, minimum trade,
    equity, ...) stop a command before any work, with the key as a dotted ``stack.`` path."""
    from agents.stack import base_env

    try:
        base_env(stack, data, "train")
    except (TypeError, ValueError) as exc:
        text = str(exc)
        key = text.split("=", 1)[0] if "=" in text.split(" ", 1)[0] else ""
        raise ConfigError(
            f"stack.{text}" if key in {f.name for f in dataclasses.fields(StackConfig)} else text
        ) from None


def _suggest(key: str, valid: list[str], noun: str = "keys") -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid {noun}: {', '.join(valid)}"


def config_keys(cls: type | None = None, prefix: str = "", *, sections: bool = False) -> list[str]:
    """Every dotted key of a config class (``train.total_timesteps``, ``stack.tiers.tier2_fit_bars``, ...).

    ``sections=True`` lists the sections too (``train``, ``stack.tiers``).
    """
    cls = RunConfig if cls is None else cls
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            out += [f"{prefix}{f.name}"] if sections else []
            out += config_keys(hints[f.name], f"{prefix}{f.name}.", sections=sections)
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _unknown_key(path: str, cls: type, names: list[str], where: str) -> ConfigError:
    """The error for an unknown key: the nearest valid key as a full dotted path, then the keys valid here.

    The nearest key is looked for in the section first, then (for a section of :class:`RunConfig`) anywhere in
    the config, by its last part: ``total_timesteps`` at the top level suggests ``train.total_timesteps``.
    """
    prefix = f"{where}." if where else ""
    leaf = path.rsplit(".", 1)[-1]
    here = difflib.get_close_matches(leaf, names, n=1, cutoff=0.6)
    hint = f"{prefix}{here[0]}" if here else None
    every = config_keys(sections=True)
    if hint is None and (cls is RunConfig or where in every):
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in every}
        close = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)
        hint = by_leaf[close[0]] if close else None
    did = f"did you mean {hint!r}? " if hint else ""
    section = f"keys of {where}" if where else "top-level keys"
    return ConfigError(f"unknown config key {path!r}; {did}{section}: {', '.join(names)}")


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


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a string of one (PyYAML reads ``1e-4`` as a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return None
    return None


def _coerce_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} must be true or false")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        number = _number(value)
        if number is not None and number.is_integer():  # 1e4 and 10000.0 are integers
            return int(number)
        raise ConfigError(f"{where}={value!r} must be an integer, written e.g. 10000, 10_000 or 1e4")
    if tp is float:
        number = _number(value)
        if number is None:
            raise ConfigError(f"{where}={value!r} must be a number, written e.g. 0.0003 or 3e-4")
        return number
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
            raise _unknown_key(path, cls, names, where)
        kwargs[key] = _coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def set_dotted(tree: dict[str, Any], dotted: str) -> None:
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
    if p.suffix in (".yaml", ".yml") or p.is_file():  # a folder named like a config (``meta/``) is not one
        if not p.exists():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        return p
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        names = sorted(x.stem for x in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(
            f"no config named {str(name_or_path)!r}; {_suggest(str(name_or_path), names, 'config names')} "
            "(or give a path to a YAML file)"
        )
    return candidate


def load_config(
    source: str | Path | dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    *,
    data: str | Path | None = None,
    windows: str | None = None,
) -> RunConfig:
    """Resolve a YAML file, a config name or a mapping (plus dotted overrides) into a :class:`RunConfig`.

    Args:
        source: Config name under ``experiments/configs/``, YAML path, mapping, or None for the defaults.
        overrides: Dotted ``key=value`` overrides, applied in order after ``data`` and ``windows``.
        data: Shortcut for ``stack.data``; a user's file gets ``windows="auto"`` unless ``windows`` is given.
        windows: ``"auto"`` sets ``stack.train``, ``stack.val`` and ``stack.test`` to ``auto`` (60/20/20% of the
            data after the look-back); overrides of single windows still apply.

    ``auto`` and fractional windows (see :data:`WINDOW_FORMS`) become dates of the data, and a data file becomes
    its absolute path with its SHA-256 (``data_sha256``), so the config written into a run folder names the
    exact bars it used.
    """
    if source is None:
        tree: dict[str, Any] = {}
    elif isinstance(source, dict):
        tree = copy.deepcopy(source)
    else:
        path = resolve_path(source)
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
        tree = loaded
    if data is not None:
        stack = tree.get("stack")
        tree["stack"] = {**(stack if isinstance(stack, dict) else {}), "data": str(data)}
        windows = windows or ("auto" if is_file_source(str(data)) else None)
    if windows is not None:
        if windows != "auto":
            raise ConfigError(f"windows={windows!r}: the only shortcut is 'auto'; set dates with stack.train=[...]")
        for split in SPLITS:
            set_dotted(tree, f"stack.{split}=auto")
    for item in overrides or []:
        set_dotted(tree, item)
    for section, command in SECTIONS.items():
        if section in tree:
            raise ConfigError(
                f"this config has a {section}: section, so it is for `tradebrain {command} --config ...`; the "
                f"other commands take a run config without it (e.g. --config quickstart)"
            )
    _resolve_data(tree)
    _resolve_windows(tree)
    return build(RunConfig, tree)


SECTIONS = {"walkforward": "walk-forward", "meta": "meta-train"}
"""Sections that make a config another command's (``load_with_section`` takes them off first)."""


def load_with_section(
    source: str | Path, section: str, cls: type, overrides: Iterable[str] = ()
) -> tuple[Any, RunConfig]:
    """A YAML with a ``<section>:`` mapping (built as ``cls``) beside :class:`RunConfig` keys, with dotted
    overrides: ``<section>.*`` overrides go to the section, every other key to the run config."""
    path = resolve_path(source)
    tree = yaml.safe_load(path.read_text()) or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    for item in overrides:
        set_dotted(tree, item)
    values = tree.pop(section, None) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{section}={values!r} must be a mapping of {cls.__name__} fields")
    return build(cls, values, section), load_config(tree)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def config_tree(cfg: Any) -> dict[str, Any]:
    """A config dataclass (:class:`RunConfig` or a section's) as plain dicts and lists, ready for ``yaml.safe_dump``."""
    return _plain(dataclasses.asdict(cfg))  # type: ignore[no-any-return]


def to_yaml(cfg: RunConfig) -> str:
    """The fully resolved config as YAML (written into every run folder; loads back to an equal config)."""
    return yaml.safe_dump(config_tree(cfg), sort_keys=False)
