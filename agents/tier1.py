"""Tier 1: Thompson-sampling weights of the four signal components.

:class:`ComponentBandit` keeps one discounted Beta posterior per component (and per regime) on the event "the
sign of the component's score at entry matched the sign of the trade's net return", and turns the posteriors
into weights: the probability that each component is the best one, shrunk toward uniform and projected onto
``[floor, cap]``. :class:`ComponentWeightWrapper` feeds closed trades to the bandit and writes the weights
into the observation slots ``w_theme .. w_sentiment`` (``OBS_LAYOUT.group_slice("tier1")``) and
``info["weights"]``.

References:
    Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in view of the
    evidence of two samples. Biometrika 25(3/4). Russo et al. (2018), A Tutorial on Thompson Sampling,
    https://arxiv.org/abs/1707.02038 (section 6.3 on non-stationary, discounted posteriors).
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES
from envs.records import Record

logger = logging.getLogger(__name__)

_N_COMP = len(COMPONENTS)
_POOLED = len(REGIMES)
"""Row of the pooled posterior (rows 0..4 are the regimes in :data:`REGIMES` order)."""
_JSON_VERSION = 1


def _regime_row(regime: str | None) -> int | None:
    """Row index of ``regime`` (``None`` for no regime); raises ``ValueError`` naming the valid regimes."""
    if regime is None:
        return None
    if not isinstance(regime, str):
        raise TypeError(f"regime must be a str or None, got {type(regime).__name__}: {regime!r}")
    try:
        return REGIMES.index(regime)
    except ValueError:
        near = difflib.get_close_matches(regime, REGIMES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"unknown regime {regime!r}{hint} Valid regimes: {', '.join(REGIMES)}") from None


def _scores_array(scores: Mapping[str, float] | Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores as a float array of shape ``(4,)`` in :data:`COMPONENTS` order; missing components are NaN."""
    if isinstance(scores, Mapping):
        out = np.full(_N_COMP, np.nan)
        for name, value in scores.items():
            if name not in COMPONENTS:
                near = difflib.get_close_matches(str(name), COMPONENTS, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"unknown component {name!r}{hint} Valid components: {', '.join(COMPONENTS)}")
            if value is None:
                continue
            out[COMPONENTS.index(name)] = float(value)
            if not math.isfinite(out[COMPONENTS.index(name)]):
                raise ValueError(f"component score {name}={value!r} is not finite; drop the key to skip it")
        return out
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (_N_COMP,):
        raise ValueError(f"scores have shape {arr.shape}; expected ({_N_COMP},) in order {COMPONENTS}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"scores {arr.tolist()} have non-finite values; pass a mapping without them to skip")
    return arr


def project_capped_simplex(v: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """Euclidean projection of ``v`` onto ``{w : sum(w) = 1, floor <= w_i <= cap}``.

    The projection is ``w_i = clip(v_i - tau, floor, cap)`` for the shift ``tau`` at which the weights sum to
    1; ``sum(w)`` is piecewise linear and non-increasing in ``tau``, so ``tau`` is found exactly on the
    segment between two consecutive break points. Order is preserved and a point already in the set is
    returned as is.

    Args:
        v: Array of shape ``(k,)``.
        floor: Lower bound, with ``k * floor <= 1``.
        cap: Upper bound, with ``k * cap >= 1`` and ``cap >= floor``.

    Returns:
        Array of shape ``(k,)`` in the set.
    """
    v = np.asarray(v, dtype=np.float64)
    k = v.size
    if not (k * floor <= 1.0 + 1e-12 and k * cap >= 1.0 - 1e-12 and floor <= cap):
        raise ValueError(f"no weights of size {k} satisfy floor={floor!r}, cap={cap!r} and sum to 1")
    vals = v.tolist()  # scalar code: k is 4 and this runs after every closed trade
    if abs(sum(vals) - 1.0) <= 1e-12 and min(vals) >= floor and max(vals) <= cap:
        return v.copy()

    def total(tau: float) -> float:
        return sum(min(max(x - tau, floor), cap) for x in vals)

    taus = sorted([x - cap for x in vals] + [x - floor for x in vals])
    sums = [total(t) for t in taus]
    # sums is non-increasing in tau: find the segment [taus[j], taus[j+1]] where it crosses 1.
    j = max(i for i in range(len(taus) - 1) if sums[i] >= 1.0) if sums[0] >= 1.0 else 0
    j = min(j, len(taus) - 2)
    t0, t1, s0, s1 = taus[j], taus[j + 1], sums[j], sums[j + 1]
    tau = t0 if s0 == s1 else t0 + (s0 - 1.0) * (t1 - t0) / (s0 - s1)
    w = [min(max(x - tau, floor), cap) for x in vals]
    free = [i for i, x in enumerate(w) if floor < x < cap]
    if free:  # absorb the last rounding error in the free weights, which are strictly inside the box
        fix = (1.0 - sum(w)) / len(free)
        for i in free:
            w[i] = min(max(w[i] + fix, floor), cap)
    return np.array(w)


class ComponentBandit:
    """Discounted Beta-Bernoulli Thompson-sampling weights of the four signal components.

    Every closed trade scores every component (full information): component ``i`` is a success when
    ``sign(score_i at entry) == sign(net_return)``; scores with ``|score| < min_abs_score`` give no evidence
    and a trade with ``net_return == 0`` is skipped. Before new evidence is added, each affected posterior
    decays toward the prior, ``alpha <- prior_a + gamma * (alpha - prior_a)`` (same for beta), for all four
    components, so the effective memory is about ``1 / (1 - gamma)`` trades (33 for the default 0.97;
    ``gamma=1`` is plain counting).

    Posteriors are kept for the pool of all trades and for each regime in :data:`envs.layout.REGIMES` (a trade
    updates the pool and the row of its entry regime). :meth:`weights` uses the regime's row when
    ``per_regime`` is on and that regime has seen at least one trade, and the pool otherwise.

    Weights are ``P(component i has the highest success rate)`` estimated from ``n_draws`` joint posterior
    draws (components with identical posteriors share their estimate, so equal posteriors give exactly 0.25
    each), mixed with uniform, ``(1 - shrink) * p_best + shrink / 4``, then projected onto ``floor <= w <=
    cap``, ``sum(w) = 1``. Weights are cached per posterior row until that row is updated, so they do not
    jitter between trades; the draws come from a generator owned by the object and seeded from ``seed``: the
    same seed and the same history of calls give identical weights, and :meth:`to_json` stores the generator
    state.

    Paper: Thompson (1933); Russo et al. (2018), https://arxiv.org/abs/1707.02038.

    Args:
        gamma: Discount per trade, in (0, 1].
        prior: ``(alpha, beta)`` of the Beta prior, both > 0.
        min_abs_score: Scores with ``|score|`` below this give no evidence (>= 0).
        n_draws: Monte-Carlo draws per weight estimate (>= 1).
        shrink: Weight of the uniform mixture, in [0, 1].
        floor: Lowest weight, in [0, 1/4].
        cap: Highest weight, in [1/4, 1] and >= floor.
        per_regime: Use the regime's posterior in :meth:`weights` when a regime is given and has data.
        seed: Seed of the Monte-Carlo generator (int >= 0, or None for fresh entropy).

    Attributes:
        alpha_: Array ``(6, 4)``: rows are the regimes in ``REGIMES`` order, then the pool (row 5).
        beta_: Array ``(6, 4)``, same layout.
        n_trades_: Array ``(6,)`` of trades that gave evidence, per row.
        rng_: The ``np.random.Generator`` of the Monte-Carlo draws.

    Example:
        >>> bandit = ComponentBandit(seed=0)
        >>> for _ in range(50):
        ...     _ = bandit.update({"theme": 0.8, "technical": -0.5, "ai": 0.3, "sentiment": -0.2}, 0.01)
        >>> bandit.weights().round(2).tolist()  # theme and ai were always right
        [0.45, 0.05, 0.45, 0.05]
    """

    def __init__(
        self,
        gamma: float = 0.97,
        prior: tuple[float, float] = (1.0, 1.0),
        min_abs_score: float = 0.05,
        n_draws: int = 2000,
        shrink: float = 0.1,
        floor: float = 0.05,
        cap: float = 0.7,
        per_regime: bool = False,
        seed: int | None = 0,
    ) -> None:
        self.gamma = gamma
        self.prior = prior
        self.min_abs_score = min_abs_score
        self.n_draws = n_draws
        self.shrink = shrink
        self.floor = floor
        self.cap = cap
        self.per_regime = per_regime
        self.seed = seed
        self._validate_params()

    # ------------------------------------------------------------------ parameters and state
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as plain JSON types."""
        return {
            "gamma": float(self.gamma),
            "prior": [float(self.prior[0]), float(self.prior[1])],
            "min_abs_score": float(self.min_abs_score),
            "n_draws": int(self.n_draws),
            "shrink": float(self.shrink),
            "floor": float(self.floor),
            "cap": float(self.cap),
            "per_regime": bool(self.per_regime),
            "seed": self.seed,
        }

    def _validate_params(self) -> None:
        def number(name: str, value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, SupportsFloat) or not math.isfinite(float(value)):
                raise ValueError(f"{name}={value!r} must be a finite number")
            return float(value)

        gamma = number("gamma", self.gamma)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma!r} must be in (0, 1]; e.g. 0.97 (about 33 trades of memory)")
        if not isinstance(self.prior, Sequence) or len(self.prior) != 2:
            raise ValueError(f"prior={self.prior!r} must be a pair (alpha, beta), e.g. (1.0, 1.0)")
        if min(number("prior[0]", self.prior[0]), number("prior[1]", self.prior[1])) <= 0.0:
            raise ValueError(f"prior={self.prior!r} must have both values > 0, e.g. (1.0, 1.0)")
        if number("min_abs_score", self.min_abs_score) < 0.0:
            raise ValueError(f"min_abs_score={self.min_abs_score!r} must be >= 0, e.g. 0.05")
        if isinstance(self.n_draws, bool) or not isinstance(self.n_draws, int | np.integer) or self.n_draws < 1:
            raise ValueError(f"n_draws={self.n_draws!r} must be an integer >= 1, e.g. 2000")
        if not 0.0 <= number("shrink", self.shrink) <= 1.0:
            raise ValueError(f"shrink={self.shrink!r} must be in [0, 1], e.g. 0.1")
        if not 0.0 <= number("floor", self.floor) <= 1.0 / _N_COMP:
            raise ValueError(f"floor={self.floor!r} must be in [0, {1.0 / _N_COMP}] so 4 weights can sum to 1")
        if not max(1.0 / _N_COMP, self.floor) <= number("cap", self.cap) <= 1.0:
            raise ValueError(f"cap={self.cap!r} must be in [max(0.25, floor), 1] so 4 weights can sum to 1")
        if not isinstance(self.per_regime, bool | np.bool_):
            raise TypeError(f"per_regime must be a bool, got {type(self.per_regime).__name__}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0
        ):
            raise ValueError(f"seed={self.seed!r} must be an integer >= 0 or None")

    def _ensure_state(self) -> None:
        """Create the learned state on first use (the posteriors start at the prior)."""
        if hasattr(self, "alpha_"):
            return
        self.alpha_ = np.full((_POOLED + 1, _N_COMP), float(self.prior[0]))
        self.beta_ = np.full((_POOLED + 1, _N_COMP), float(self.prior[1]))
        self.n_trades_ = np.zeros(_POOLED + 1, dtype=np.int64)
        self.rng_ = np.random.default_rng(self.seed)
        self._cache: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ learning
    def update(
        self,
        scores: Mapping[str, float] | Sequence[float] | np.ndarray,
        net_return: float,
        regime: str | None = None,
    ) -> ComponentBandit:
        """Learn from one closed trade.

        Args:
            scores: Component scores at entry, a mapping ``name -> score`` (missing names give no evidence) or an
                array of shape ``(4,)`` in :data:`COMPONENTS` order.
            net_return: Net return of the trade (after costs); only its sign is used, 0 skips the trade.
            regime: Name of the regime at entry, or None (only the pool is updated).

        Returns:
            self.
        """
        self._ensure_state()
        s = _scores_array(scores)
        r = float(net_return)
        if not math.isfinite(r):
            raise ValueError(f"net_return={net_return!r} is not finite")
        row = _regime_row(regime)
        # scalar code: this runs once per closed trade inside the env stack
        lo = self.min_abs_score
        used = [not math.isnan(x) and abs(x) >= lo for x in s.tolist()]
        if r == 0.0 or not any(used):
            logger.debug("trade skipped: net_return=%r, scores=%s", r, s.tolist())
            return self
        up = r > 0.0
        success = np.array([u and ((x > 0.0) == up) for u, x in zip(used, s.tolist(), strict=True)], dtype=np.float64)
        failure = np.array(used, dtype=np.float64) - success
        pa, pb, g = float(self.prior[0]), float(self.prior[1]), self.gamma
        for k in (_POOLED,) if row is None else (_POOLED, row):
            self.alpha_[k] = pa + g * (self.alpha_[k] - pa) + success
            self.beta_[k] = pb + g * (self.beta_[k] - pb) + failure
            self.n_trades_[k] += 1
            self._cache.pop(k, None)
        return self

    partial_fit = update

    def update_from_trade(self, trade: Mapping[str, Any]) -> ComponentBandit:
        """Learn from a closed-trade record: keys ``components``, ``net_return`` and optional ``regime``."""
        if not isinstance(trade, Mapping):
            raise TypeError(f"trade must be a Mapping, got {type(trade).__name__}")
        missing = [key for key in ("components", "net_return") if key not in trade]
        if missing:
            raise KeyError(f"trade record lacks {missing}; it has keys {sorted(trade)}")
        return self.update(trade["components"], trade["net_return"], trade.get("regime"))

    # ------------------------------------------------------------------ outputs
    def _row_for(self, regime: str | None) -> int:
        self._ensure_state()
        row = _regime_row(regime)
        if self.per_regime and row is not None and self.n_trades_[row] > 0:
            return row
        return _POOLED

    def _p_best(self, row: int) -> np.ndarray:
        """Monte-Carlo ``P(component is best)`` for one posterior row, shape ``(4,)``."""
        a, b = self.alpha_[row], self.beta_[row]
        pairs = list(zip(a.tolist(), b.tolist(), strict=True))
        group = np.array([pairs.index(pair) for pair in pairs])  # components with identical posteriors share a group
        if not group.any():
            return np.full(_N_COMP, 1.0 / _N_COMP)
        draws = self.rng_.beta(a, b, size=(int(self.n_draws), _N_COMP))
        p = np.bincount(np.argmax(draws, axis=1), minlength=_N_COMP) / float(self.n_draws)
        # components with identical posteriors are exchangeable: give them their mean estimate
        counts = np.bincount(group, minlength=_N_COMP)
        return np.bincount(group, weights=p, minlength=_N_COMP)[group] / counts[group]

    def weights(self, regime: str | None = None) -> np.ndarray:
        """Component weights, shape ``(4,)`` in :data:`COMPONENTS` order, in ``[floor, cap]``, summing to 1.

        Args:
            regime: Current regime name; used only when ``per_regime`` is on and the regime has data.
        """
        row = self._row_for(regime)
        if row not in self._cache:
            p = self._p_best(row)
            if np.all(p == p[0]):
                w = np.full(_N_COMP, 1.0 / _N_COMP)
            else:
                w = project_capped_simplex((1.0 - self.shrink) * p + self.shrink / _N_COMP, self.floor, self.cap)
            self._cache[row] = w
        return self._cache[row].copy()

    def mean_success(self, regime: str | None = None) -> np.ndarray:
        """Posterior mean success rate ``alpha / (alpha + beta)`` per component, shape ``(4,)``."""
        row = self._row_for(regime)
        return self.alpha_[row] / (self.alpha_[row] + self.beta_[row])

    def regime_stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """Which component has worked in which regime (plus ``"pooled"``).

        Returns:
            ``{regime: {component: {"alpha", "beta", "mean", "n_effective"}}}``, where ``n_effective`` is the
            discounted number of trades behind the posterior, ``alpha + beta - sum(prior)``.
        """
        self._ensure_state()
        out: dict[str, dict[str, dict[str, float]]] = {}
        for row, name in enumerate((*REGIMES, "pooled")):
            a, b = self.alpha_[row], self.beta_[row]
            out[name] = {
                c: {
                    "alpha": float(a[i]),
                    "beta": float(b[i]),
                    "mean": float(a[i] / (a[i] + b[i])),
                    "n_effective": float(a[i] + b[i] - self.prior[0] - self.prior[1]),
                }
                for i, c in enumerate(COMPONENTS)
            }
        return out

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """Hyper-parameters and learned state as plain JSON types.

        The generator state (``bit_generator.state``, with 128-bit integers that Python's ``json`` writes and
        reads exactly) and the cached weights are included, so a reloaded bandit gives the same weights as the
        original, call for call.
        """
        self._ensure_state()
        rng_state = self.rng_.bit_generator.state
        return {
            "class": type(self).__name__,
            "version": _JSON_VERSION,
            "params": self.get_params(),
            "alpha": self.alpha_.tolist(),
            "beta": self.beta_.tolist(),
            "n_trades": self.n_trades_.tolist(),
            "rng_state": json.loads(json.dumps(rng_state, default=int)),
            "weights_cache": {str(k): v.tolist() for k, v in sorted(self._cache.items())},
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ComponentBandit:
        """Rebuild a bandit written by :meth:`to_json`; its weights equal the original's, call for call."""
        if not isinstance(d, Mapping):
            raise TypeError(f"from_json expects a dict, got {type(d).__name__}")
        if d.get("class") != cls.__name__ or d.get("version") != _JSON_VERSION:
            raise ValueError(
                f"not a {cls.__name__} v{_JSON_VERSION} record: class={d.get('class')!r}, version={d.get('version')!r}"
            )
        params = dict(d["params"])
        params["prior"] = tuple(params["prior"])
        obj = cls(**params)
        obj._ensure_state()
        shape = obj.alpha_.shape
        obj.alpha_ = np.asarray(d["alpha"], dtype=np.float64)
        obj.beta_ = np.asarray(d["beta"], dtype=np.float64)
        obj.n_trades_ = np.asarray(d["n_trades"], dtype=np.int64)
        if obj.alpha_.shape != shape or obj.beta_.shape != shape or obj.n_trades_.shape != (shape[0],):
            raise ValueError(f"alpha/beta must have shape {shape} and n_trades ({shape[0]},) in the record")
        obj.rng_.bit_generator.state = d["rng_state"]
        obj._cache = {int(k): np.asarray(v, dtype=np.float64) for k, v in d.get("weights_cache", {}).items()}
        return obj

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (parent folders are created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ComponentBandit:
        """Read a bandit written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ComponentWeightWrapper(gym.Wrapper):
    """Feed closed trades to a :class:`ComponentBandit` and write its weights into the observation.

    On every ``step`` the wrapper passes ``info["trade"]`` (when the step closed a trade) to
    :meth:`ComponentBandit.update_from_trade`, then writes ``bandit.weights(regime)`` into the slots
    ``OBS_LAYOUT.group_slice("tier1")`` (``w_theme .. w_sentiment``, indices 15-18) and into
    ``info["weights"]`` (``name -> weight``), and hands them to ``env.unwrapped.set_weights`` when the base
    env has that hook (``TradingEnv`` records them in its trades). ``regime`` is ``info["regime"]["name"]``
    when a regime wrapper sits inside this one and ``per_regime_from_info`` is on, else None. ``reset`` writes
    the current weights too. A trade is learned under its entry regime ``trade["regime"]``, or under no regime
    (the pool only) when its ``regime_probs`` are all equal, i.e. Tier 2 was off.

    The bandit is *not* reset between episodes: it keeps learning across episodes (and across envs if the same
    object is shared); save it with :meth:`ComponentBandit.save`. Pass ``ComponentBandit(per_regime=True)`` to
    keep per-regime weights when Tier 2 is on. The observation space is unchanged.

    Args:
        env: Env with a ``Box`` observation space of shape ``(27,)`` laid out as
            :data:`envs.layout.OBS_LAYOUT`.
        bandit: The learner; a new ``ComponentBandit()`` when None.
        per_regime_from_info: Read the current regime from ``info["regime"]["name"]``.
        learn: Update the bandit from closed trades; False freezes it (evaluation, backtests). A learning
            wrapper is not step-deterministic across resets with the same seed, since what it learned in the
            first episode changes the weights of the second; a frozen one is.

    Example:
        A fresh bandit starts at uniform weights and learns from every trade the env closes::

            from agents.tier1 import ComponentBandit, ComponentWeightWrapper
            from envs.trading_env import TradingEnv

            env = ComponentWeightWrapper(TradingEnv(data=data), ComponentBandit(per_regime=True, seed=0))
            obs, info = env.reset(seed=0)
            info["weights"]  # {'theme': 0.25, 'technical': 0.25, 'ai': 0.25, 'sentiment': 0.25}
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            env.bandit.save("runs/demo/tier1.json")  # keeps learning across episodes; save it to reuse
    """

    def __init__(
        self,
        env: gym.Env,
        bandit: ComponentBandit | None = None,
        per_regime_from_info: bool = True,
        learn: bool = True,
    ) -> None:
        if not isinstance(env, gym.Env):
            raise TypeError(f"env must be a gymnasium.Env, got {type(env).__name__}")
        if bandit is not None and not isinstance(bandit, ComponentBandit):
            raise TypeError(f"bandit must be a ComponentBandit or None, got {type(bandit).__name__}")
        for name, flag in (("per_regime_from_info", per_regime_from_info), ("learn", learn)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}: {flag!r}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (OBS_LAYOUT.size,):
            raise ValueError(
                f"env observation space is {space}; "
                f"expected a Box of shape ({OBS_LAYOUT.size},) laid out as envs.layout.OBS_LAYOUT"
            )
        super().__init__(env)
        self.bandit = bandit if bandit is not None else ComponentBandit()
        self.per_regime_from_info = per_regime_from_info
        self.learn = learn
        self._slice = OBS_LAYOUT.group_slice("tier1")

    def _current_regime(self, info: Mapping[str, Any]) -> str | None:
        regime = info.get("regime") if self.per_regime_from_info else None
        if isinstance(regime, Mapping):
            return regime.get("name")
        return None

    @staticmethod
    def _trade_regime(trade: Mapping[str, Any]) -> str | None:
        """Entry regime of a trade; None when its regime probabilities carry no information (Tier 2 off)."""
        probs = trade.get("regime_probs")
        if isinstance(probs, Mapping) and probs and max(probs.values()) - min(probs.values()) < 1e-9:
            return None
        return trade.get("regime")

    def _write(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        w = self.bandit.weights(self._current_regime(info))
        set_weights = getattr(self.env.unwrapped, "set_weights", None)
        if callable(set_weights):  # TradingEnv records the weights in force at each decision in its trades
            set_weights(w)
        obs = np.array(obs, dtype=np.float32, copy=True)
        obs[self._slice] = w
        info["weights"] = Record(zip(COMPONENTS, w.tolist(), strict=True))
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        return self._write(obs, info), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        trade = info.get("trade")
        if trade is not None and self.learn:
            if not isinstance(trade, Mapping):
                raise TypeError(f"info['trade'] must be a Mapping, got {type(trade).__name__}")
            self.bandit.update_from_trade({**trade, "regime": self._trade_regime(trade)})
        return self._write(obs, info), reward, terminated, truncated, info
