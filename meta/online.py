"""Tier 4 online, without torch: the exploration schedule, the selector's inputs and what the specialists see.

One implementation serves the backtest (:class:`meta.brain.Tier4Policy`, specialists and selector in torch) and the
live brain (:class:`experiments.live.brain.LiveBrain`, the same networks as ONNX under onnxruntime), so a bundle replays
the backtest's decisions (``tests/live/test_tier4_bundle.py``).

* :class:`SpecialistSchedule`: every ``repick_every`` decisions (and at the start) ``explore`` decisions go
  round-robin over the specialists; each decision is settled when the next one is asked for, from the equity then
  (causal: its result is known by then); after the exploration decisions the selector picks the specialist that
  trades until the next exploration phase.
* :func:`selector_features`: the selector's 16 inputs from a phase's decisions.
* :func:`specialist_obs`: the observation a specialist sees: a tier that was off in its training tasks shows its
  default slots, as it did there (the selector reads the same observation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.layout import OBS_LAYOUT

_REGIME = OBS_LAYOUT.group_slice("tier2")
_TIER1 = OBS_LAYOUT.group_slice("tier1")
_VOL, _RET20 = OBS_LAYOUT.index("vol_20"), OBS_LAYOUT.index("ret_20")
N_FEATURES = 16
"""5 regime probabilities + vol_20 + ret_20 + 3 x (mean return, share of decisions, win rate)."""
SCHEDULE_FORMAT = 1
"""Format of :meth:`SpecialistSchedule.to_json`."""


@dataclass(frozen=True)
class SpecialistOutcome:
    """One decision of a specialist in a shared env: who acted, what it saw, what it made."""

    arm: int
    obs: np.ndarray
    net_return: float
    traded: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "obs": [float(x) for x in self.obs],
            "net_return": self.net_return,
            "traded": self.traded,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SpecialistOutcome:
        return cls(int(d["arm"]), np.asarray(d["obs"], dtype=np.float32), float(d["net_return"]), bool(d["traded"]))


def selector_features(decisions: Sequence[SpecialistOutcome], n_arms: int = 3) -> np.ndarray:
    """The :data:`N_FEATURES` inputs of the selector: the mean Tier 2 regime probabilities of the decisions'
    observations, their mean ``vol_20`` and ``ret_20``, and per specialist the mean net return per decision
    (x 100), its share of the decisions and its win rate (0.5 before any trade). No decisions give uniform regime
    probabilities, zero market features and no results."""
    if n_arms != 3:
        raise ValueError(f"the selector is built for 3 specialists, got {n_arms}")
    out = np.zeros(N_FEATURES, dtype=np.float32)
    if not decisions:
        out[:5] = 0.2
        out[9::3] = 0.5
        return out
    obs = np.stack([d.obs for d in decisions])
    out[:5] = obs[:, _REGIME].mean(axis=0)
    out[5], out[6] = obs[:, _VOL].mean(), obs[:, _RET20].mean()
    for arm in range(n_arms):
        r = [d.net_return for d in decisions if d.arm == arm]
        out[7 + 3 * arm] = 100.0 * float(np.mean(r)) if r else 0.0
        out[8 + 3 * arm] = len(r) / len(decisions)
        out[9 + 3 * arm] = float(np.mean([x > 0 for x in r])) if r else 0.5
    return out


def specialist_obs(obs: np.ndarray, tiers_seen: tuple[bool, bool]) -> np.ndarray:
    """A float32 copy of ``obs`` with the Tier 1 / Tier 2 slots at their defaults where ``tiers_seen`` is False."""
    out = np.array(obs, dtype=np.float32, copy=True)
    if not tiers_seen[0]:
        out[_TIER1] = OBS_LAYOUT.default_tier1()
    if not tiers_seen[1]:
        out[_REGIME] = OBS_LAYOUT.default_tier2()
    return out


class SpecialistSchedule:
    """Which specialist acts at each decision (see the module docstring).

    Args:
        pick: The selector: features ``(16,)`` -> the index of a specialist.
        n_arms: Number of specialists.
        explore: Round-robin decisions per exploration phase (3 = one per specialist).
        repick_every: Decisions from the start of one exploration phase to the next.
        keep_history: Keep every settled decision in :attr:`decisions` (a backtest); off, only the current phase
            is kept (a live brain that runs for years).

    Attributes:
        n_decisions: Decisions settled so far.
        choices: ``(decision index, specialist index)`` of every pick the selector made (the last 500 when
            ``keep_history`` is off).
    """

    def __init__(
        self,
        pick: Callable[[np.ndarray], int],
        n_arms: int = 3,
        explore: int = 6,
        repick_every: int = 24,
        keep_history: bool = True,
    ) -> None:
        if not 1 <= explore < repick_every:
            raise ValueError(f"explore={explore!r} must be >= 1 and < repick_every={repick_every!r}")
        self.pick, self.n_arms, self.explore, self.repick_every = pick, n_arms, explore, repick_every
        self.keep_history = keep_history
        self.reset()

    def reset(self) -> None:
        self.n_decisions = 0
        self.decisions: list[SpecialistOutcome] = []
        self.choices: list[tuple[int, int]] = []
        self.phase: list[SpecialistOutcome] = []
        self.pending: tuple[int, np.ndarray, float] | None = None
        self.arm = 0

    def _settle(self, equity: float, traded: bool) -> None:
        if self.pending is None:
            return
        arm, obs, equity0 = self.pending
        d = SpecialistOutcome(arm, obs, float(equity) / equity0 - 1.0, bool(traded))
        if self.n_decisions % self.repick_every < self.explore:  # it was an exploration decision
            self.phase.append(d)
        self.n_decisions += 1
        if self.keep_history:
            self.decisions.append(d)
        self.pending = None

    def step(self, obs: np.ndarray, equity: float, traded: bool) -> int:
        """Settle the last decision (``equity`` now; ``traded``: it led to a trade) and return who decides now.

        Args:
            obs: The observation the specialists see now (:func:`specialist_obs`); recorded for the selector.
            equity: Account equity now (> 0).
            traded: Whether the previous decision opened a trade.
        """
        if not equity > 0:
            raise ValueError(f"equity={equity!r} must be > 0 to settle the previous decision")
        self._settle(equity, traded)
        pos = self.n_decisions % self.repick_every
        if pos < self.explore:  # exploration phase: round robin
            if pos == 0:
                self.phase = []
            arm = pos % self.n_arms
        else:
            if pos == self.explore:
                self.arm = int(self.pick(selector_features(self.phase, self.n_arms)))
                if not 0 <= self.arm < self.n_arms:
                    raise RuntimeError(f"the selector picked specialist {self.arm}; expected 0..{self.n_arms - 1}")
                self.choices.append((self.n_decisions, self.arm))
                if not self.keep_history:
                    del self.choices[:-500]
            arm = self.arm
        self.pending = (arm, np.asarray(obs, np.float32), float(equity))
        return arm

    def to_json(self) -> dict[str, Any]:
        """The schedule's state as plain JSON (the live store's snapshots); :meth:`load_json` restores it."""
        pending = None
        if self.pending is not None:
            arm, obs, equity = self.pending
            pending = {"arm": arm, "obs": [float(x) for x in obs], "equity": equity}
        return {
            "format": SCHEDULE_FORMAT,
            "n_decisions": self.n_decisions,
            "arm": self.arm,
            "phase": [d.to_json() for d in self.phase],
            "pending": pending,
            "choices": [list(c) for c in self.choices[-500:]],
        }

    def load_json(self, state: Mapping[str, Any]) -> SpecialistSchedule:
        if state.get("format") != SCHEDULE_FORMAT:
            raise ValueError(f"schedule state format {state.get('format')!r}; this tradebrain reads {SCHEDULE_FORMAT}")
        self.reset()
        self.n_decisions, self.arm = int(state["n_decisions"]), int(state["arm"])
        self.phase = [SpecialistOutcome.from_json(d) for d in state["phase"]]
        p = state.get("pending")
        if p is not None:
            self.pending = (int(p["arm"]), np.asarray(p["obs"], dtype=np.float32), float(p["equity"]))
        self.choices = [(int(i), int(a)) for i, a in state.get("choices", [])]
        return self
