"""Rule policies shared by the baselines and the live brain: the plumbing of every rule and the Tier 1 + 2 rule.

A rule reads the observation by slot **name** (:data:`~envs.layout.OBS_LAYOUT`) and asks for a bracket trade with
``action_map.encode(TradeParams(size, hold, stop, target))``; the env (or the live brain) applies every risk limit.
:class:`CompositeScoreRule` is what the live brain trades when it has Tiers 1 and 2 but no trained policy, and the
``composite_score`` baseline of :mod:`experiments.evaluation.baselines`: one implementation for both. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.layout import OBS_LAYOUT, REGIMES, ActionMap, TradeParams

_COMPONENTS = OBS_LAYOUT.group_slice("components")
_WEIGHTS = OBS_LAYOUT.group_slice("tier1")
_REGIMES = OBS_LAYOUT.group_slice("tier2")


class Rule:
    """Shared plumbing of the rule baselines: the action map, the bracket limits and ``reset``."""

    name = "rule"

    def __init__(self, action_map: ActionMap) -> None:
        if not isinstance(action_map, ActionMap):
            raise TypeError(f"action_map must be an envs.layout.ActionMap (env.action_map), got {type(action_map)}")
        self.action_map = action_map

    @property
    def cap(self) -> float:
        """Largest size the action map can ask for (the risk layer's position cap)."""
        return self.action_map.max_position

    @property
    def widest_stop(self) -> float:
        return self.action_map.stop_range[1]

    @property
    def widest_target(self) -> float:
        return self.action_map.target_range[1]

    def _check_hold(self, hold: int) -> int:
        if int(hold) != hold or not 1 <= hold <= self.action_map.max_hold:
            raise ValueError(f"hold={hold!r} must be an integer in [1, max_hold={self.action_map.max_hold}] bars")
        return int(hold)

    def _check_bracket(self, stop: float, target: float) -> None:
        (s_lo, s_hi), (t_lo, t_hi) = self.action_map.stop_range, self.action_map.target_range
        if not s_lo <= stop <= s_hi:
            raise ValueError(f"stop={stop!r} is outside the action map's stop_range ({s_lo}, {s_hi})")
        if not t_lo <= target <= t_hi:
            raise ValueError(f"target={target!r} is outside the action map's target_range ({t_lo}, {t_hi})")

    def act(self, size: float, hold: int, stop: float, target: float) -> np.ndarray:
        """The action that requests this trade (size 0: stay flat one bar)."""
        return self.action_map.encode(TradeParams(size=float(size), hold=int(hold), stop=stop, target=target))

    def flat(self) -> np.ndarray:
        return self.act(0.0, 1, self.widest_stop, self.widest_target)

    def reset(self, seed: int | None = None) -> None:
        """Rules are stateless: nothing to reset."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class CompositeScoreRule(Rule):
    """The Tier 1 + Tier 2 rule without PPO: trade the weighted component score unless the regime is hostile.

    Rule: ``score = sum_i w_i * c_i`` with ``w`` the Tier 1 weights (slots ``w_*``) and ``c`` the component
    scores (slots ``theme .. sentiment``). If ``score > threshold`` and neither ``p_crisis`` nor
    ``p_bear_defensive`` is dominant (strictly larger than every other regime probability), ask for size =
    ``cap * min(1, score / full_score)``, ``hold`` bars (10), stop 3%, target 6%; else stay flat. Meant for the
    env wrapped with Tier 1 and Tier 2 (with them off the weights are uniform and no regime is dominant, so it
    trades the plain average score). Name ``"composite_score"``.

    Args:
        action_map: The env's action map.
        threshold: Smallest score that opens a trade.
        full_score: Score at which the full cap is used.
        hold: Maximum bars per trade.
        stop: Stop distance below the entry fill.
        target: Target distance above the entry fill.
    """

    name = "composite_score"
    hostile: tuple[str, ...] = ("crisis", "bear_defensive")
    """Regimes in which the rule stays flat when they are dominant."""

    def __init__(
        self,
        action_map: ActionMap,
        threshold: float = 0.1,
        full_score: float = 0.5,
        hold: int = 10,
        stop: float = 0.03,
        target: float = 0.06,
    ) -> None:
        super().__init__(action_map)
        if not -1.0 <= threshold < 1.0 or not 0.0 < full_score <= 1.0:
            raise ValueError(f"threshold={threshold!r} must be in [-1, 1) and full_score={full_score!r} in (0, 1]")
        self.threshold, self.full_score = float(threshold), float(full_score)
        self.hold = self._check_hold(hold)
        self._check_bracket(stop, target)
        self.stop, self.target = float(stop), float(target)

    @staticmethod
    def score(obs: np.ndarray) -> float:
        """Weighted component score of an observation, in [-1, 1]."""
        return float(np.dot(obs[_WEIGHTS].astype(np.float64), obs[_COMPONENTS].astype(np.float64)))

    def hostile_regime(self, obs: np.ndarray) -> bool:
        """True when a hostile regime's probability is strictly larger than every other one."""
        p = obs[_REGIMES].astype(np.float64)
        for name in self.hostile:
            i = REGIMES.index(name)
            if p[i] > np.delete(p, i).max():
                return True
        return False

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        s = self.score(obs)
        if s <= self.threshold or self.hostile_regime(obs):
            return self.flat()
        return self.act(self.cap * min(1.0, s / self.full_score), self.hold, self.stop, self.target)
