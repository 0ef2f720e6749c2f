"""Menu rules scored on full-information outcomes: the candidates Tier 4 adapts among, and their causal scores.

A **menu rule** maps what the decision bar ``t`` shows (its six market features and four component scores, the
observation's slots 5-14) to one item of the bracket menu (:class:`envs.menu.BracketMenu`: item 0 is flat, then
long at the cap for each hold x each (stop, target) pair). :func:`menu_rules` lists the family (51 rules):

* ``flat``; ``long/<item>``: always the long item (10 rules, every hold and bracket);
* ``follow/<component>/h<hold>``: the wide-bracket item of ``hold`` when the component's score is above 0, else flat
  (4 components x 5 holds);
* ``trend/h<hold>``: long when the 20-bar return is above 0; ``momentum/h<hold>``: when the 5-bar return is;
  ``consensus/h<hold>``: when the component scores sum above 0 (wide bracket);
* ``defensive/h<hold>``: the consensus rule with the tight bracket (a 2% stop).

**Score.** A rule trades sequentially from a start bar: at each decision bar it takes its item, the trade runs
``spans[t, item]`` bars (full-information outcomes of :func:`envs.batch.bracket_outcomes`, the env's own fills,
costs and risk levels), and the next decision is at the exit bar. Its score is the log growth per bar of that
sequence (:func:`chain_totals` returns the summed growth and the bars it covers).

**Causality.** :func:`running_totals` at bar ``t`` counts only the trades whose exit bar is ``<= t`` (a trade that
closes after ``t`` has no known outcome at ``t``): what a live brain could know at the close of ``t``. A test
changes the bars after ``t`` and checks that the totals up to ``t`` stay the same.

Example:
    >>> path = FullInfoPath.of(sample.data)                              # doctest: +SKIP
    >>> rules = menu_rules()
    >>> g, s = running_totals(path.items(rules), path, start=0, t=200)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from envs.batch import bracket_outcomes
from envs.layout import COMPONENTS
from envs.market import MarketData
from envs.menu import BracketMenu
from envs.trading_env import TradingEnv

__all__ = [
    "FullInfoPath",
    "MenuRule",
    "chain_totals",
    "dense_totals",
    "menu_rules",
    "rule_scores",
    "running_totals",
    "task_scores",
]

N_FEATURES = 10
"""Columns of :attr:`FullInfoPath.features`: the six market features, then the four component scores."""
_RET5, _RET20 = 1, 2  # market-feature columns of the 5- and 20-bar returns (envs.layout.MARKET_FEATURES)


@dataclass(frozen=True)
class MenuRule:
    """One rule: the menu ``item`` when its ``signal`` is on, else flat.

    Attributes:
        name: Unique name (``family/...``).
        family: ``flat``, ``long``, ``follow``, ``trend``, ``momentum``, ``consensus`` or ``defensive``.
        signal: ``always``, ``never``, ``comp:<index>``, ``ret20``, ``ret5`` or ``consensus``.
        item: The menu item taken when the signal is on.
    """

    name: str
    family: str
    signal: str
    item: int

    def on(self, features: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: whether the signal is on at each row of ``features`` (``(n, 10)``)."""
        f = np.asarray(features)
        if self.signal == "always":
            return np.ones(len(f), bool)
        if self.signal == "never":
            return np.zeros(len(f), bool)
        if self.signal.startswith("comp:"):
            return f[:, 6 + int(self.signal[5:])] > 0.0
        if self.signal == "ret20":
            return f[:, _RET20] > 0.0
        if self.signal == "ret5":
            return f[:, _RET5] > 0.0
        if self.signal == "consensus":
            return f[:, 6:10].sum(axis=1) > 0.0
        raise ValueError(f"MenuRule {self.name!r}: unknown signal {self.signal!r}")

    def items(self, features: np.ndarray) -> np.ndarray:
        """``(n,)`` int64 menu item at each row of ``features``."""
        return np.where(self.on(features), self.item, 0).astype(np.int64)


def menu_rules(menu: BracketMenu | None = None) -> tuple[MenuRule, ...]:
    """The rule family of the module docstring for ``menu`` (default :class:`BracketMenu`: 51 rules)."""
    m = menu if menu is not None else BracketMenu()
    nb = len(m.brackets)

    def item(h: int, b: int) -> int:  # item of hold index h and bracket index b
        return 1 + h * nb + b

    rules = [MenuRule("flat", "flat", "never", 0)]
    for h, hold in enumerate(m.holds):
        for b in range(nb):
            rules.append(MenuRule(f"long/h{hold}/b{b}", "long", "always", item(h, b)))
    for c, comp in enumerate(COMPONENTS):
        rules += [
            MenuRule(f"follow/{comp}/h{hold}", "follow", f"comp:{c}", item(h, 0)) for h, hold in enumerate(m.holds)
        ]
    for family, signal in (("trend", "ret20"), ("momentum", "ret5"), ("consensus", "consensus")):
        rules += [MenuRule(f"{family}/h{hold}", family, signal, item(h, 0)) for h, hold in enumerate(m.holds)]
    tight = nb - 1
    rules += [
        MenuRule(f"defensive/h{hold}", "defensive", "consensus", item(h, tight)) for h, hold in enumerate(m.holds)
    ]
    return tuple(rules)


@dataclass(frozen=True)
class FullInfoPath:
    """A market path with every menu item's outcome at every bar of its window.

    Attributes:
        env: The env the outcomes were simulated in (its data, costs, limits).
        start: The window's first bar (row 0 of the tables).
        features: ``(n, 10)`` float64 market features and component scores at each window bar.
        growth: ``(n, k)`` log growth of each item decided at each bar (0 for flat; trades open at the window's end
            close at its last bar).
        spans: ``(n, k)`` int64 bars from each decision to its exit (1 for flat).
        menu: ``(k, 4)`` the items as simulated (size, hold, stop, target).
    """

    env: TradingEnv
    start: int
    features: np.ndarray
    growth: np.ndarray
    spans: np.ndarray
    menu: np.ndarray

    @classmethod
    def of(cls, data: MarketData, menu: BracketMenu | None = None, **env_kwargs: Any) -> FullInfoPath:
        """Outcomes of ``menu`` at every bar of ``data`` after the features' look-back; ``env_kwargs`` (costs,
        limits, action_map, min_trade, ...) configure the :class:`~envs.trading_env.TradingEnv` that simulates them."""
        env = TradingEnv(data, **env_kwargs)
        params = (menu if menu is not None else BracketMenu()).params(env.action_map)
        growth, spans = bracket_outcomes(env, params)
        lo, hi = env.window
        feats = np.concatenate([env.features.market, env.features.components], axis=1)[lo : hi - 1]
        return cls(env, int(lo), np.nan_to_num(feats.astype(np.float64)), growth, spans, params)

    def __len__(self) -> int:
        return len(self.growth)

    def items(self, rules: tuple[MenuRule, ...] | list[MenuRule]) -> np.ndarray:
        """``(n, len(rules))`` int64: each rule's menu item at each row."""
        return np.stack([r.items(self.features) for r in rules], axis=1)

    def observed(self, start: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, growth and spans of decisions at rows ``[start, t)`` as known at the close of row ``t``: every
        trade still open at ``t`` closes at ``t``'s close (:func:`envs.batch.bracket_outcomes` with ``end``), so
        nothing after ``t`` is used."""
        if not 0 <= start < t < len(self):
            raise ValueError(f"observed(start={start}, t={t}) needs 0 <= start < t < {len(self)} (rows of the path)")
        bars = np.arange(self.start + start, self.start + t, dtype=np.int64)
        growth, spans = bracket_outcomes(self.env, self.menu, bars=bars, end=self.start + t)
        return self.features[start:t], growth, spans


@njit(cache=True)
def _chain(items, growth, spans, start, stop, known_by):  # type: ignore[no-untyped-def]
    n_rows, n_rules = items.shape
    g = np.zeros(n_rules)
    s = np.zeros(n_rules, np.int64)
    n = np.zeros(n_rules, np.int64)
    q = np.zeros(n_rules)
    for r in range(n_rules):
        t = start
        while t < stop and t < n_rows:
            k = items[t, r]
            span = spans[t, k]
            if t + span > known_by:
                break
            g[r] += growth[t, k]
            s[r] += span
            n[r] += 1
            q[r] += growth[t, k] ** 2 / span
            t += span
    return g, s, n, q


def chain_totals(
    items: np.ndarray, path: FullInfoPath, start: int, stop: int, known_by: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each rule traded in sequence from row ``start``, deciding while the row is ``< stop``.

    Args:
        items: ``(n, rules)`` menu items (:meth:`FullInfoPath.items`).
        path: The outcomes.
        start: First decision row.
        stop: Decisions stop at this row (a trade decided before it may run past it).
        known_by: Only trades whose exit row is ``<= known_by`` count (default: all).

    Returns:
        ``growth`` ``(rules,)`` summed log growth, ``bars`` ``(rules,)`` bars the counted trades cover, ``trades``
        ``(rules,)`` decisions counted (flat bars included), ``sq`` ``(rules,)`` summed ``growth ** 2 / span`` of
        the counted trades (the noise estimate of :mod:`meta.posterior`).
    """
    items = np.ascontiguousarray(items, np.int64)
    if items.ndim != 2 or len(items) != len(path):
        raise ValueError(f"items has shape {items.shape}; expected ({len(path)}, rules)")
    kb = np.iinfo(np.int64).max // 2 if known_by is None else int(known_by)
    return _chain(items, path.growth, path.spans, int(start), int(stop), kb)  # type: ignore[no-any-return]


def running_totals(items: np.ndarray, path: FullInfoPath, start: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The causal running totals at row ``t``: summed growth and bars of each rule's trades decided from ``start``
    and closed by ``t`` (see the module docstring)."""
    g, s, _, _ = chain_totals(items, path, start, t, known_by=t)
    return g, s


def dense_totals(items: np.ndarray, path: FullInfoPath, start: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Evidence from every decision row in ``[start, t)`` whose item's trade closed by ``t`` (full information:
    not just the rows of the rule's own sequence): summed ``growth / span`` (the item's growth per bar) and the
    count of those rows, per rule. Overlapping trades share bars, so each row counts as one bar of evidence."""
    rows = np.arange(start, t)
    it = np.asarray(items)[start:t]
    g = np.take_along_axis(path.growth[start:t], it, axis=1)
    s = np.take_along_axis(path.spans[start:t], it, axis=1)
    known = rows[:, None] + s <= t
    return (np.where(known, g / s, 0.0)).sum(axis=0), known.sum(axis=0)


def rule_scores(items: np.ndarray, path: FullInfoPath, start: int, stop: int) -> np.ndarray:
    """``(rules,)`` log growth per bar of each rule traded from ``start`` while the row is ``< stop`` (every trade
    counted to its exit)."""
    g, s, _, _ = chain_totals(items, path, start, stop)
    return g / np.maximum(s, 1)


def task_scores(
    paths: Sequence[FullInfoPath], rules: Sequence[MenuRule], rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(tasks, rules)`` log growth per bar of each rule on each path (decisions at rows ``[0, rows)``, default
    every row) and ``(tasks, rules)`` per-bar noise variance (``sum g^2 / s`` over its trades, per trade): what
    :func:`meta.posterior.fit_prior` takes."""
    scores, noise = [], []
    for path in paths:
        g, s, n, q = chain_totals(path.items(tuple(rules)), path, 0, len(path) if rows is None else rows)
        scores.append(g / np.maximum(s, 1))
        noise.append(q / np.maximum(n, 1))
    return np.array(scores), np.array(noise)
