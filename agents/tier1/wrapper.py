""":class:`ComponentWeightWrapper`: Tier 1 as an observation wrapper.

It feeds closed trades to a :class:`~agents.tier1.bandit.ComponentBandit` and writes its weights into the
observation slots ``w_theme .. w_sentiment`` (``OBS_LAYOUT.group_slice("tier1")``, indices 15-18) and
``info["weights"]``; the causality argument is in :mod:`agents.tier1.bandit`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from agents.tier1.bandit import ComponentBandit
from agents.tier1.market import LEARNS_FROM, learned_regime, market_weights, no_regime
from agents.tier1.quadrature import prob_best as prob_best  # re-exported: part of Tier 1's API
from agents.tier1.quadrature import project_capped_simplex as project_capped_simplex
from envs.layout import COMPONENTS, OBS_LAYOUT
from envs.records import Info, Record


def _as_info(info: dict[str, Any]) -> Info:
    """The inner env's ``info``: an :class:`~envs.records.Info` is written in place (as Gymnasium's own wrappers
    add keys to the info they pass on), any other dict is copied into one."""
    return info if type(info) is Info else Info(info)


def regime_names(env: gym.Env) -> list[str | None] | None:
    """The regime of every bar of the data as Tier 1 learns it (:func:`~agents.tier1.market.learned_regime` of each row
    of the first :class:`~agents.tier2.RegimeWrapper` inside ``env``), or None without one."""
    inner: Any = env
    while inner is not None:
        probs = getattr(inner, "probs", None)
        if isinstance(probs, np.ndarray) and hasattr(inner, "detector"):
            return [learned_regime(row) for row in probs]
        inner = getattr(inner, "env", None)
    return None


class ComponentWeightWrapper(gym.Wrapper):
    """Feed closed trades to a :class:`ComponentBandit` and write its weights into the observation.

    On every ``step`` the wrapper learns ``info["trade"]`` (when the step closed a trade), then writes the
    bandit's weights for the current regime into the slots ``OBS_LAYOUT.group_slice("tier1")``
    (``w_theme .. w_sentiment``, indices 15-18) and into ``info["weights"]`` (a read-only ``name -> weight``
    :class:`~envs.records.Record`), and hands them to ``env.unwrapped.set_weights`` when the base env has that
    hook (``TradingEnv`` records the weights in force at each decision in its trades). The current regime is
    ``info["regime"]["name"]`` when a regime wrapper sits inside this one and ``per_regime_from_info`` is on,
    else None. A trade is learned under its entry regime ``trade["regime"]``, or under no regime (the pool
    only) when its ``regime_probs`` are all equal, i.e. Tier 2 was off. The observation space is unchanged.

    Causality: the wrapper works on its own copy of ``bandit`` (``wrapper.bandit``; the object passed in is
    never modified) and snapshots it at construction. With ``reset_each_episode=True`` (the default) every
    ``reset()`` restores that snapshot, and within the episode the copy learns from the episode's own closed
    trades, which arrive in date order: the weights at bar ``t`` depend only on the starting state and on trades
    closed by ``t``. Random-start training episodes, repeated evaluation passes over one window and fresh
    backtest envs therefore all obey the causality rule of DESIGN.md section 7, and repeated passes start
    identically. Training and evaluation envs built alike see the same distribution in slots 15-18 (both start
    every episode at the snapshot, the prior by default). Pass a bandit learned on earlier data only to start
    from it.

    ``learns_from="market"`` learns from every bar's outcome ``horizon`` bars later instead of the agent's trades
    (:mod:`agents.tier1.market`): the weights of every bar of the data are computed once, from bar 0 (a function of
    the data alone, causal), so they carry across episodes; ``learn`` and ``reset_each_episode`` do not apply.

    ``reset_each_episode=False`` is the opt-out for a live brain: the bandit keeps learning across episodes, as
    when time only moves forward and each episode continues the last. Do not use it with random starts or
    repeated passes over one window: the observations would then carry outcomes of later trades.

    Args:
        env: Env with a ``Box`` observation space of shape ``(27,)`` laid out as
            :data:`envs.layout.OBS_LAYOUT`.
        bandit: The starting state; ``ComponentBandit()`` (the prior) when None. Copied, never modified.
        per_regime_from_info: Read the current regime from ``info["regime"]["name"]``.
        learn: Update the bandit from closed trades; False freezes it at the starting state.
        reset_each_episode: Restore the starting state at every ``reset()`` (causal in every context); False
            keeps learning across episodes (live use only).
        learns_from: ``"trades"`` (the agent's closed trades) or ``"market"`` (every bar's outcome).
        horizon: Bars to each outcome with ``learns_from="market"``.

    Example:
        A fresh bandit starts at uniform weights and learns from the trades of the current episode::

            from agents.tier1 import ComponentBandit, ComponentWeightWrapper
            from envs.trading_env import TradingEnv

            env = ComponentWeightWrapper(TradingEnv(data=data), ComponentBandit(per_regime=True))
            obs, info = env.reset(seed=0)
            info["weights"]  # {'theme': 0.25, 'technical': 0.25, 'ai': 0.25, 'sentiment': 0.25}
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            env.bandit.save("runs/demo/tier1.json")  # what this episode learned so far
    """

    def __init__(
        self,
        env: gym.Env,
        bandit: ComponentBandit | None = None,
        per_regime_from_info: bool = True,
        learn: bool = True,
        reset_each_episode: bool = True,
        learns_from: str = "trades",
        horizon: int = 5,
    ) -> None:
        if not isinstance(env, gym.Env):
            raise TypeError(f"env must be a gymnasium.Env, got {type(env).__name__}")
        if bandit is not None and not isinstance(bandit, ComponentBandit):
            raise TypeError(f"bandit must be a ComponentBandit or None, got {type(bandit).__name__}")
        flags = {"per_regime_from_info": per_regime_from_info, "learn": learn, "reset_each_episode": reset_each_episode}
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}: {flag!r}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (OBS_LAYOUT.size,):
            raise ValueError(
                f"env observation space is {space}; "
                f"expected a Box of shape ({OBS_LAYOUT.size},) laid out as envs.layout.OBS_LAYOUT"
            )
        if learns_from not in LEARNS_FROM:
            raise ValueError(f"learns_from={learns_from!r} is not one of {list(LEARNS_FROM)}; e.g. 'trades'")
        super().__init__(env)
        self.bandit = copy.deepcopy(bandit) if bandit is not None else ComponentBandit()
        self.start_state = self.bandit.snapshot()
        """The state every episode starts from when ``reset_each_episode`` is on."""
        self.per_regime_from_info = per_regime_from_info
        self.learn = learn
        self.reset_each_episode = reset_each_episode
        self._slice = OBS_LAYOUT.group_slice("tier1")
        self._set_weights = getattr(env.unwrapped, "set_weights", None)
        self._sent: list[float] | None = None  # the weights last handed to the base env, and as a Record
        self._record = Record()
        self.learns_from = learns_from
        self.path: np.ndarray | None = None
        """``(n, 4)`` weights at every bar of the data with ``learns_from="market"`` (None otherwise)."""
        if learns_from == "market":
            base: Any = env.unwrapped
            for attr in ("data", "features", "bar"):
                if not hasattr(base, attr):
                    raise TypeError(f"env.unwrapped has no {attr!r}; learns_from='market' needs a TradingEnv")
            regimes = regime_names(env) if per_regime_from_info else None
            self.path = market_weights(self.bandit, base.data.close, base.features.components, horizon, regimes)
            self._path32 = self.path.astype(np.float32)
            self._path_rows = self.path.tolist()
            self._base = base

    @staticmethod
    def _trade_regime(trade: Mapping[str, Any]) -> str | None:
        """Entry regime of a trade; None when its regime probabilities carry no information (Tier 2 off)."""
        probs = trade.get("regime_probs")
        if (type(probs) is Record or isinstance(probs, Mapping)) and probs and no_regime(list(probs.values())):
            return None
        return trade.get("regime")

    def _write(self, obs: np.ndarray, info: Info, *, new_episode: bool = False) -> np.ndarray:
        """The observation with the current weights in slots 15-18 (a copy), and ``info["weights"]`` set."""
        if self.path is not None:
            bar = int(self._base.bar)
            w_list = self._path_rows[bar]
            if callable(self._set_weights):
                self._set_weights(w_list)
            obs = np.array(obs, dtype=np.float32, copy=True)
            obs[self._slice] = self._path32[bar]
            info["weights"] = Record(zip(COMPONENTS, w_list, strict=True))
            return obs
        # the current regime: info["regime"]["name"] (a Record from the Tier 2 wrapper: no ABC check)
        regime = info.get("regime") if self.per_regime_from_info else None
        if type(regime) is Record or isinstance(regime, Mapping):
            regime = regime.get("name")
        elif regime is not None:
            regime = None
        w, w_list = self.bandit._weights_entry(regime)
        if new_episode or w_list is not self._sent:  # the base env resets its weights with the episode
            if callable(self._set_weights):
                self._set_weights(w_list)
            self._sent, self._record = w_list, Record(zip(COMPONENTS, w_list, strict=True))
        obs = np.array(obs, dtype=np.float32, copy=True)
        obs[self._slice] = w
        info["weights"] = Record(self._record)  # a new object per call (gymnasium's checker asks for it)
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if self.reset_each_episode:
            self.bandit.restore(self.start_state)
        obs, info = self.env.reset(seed=seed, options=options)
        info = _as_info(info)
        return self._write(obs, info, new_episode=True), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = _as_info(info)
        trade = info.get("trade")
        if trade is not None and self.learn and self.path is None:
            if type(trade) is not Record and not isinstance(trade, Mapping):
                raise TypeError(f"info['trade'] must be a Mapping, got {type(trade).__name__}")
            if "components" not in trade or "net_return" not in trade:
                raise KeyError(f"info['trade'] lacks 'components' or 'net_return'; it has keys {sorted(trade)}")
            self.bandit.update(trade["components"], trade["net_return"], self._trade_regime(trade))
        return self._write(obs, info), reward, terminated, truncated, info
