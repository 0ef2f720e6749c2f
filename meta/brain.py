"""Tier 4 as one object: the meta-trained specialists and the selector that picks among them.

:func:`train_tier4` meta-trains each specialist (:func:`meta.specialists.train_specialists`) and then the
selector (:func:`meta.selector.train_selector`) on fresh training tasks of the same distribution; :class:`Tier4`
holds the result, picks a specialist from a task's first decisions (:meth:`Tier4.pick`), and saves to / loads
from a folder (``tier4.pt``: the specialists' parameters and the selector's weights; ``tier4.json``: the
specialists' risk profiles and the settings they were trained with).

:class:`Tier4Policy` trades with it in a backtest or a live loop (the backtest's ``Policy`` protocol): every
``repick_every`` decisions (and at the start) it spends ``explore`` decisions round-robin over the specialists,
settles each from the equity the env reports after it (causal: a decision's result is known when the next
observation arrives), and lets the selector pick the specialist that trades until the next exploration phase.

Example:
    >>> brain, report = train_tier4(TaskDistribution(n_bars=300), MetaConfig(iterations=2), seed=0)  # doctest: +SKIP
    >>> brain.save("runs/meta/tier4"); Tier4.load("runs/meta/tier4").names                       # doctest: +SKIP
    ('conservative', 'balanced', 'aggressive')
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from meta.adaptation import ADAPTATION_KS, selector_dataset
from meta.config import MetaConfig
from meta.maml import LogFn, MetaHistory, TaskSampler
from meta.online import SpecialistOutcome, SpecialistSchedule, selector_features, specialist_obs
from meta.policy import Params
from meta.selector import Selector, SelectorData, greedy_action, train_selector
from meta.specialists import SPECIALISTS, Specialist, train_specialists

FORMAT_VERSION = 1


@dataclass
class Tier4:
    """Specialists (risk profile and parameters, in order) and the selector network.

    Attributes:
        specialists: The risk profiles.
        params: The meta-trained parameters of each, by name.
        selector: The trained selector.
        meta_config: The settings the specialists were meta-trained with (also their test-time inner loop).
        tiers_seen: Whether the training tasks ran Tier 1 and Tier 2 (``(tier1, tier2)``); a tier that was off
            there had its slots at their defaults, and :class:`Tier4Policy` shows the specialists those defaults.
    """

    specialists: tuple[Specialist, ...]
    params: dict[str, Params]
    selector: Selector
    meta_config: MetaConfig = field(default_factory=MetaConfig)
    tiers_seen: tuple[bool, bool] = (False, False)

    def __post_init__(self) -> None:
        missing = [s.name for s in self.specialists if s.name not in self.params]
        if missing:
            raise ValueError(f"Tier4: no parameters for specialists {missing}; have {sorted(self.params)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specialists)

    def pairs(self) -> list[tuple[Specialist, Params]]:
        """``(risk profile, parameters)`` of each specialist, in order."""
        return [(s, self.params[s.name]) for s in self.specialists]

    def pick(self, decisions: Sequence[SpecialistOutcome]) -> int:
        """The selector's specialist (an index into :attr:`specialists`) after ``decisions``."""
        return self.pick_features(selector_features(decisions, len(self.specialists)))

    def pick_features(self, features: np.ndarray) -> int:
        """The selector's specialist for :func:`meta.online.selector_features` ``features``."""
        return self.selector.pick(features)

    def save(self, folder: str | Path) -> Path:
        """Write ``tier4.pt`` and ``tier4.json`` into ``folder`` (created); returns the folder."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"params": self.params, "selector": self.selector.state_dict()}, out / "tier4.pt")
        meta = {
            "format_version": FORMAT_VERSION,
            "specialists": [s.to_json() for s in self.specialists],
            "meta_config": dataclasses.asdict(self.meta_config),
            "tiers_seen": list(self.tiers_seen),
        }
        (out / "tier4.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Tier4:
        """Read what :meth:`save` wrote."""
        folder = Path(folder)
        for name in ("tier4.pt", "tier4.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing: give the folder `tradebrain meta-train` wrote")
        meta = json.loads((folder / "tier4.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}/tier4.json has format_version {meta.get('format_version')!r}; expected 1")
        state = torch.load(folder / "tier4.pt", weights_only=True)
        selector = Selector()
        selector.load_state_dict(state["selector"])
        specs = tuple(Specialist(**s) for s in meta["specialists"])
        config = MetaConfig(**meta["meta_config"])
        tiers = tuple(meta.get("tiers_seen", (False, False)))
        return cls(specs, dict(state["params"]), selector.eval(), config, tiers)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tier4Report:
    """What training recorded: each specialist's meta-training history and the selector's data and loss."""

    histories: Mapping[str, MetaHistory]
    selector_data: SelectorData
    selector_loss: list[float]


def train_tier4(
    distribution: TaskSampler,
    config: MetaConfig,
    seed: int,
    *,
    specialists: Sequence[Specialist] = SPECIALISTS,
    selector_tasks: int = 120,
    ks: Sequence[int] = ADAPTATION_KS,
    log: LogFn | None = None,
) -> tuple[Tier4, Tier4Report]:
    """Meta-train the specialists, then the selector on ``selector_tasks`` fresh training tasks.

    The selector's tasks are drawn with another seed than the specialists' (``seed + 7919``), so it learns on
    regimes the specialists were not meta-trained on; its K per example runs over ``ks``. ``log`` gets the
    specialists' tags prefixed with their names and ``selector/loss`` per epoch.
    """
    results = train_specialists(distribution, config, seed, specialists, log=log)
    pairs = [(s, results[s.name].params) for s in specialists]
    tasks = distribution.sample(selector_tasks, seed + 7919, "train")
    data = selector_dataset(tasks, pairs, ks, seed)  # type: ignore[arg-type]
    selector, losses = train_selector(data, seed)
    if log is not None:
        for epoch, loss in enumerate(losses):
            log("selector/loss", loss, epoch)
        counts = np.bincount(data.labels, minlength=len(specialists)) / len(data.labels)
        for spec, share in zip(specialists, counts, strict=True):
            log(f"selector/label_share/{spec.name}", float(share), 0)
    probe = tasks[0].stack_config().tiers  # type: ignore[attr-defined]
    brain = Tier4(tuple(specialists), {s.name: p for s, p in pairs}, selector, config, (probe.tier1, probe.tier2))
    report = Tier4Report({name: r.history for name, r in results.items()}, data, losses)
    return brain, report


class Tier4Policy:
    """Tier 4 trading online (see the module docstring); a backtest ``Policy`` (``__call__(obs, info)``).

    The schedule is :class:`meta.online.SpecialistSchedule`, the one the live brain runs on the exported networks.
    Specialists and selector see :func:`meta.online.specialist_obs` (a tier off in training shows its defaults).

    Args:
        brain: The specialists and the selector.
        explore: Round-robin decisions per exploration phase (3 = one per specialist).
        repick_every: Decisions from the start of one exploration phase to the next.
        name: Name in results.

    Attributes:
        decisions: Every settled decision (who acted, what it saw, what it made).
        choices: ``(decision index, specialist name)`` of every pick the selector made.
    """

    def __init__(self, brain: Tier4, explore: int = 6, repick_every: int = 24, name: str = "tier4") -> None:
        self.brain, self.name = brain, name
        self.schedule = SpecialistSchedule(brain.pick_features, len(brain.specialists), explore, repick_every)

    @property
    def decisions(self) -> list[SpecialistOutcome]:
        return self.schedule.decisions

    @property
    def choices(self) -> list[tuple[int, str]]:
        return [(i, self.brain.names[arm]) for i, arm in self.schedule.choices]

    def reset(self, seed: int | None = None) -> None:
        self.schedule.reset()

    def __call__(self, obs: np.ndarray, info: Mapping[str, object]) -> np.ndarray:
        seen = specialist_obs(obs, self.brain.tiers_seen)
        arm = self.schedule.step(seen, float(info["equity"]), "trade" in info)  # type: ignore[arg-type]
        spec, params = self.brain.pairs()[arm]
        return spec.env_action(greedy_action(params, seen))
