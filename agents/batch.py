"""The Tier 1 + Tier 2 stack, batched: N copies of :func:`agents.stack.make_env` over one
:class:`~envs.batch.BatchCore`.

:class:`BatchedStack` steps ``n`` copies of the stack PPO trains on in one compiled call of the env core, then does
what the two wrappers do for every copy: Tier 2's regime path is handed to the core once (its probabilities are
the observation's slots 19-23 and drive the crisis rule), and each copy's Tier 1 bandit (the same
:class:`~agents.tier1.ComponentBandit`, one per copy, restored to its snapshot at every reset) learns from the
copy's closed trades and writes its weights into slots 15-18. Copy ``i`` reset with seed ``s`` then gives, action
for action, exactly what ``make_env(cfg, split)`` reset with seed ``s`` gives: observations, rewards, episode ends,
infos and trades (``tests/agents/test_batch.py``).

Two adapters expose it:

* :class:`StackVecEnv`, an SB3 ``VecEnv`` (what ``train.vec_env: batched`` trains on; ``make_vec_env(..., vec_env=
  "batched")``). It resets a finished copy at once and returns its last observation in
  ``info["terminal_observation"]``, as SB3's ``DummyVecEnv`` does. With ``infos="train"`` (the default) a step's
  infos hold only what training reads (the closed trade, breaker events, the episode's equity at its end, SB3's
  keys; the trade as :data:`TRADE_SUMMARY`); the per-copy weights, regime probabilities and reward terms are arrays
  in :attr:`StackVecEnv.stack_step`,
  which :class:`agents.tier3.ppo.TradingMetricsCallback` reads. ``infos="full"`` builds every key the single
  stack returns.
* :class:`StackVectorEnv`, a Gymnasium ``VectorEnv`` (``gym.make_vec("tradebrain/TradingBrainStack-v2", n,
  vectorization_mode="vector_entry_point")``), with Gymnasium's next-step autoreset and infos as dicts of arrays.

Example:
    >>> venv = StackVecEnv(StackConfig(), n_envs=64, seed=0)                 # doctest: +SKIP
    >>> obs = venv.reset()                                                  # (64, 27) float32
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from agents.config import Split, StackConfig, base_env
from agents.tier1 import ComponentBandit
from agents.tier1.batch import BanditBatch
from agents.tier1.market import market_weights, no_regime
from agents.tier1.wrapper import regime_names
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.batch import BAR, START, BatchCore
from envs.data import MarketData, load
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES
from envs.records import Info, Record

__all__ = ["INFO_MODES", "TRADE_SUMMARY", "BatchedStack", "StackStep", "StackVecEnv", "StackVectorEnv"]

INFO_MODES: tuple[str, ...] = ("train", "full")
"""What a step's infos hold: ``train`` (what training reads) or ``full`` (every key of the single stack)."""
TRADE_SUMMARY: tuple[str, ...] = ("entry_bar", "exit_bar", "size", "pnl", "net_return")
"""The keys of ``info["trade"]`` with ``infos="train"``: what :func:`experiments.evaluation.stats.summarize` reads
of a trade (the full record, with components, weights and regime, comes with ``infos="full"``)."""
_T1, _T2 = OBS_LAYOUT.group_slice("tier1"), OBS_LAYOUT.group_slice("tier2")
_UNIFORM = (1.0 / len(REGIMES),) * len(REGIMES)


@dataclass
class StackStep:
    """Per-copy arrays of the last step (views this object owns; copy what you keep).

    Attributes:
        weights: ``(n, 4)`` Tier 1 weights observed after the step.
        regime_probs: ``(n, 5)`` regime probabilities of the bar observed after the step.
        reward_terms: ``(n, 4)`` base, drawdown penalty, clip penalty, bar cost of the step.
        flat: ``(n,)`` the step opened no trade.
        tier1, tier2: Which tiers are on (their arrays hold the uniform defaults when off).
    """

    weights: np.ndarray
    regime_probs: np.ndarray
    reward_terms: np.ndarray
    flat: np.ndarray
    tier1: bool = True
    tier2: bool = True


class BatchedStack:
    """``n`` copies of the stack of ``cfg`` on ``split``, stepped together (see the module docstring).

    Args:
        cfg: The stack's config.
        n: Copies.
        split: Window of the copies.
        data: The market data (default: ``load(cfg.data)``).
        detector: A fitted Tier 2 detector (default: fitted as :func:`agents.stack.make_env` fits it).
        tier1_learn: Let each copy's bandit learn from its closed trades.
    """

    def __init__(
        self,
        cfg: StackConfig,
        n: int,
        split: Split = "train",
        *,
        data: MarketData | None = None,
        detector: RegimeDetector | None = None,
        tier1_learn: bool = True,
    ) -> None:
        from agents.stack import fit_detector

        self.cfg, self.n, self.split = cfg, int(n), split
        market = load(cfg.data) if data is None else data
        base = base_env(cfg, market, split)
        self.regime: RegimeWrapper | None = None
        if cfg.tiers.tier2:
            det = detector if detector is not None else fit_detector(cfg, market, split, cache=True)
            self.regime = RegimeWrapper(base, det, fit_bars=cfg.tiers.tier2_fit_bars)  # sets base's regime path
        self.core = BatchCore(base, self.n)
        self.template = base
        self.tier1 = cfg.tiers.tier1
        self.learn = tier1_learn
        proto = ComponentBandit(gamma=cfg.tiers.tier1_gamma, per_regime=cfg.tiers.tier1_per_regime and cfg.tiers.tier2)
        self.bandits = BanditBatch(proto, self.n)
        """Each copy's Tier 1 bandit (restored to the prior at every reset, as the wrapper restores its copy)."""
        n_bars = len(market)
        self._names = list(self.regime._names) if self.regime is not None else []
        if self.regime is not None:
            probs = self.regime.probs
            self._bar_row = np.argmax(probs, axis=1).astype(np.int64)  # the regime name the Tier 1 wrapper reads
            self._trade_row = np.where(no_regime(probs), -1, self._bar_row)  # as the wrapper's _trade_regime
        else:
            self._bar_row = self._trade_row = np.full(n_bars, -1, np.int64)
        self.path: np.ndarray | None = None
        """Tier 1's weights at every bar with ``tier1_learns_from: market`` (the wrapper's own rows), else None."""
        if self.tier1 and cfg.tiers.tier1_learns_from == "market":
            regimes = regime_names(self.regime) if self.regime is not None and proto.per_regime else None
            self.path = market_weights(proto, market.close, base.features.components, cfg.tiers.tier1_horizon, regimes)
        self.step_arrays = StackStep(
            weights=self.core.weights,
            regime_probs=self.core.regime,
            reward_terms=self.core.info_f[:, 3:7],
            flat=np.zeros(self.n, bool),
            tier1=self.tier1,
            tier2=self.regime is not None,
        )

    @property
    def observation_space(self) -> gym.spaces.Space:
        return self.template.observation_space

    @property
    def action_space(self) -> gym.spaces.Space:
        return self.template.action_space

    # ------------------------------------------------------------------ the wrappers' work, per copy
    def _tier1_write(self, obs: np.ndarray, rows: np.ndarray | None = None) -> None:
        """The Tier 1 wrapper's ``_write`` for copies ``rows`` (default all): the weights of the regime at each copy's
        bar into slots 15-18 and into the core (for the next trade's record)."""
        if not self.tier1:
            return
        if self.path is not None:
            weights = self.path[self.core.is_[:, BAR]]
        else:
            weights = self.bandits.weights(self._bar_row[self.core.is_[:, BAR]])
        if rows is None:
            self.core.weights[:] = weights
            obs[:, _T1] = weights
        else:
            self.core.weights[rows] = weights[rows]
            obs[rows, _T1] = weights[rows]

    def reset(self, i: int, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Info:
        """Reset copy ``i`` (its observation in ``core.obs[i]``); returns its reset info (full keys)."""
        if self.tier1:
            self.bandits.restore(i)
        self.core.reset(i, seed=seed, options=options)
        self._tier1_write(self.core.obs, np.array([i]))
        return self.full_reset_info(i)

    def step(
        self, actions: np.ndarray, active: np.ndarray | None = None, *, full: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Any]]:
        """Step every copy (or the ``active`` ones; finished copies are not reset here).

        Returns:
            The core's ``(obs, reward, terminated, truncated)`` arrays and, per copy, its closed trade (a
            :class:`~envs.records.Record` or None) or, with ``full``, the single stack's whole info of the step
            (None for an inactive copy).
        """
        core = self.core
        obs, reward, terminated, truncated = core.step(actions, active)
        mask = core._all if active is None else np.asarray(active, np.bool_)
        traded = (core.info_i[:, 1] != 0) & mask
        np.logical_not(traded, out=self.step_arrays.flat)
        trades: list[Any] = [None] * self.n
        done = np.flatnonzero(traded).tolist()
        if full:
            for i in done:  # before the weights move: a trade records the decision's
                trades[i] = core.trade(i)
        else:
            for i in done:
                trades[i] = self._trade_summary(i)
        if full:
            trades = [core.info(i, trades[i]) if mask[i] else None for i in range(self.n)]
        if self.tier1:
            closed = np.flatnonzero(traded)
            if self.learn and self.path is None and len(closed):
                decision = core.tr_u[closed, 0]
                net_return = core.tr_f[closed, 7] / core.tr_f[closed, 6] - 1.0  # as the trade record's net_return
                self.bandits.update(closed, core.components[decision], net_return, self._trade_row[decision])
            self._tier1_write(obs, None if active is None else np.flatnonzero(mask))
        if full:
            trades = [None if info is None else self._tier_keys(i, info) for i, info in enumerate(trades)]
        return obs, reward, terminated, truncated, trades

    # ------------------------------------------------------------------ infos
    def _tier_keys(self, i: int, info: Info) -> Info:
        bar = int(self.core.is_[i, BAR])
        if self.regime is not None:
            info["regime"] = Record(
                probs=Record(zip(REGIMES, self.regime._rows[bar], strict=False)),
                name=self._names[bar],
                confidence=self.regime._confidence_rows[bar],
            )
        if self.tier1:
            info["weights"] = Record(zip(COMPONENTS, self.core.weights[i].tolist(), strict=True))
        return info

    def full_reset_info(self, i: int) -> Info:
        return self._tier_keys(i, self.core.base_info(i))

    def _trade_summary(self, i: int) -> dict[str, Any]:
        """The fields of copy ``i``'s closed trade that the training metrics read (:data:`TRADE_SUMMARY`)."""
        f, u = self.core.tr_f[i], self.core.tr_u[i]
        eq0, eq1 = float(f[6]), float(f[7])
        decision = int(u[0])
        return {
            "entry_bar": decision + 1,
            "exit_bar": int(u[1]),
            "size": float(f[2]),
            "pnl": eq1 - eq0,
            "net_return": eq1 / eq0 - 1.0,
        }

    def train_info(self, i: int, trade: Record | None) -> dict[str, Any]:
        """What training reads of copy ``i``'s step: the trade, breaker events, the episode's equity at its end."""
        core = self.core
        info: dict[str, Any] = {}
        if trade is not None:
            info["trade"] = trade
        if core.info_i[i, 2]:
            info["breaker_events"] = core.events(i)
        if core.terminated[i] or core.truncated[i]:
            start, bar = int(core.is_[i, START]), int(core.is_[i, BAR])
            equity = core.curve[i, start : bar + 1].copy()
            equity.flags.writeable = False
            info["episode_equity"] = equity
            info["episode_start"] = start
            info["breaker"] = "HALTED" if core.terminated[i] else core.base_info(i)["breaker"]
        return info


class StackVecEnv(VecEnv):
    """SB3 ``VecEnv`` over :class:`BatchedStack` (see the module docstring).

    Args:
        cfg: The stack's config.
        n_envs: Copies.
        seed: Seed of the first copy; copy ``i`` gets ``seed + i`` at the first reset (as ``DummyVecEnv.seed``).
        split: Window of the copies.
        infos: ``"train"`` or ``"full"`` (:data:`INFO_MODES`).
        data, detector, tier1_learn: As :class:`BatchedStack` takes them.
    """

    def __init__(
        self,
        cfg: StackConfig,
        n_envs: int,
        seed: int | None = None,
        split: Split = "train",
        *,
        infos: str = "train",
        data: MarketData | None = None,
        detector: RegimeDetector | None = None,
        tier1_learn: bool = True,
    ) -> None:
        if infos not in INFO_MODES:
            raise ValueError(f"infos={infos!r} is not one of {list(INFO_MODES)}; e.g. 'train'")
        self.stack = BatchedStack(cfg, n_envs, split, data=data, detector=detector, tier1_learn=tier1_learn)
        self.table = _menu_table(cfg, self.stack)
        space = self.stack.action_space if self.table is None else gym.spaces.Discrete(len(self.table))
        super().__init__(n_envs, self.stack.observation_space, space)
        self.infos_mode = infos
        self.metadata = self.stack.template.metadata
        self._actions: np.ndarray | None = None
        if seed is not None:
            self.seed(seed)

    @property
    def stack_step(self) -> StackStep | None:
        """Per-copy arrays of the last step (weights, regime probabilities, reward terms, flat) with
        ``infos="train"`` (None with ``infos="full"``: then the infos carry them, as the single stack's do)."""
        return self.stack.step_arrays if self.infos_mode == "train" else None

    def reset(self) -> VecEnvObs:
        for i in range(self.num_envs):
            options = self._options[i] or None
            self.reset_infos[i] = self.stack.reset(i, seed=self._seeds[i], options=options)
        self._reset_seeds()
        self._reset_options()
        return self.stack.core.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async first"
        stack = self.stack
        full = self.infos_mode == "full"
        obs, reward, terminated, truncated, per_copy = stack.step(
            _box(self._actions, self.table, self.num_envs), full=full
        )
        infos: list[dict[str, Any]] = per_copy if full else [stack.train_info(i, t) for i, t in enumerate(per_copy)]
        dones = terminated | truncated
        if full:  # as DummyVecEnv sets it
            for i, info in enumerate(infos):
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        for i in np.flatnonzero(dones).tolist():
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos[i]["terminal_observation"] = obs[i].copy()
            self.reset_infos[i] = stack.reset(i)
        return obs.copy(), reward.astype(np.float32), dones.copy(), infos

    def close(self) -> None:
        return None

    # ------------------------------------------------------------------ the VecEnv attribute protocol
    def _indices(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of the copies' env: ``bar`` and ``equity`` per copy, anything else from the template (the
        configuration every copy shares)."""
        core = self.stack.core
        if attr_name == "bar":
            return [int(core.is_[i, BAR]) for i in self._indices(indices)]
        if attr_name == "equity":
            return [float(core.fs[i, 0]) for i in self._indices(indices)]
        value = getattr(self.stack.template, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"the batched stack's copies share one configuration: set {attr_name!r} on the config")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        raise AttributeError(f"the batched stack has no per-copy env objects to call {method_name!r} on")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]


class StackVectorEnv(gym.vector.VectorEnv):
    """Gymnasium ``VectorEnv`` over :class:`BatchedStack`, with next-step autoreset (Gymnasium 1.x's default).

    ``gym.make_vec("tradebrain/TradingBrainStack-v2", num_envs, vectorization_mode="vector_entry_point", **kw)``
    builds it with the keywords :func:`agents.stack.make_stack_env` takes. Infos are Gymnasium's dicts of arrays:
    ``weights`` ``(n, 4)``, ``regime_probs`` ``(n, 5)``, ``reward_terms`` ``(n, 4)``, ``flat``, ``equity``, ``bar``.
    """

    metadata: dict[str, Any] = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, **keywords: Any) -> None:
        from agents.stack import ENV_KEYWORDS, STACK_ENV_ID, _resolve

        data = keywords.pop("data", None)
        detector = keywords.pop("detector", None)
        split = keywords.pop("split", "train")
        tier1_learn = keywords.pop("tier1_learn", True)
        keywords.pop("cache", None)
        market = data if isinstance(data, MarketData) else None
        if data is not None:
            keywords["data"] = market.name if market is not None else str(data)
        cfg = _resolve(keywords.pop("config", None), keywords, STACK_ENV_ID, ENV_KEYWORDS)
        self.stack = BatchedStack(cfg, num_envs, split, data=market, detector=detector, tier1_learn=tier1_learn)
        self.num_envs = num_envs
        self.table = _menu_table(cfg, self.stack)
        self.single_observation_space = self.stack.observation_space
        self.single_action_space = (
            self.stack.action_space if self.table is None else gym.spaces.Discrete(len(self.table))
        )
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)

    def _infos(self) -> dict[str, Any]:
        s, core = self.stack.step_arrays, self.stack.core
        return {
            "weights": s.weights.copy(),
            "regime_probs": s.regime_probs.copy(),
            "reward_terms": s.reward_terms.copy(),
            "flat": s.flat.copy(),
            "equity": core.fs[:, 0].copy(),
            "bar": core.is_[:, 0].copy(),
        }

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        for i in range(self.num_envs):
            self.stack.reset(i, seed=seeds[i], options=options)
        self._autoreset[:] = False
        return self.stack.core.obs.copy(), self._infos()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        stack = self.stack
        resetting = np.flatnonzero(self._autoreset).tolist()
        for i in resetting:  # next-step autoreset: these copies ignore their action and start a new episode
            stack.reset(i)
        live = ~self._autoreset
        _, reward, terminated, truncated, _ = stack.step(_box(actions, self.table, self.num_envs), live)
        reward = np.where(live, reward, 0.0)
        terminated = terminated & live
        truncated = truncated & live
        self._autoreset = terminated | truncated
        return stack.core.obs.copy(), reward, terminated, truncated, self._infos()


def _menu_table(cfg: StackConfig, stack: BatchedStack) -> np.ndarray | None:
    """The Box actions of the bracket menu's items when ``cfg.action`` is ``menu`` (else None)."""
    return cfg.menu.actions(stack.template.action_map) if cfg.action == "menu" else None


def _box(actions: Any, table: np.ndarray | None, n: int) -> np.ndarray:
    """``(n, 4)`` Box actions: the actions themselves, or the menu's rows of ``n`` item numbers."""
    if table is None:
        return np.asarray(actions, dtype=np.float32).reshape(n, 4)
    items = np.asarray(actions).reshape(n).astype(np.int64)
    if items.min(initial=0) < 0 or items.max(initial=0) >= len(table):
        raise ValueError(f"menu actions must be items 0 .. {len(table) - 1}; got {items.tolist()}")
    return table[items]  # type: ignore[no-any-return]
