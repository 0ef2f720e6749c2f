"""Build the wrapped env stack (TradingEnv -> Tier 2 regime wrapper -> Tier 1 weight wrapper) from a config.

One function builds one env for a split (train, val or test); one builds SB3 vectorised envs for training
(``DummyVecEnv`` or ``SubprocVecEnv``); :func:`make_stack_env` is the Gymnasium entry point of
``tradebrain/TradingBrainStack-v2`` (registered by ``import envs``), which builds the same env from keywords for
any RL library that speaks Gymnasium (CleanRL, RLlib, TorchRL, Tianshou). The Tier 2 detector is fitted once
per split on the ``tier2_fit_bars`` bars *before* that split's window (never on a bar it labels) and shared by
the copies of the env. The Tier 1 bandit starts every episode from its prior, in every split, and learns online
from that episode's own closed trades (see :mod:`agents.tier1`): the weights at bar ``t`` depend only on trades
closed by ``t``, whether the episode is a random-start training episode, the n-th validation pass of SB3's
``EvalCallback`` over the same env, or a backtest; and training and evaluation see the same distribution of
weights in slots 15-18.

Fitting the detector costs about 3 s (S&P 500, 750 bars, 3 restarts; the rest of a construction about 0.3 s).
:func:`make_stack_env` and :func:`agents.vec.make_vec_env` therefore keep fitted detectors in a small in-process cache
(:func:`fit_detector` with ``cache=True``; at most :data:`DETECTOR_CACHE_SIZE` entries, cleared by
:func:`clear_detector_cache`), keyed by the detector's hyper-parameters and a SHA-256 of the exact bars it is
fitted on: the fit is deterministic (seeded restarts), so a hit returns a copy of what a refit would return.
``gym.make_vec`` builds ``n`` envs in one process ("sync"), or one in the parent and then ``n`` in workers
("async"; forked workers inherit the cache, spawned ones refit unless a fitted ``detector`` is passed).

Example:
    >>> cfg = StackConfig(data="sp500")                              # doctest: +SKIP
    >>> env = make_env(cfg, "test")                                  # wrapped, window = cfg.test
    >>> venv = agents.vec.make_vec_env(cfg, n_envs=64, seed=0)       # the batched core + VecMonitor
    >>> env = gym.make("tradebrain/TradingBrainStack-v2", split="test", tier1=False)
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from agents.config import Split, StackConfig, TierConfig, base_env
from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.data import MarketData, load
from envs.menu import BracketMenu, MenuActionWrapper
from envs.registration import STACK_ENV_ID
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

if TYPE_CHECKING:  # SB3 (and torch) load only when a VecEnv is built: env workers never import them
    pass

logger = logging.getLogger(__name__)

DETECTOR_CACHE_SIZE = 8
"""Fitted Tier 2 detectors kept by :func:`fit_detector` with ``cache=True`` (least recently used dropped)."""

_detector_cache: OrderedDict[str, RegimeDetector] = OrderedDict()
_detector_lock = threading.Lock()


def fit_detector(cfg: StackConfig, data: MarketData, split: Split, *, cache: bool = False) -> RegimeDetector:
    """Fit the Tier 2 detector on the ``tier2_fit_bars`` bars before the split's window.

    Args:
        cfg: The stack's config (window and ``tiers`` settings).
        data: The market data the window indexes.
        split: Which window the detector will label.
        cache: Look the fit up in (and add it to) the in-process cache of the module docstring. A hit is a deep
            copy of the cached detector, equal to a refit: the key is the detector's hyper-parameters and a
            SHA-256 of the closes (and VIX) it is fitted on.
    """
    start = data.bar_at(cfg.window(split)[0])
    lo = max(0, start - cfg.tiers.tier2_fit_bars)
    if start - lo < 100:
        raise ValueError(
            f"only {start - lo} bars before the {split} window ({cfg.window(split)[0]}) to fit the Tier 2 detector; "
            "start the window later or lower tiers.tier2_fit_bars"
        )
    det = RegimeDetector(n_states=cfg.tiers.tier2_states, n_restarts=cfg.tiers.tier2_restarts)
    close, vix = data.close[lo:start], None if data.vix is None else data.vix[lo:start]
    key = _detector_key(det, close, vix) if cache else ""
    if cache:
        with _detector_lock:
            hit = _detector_cache.get(key)
            if hit is not None:
                _detector_cache.move_to_end(key)
                logger.debug("Tier 2 detector for %s from the cache (bars [%d, %d))", split, lo, start)
                return copy.deepcopy(hit)
    det.fit(close, vix)
    logger.info("Tier 2 detector for %s fitted on bars [%d, %d)", split, lo, start)
    if cache:
        with _detector_lock:
            _detector_cache[key] = copy.deepcopy(det)
            while len(_detector_cache) > DETECTOR_CACHE_SIZE:
                _detector_cache.popitem(last=False)
    return det


def _detector_key(det: RegimeDetector, close: np.ndarray, vix: np.ndarray | None) -> str:
    """SHA-256 of an unfitted detector's hyper-parameters and of the arrays it is about to be fitted on."""
    digest = hashlib.sha256(repr(sorted(vars(det).items())).encode())
    for name, array in (("close", close), ("vix", vix)):
        if array is not None:
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def clear_detector_cache() -> None:
    """Drop every detector cached by :func:`fit_detector` (``cache=True``)."""
    with _detector_lock:
        _detector_cache.clear()


def wrap(env: TradingEnv, cfg: StackConfig, detector: RegimeDetector | None, *, learn: bool = True) -> gym.Env:
    """Put the enabled tiers around a base env (Tier 2 inside, Tier 1 outside: Tier 1 reads Tier 2's regime), and the
    bracket menu's action wrapper outside both when ``cfg.action`` is ``menu``.

    The Tier 1 bandit restarts from its prior at every ``reset()`` (causal in every context; see
    :class:`~agents.tier1.ComponentWeightWrapper`); ``learn=False`` keeps it at the prior.
    """
    wrapped: gym.Env = env
    if cfg.tiers.tier2:
        wrapped = RegimeWrapper(wrapped, detector, fit_bars=cfg.tiers.tier2_fit_bars)
    if cfg.tiers.tier1:
        bandit = ComponentBandit(gamma=cfg.tiers.tier1_gamma, per_regime=cfg.tiers.tier1_per_regime and cfg.tiers.tier2)
        wrapped = ComponentWeightWrapper(
            wrapped,
            bandit,
            learn=learn,
            reset_each_episode=True,
            learns_from=cfg.tiers.tier1_learns_from,
            horizon=cfg.tiers.tier1_horizon,
        )
    if cfg.action == "menu":  # outermost: the agent picks an item of the bracket menu
        wrapped = MenuActionWrapper(wrapped, cfg.menu)
    return wrapped


def make_env(
    cfg: StackConfig,
    split: Split = "train",
    *,
    data: MarketData | None = None,
    detector: RegimeDetector | None = None,
) -> gym.Env:
    """One wrapped env for ``split``; training envs start at random bars, evaluation envs at the window start."""
    data = data if data is not None else load(cfg.data)
    if cfg.tiers.tier2 and detector is None:
        detector = fit_detector(cfg, data, split)
    return wrap(base_env(cfg, data, split), cfg, detector)


_SECTIONS: dict[str, type] = {
    "costs": Costs,
    "limits": RiskLimits,
    "reward": RewardConfig,
    "tiers": TierConfig,
    "menu": BracketMenu,
}
_WINDOWS = ("train", "val", "test")


def _leaf_sections() -> dict[str, str]:
    """``field -> section`` for the fields of the nested sections, to be given without their section's name.

    A field name found in two sections, or equal to a top-level field, is left out (it needs its section).
    """
    top = {f.name for f in dataclasses.fields(StackConfig)}
    owners: dict[str, list[str]] = {}
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            owners.setdefault(f.name, []).append(section)
    return {name: sections[0] for name, sections in owners.items() if len(sections) == 1 and name not in top}


STACK_KEYWORDS: dict[str, str] = _leaf_sections()
"""Fields of the sections ``costs limits reward tiers`` usable as plain keywords: ``tier1=False`` is
``tiers={"tier1": False}`` and ``commission_bps=0.5`` is ``costs={"commission_bps": 0.5}``."""

ENV_KEYWORDS: tuple[str, ...] = ("config", "split", "data", "detector", "tier1_learn", "cache")
"""Keywords of :func:`make_stack_env` that are not fields of :class:`StackConfig`."""


def _unknown_keyword(key: str, valid: list[str], where: str) -> TypeError:
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return TypeError(f"{where}: unknown keyword {key!r}; {hint}valid keywords: {', '.join(valid)}")


def _section(name: str, current: Any, value: Any, leaves: dict[str, Any], where: str) -> Any:
    """Section ``name`` of the config: ``current`` (or ``value`` when it is the section's dataclass) updated by
    the mapping ``value`` and then by the plain keywords ``leaves``."""
    cls = _SECTIONS[name]
    if isinstance(value, cls):
        current, value = value, None
    elif value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{where}: {name} must be a {cls.__name__} or a mapping of its fields, got {value!r}")
    updates = {**(value or {}), **leaves}
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in updates:
        if key not in fields:
            raise _unknown_keyword(f"{name}.{key}", [f"{name}.{f}" for f in fields], where)
    return dataclasses.replace(current, **updates) if updates else current


def _window_value(name: str, value: Any, where: str) -> tuple[str, str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TypeError(
            f"{where}: {name}={value!r} must be a (start, stop) pair of dates, e.g. ('2002-01-01', '2013-01-01')"
        )
    return (str(value[0]), str(value[1]))


def stack_config(config: StackConfig | Mapping[str, Any] | None = None, /, **keywords: Any) -> StackConfig:
    """A :class:`StackConfig` from a config (or a mapping of its fields) and keyword overrides.

    Keywords are the fields of :class:`StackConfig` (``data``, ``train``, ``episode_bars``, ...; a section
    ``costs``, ``limits``, ``reward`` or ``tiers`` as its dataclass or a mapping of some of its fields) and the
    fields of the sections by their plain names (:data:`STACK_KEYWORDS`: ``tier1``, ``tier2_restarts``,
    ``commission_bps``, ``max_position``, ...). A mapping ``config`` takes the same keys. Later wins: ``config``,
    then the keywords; within a section, its mapping, then its plain names.

    Example:
        >>> stack_config(tier1=False, train=("2004-01-01", "2010-01-01")).tiers.tier1
        False

    Raises:
        TypeError: An unknown keyword (the message names it, the nearest valid one and all valid ones), a section
            that is no mapping, a window that is no pair of dates.
    """
    return _resolve(config, keywords, "stack_config", ())


def _resolve(
    config: StackConfig | Mapping[str, Any] | None, keywords: dict[str, Any], where: str, extra: tuple[str, ...]
) -> StackConfig:
    """:func:`stack_config` with ``where`` (the caller, named in errors) and ``extra`` (its own keywords)."""
    if isinstance(config, StackConfig):
        base, values = config, dict(keywords)
    elif config is None or isinstance(config, Mapping):
        base, values = StackConfig(), {**(config or {}), **keywords}
    else:
        raise TypeError(f"{where}: config must be a StackConfig, a mapping of its fields or None, got {config!r}")
    top = [f.name for f in dataclasses.fields(StackConfig)]
    plain: dict[str, Any] = {}
    leaves: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for key, value in values.items():
        if key in STACK_KEYWORDS:
            leaves[STACK_KEYWORDS[key]][key] = value
        elif key in top:
            plain[key] = _window_value(key, value, where) if key in _WINDOWS else value
        else:
            raise _unknown_keyword(key, list(dict.fromkeys([*extra, *top, *STACK_KEYWORDS])), where)
    for name in _SECTIONS:
        plain[name] = _section(name, getattr(base, name), plain.get(name), leaves[name], where)
    return dataclasses.replace(base, **plain)


def make_stack_env(
    config: StackConfig | Mapping[str, Any] | None = None,
    *,
    split: Split = "train",
    data: str | Path | MarketData | None = None,
    detector: RegimeDetector | None = None,
    tier1_learn: bool = True,
    cache: bool = True,
    **keywords: Any,
) -> gym.Env:
    """The Gymnasium entry point of ``tradebrain/TradingBrainStack-v2``: :func:`make_env` from keywords.

    ``gym.make("tradebrain/TradingBrainStack-v2", **kw)`` and ``gym.make_vec(..., **kw)`` ("sync" or "async")
    call this function with ``kw``; everything it takes pickles, so an async worker builds its env from the
    keywords alone. The result equals ``make_env(stack_config(config, **keywords), split)``: the same
    observations, rewards and infos for the same seed and actions.

    Args:
        config: A :class:`StackConfig`, or a mapping of its fields (as :func:`stack_config` takes), or None for
            the defaults (``sp500``, train 2002-2012, val 2013-2014, test 2015-2018, Tier 1 and Tier 2 on).
        split: ``"train"`` (random starts, episodes of ``episode_bars``), ``"val"`` or ``"test"`` (the whole
            window from its start).
        data: A dataset name or a CSV/Parquet path (``StackConfig.data``), or :class:`~envs.data.MarketData`
            itself (pickled to async workers; ``StackConfig.data`` becomes its name).
        detector: A fitted :class:`~agents.tier2.RegimeDetector` to use instead of fitting one (Tier 2 on). Pass
            ``fit_detector(cfg, data, split)`` to ``gym.make_vec`` to spare spawned workers the fit.
        tier1_learn: Let the Tier 1 bandit learn from the episode's closed trades; False keeps its weights at
            the prior (0.25 each). It restarts from the prior at every ``reset()`` either way, so two resets with
            the same seed and the same actions give the same steps: Gymnasium's and SB3's env checkers pass with
            learning on (``tests/agents/test_registration.py``).
        cache: Take the Tier 2 detector from the in-process cache (module docstring); False refits.
        **keywords: Fields of :class:`StackConfig` and of its sections, as :func:`stack_config` takes them:
            ``train=("2002-01-01", "2013-01-01")``, ``episode_bars=252``, ``tier1=True``, ``tier2=False``,
            ``tier2_restarts=3``, ``commission_bps=1.0``, ``max_position=0.2``, ``reward={"kind": "dsr"}``, ...

    Returns:
        The stack, Tier 1 outside Tier 2 outside :class:`~envs.trading_env.TradingEnv`; ``Box(27)`` observations
        and ``Box(-1, 1, (4,))`` actions whatever tiers are on.

    Raises:
        TypeError: An unknown keyword (named, with the nearest and all valid ones), or a value of a wrong kind.
        ValueError: A bad split or value (from the config's own checks).

    Example:
        >>> import gymnasium as gym, envs                                                # doctest: +SKIP
        >>> env = gym.make("tradebrain/TradingBrainStack-v2", split="test", tier2_restarts=2)
        >>> venv = gym.make_vec("tradebrain/TradingBrainStack-v2", 4, vectorization_mode="async", tier1=False)
    """
    if not isinstance(tier1_learn, bool):
        raise TypeError(f"{STACK_ENV_ID}: tier1_learn must be a bool, got {tier1_learn!r}")
    if detector is not None and not isinstance(detector, RegimeDetector):
        raise TypeError(f"{STACK_ENV_ID}: detector must be a fitted RegimeDetector or None, got {detector!r}")
    market = data if isinstance(data, MarketData) else None
    if data is not None:
        keywords["data"] = market.name if market is not None else str(data)
    cfg = _resolve(config, keywords, STACK_ENV_ID, ENV_KEYWORDS)
    cfg.window(split)
    market = market if market is not None else load(cfg.data)
    if cfg.tiers.tier2 and detector is None:
        detector = fit_detector(cfg, market, split, cache=cache)
    return wrap(base_env(cfg, market, split), cfg, detector, learn=tier1_learn)
