"""The walk-forward plan: its settings (:class:`WalkForwardConfig`), the tier sets, the rolling folds and the units.

Protocol (defaults of :class:`WalkForwardConfig`, the ``walkforward:`` section of
``experiments/config/presets/walkforward.yaml``): for every test year ``Y`` from 2007 to 2018, the fold's past is
the 8 years before ``Y``; its last 2 years are the validation window (model selection), the 6 before them the
training window, and the test window is the year ``Y``. Everything that learns is fitted inside the fold's past:
PPO trains on the training window and is picked on the validation window; the Tier 2 detector of each split is
fitted on the ``tier2_fit_bars`` bars before that split's window (:func:`agents.stack.fit_detector`), so the test
window's detector sees only bars before the test year; the Tier 1 bandit starts every episode from its prior. The
training window never starts before the data's ``min_fit_bars``-th bar, so the training split's detector has bars
to fit on (fold 2007 on ``sp500`` trains from 1999-12-30).

A **unit** is one (fold, seed, tier set) (:class:`Unit`); its key hashes the fold's resolved config, the tier set,
the env ids and the package version, like joblib's ``Memory``: a run started again skips every unit whose file
exists, and a changed config, env id or release gets new keys. The key does not hash the code or the data file's
contents: after changing either within a release, start a new ``--run`` folder. The tier set ``baselines``
backtests every baseline of :func:`experiments.evaluation.baselines.make_baselines` on the Tier 1+2 stack, the
market (``buy_and_hold_full``) and the seed system's fixed-weight composite rule with Tiers 1 and 2 off
(``composite_fixed``, the "before" row of the results page).

The tier set ``all`` is the Tier 1+2 stack traded by Tier 4's online rule adapter
(:class:`meta.rule_adapter.RuleAdapterPolicy`, the package's default Tier 4); its prior is fitted on synthetic tasks
only (:func:`meta.rule_prior.fit_synthetic`), once per seed. ``all_maml`` is the previous meaning of ``all`` (the
MAML specialists and the selector, :class:`meta.brain.Tier4Policy`), kept so older runs stay reproducible by name.

Example:
    >>> wf, cfg = load_walkforward("walkforward", ["walkforward.seeds=[0]"])              # doctest: +SKIP
    >>> units = plan_units(wf, cfg)                                                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from envs.data import load
from envs.registration import ENV_ID, STACK_ENV_ID
from experiments.config import ConfigError, RunConfig, load_with_section, to_yaml
from experiments.files import package_version

PLAN = "walkforward.json"
"""The plan file that marks a folder as a walk-forward run (``tradebrain report --run`` looks for it)."""


BASELINES = "baselines"
"""Unit kind that backtests every baseline on the fold's Tier 1+2 stack."""


BEFORE = "composite_fixed"
"""The seed system before its learning tiers: the composite-score rule with fixed equal weights, no regimes."""


MARKET = "buy_and_hold_full"


TIER4_RULES = "rules"
"""Tier 4 kind of a tier set: the online rule adapter (:class:`meta.rule_adapter.RuleAdapterPolicy`), the default."""
TIER4_PAST = "rules_past"
"""Tier 4 kind of a tier set: the online rule adapter with its prior fitted on the fold's own past
(:func:`meta.rule_prior.fit_past`: each year of the fold's training and validation bars a task)."""
TIER4_MAML = "maml"
"""Tier 4 kind of a tier set: the MAML specialists and the selector (:class:`meta.brain.Tier4Policy`)."""


@dataclass(frozen=True)
class TierSet:
    """Which tiers a unit switches on, whether PPO (Tier 3) decides or the composite rule does, and which Tier 4
    (``tier4``: ``""`` none, :data:`TIER4_RULES`, :data:`TIER4_PAST` or :data:`TIER4_MAML`) trades the stack
    instead."""

    name: str
    tier1: bool
    tier2: bool
    ppo: bool
    description: str
    tier4: str = ""


TIER_SETS: dict[str, TierSet] = {
    t.name: t
    for t in (
        TierSet("rules", True, True, False, "rules only: the Tier 1+2 composite-score rule, no PPO"),
        TierSet("tier3", False, False, True, "Tier 3 alone: PPO on the bare env"),
        TierSet("tier1+3", True, False, True, "Tier 1+3: PPO with component weights"),
        TierSet("tier2+3", False, True, True, "Tier 2+3: PPO with regimes and the crisis rule"),
        TierSet("tier1+2+3", True, True, True, "Tier 1+2+3: the full stack without Tier 4"),
        TierSet(
            "all",
            True,
            True,
            False,
            "all tiers: the Tier 1+2 stack traded by Tier 4's online rule adapter (the posterior over the "
            "bracket-menu rules, its prior fitted on synthetic tasks)",
            tier4=TIER4_RULES,
        ),
        TierSet(
            "all_past",
            True,
            True,
            False,
            "the Tier 1+2 stack traded by Tier 4's online rule adapter with its prior fitted on the fold's own past "
            "(each year of the fold's training and validation bars a task) instead of synthetic tasks",
            tier4=TIER4_PAST,
        ),
        TierSet(
            "all_maml",
            True,
            True,
            False,
            "the Tier 1+2 stack traded by the old Tier 4 (three meta-trained specialists with the PPO actor's "
            "network, and the selector); the tier set `all` until the rule adapter replaced it",
            tier4=TIER4_MAML,
        ),
    )
}
"""Tier sets by name."""


ABLATION: tuple[str, ...] = tuple(t for t in TIER_SETS if t not in ("all_maml", "all_past"))
"""The tier sets of ``tradebrain ablate``: all but ``all_maml`` (its meta-training is the slow part of a run, and the
adaptation benchmark found it does not adapt) and ``all_past`` (Tier 4's prior from the fold's past, a study:
[results/walkforward-ablation.md]); name them in ``walkforward.tier_sets`` to run them."""


@dataclass(frozen=True)
class WalkForwardConfig:
    """The ``walkforward:`` section of a walk-forward config.

    Attributes:
        first_test_year: Test year of the first fold.
        last_test_year: Test year of the last fold (inclusive).
        train_years: Years of past per fold (training plus validation).
        val_years: The last of those years, the validation window for model selection.
        min_fit_bars: The training window starts no earlier than the data's bar of this number, so the training
            split's Tier 2 detector has at least this many bars before it to fit on.
        seeds: Seeds per fold and tier set.
        tier_sets: Tier sets to run (names of :data:`TIER_SETS`); ``tradebrain ablate`` runs them all.
        baselines: Also backtest every baseline on every fold and seed.
        n_boot: Bootstrap samples of every confidence interval (units and the results page).
        meta_iterations: Meta-training iterations of each Tier 4 specialist (tier set ``all_maml``).
        meta_selector_tasks: Training tasks of the Tier 4 selector (tier set ``all_maml``).
        rule_tasks: Synthetic training tasks of the rule adapter's prior (tier set ``all``; ``tradebrain
            meta-train``'s ``meta.rule_tasks``: 64).
        rule_bars: Bars of each of those tasks (``meta.rule_bars``: 1500).
    """

    first_test_year: int = 2007
    last_test_year: int = 2018
    train_years: int = 8
    val_years: int = 2
    min_fit_bars: int = 250
    seeds: tuple[int, ...] = (0, 1, 2)
    tier_sets: tuple[str, ...] = ("tier1+2+3",)
    baselines: bool = True
    n_boot: int = 1000
    meta_iterations: int = 300
    meta_selector_tasks: int = 120
    rule_tasks: int = 64
    rule_bars: int = 1500

    def __post_init__(self) -> None:
        if self.first_test_year > self.last_test_year:
            raise ConfigError(
                f"walkforward.first_test_year={self.first_test_year} is after walkforward.last_test_year="
                f"{self.last_test_year}; swap them"
            )
        if not 0 < self.val_years < self.train_years:
            raise ConfigError(
                f"walkforward.val_years={self.val_years} must be >= 1 and below walkforward.train_years="
                f"{self.train_years} (the validation years are the last of the training years)"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"walkforward.seeds={list(self.seeds)!r} must be distinct and not empty, e.g. [0, 1, 2]")
        for name in self.tier_sets:
            check_tier_set(name)
        if self.n_boot < 10:
            raise ConfigError(f"walkforward.n_boot={self.n_boot} must be >= 10 (1000 for the results page)")
        for name, low, example in (("rule_tasks", 2, 64), ("rule_bars", 300, 1500)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ConfigError(
                    f"walkforward.{name}={value!r} must be an integer >= {low}; e.g. walkforward.{name}={example}"
                )


def check_tier_set(name: str) -> TierSet:
    """The tier set called ``name``; ConfigError naming the valid ones."""
    if name in TIER_SETS:
        return TIER_SETS[name]
    raise ConfigError(f"walkforward.tier_sets: unknown tier set {name!r}; choose from {', '.join(TIER_SETS)}")


@dataclass(frozen=True)
class Fold:
    """One fold: ``[start, stop)`` date windows; the test window is the year ``test_year``."""

    test_year: int
    train: tuple[str, str]
    val: tuple[str, str]
    test: tuple[str, str]

    @property
    def name(self) -> str:
        return str(self.test_year)


def make_folds(wf: WalkForwardConfig, cfg: RunConfig) -> list[Fold]:
    """The folds of ``wf`` on the data of ``cfg`` (read once to clamp the first training windows and check years).

    Raises:
        ConfigError: A test year outside the data, or a training window left empty by ``min_fit_bars``.
    """
    data = load(cfg.stack.data)
    first, last = data.index[0], data.index[-1]
    earliest = data.index[min(wf.min_fit_bars, len(data) - 1)]
    folds = []
    for year in range(wf.first_test_year, wf.last_test_year + 1):
        if pd.Timestamp(f"{year}-01-01") > last or pd.Timestamp(f"{year + 1}-01-01") <= first:
            raise ConfigError(
                f"walkforward test year {year} is outside {cfg.stack.data} ({first.date()} .. {last.date()}); "
                "set walkforward.first_test_year / last_test_year inside the data"
            )
        val_start = f"{year - wf.val_years}-01-01"
        start = max(pd.Timestamp(f"{year - wf.train_years}-01-01"), earliest)
        if start >= pd.Timestamp(val_start) - pd.DateOffset(months=3):
            raise ConfigError(
                f"fold {year}: the training window {start.date()} .. {val_start} is shorter than 3 months "
                f"(the data starts {first.date()}, walkforward.min_fit_bars={wf.min_fit_bars}); start "
                "walkforward.first_test_year later or lower walkforward.val_years"
            )
        stop = min(pd.Timestamp(f"{year + 1}-01-01"), last.normalize() + pd.offsets.BDay(1))  # a last, short year
        folds.append(
            Fold(
                year,
                (str(start.date()), val_start),
                (val_start, f"{year}-01-01"),
                (f"{year}-01-01", str(stop.date())),
            )
        )
    return folds


@dataclass(frozen=True)
class Unit:
    """One (fold, seed, tier set) of a walk-forward run over the base config ``base``."""

    fold: Fold
    seed: int
    tier_set: str
    base: RunConfig = field(repr=False)
    n_boot: int = 1000
    meta: tuple[int, int] = (300, 120)
    """(meta_iterations, meta_selector_tasks) of an ``all_maml`` unit."""
    rules: tuple[int, int] = (64, 1500)
    """(rule_tasks, rule_bars) of an ``all`` unit (the rule adapter's prior)."""

    @property
    def tiers(self) -> tuple[bool, bool]:
        """(tier1, tier2) of the unit's stack; baselines trade through the Tier 1+2 stack."""
        if self.tier_set == BASELINES:
            return True, True
        ts = check_tier_set(self.tier_set)
        return ts.tier1, ts.tier2

    def config(self) -> RunConfig:
        """The base config with the fold's windows, the tier switches and the seed."""
        tier1, tier2 = self.tiers
        stack = replace(
            self.base.stack,
            train=self.fold.train,
            val=self.fold.val,
            test=self.fold.test,
            tiers=replace(self.base.stack.tiers, tier1=tier1, tier2=tier2),
        )
        name = f"{self.base.name}-{self.fold.name}-{self.tier_set}-s{self.seed}"
        return replace(self.base, name=name, seed=self.seed, stack=stack)

    @property
    def key(self) -> str:
        """``<test year>/<tier set>/seed<seed>-<hash>``: the cache key. The hash covers the resolved config, the tier
        set, the bootstrap size, Tier 4's kind and settings, the env ids and the package version, so a changed env (a
        new id) or a new release never reuses a stale unit, and neither does a tier set whose Tier 4 changed (``all``
        traded by the rule adapter never reads a unit of ``all`` traded by the MAML specialists)."""
        cfg = replace(self.config(), name="", runs_dir="")
        versions = f"|{ENV_ID}|{STACK_ENV_ID}|tradebrain {package_version()}"
        text = f"{to_yaml(cfg)}|{self.tier_set}|{self.n_boot}{self._tier4_key()}{versions}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return f"{self.fold.name}/{self.tier_set}/seed{self.seed}-{digest}"

    def _tier4_key(self) -> str:
        """What decides a Tier 4 unit beyond its config (empty for the other units, whose keys it leaves as they
        were): the MAML settings as before the rule adapter, or the adapter's kind and prior settings."""
        ts = TIER_SETS.get(self.tier_set)
        if ts is None or not ts.tier4:
            return ""
        if ts.tier4 == TIER4_MAML:
            return f"|{self.meta}"
        return f"|tier4={ts.tier4}|{self.rules}"


def plan_units(wf: WalkForwardConfig, cfg: RunConfig, folds: list[Fold] | None = None) -> list[Unit]:
    """Every unit of the run: folds x seeds x (tier sets, plus ``baselines`` when on), PPO units first."""
    folds = make_folds(wf, cfg) if folds is None else folds
    kinds = sorted(wf.tier_sets, key=lambda t: not TIER_SETS[t].ppo) + ([BASELINES] if wf.baselines else [])
    meta, rules = (wf.meta_iterations, wf.meta_selector_tasks), (wf.rule_tasks, wf.rule_bars)
    return [Unit(f, s, k, cfg, wf.n_boot, meta, rules) for k in kinds for f in folds for s in wf.seeds]


def load_walkforward(source: str | Path, overrides: Iterable[str] = ()) -> tuple[WalkForwardConfig, RunConfig]:
    """A walk-forward YAML (a ``walkforward:`` section plus :class:`RunConfig` keys) with dotted overrides.

    ``walkforward.*`` overrides go to :class:`WalkForwardConfig`, every other key to the run config.
    """
    return load_with_section(source, "walkforward", WalkForwardConfig, overrides)  # type: ignore[no-any-return]
