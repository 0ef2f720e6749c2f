""":class:`BanditBatch`: ``n`` copies of one :class:`~agents.tier1.bandit.ComponentBandit`, as arrays.

The batched stack (:mod:`agents.batch`) keeps one bandit per env copy. Here their posteriors are ``(n, 6, 4)``
arrays (rows: the regimes in :data:`~envs.layout.REGIMES` order, then the pool), updated for every copy that closed
a trade in one set of numpy operations, and their weights are computed for every copy whose observed row changed
in one call of :func:`~agents.tier1.quadrature.prob_best_rows`. Each operation is the bandit's own scalar formula
applied element by element in the same order, so every posterior and weight equals, bit for bit, what ``n``
separate ``ComponentBandit`` objects hold after the same trades (``tests/agents/test_tier1_batch.py``).
"""

from __future__ import annotations

import numpy as np

from agents.tier1.bandit import ComponentBandit
from agents.tier1.quadrature import prob_best_rows, project_list
from envs.layout import COMPONENTS, REGIMES

_POOLED = len(REGIMES)
_K = len(COMPONENTS)


class BanditBatch:
    """``n`` bandits with the hyper-parameters and starting state of ``bandit`` (which is not modified).

    Args:
        bandit: The prototype: hyper-parameters and the state every copy starts from (and :meth:`restore` returns
            to).
        n: Copies.
    """

    def __init__(self, bandit: ComponentBandit, n: int) -> None:
        snap = bandit.snapshot()
        self.n = int(n)
        self.gamma, self.per_regime = float(bandit.gamma), bool(bandit.per_regime)
        self.prior = (float(bandit.prior[0]), float(bandit.prior[1]))
        self.min_abs_score, self.shrink = float(bandit.min_abs_score), float(bandit.shrink)
        self.floor, self.cap = float(bandit.floor), float(bandit.cap)
        rows = _POOLED + 1
        self._a0, self._b0 = np.array(snap.alpha, np.float64), np.array(snap.beta, np.float64)
        self._n0 = np.array(snap.n_trades, np.int64)
        self._w0, self._valid0 = np.zeros((rows, _K)), np.zeros(rows, bool)
        for row, (w, _) in snap.cache.items():
            self._w0[row], self._valid0[row] = w, True
        self.alpha = np.tile(self._a0, (self.n, 1, 1))
        """``(n, 6, 4)`` posteriors' alpha (rows as ``ComponentBandit.alpha_``)."""
        self.beta = np.tile(self._b0, (self.n, 1, 1))
        self.n_trades = np.tile(self._n0, (self.n, 1))
        self._w = np.tile(self._w0, (self.n, 1, 1))
        self._valid = np.tile(self._valid0, (self.n, 1))

    def restore(self, i: int) -> None:
        """Put copy ``i`` back to the starting state (a new episode)."""
        self.alpha[i], self.beta[i], self.n_trades[i] = self._a0, self._b0, self._n0
        self._w[i], self._valid[i] = self._w0, self._valid0

    def update(self, idx: np.ndarray, scores: np.ndarray, net_return: np.ndarray, rows: np.ndarray) -> None:
        """``ComponentBandit.update`` of copies ``idx`` (distinct), one closed trade each.

        Args:
            idx: ``(m,)`` copies.
            scores: ``(m, 4)`` component scores at entry (NaN: no evidence).
            net_return: ``(m,)`` net returns.
            rows: ``(m,)`` row of the entry regime, or -1 for none (only the pool learns).
        """
        x = np.asarray(scores, np.float64)
        r = np.asarray(net_return, np.float64)
        used = (x == x) & (np.abs(x) >= self.min_abs_score)
        keep = (r != 0.0) & used.any(axis=1)
        if not keep.all():
            idx, x, r, rows, used = idx[keep], x[keep], r[keep], rows[keep], used[keep]
        if not len(idx):
            return
        hit = (x > 0.0) == (r > 0.0)[:, None]
        success = np.where(used & hit, 1.0, 0.0)
        failure = np.where(used & ~hit, 1.0, 0.0)
        pa, pb, g = self.prior[0], self.prior[1], self.gamma
        for ii, rr, s, f in (
            (idx, np.full(len(idx), _POOLED), success, failure),
            _regime_part(idx, rows, success, failure),
        ):
            if not len(ii):
                continue
            self.alpha[ii, rr] = (
                pa + g * (self.alpha[ii, rr] - pa) + s
            )  # prior + gamma * (posterior - prior) + evidence
            self.beta[ii, rr] = pb + g * (self.beta[ii, rr] - pb) + f
            self.n_trades[ii, rr] += 1
            self._valid[ii, rr] = False

    def rows_for(self, regime_rows: np.ndarray) -> np.ndarray:
        """The posterior row every copy's weights use for its regime row (-1: none): ``ComponentBandit._row_for``."""
        rows = np.asarray(regime_rows, np.int64)
        if not self.per_regime:
            return np.full(self.n, _POOLED)
        safe = np.where(rows >= 0, rows, _POOLED)
        learned = self.n_trades[np.arange(self.n), safe] > 0
        return np.where((rows >= 0) & learned, safe, _POOLED)

    def weights(self, regime_rows: np.ndarray) -> np.ndarray:
        """``(n, 4)`` weights of every copy for its regime row (-1: none), as ``ComponentBandit.weights`` gives them.

        The array is this object's cache: copy what you keep.
        """
        rows = self.rows_for(regime_rows)
        every = np.arange(self.n)
        stale = np.flatnonzero(~self._valid[every, rows])
        if len(stale):
            r = rows[stale]
            probs = prob_best_rows(self.alpha[stale, r].tolist(), self.beta[stale, r].tolist())
            shrink, floor, cap = self.shrink, self.floor, self.cap
            for i, row, p in zip(stale.tolist(), r.tolist(), probs, strict=True):
                if max(p) == min(p):
                    w_list = [1.0 / _K] * _K
                else:
                    w_list = project_list([(1.0 - shrink) * x + shrink / _K for x in p], floor, cap)
                self._w[i, row] = w_list
                self._valid[i, row] = True
        return self._w[every, rows]


def _regime_part(
    idx: np.ndarray, rows: np.ndarray, success: np.ndarray, failure: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    has = rows >= 0
    return idx[has], rows[has], success[has], failure[has]
