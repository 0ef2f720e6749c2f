"""The bracket menu: a discrete action set over the env's ``Box(-1, 1, (4,))`` action, and its action wrapper.

The env's contract stays the Box (size, hold, stop, target). A rule sits at a corner of that box (size 0 or the
cap, one hold, wide brackets), where a Gaussian policy can only get close through a clipped map; a categorical
policy over a menu of brackets sits exactly there. :class:`BracketMenu` lists the menu: flat (item 0), then long at
the cap for every hold in ``holds`` and every (stop, target) pair in ``brackets``. :class:`MenuActionWrapper` turns
a ``Discrete(len(menu))`` action into the Box action of its item, through :meth:`envs.layout.ActionMap.encode`.

Example:
    >>> menu = BracketMenu()
    >>> len(menu), menu.items(ActionMap())[3]                      # doctest: +SKIP
    (11, TradeParams(size=0.2, hold=3, stop=0.1, target=0.2))
    >>> env = MenuActionWrapper(TradingEnv("sp500"), menu)           # doctest: +SKIP
    >>> env.step(3)                                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from envs.layout import ActionMap, TradeParams

__all__ = ["BracketMenu", "MenuActionWrapper"]


@dataclass(frozen=True)
class BracketMenu:
    """Flat, or long at ``size`` x the position cap x every hold x every (stop, target) pair.

    Attributes:
        holds: Holding periods in bars (each within the action map's ``[1, max_hold]``).
        brackets: ``(stop, target)`` distances (fractions below / above the entry fill), each within the action
            map's ranges. The default pairs a wide bracket (the rules' widest: only a time exit in practice) with a
            tight one.
        size: Position size as a fraction of the cap (1.0: the cap).
    """

    holds: tuple[int, ...] = (1, 3, 5, 10, 20)
    brackets: tuple[tuple[float, float], ...] = ((0.10, 0.20), (0.02, 0.04))
    size: float = 1.0

    def __post_init__(self) -> None:
        if not self.holds or any(int(h) != h or h < 1 for h in self.holds):
            raise ValueError(
                f"BracketMenu.holds={self.holds!r} must be positive integers (bars), e.g. (1, 3, 5, 10, 20)"
            )
        if not self.brackets or any(len(b) != 2 or not 0 < b[0] < 1 or not 0 < b[1] < 1 for b in self.brackets):
            raise ValueError(
                f"BracketMenu.brackets={self.brackets!r} must be (stop, target) pairs in (0, 1), e.g. ((0.1, 0.2),)"
            )
        if not 0.0 < self.size <= 1.0:
            raise ValueError(
                f"BracketMenu.size={self.size!r} must be in (0, 1] (a fraction of the position cap), e.g. 1.0"
            )

    def __len__(self) -> int:
        return 1 + len(self.holds) * len(self.brackets)

    def items(self, action_map: ActionMap) -> list[TradeParams | None]:
        """The menu's trades for ``action_map`` (None for flat, item 0); holds above ``max_hold`` are an error."""
        if max(self.holds) > action_map.max_hold:
            raise ValueError(
                f"BracketMenu.holds={self.holds!r} go past the action map's max_hold={action_map.max_hold}"
            )
        (s_lo, s_hi), (t_lo, t_hi) = action_map.stop_range, action_map.target_range
        out: list[TradeParams | None] = [None]
        for hold in self.holds:
            for stop, target in self.brackets:
                if not (s_lo <= stop <= s_hi and t_lo <= target <= t_hi):
                    raise ValueError(
                        f"bracket ({stop}, {target}) lies outside the action map's stop_range {action_map.stop_range} "
                        f"or target_range {action_map.target_range}"
                    )
                out.append(TradeParams(self.size * action_map.max_position, int(hold), stop, target))
        return out

    def actions(self, action_map: ActionMap) -> np.ndarray:
        """``(len(menu), 4)`` float32 Box actions of the items (flat: size -1)."""
        rows = [np.array([-1.0, -1.0, -1.0, -1.0], np.float32)]
        rows += [action_map.encode(p) for p in self.items(action_map)[1:] if p is not None]
        return np.stack(rows)

    def params(self, action_map: ActionMap) -> np.ndarray:
        """``(len(menu), 4)`` float64 ``(size, hold, stop, target)`` of the items as the env decodes their actions
        (flat: size 0); what :func:`envs.batch.bracket_outcomes` simulates."""
        out = []
        for action in self.actions(action_map):
            p = action_map.decode(action)
            out.append([p.size, float(p.hold), p.stop, p.target])
        return np.array(out, np.float64)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MenuActionWrapper(gym.ActionWrapper):
    """``Discrete(len(menu))`` actions for an env with the 4-dim Box action (a :class:`~envs.trading_env.TradingEnv`,
    possibly wrapped): item ``k`` of the menu becomes its Box action. A Box action (a rule's, a baseline's) is
    passed on as it is, so rules and a categorical policy run through the same stack.

    Args:
        env: The env; its ``unwrapped.action_map`` defines the encoding.
        menu: The menu (default :class:`BracketMenu`).
    """

    def __init__(self, env: gym.Env, menu: BracketMenu | None = None) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, gym.spaces.Box) or env.action_space.shape != (4,):
            raise TypeError(f"env.action_space is {env.action_space}; MenuActionWrapper needs the 4-dim Box action")
        self.menu = menu if menu is not None else BracketMenu()
        self.table = self.menu.actions(env.unwrapped.action_map)  # type: ignore[attr-defined]
        self.action_space = gym.spaces.Discrete(len(self.table))

    def action(self, action: Any) -> np.ndarray:
        if np.ndim(action) != 0:  # a Box action (a rule's): passed on as it is
            return np.asarray(action, dtype=np.float32)
        k = int(action)
        if not 0 <= k < len(self.table):
            raise ValueError(f"action={action!r} is not an item of the menu: choose 0 .. {len(self.table) - 1}")
        return self.table[k]

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.env.step(self.action(action))
