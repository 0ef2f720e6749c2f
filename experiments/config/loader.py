"""Run configuration: YAML files under ``experiments/config/presets/`` resolved into typed, frozen dataclasses.

An unknown key is an error that names the nearest valid key; a value of the wrong type is an error that names
the key, the value and the expected type. Command-line overrides use dotted keys: ``ppo.learning_rate=1e-4``.
Loading a config imports neither torch nor scikit-learn.

Example:
    >>> cfg = load_config("quickstart", overrides=["train.total_timesteps=2000"])   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from agents.config import StackConfig, TierConfig
from envs.data import is_file_source
from experiments.config.errors import ConfigError, _suggest
from experiments.config.schema import RunConfig
from experiments.config.windows import AUTO_FRACTIONS, SPLITS, window_from_fractions
from experiments.files import sha256_file

CONFIG_DIR = Path(__file__).resolve().parent / "presets"


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader without its timestamp type: ``2018-13-01`` stays the string it is, so the window check
    names the key and the bad date instead of PyYAML failing inside ``datetime.date`` (``month must be in
    1..12``); valid dates are strings too, the form :class:`~agents.config.StackConfig` keeps them in."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(text: str, where: str) -> Any:
    """Parse config YAML (:class:`ConfigLoader`); ConfigError naming ``where`` and the line for YAML that is not."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader without timestamps
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            f"{where} is not valid YAML{line} ({problem}); check the indentation and the quotes"
        ) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML config file as a mapping (empty file: ``{}``); ConfigError for YAML that is not a mapping of keys."""
    tree = read_yaml(Path(path).read_text(), f"config file {str(path)!r}") or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    return tree


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
    digest, recorded = sha256_file(path), tree.get("data_sha256")
    if recorded and recorded != digest:
        raise ConfigError(
            f"data file {str(path.resolve())!r} changed since this config was written: its sha256 is now "
            f"{digest[:12]}..., the config recorded {str(recorded)[:12]}... (data_sha256); restore the file, or "
            "retrain on the new data"
        )
    tree["data_sha256"] = digest


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
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if int in args and type(None) in args:  # int | None: a number of steps or auto (train.eval_freq)
            if isinstance(value, str) and value.strip().lower() == "auto":
                return None
            if _number(value) is None or not float(_number(value) or 0).is_integer():
                raise ConfigError(f"{where}={value!r} must be an integer, e.g. 10000, or auto")
        return _coerce(value, next(a for a in args if a is not type(None)), where)
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
        text, own = str(exc), f"{cls.__name__}."
        if where and text.startswith(own):  # "Costs.commission_bps=-1 ..." -> "stack.costs.commission_bps=-1 ..."
            raise ConfigError(text.replace(own, f"{where}.")) from None
        raise ConfigError(f"{where or cls.__name__}: {text}") from None


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
        node[parts[-1]] = yaml.load(raw, Loader=ConfigLoader)  # a SafeLoader without timestamps
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            f"override {dotted!r}: the value {raw!r} is not valid YAML ({problem}); quote strings and close "
            "brackets, e.g. stack.val=['2013-01-01', '2015-01-01']"
        ) from None


def resolve_path(name_or_path: str | Path) -> Path:
    """A config name (``quickstart``) under ``experiments/config/presets/`` or a path to a YAML file."""
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
        source: Config name under ``experiments/config/presets/``, YAML path, mapping, or None for the defaults.
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
        tree = read_config_file(resolve_path(source))
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
    tree = read_config_file(resolve_path(source))
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
