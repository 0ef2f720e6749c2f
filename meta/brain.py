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

from envs.layout import OBS_LAYOUT
from meta.adaptation import ADAPTATION_KS, selector_dataset
from meta.maml import LogFn, MetaConfig, MetaHistory, TaskSampler
from meta.policy import Params
from meta.selector import Decision, Selector, SelectorData, greedy_action, selector_features, train_selector
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

    def pick(self, decisions: Sequence[Decision]) -> int:
        """The selector's specialist (an index into :attr:`specialists`) after ``decisions``."""
        return self.selector.pick(selector_features(decisions, len(self.specialists)))

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

    Args:
        brain: The specialists and the selector.
        explore: Round-robin decisions per exploration phase (3 = one per specialist).
        repick_every: Decisions from the start of one exploration phase to the next.
        name: Name in results.

    Attributes:
        choices: ``(decision index, specialist name)`` of every pick the selector made.
    """

    def __init__(self, brain: Tier4, explore: int = 6, repick_every: int = 24, name: str = "tier4") -> None:
        if not 1 <= explore < repick_every:
            raise ValueError(f"explore={explore!r} must be >= 1 and < repick_every={repick_every!r}")
        self.brain, self.explore, self.repick_every, self.name = brain, explore, repick_every, name
        self._tier1 = OBS_LAYOUT.group_slice("tier1")
        self._tier2 = OBS_LAYOUT.group_slice("tier2")
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.decisions: list[Decision] = []
        self.choices: list[tuple[int, str]] = []
        self._phase: list[Decision] = []
        self._pending: tuple[int, np.ndarray, float] | None = None
        self._arm = 0

    def _settle(self, info: Mapping[str, object]) -> None:
        if self._pending is None:
            return
        arm, obs, equity0 = self._pending
        d = Decision(arm, obs, float(info["equity"]) / equity0 - 1.0, "trade" in info)  # type: ignore[arg-type]
        self.decisions.append(d)
        if (len(self.decisions) - 1) % self.repick_every < self.explore:  # it was an exploration decision
            self._phase.append(d)

    def _specialist_obs(self, obs: np.ndarray) -> np.ndarray:
        out = np.array(obs, dtype=np.float32, copy=True)
        if not self.brain.tiers_seen[0]:
            out[self._tier1] = OBS_LAYOUT.default_tier1()
        if not self.brain.tiers_seen[1]:
            out[self._tier2] = OBS_LAYOUT.default_tier2()
        return out

    def __call__(self, obs: np.ndarray, info: Mapping[str, object]) -> np.ndarray:
        self._settle(info)
        i = len(self.decisions)
        pos = i % self.repick_every
        if pos < self.explore:  # exploration phase: round robin
            if pos == 0:
                self._phase = []
            arm = pos % len(self.brain.specialists)
        else:
            if pos == self.explore:
                self._arm = self.brain.pick(self._phase)
                self.choices.append((i, self.brain.names[self._arm]))
            arm = self._arm
        spec, params = self.brain.pairs()[arm]
        self._pending = (arm, np.asarray(obs, np.float32), float(info["equity"]))  # type: ignore[arg-type]
        return spec.env_action(greedy_action(params, self._specialist_obs(obs)))
