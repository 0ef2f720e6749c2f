"""Tier 1: component weights from discounted Beta posteriors (observed through :mod:`agents.tier1.wrapper`).

:class:`ComponentBandit` keeps one discounted Beta posterior per component (and per regime) on the event "the
sign of the component's score at entry matched the sign of the trade's net return", and turns the posteriors
into weights: the probability that each component is the best one (:func:`prob_best`, a deterministic
quadrature), shrunk toward uniform and projected onto ``[floor, cap]``. :class:`ComponentWeightWrapper` feeds
closed trades to the bandit and writes the weights into the observation slots ``w_theme .. w_sentiment``
(``OBS_LAYOUT.group_slice("tier1")``, indices 15-18) and ``info["weights"]``.

Causality (DESIGN.md section 7): the weights observed at decision bar ``t`` depend only on trade outcomes known
by the close of ``t``. The wrapper guarantees it in every context by construction:

* Every episode starts from one fixed bandit state, a snapshot taken when the wrapper is built: the prior by
  default, or a bandit passed in (for example one learned on data before the window, never after it).
  ``reset()`` restores that snapshot, so nothing learned in one episode reaches another.
* Within an episode the bandit learns online from that episode's own closed trades. They close in date order
  and a trade is learned at the step whose observation is at its exit bar, so the weights at bar ``t`` are a
  function of the starting state and of the trades that closed by ``t``.
* The weights are a deterministic function of the posteriors (no random draws), so two passes over the same
  window with the same actions give identical weights.

Hence random-start training episodes never see outcomes of trades from later years, repeated validation
passes (SB3's ``EvalCallback`` reuses one env) all start identically, and a backtest sees what a live brain
started from the same state would have seen. Training and evaluation episodes also see the same observation
distribution in slots 15-18: both start at the same state (the prior in :mod:`agents.stack`) and learn from
their own trades.

The opt-out, ``ComponentWeightWrapper(..., reset_each_episode=False)``, keeps learning across episodes. It is
meant for a live brain, where time only moves forward and each "episode" continues the previous one; on random
starts or repeated passes over one window it leaks outcomes from the future into the observations.

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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import numpy as np

from agents.tier1.quadrature import prob_best as prob_best  # re-exported: part of Tier 1's API
from agents.tier1.quadrature import prob_best_list, project_list
from agents.tier1.quadrature import project_capped_simplex as project_capped_simplex
from envs.layout import COMPONENTS, REGIMES
from envs.records import Record

logger = logging.getLogger(__name__)


_N_COMP = len(COMPONENTS)


if _N_COMP != 4:  # ComponentBandit.update and _scores_list write the four components out
    raise ImportError(f"agents.tier1 assumes 4 components, envs.layout has {COMPONENTS}")


_POOLED = len(REGIMES)
"""Row of the pooled posterior (rows 0..4 are the regimes in :data:`REGIMES` order)."""


_JSON_VERSION = 2
"""Version 1 held Monte-Carlo settings and a generator state (``n_draws``, ``seed``, ``rng_state``)."""


_COMPONENT_INDEX = {name: i for i, name in enumerate(COMPONENTS)}


_REGIME_INDEX = {name: i for i, name in enumerate(REGIMES)}


_WEIGHTS_MEMO_SIZE = 4096
"""Entries of :data:`_weights_memo` (cleared when full)."""


_weights_memo: dict[tuple[float, ...], tuple[np.ndarray, list[float]]] = {}
"""Weights by hyper-parameters and posterior row, shared by all bandits: the weights are a pure function of them,
and every episode restarts from the same state, so the rows of its first trades recur (one quadrature saved)."""


def _regime_row(regime: str | None) -> int | None:
    """Row index of ``regime`` (``None`` for no regime); raises ``ValueError`` naming the valid regimes."""
    if regime is None:
        return None
    if not isinstance(regime, str):
        raise TypeError(f"regime must be a str or None, got {type(regime).__name__}: {regime!r}")
    row = _REGIME_INDEX.get(regime)
    if row is None:
        near = difflib.get_close_matches(regime, REGIMES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"unknown regime {regime!r}{hint} Valid regimes: {', '.join(REGIMES)}")
    return row


def _scores_list(scores: Mapping[str, float] | Sequence[float] | np.ndarray) -> list[float]:
    """Scores as 4 floats in :data:`COMPONENTS` order; missing components are NaN (scalar code: once a trade)."""
    if type(scores) is Record:  # a trade's record from the env: its four components, in order, as finite floats
        out = list(scores.values())
        if len(out) == _N_COMP:
            x0, x1, x2, x3 = out
            # x - x == 0.0 is False for NaN and +-inf; type(x) is float excludes None, ints and numpy scalars
            if (
                type(x0) is type(x1) is type(x2) is type(x3) is float
                and x0 - x0 == 0.0
                and x1 - x1 == 0.0
                and x2 - x2 == 0.0
                and x3 - x3 == 0.0
                and tuple(scores) == COMPONENTS
            ):
                return out
    if type(scores) is Record or isinstance(scores, Mapping):  # anything else: the general path below
        out = [math.nan] * _N_COMP
        for name, value in scores.items():
            i = _COMPONENT_INDEX.get(name)
            if i is None:
                near = difflib.get_close_matches(str(name), COMPONENTS, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"unknown component {name!r}{hint} Valid components: {', '.join(COMPONENTS)}")
            if value is None:
                continue
            x = float(value)
            if not math.isfinite(x):
                raise ValueError(f"component score {name}={value!r} is not finite; drop the key to skip it")
            out[i] = x
        return out
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (_N_COMP,):
        raise ValueError(f"scores have shape {arr.shape}; expected ({_N_COMP},) in order {COMPONENTS}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"scores {arr.tolist()} have non-finite values; pass a mapping without them to skip")
    return arr.tolist()


@dataclass(frozen=True)
class BanditSnapshot:
    """A copy of a :class:`ComponentBandit`'s learned state (see :meth:`ComponentBandit.snapshot`)."""

    alpha: tuple[tuple[float, ...], ...]
    """6 rows of 4: ``alpha_``."""
    beta: tuple[tuple[float, ...], ...]
    """6 rows of 4: ``beta_``."""
    n_trades: tuple[int, ...]
    """6 counts: ``n_trades_``."""
    cache: dict[int, tuple[np.ndarray, list[float]]]
    """Weights already computed per row (entries are never modified)."""


class ComponentBandit:
    """Discounted Beta-Bernoulli posteriors of the four signal components, and weights from them.

    Every closed trade scores every component (full information): component ``i`` is a success when
    ``sign(score_i at entry) == sign(net_return)``; scores with ``|score| < min_abs_score`` give no evidence
    and a trade with ``net_return == 0`` is skipped. Before new evidence is added, each affected posterior
    decays toward the prior, ``alpha <- prior_a + gamma * (alpha - prior_a)`` (same for beta), for all four
    components, so the effective memory is about ``1 / (1 - gamma)`` trades (33 for the default 0.97;
    ``gamma=1`` is plain counting).

    Posteriors are kept for the pool of all trades and for each regime in :data:`envs.layout.REGIMES` (a trade
    updates the pool and the row of its entry regime). :meth:`weights` uses the regime's row when
    ``per_regime`` is on and that regime has seen at least one trade, and the pool otherwise.

    Weights are ``P(component i has the highest success rate)`` under the posterior, the quantity Thompson
    sampling allocates by, computed by deterministic quadrature (:func:`prob_best`; equal posteriors give
    exactly 0.25 each), mixed with uniform, ``(1 - shrink) * p_best + shrink / 4``, then projected onto
    ``floor <= w <= cap``, ``sum(w) = 1``. They are a function of the posteriors alone: no random draws, no
    seed; the same history of updates gives the same weights. They are computed once per posterior row and
    kept until that row is updated.

    Paper: Thompson (1933); Russo et al. (2018), https://arxiv.org/abs/1707.02038.

    Args:
        gamma: Discount per trade, in (0, 1].
        prior: ``(alpha, beta)`` of the Beta prior, both > 0 (the weights are most accurate for values >= 1/2).
        min_abs_score: Scores with ``|score|`` below this give no evidence (>= 0).
        shrink: Weight of the uniform mixture, in [0, 1].
        floor: Lowest weight, in [0, 1/4].
        cap: Highest weight, in [1/4, 1] and >= floor.
        per_regime: Use the regime's posterior in :meth:`weights` when a regime is given and has data.
        seed: Deprecated and ignored (the weights were Monte-Carlo estimates before JSON version 2); a
            ``FutureWarning`` asks to drop it.

    Attributes:
        alpha_: Read-only array ``(6, 4)``: rows are the regimes in ``REGIMES`` order, then the pool (row 5).
        beta_: Read-only array ``(6, 4)``, same layout.
        n_trades_: Read-only array ``(6,)`` of trades that gave evidence, per row.

    Example:
        >>> bandit = ComponentBandit()
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
        shrink: float = 0.1,
        floor: float = 0.05,
        cap: float = 0.7,
        per_regime: bool = False,
        seed: int | None = None,
    ) -> None:
        self.gamma = gamma
        self.prior = prior
        self.min_abs_score = min_abs_score
        self.shrink = shrink
        self.floor = floor
        self.cap = cap
        self.per_regime = per_regime
        if seed is not None:
            warnings.warn(
                f"ComponentBandit(seed={seed!r}) is ignored: the weights are a deterministic quadrature and need "
                "no random numbers; drop the argument",
                FutureWarning,
                stacklevel=2,
            )
        self._validate_params()

    # ------------------------------------------------------------------ parameters and state
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as plain JSON types."""
        return {
            "gamma": float(self.gamma),
            "prior": [float(self.prior[0]), float(self.prior[1])],
            "min_abs_score": float(self.min_abs_score),
            "shrink": float(self.shrink),
            "floor": float(self.floor),
            "cap": float(self.cap),
            "per_regime": bool(self.per_regime),
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
        if not 0.0 <= number("shrink", self.shrink) <= 1.0:
            raise ValueError(f"shrink={self.shrink!r} must be in [0, 1], e.g. 0.1")
        if not 0.0 <= number("floor", self.floor) <= 1.0 / _N_COMP:
            raise ValueError(f"floor={self.floor!r} must be in [0, {1.0 / _N_COMP}] so 4 weights can sum to 1")
        if not max(1.0 / _N_COMP, self.floor) <= number("cap", self.cap) <= 1.0:
            raise ValueError(f"cap={self.cap!r} must be in [max(0.25, floor), 1] so 4 weights can sum to 1")
        if not isinstance(self.per_regime, bool | np.bool_):
            raise TypeError(f"per_regime must be a bool, got {type(self.per_regime).__name__}")

    def _ensure_state(self) -> None:
        """Create the learned state on first use (the posteriors start at the prior)."""
        if hasattr(self, "_a"):
            return
        # plain-Python rows: rows of 4 are updated once per closed trade, where numpy's per-call cost dominates
        self._a = [[float(self.prior[0])] * _N_COMP for _ in range(_POOLED + 1)]
        self._b = [[float(self.prior[1])] * _N_COMP for _ in range(_POOLED + 1)]
        self._n = [0] * (_POOLED + 1)
        self._cache: dict[int, tuple[np.ndarray, list[float]]] = {}

    @staticmethod
    def _frozen(rows: list[Any], dtype: type) -> np.ndarray:
        out: np.ndarray = np.array(rows, dtype=dtype)
        out.flags.writeable = False
        return out

    @property
    def alpha_(self) -> np.ndarray:
        self._ensure_state()
        return self._frozen(self._a, np.float64)

    @property
    def beta_(self) -> np.ndarray:
        self._ensure_state()
        return self._frozen(self._b, np.float64)

    @property
    def n_trades_(self) -> np.ndarray:
        self._ensure_state()
        return self._frozen(self._n, np.int64)

    def snapshot(self) -> BanditSnapshot:
        """A copy of the learned state, for :meth:`restore` (the wrapper's per-episode starting state)."""
        self._ensure_state()
        a, b = tuple(map(tuple, self._a)), tuple(map(tuple, self._b))
        return BanditSnapshot(a, b, tuple(self._n), dict(self._cache))

    def restore(self, snapshot: BanditSnapshot) -> ComponentBandit:
        """Put the learned state back to ``snapshot``; returns self."""
        if not isinstance(snapshot, BanditSnapshot):
            raise TypeError(f"snapshot must be a BanditSnapshot, got {type(snapshot).__name__}")
        self._ensure_state()
        self._a, self._b = list(map(list, snapshot.alpha)), list(map(list, snapshot.beta))
        self._n, self._cache = list(snapshot.n_trades), dict(snapshot.cache)
        return self

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
        x0, x1, x2, x3 = _scores_list(scores)
        r = float(net_return)
        if not math.isfinite(r):
            raise ValueError(f"net_return={net_return!r} is not finite")
        row = _REGIME_INDEX.get(regime) if type(regime) is str else None
        if row is None and regime is not None:
            row = _regime_row(regime)  # raises for an unknown name or a wrong type
        # scalar code, written out for the 4 components: this runs once per closed trade inside the env stack.
        # A score is used when it is not NaN (x == x) and |x| >= min_abs_score; a used score is a success when
        # its sign matches the return's, else a failure.
        lo, up = self.min_abs_score, r > 0.0
        u0, u1, u2, u3 = (
            x0 == x0 and abs(x0) >= lo,
            x1 == x1 and abs(x1) >= lo,
            x2 == x2 and abs(x2) >= lo,
            x3 == x3 and abs(x3) >= lo,
        )
        if r == 0.0 or not (u0 or u1 or u2 or u3):
            logger.debug("trade skipped: net_return=%r, scores=%s", r, [x0, x1, x2, x3])
            return self
        h0, h1, h2, h3 = (x0 > 0.0) == up, (x1 > 0.0) == up, (x2 > 0.0) == up, (x3 > 0.0) == up
        s0, s1, s2, s3 = (
            (1.0 if u0 and h0 else 0.0),
            (1.0 if u1 and h1 else 0.0),
            (1.0 if u2 and h2 else 0.0),
            (1.0 if u3 and h3 else 0.0),
        )
        f0 = 1.0 if u0 and not h0 else 0.0
        f1 = 1.0 if u1 and not h1 else 0.0
        f2 = 1.0 if u2 and not h2 else 0.0
        f3 = 1.0 if u3 and not h3 else 0.0
        pa, pb, g = float(self.prior[0]), float(self.prior[1]), self.gamma
        alpha, beta, cache = self._a, self._b, self._cache
        for k in (_POOLED,) if row is None else (_POOLED, row):  # prior + gamma * (posterior - prior) + evidence
            a0, a1, a2, a3 = alpha[k]
            b0, b1, b2, b3 = beta[k]
            alpha[k] = [
                pa + g * (a0 - pa) + s0,
                pa + g * (a1 - pa) + s1,
                pa + g * (a2 - pa) + s2,
                pa + g * (a3 - pa) + s3,
            ]
            beta[k] = [
                pb + g * (b0 - pb) + f0,
                pb + g * (b1 - pb) + f1,
                pb + g * (b2 - pb) + f2,
                pb + g * (b3 - pb) + f3,
            ]
            self._n[k] += 1
            cache.pop(k, None)
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
        """Row of the posterior :meth:`weights` uses for ``regime`` (runs every env step)."""
        try:
            n = self._n
        except AttributeError:
            self._ensure_state()
            n = self._n
        if regime is None:
            return _POOLED
        row = _REGIME_INDEX.get(regime) if type(regime) is str else None
        if row is None:
            row = _regime_row(regime)  # raises for an unknown name or a wrong type
            assert row is not None  # regime is not None here
        return row if self.per_regime and n[row] > 0 else _POOLED

    def _weights_entry(self, regime: str | None) -> tuple[np.ndarray, list[float]]:
        """Cached weights of the row :meth:`weights` uses, as a read-only array and a list (do not modify).

        Runs every env step: the row's entry is kept until the row is updated, and a row's weights are also
        looked up in :data:`_weights_memo` (keyed by the hyper-parameters and the row) before they are computed.
        """
        row = self._row_for(regime)
        entry = self._cache.get(row)
        if entry is None:
            a, b = self._a[row], self._b[row]
            key = (self.shrink, self.floor, self.cap, *a, *b)
            entry = _weights_memo.get(key)
            if entry is None:
                p = prob_best_list(a, b)
                if max(p) == min(p):
                    w_list = [1.0 / _N_COMP] * _N_COMP
                else:
                    shrink = self.shrink
                    w_list = project_list([(1.0 - shrink) * x + shrink / _N_COMP for x in p], self.floor, self.cap)
                w = np.array(w_list)
                w.flags.writeable = False
                entry = (w, w_list)
                if len(_weights_memo) >= _WEIGHTS_MEMO_SIZE:
                    _weights_memo.clear()
                _weights_memo[key] = entry
            self._cache[row] = entry
        return entry

    def weights(self, regime: str | None = None) -> np.ndarray:
        """Component weights, shape ``(4,)`` in :data:`COMPONENTS` order, in ``[floor, cap]``, summing to 1.

        Args:
            regime: Current regime name; used only when ``per_regime`` is on and the regime has data.
        """
        return self._weights_entry(regime)[0].copy()

    def mean_success(self, regime: str | None = None) -> np.ndarray:
        """Posterior mean success rate ``alpha / (alpha + beta)`` per component, shape ``(4,)``."""
        row = self._row_for(regime)
        a, b = np.array(self._a[row]), np.array(self._b[row])
        return a / (a + b)

    def regime_stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """Which component has worked in which regime (plus ``"pooled"``).

        Returns:
            ``{regime: {component: {"alpha", "beta", "mean", "n_effective"}}}``, where ``n_effective`` is the
            discounted number of trades behind the posterior, ``alpha + beta - sum(prior)``.
        """
        self._ensure_state()
        out: dict[str, dict[str, dict[str, float]]] = {}
        for row, name in enumerate((*REGIMES, "pooled")):
            a, b = self._a[row], self._b[row]
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
        """Hyper-parameters and learned state as plain JSON types (format version 2).

        The weights are a function of the posteriors, so a reloaded bandit gives the same weights as the original.
        """
        self._ensure_state()
        return {
            "class": type(self).__name__,
            "version": _JSON_VERSION,
            "params": self.get_params(),
            "alpha": [list(r) for r in self._a],
            "beta": [list(r) for r in self._b],
            "n_trades": list(self._n),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ComponentBandit:
        """Rebuild a bandit written by :meth:`to_json`; its weights equal the original's."""
        if not isinstance(d, Mapping):
            raise TypeError(f"from_json expects a dict, got {type(d).__name__}")
        if d.get("class") == cls.__name__ and d.get("version") == 1:
            raise ValueError(
                f"{cls.__name__} record version 1 (Monte-Carlo weights) is no longer read: its alpha, beta and "
                "n_trades are still valid; drop 'n_draws' and 'seed' from 'params' and 'rng_state' and "
                f"'weights_cache' from the record, and set 'version' to {_JSON_VERSION}"
            )
        if d.get("class") != cls.__name__ or d.get("version") != _JSON_VERSION:
            raise ValueError(
                f"not a {cls.__name__} v{_JSON_VERSION} record: class={d.get('class')!r}, version={d.get('version')!r}"
            )
        params = dict(d["params"])
        params["prior"] = tuple(params["prior"])
        obj = cls(**params)
        obj._ensure_state()
        ab = np.array([d["alpha"], d["beta"]], dtype=np.float64)
        n = np.asarray(d["n_trades"], dtype=np.int64)
        rows = _POOLED + 1
        if ab.shape != (2, rows, _N_COMP) or n.shape != (rows,):
            raise ValueError(f"alpha/beta must have shape ({rows}, {_N_COMP}) and n_trades ({rows},) in the record")
        obj._a, obj._b, obj._n = ab[0].tolist(), ab[1].tolist(), n.tolist()
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
