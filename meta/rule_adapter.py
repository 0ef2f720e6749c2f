"""Tier 4 adapting online: the posterior over menu rules, updated as bars arrive (numpy and ``envs`` only, no torch).

:class:`RuleAdapter` is the one implementation the backtest (:class:`RuleAdapterPolicy`) and the live brain
(:class:`experiments.live.brain.LiveBrain`, bundle policy kind ``"tier4_rules"``) both run. At the close of bar ``t``
it gets the bars it keeps (the last ``history_bars`` up to ``t``), simulates the full-information outcomes of the
bracket menu on them (:class:`meta.fullinfo.FullInfoPath`: the env's fills, costs and risk levels), counts for each
rule of :func:`meta.fullinfo.menu_rules` the trades that closed by bar ``t - 1`` (a trade still open at ``t`` is
cut at ``t``'s close by the simulation, so trades exiting at ``t`` are left for the next bar: nothing after ``t``,
and nothing cut short, enters), updates the Gaussian posterior of :mod:`meta.posterior` and trades the menu item of
the rule with the highest lower bound ``mean - lcb * sd`` (``lcb`` 1 by default) at bar ``t``.

What a bundle carries for this (``bundle.json`` ``meta.rule_adapter``, :meth:`RuleAdapter.to_json`): the rule
names, the prior (mean, variance and noise variance of each rule's log growth per bar over the training tasks, the
variance already tempered), whether the evidence is dense (every observed decision bar, :func:`meta.fullinfo.
dense_totals`) or the rules' own trade sequences, the pseudo-trades of the noise prior and ``lcb``. The bundle's costs,
limits and action map (already in ``bundle.json``) configure the simulation.

Example:
    >>> adapter = RuleAdapter.fit([sample.data for sample in training_samples], temper=16.0)   # doctest: +SKIP
    >>> rule, item = adapter.choose(bars_up_to_t)                                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.features import LOOKBACK
from envs.market import MarketData
from envs.menu import BracketMenu
from meta.fullinfo import FullInfoPath, chain_totals, dense_totals, menu_rules, task_scores
from meta.posterior import RulePosterior, RulePrior, fit_prior

__all__ = ["RuleAdapter", "RuleAdapterPolicy", "market_slice"]

FORMAT_VERSION = 1


def market_slice(data: MarketData, lo: int, hi: int) -> MarketData:
    """Bars ``[lo, hi)`` of ``data`` (already validated: no checks repeated)."""
    comps = None if data.components is None else data.components[lo:hi]
    vix = None if data.vix is None else data.vix[lo:hi]
    return MarketData(
        index=data.index[lo:hi], open=data.open[lo:hi], high=data.high[lo:hi], low=data.low[lo:hi],
        close=data.close[lo:hi], volume=data.volume[lo:hi], components=comps, vix=vix, day=data.day[lo:hi],
        name=data.name,
    )  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """One decision of the adapter: the rule's index and name, the menu item it takes at the bar."""

    rule: int
    name: str
    item: int


class RuleAdapter:
    """The posterior over menu rules, online (module docstring).

    Args:
        prior: Prior of each rule (:func:`meta.posterior.fit_prior`), in the order of ``rules``.
        rules: Rule names (default: all of :func:`meta.fullinfo.menu_rules`).
        dense: Evidence from every observed decision bar (True) or the rules' own trade sequences.
        noise_trades: Pseudo-trades of the prior noise variance (:class:`meta.posterior.RulePosterior`).
        lcb: The choice maximises the posterior's ``mean - lcb * sd`` (:class:`meta.posterior.RulePosterior`).
    """

    def __init__(
        self,
        prior: RulePrior,
        rules: Sequence[str] | None = None,
        dense: bool = True,
        noise_trades: float = 5.0,
        lcb: float = 1.0,
    ) -> None:
        table = {r.name: r for r in menu_rules()}
        names = list(table) if rules is None else list(rules)
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ValueError(f"RuleAdapter: unknown rules {unknown}; valid names come from meta.fullinfo.menu_rules()")
        if len(prior.mean) != len(names):
            raise ValueError(f"RuleAdapter: the prior has {len(prior.mean)} rules; rules has {len(names)}")
        self.rules = tuple(table[n] for n in names)
        self.prior, self.dense = prior, bool(dense)
        self.posterior = RulePosterior(prior, noise_trades, lcb)

    @classmethod
    def fit(
        cls, datas: Sequence[MarketData], temper: float = 16.0, dense: bool = True, lcb: float = 1.0, **env_kwargs: Any
    ) -> RuleAdapter:
        """The prior from training markets: each rule's log growth per bar over each whole market (and its noise),
        the spread tempered by ``temper`` (the defaults are the benchmark's default, ``posterior_dense_t16_lcb``)."""
        rules = menu_rules()
        scores, noise = task_scores([FullInfoPath.of(data, **env_kwargs) for data in datas], rules)
        prior = fit_prior(scores, noise, temper=temper)
        return cls(prior, [r.name for r in rules], dense, lcb=lcb)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "rules": [r.name for r in self.rules],
            "prior": self.prior.to_json(),
            "dense": self.dense,
            "noise_trades": self.posterior.noise_trades,
            "lcb": self.posterior.lcb,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RuleAdapter:
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"rule_adapter format_version {d.get('format_version')!r}; this tradebrain reads 1")
        prior = RulePrior.from_json(d["prior"])
        return cls(prior, d["rules"], bool(d["dense"]), float(d["noise_trades"]), float(d.get("lcb", 0.0)))

    def scores(self, data: MarketData, **env_kwargs: Any) -> tuple[np.ndarray, FullInfoPath]:
        """What the choice maximises for each rule at the last bar of ``data`` (the posterior's ``mean - lcb * sd``
        of its growth per bar, from the trades closed by the bar before it), and the simulated path."""
        if len(data) < LOOKBACK + 3:
            raise ValueError(f"RuleAdapter needs at least {LOOKBACK + 3} bars up to the decision; got {len(data)}")
        path = FullInfoPath.of(data, **env_kwargs)
        rows = len(path)  # the decision bar is the row after the last (its outcomes are not simulated)
        items = path.items(self.rules)
        g, s, n, q = chain_totals(items, path, 0, rows - 1, known_by=rows - 1)
        if self.dense:
            g, s = dense_totals(items, path, 0, rows - 1)
        return self.posterior.score(g, s, q, n), path

    def choose(self, data: MarketData, **env_kwargs: Any) -> Choice:
        """The decision at the last bar of ``data`` (the bars kept up to it); ``env_kwargs`` as the env's."""
        means, path = self.scores(data, **env_kwargs)
        k = int(np.argmax(means))
        env = path.env
        last = np.concatenate([env.features.market[-1], env.features.components[-1]])[None]
        return Choice(k, self.rules[k].name, int(self.rules[k].items(np.nan_to_num(last))[0]))


class RuleAdapterPolicy:
    """A backtest ``Policy`` trading :class:`RuleAdapter`'s choice, as the live brain does.

    At each decision it hands the adapter the last ``history_bars`` bars of the env's data up to the decision bar
    (the bars the live brain keeps) and acts with the Box action of the chosen menu item.

    Args:
        adapter: The adapter.
        env: The env it trades (possibly wrapped); its data, costs, limits, action map and ``min_trade`` apply.
        history_bars: Bars handed to the adapter (the live brain's ``features.history_bars``).
        name: Name in results.

    Attributes:
        choices: ``(decision bar, rule name, item)`` of every decision.
    """

    def __init__(self, adapter: RuleAdapter, env: Any, history_bars: int = 600, name: str = "tier4_rules") -> None:
        if int(history_bars) != history_bars or history_bars < LOOKBACK + 3:
            raise ValueError(f"history_bars={history_bars!r} must be an integer >= {LOOKBACK + 3} (e.g. 600)")
        self.adapter, self.env, self.history_bars, self.name = adapter, env, int(history_bars), name
        base = env.unwrapped
        self.env_kwargs = {"costs": base.costs, "limits": base.limits, "action_map": base.action_map,
                           "min_trade": base.min_trade}  # fmt: skip
        self.table = BracketMenu().actions(base.action_map)
        self.choices: list[tuple[int, str, int]] = []

    def reset(self, seed: int | None = None) -> None:
        """Nothing to reset: the evidence is in the bars."""

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        base = self.env.unwrapped
        bar = int(base.bar)
        data = market_slice(base.data, max(0, bar + 1 - self.history_bars), bar + 1)
        choice = self.adapter.choose(data, **self.env_kwargs)
        self.choices.append((bar, choice.name, choice.item))
        return self.table[choice.item]
