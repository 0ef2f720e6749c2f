"""Numerics of Tier 1's weights: P(component is best) by deterministic quadrature, and the capped-simplex projection.

:func:`prob_best` integrates ``P(i best) = int f_i(x) prod_{j != i} F_j(x) dx`` for independent Beta posteriors
on the arcsine scale ``x = sin^2(theta)`` with panelled Gauss-Legendre quadrature (no random draws, so the
weights are a pure function of the posteriors); :func:`project_capped_simplex` projects onto
``{w : sum(w) = 1, floor <= w_i <= cap}``. Used by :mod:`agents.tier1`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.polynomial import legendre
from scipy.special import betainc


def project_capped_simplex(v: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """Euclidean projection of ``v`` onto ``{w : sum(w) = 1, floor <= w_i <= cap}``.

    The projection is ``w_i = clip(v_i - tau, floor, cap)`` for the shift ``tau`` at which the weights sum to
    1. ``sum(w)`` is piecewise linear and non-increasing in ``tau``, with break points ``v_i - cap`` (weight i
    leaves the cap) and ``v_i - floor`` (it reaches the floor); one sweep over the sorted break points finds
    the segment where the sum crosses 1, and ``tau`` exactly on it. Order is preserved and a point already in
    the set is returned as is.

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
    return np.array(project_list(v.tolist(), floor, cap))


def project_list(vals: list[float], floor: float, cap: float) -> list[float]:
    """:func:`project_capped_simplex` on a list, without argument checks (scalar code: k is 4, once a trade)."""
    if abs(sum(vals) - 1.0) <= 1e-12 and min(vals) >= floor and max(vals) <= cap:
        return list(vals)
    k = len(vals)
    events = sorted([(x - cap, 1) for x in vals] + [(x - floor, -1) for x in vals])
    total, n_free, prev = k * cap, 0, events[0][0]  # sum(w) at tau = prev, and its slope is -n_free
    tau = events[-1][0]  # every weight at the floor, if the sum never crossed 1 before (k * floor == 1)
    for t, change in events:
        at_t = total - n_free * (t - prev)
        if at_t <= 1.0:
            tau = prev + (total - 1.0) / n_free if n_free else prev
            break
        total, prev, n_free = at_t, t, n_free + change
    w = [min(max(x - tau, floor), cap) for x in vals]
    free = [i for i, x in enumerate(w) if floor < x < cap]
    if free:  # absorb the last rounding error in the free weights, which are strictly inside the box
        fix = (1.0 - sum(w)) / len(free)
        for i in free:
            w[i] = min(max(w[i] + fix, floor), cap)
    return w


# ---------------------------------------------------------------------------------------------- P(best)
# P(i best) = int_0^1 f_i(x) prod_{j != i} F_j(x) dx for independent Beta(a_j, b_j) posteriors, computed on the
# arcsine scale x = sin(theta)^2, where every Beta density with a, b >= 1/2 is smooth up to the ends
# (f(x) dx = 2 sin^(2a-1) cos^(2b-1) / B(a, b) dtheta) and every posterior has about the same spread,
# sd(theta) ~ 1 / (2 sqrt(a + b + 1)). The integral runs over the posteriors' means +- _RANGE_SD of those sds,
# split into panels of at most _PANEL_SD sds of the most peaked posterior that can be the max, taken from a fixed
# dyadic partition of [0, pi/2] whose logs are precomputed (at most _MAX_PANELS panels: a wider range takes
# coarser panels). Each panel has _GL_NODES Gauss-Legendre nodes; the CDFs at the nodes are spectral cumulative
# integrals of the same density values, anchored at the range's lower end by one betainc call. No scipy.stats:
# about ten numpy calls in all. Measured worst error against a 256-panel, 16-node reference over posteriors
# after 0 .. 1000 trades with gamma 0.97 and 1 (prior (1, 1)): 1e-6; 1e-5 for Beta(7001, 3001)-like posteriors
# beside one at the prior; 7e-4 for a prior of 0.3 (end singularities below 1/2). The tests check 2e-3 against
# Monte Carlo and exact values.
_GL_NODES = 8
_RANGE_SD = 7.0
_PANEL_SD = 4.0
_MAX_PANELS = 32
_MIN_PANELS, _MAX_LEVEL_PANELS = 4, 4096
_HALF_PI = 0.5 * math.pi


@functools.cache
def _panel_rule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes ``t``, weights ``w`` on [-1, 1], and ``S[n, m] / w[m]`` where ``S[n, m]`` is the
    integral from -1 to ``t[n]`` of the Lagrange basis polynomial of node ``m``."""
    t, w = legendre.leggauss(_GL_NODES)
    inv_vander = np.linalg.inv(legendre.legvander(t, _GL_NODES - 1))
    s = np.stack([legendre.legval(t, legendre.legint(inv_vander[:, m], lbnd=-1)) for m in range(_GL_NODES)], axis=1)
    return t, w, s / w[None, :]


@functools.cache
def _level(n_panels: int) -> tuple[float, np.ndarray]:
    """Panel width and log-density basis ``(4, n_panels * nodes)`` of a partition of [0, pi/2] into ``n_panels``.

    Rows: log sin(theta), log cos(theta), log of the quadrature weight (with the Jacobian's 2), and -1 (for the
    log Beta function), so ``exp(coef @ basis)`` with ``coef = [2a - 1, 2b - 1, 1, log B(a, b)]`` is the
    weighted density at every node.
    """
    t, w, _ = _panel_rule()
    h = _HALF_PI / n_panels
    theta = ((h * np.arange(n_panels))[:, None] + 0.5 * h * (t + 1.0)[None, :]).ravel()
    log_w = np.tile(np.log(0.5 * h * w) + math.log(2.0), n_panels)
    return h, np.stack([np.log(np.sin(theta)), np.log(np.cos(theta)), log_w, -np.ones_like(theta)])


@functools.cache
def _cumulative(n_panels: int) -> np.ndarray:
    """``(m, m)`` matrix, ``m = n_panels * nodes``: weighted densities at the nodes -> integral up to each node."""
    _, _, s_over_w = _panel_rule()
    q = _GL_NODES
    earlier = np.kron(np.triu(np.ones((n_panels, n_panels)), 1), np.ones((q, q)))
    return earlier + np.kron(np.eye(n_panels), s_over_w.T)


@functools.cache
def _others(k: int) -> np.ndarray:
    """``(k, k - 1)`` index array: row i lists every component but i."""
    return np.array([[j for j in range(k) if j != i] for i in range(k)])


def _panels(lo: float, hi: float, finest: float) -> tuple[int, int, int]:
    """Partition level and panel range ``[p0, p1)`` covering ``[lo, hi]`` with panels <= _PANEL_SD * finest."""
    n_panels = _MIN_PANELS
    while n_panels < _MAX_LEVEL_PANELS and _HALF_PI / n_panels > _PANEL_SD * finest:
        n_panels *= 2
    while True:
        h = _HALF_PI / n_panels
        p0, p1 = int(lo / h), min(n_panels, math.ceil(hi / h))
        if p1 - p0 <= _MAX_PANELS or n_panels == _MIN_PANELS:
            return n_panels, p0, p1
        n_panels //= 2  # a very wide range with a very peaked posterior: coarser panels, bounded cost


def prob_best(alpha: Sequence[float] | np.ndarray, beta: Sequence[float] | np.ndarray) -> np.ndarray:
    """Probability that each of ``k`` independent ``Beta(alpha_i, beta_i)`` variables is the largest.

    ``P(i best) = integral over [0, 1] of f_i(x) prod_{j != i} F_j(x) dx``, by composite Gauss-Legendre
    quadrature on the arcsine scale (see the comment above this function for the scheme and its accuracy).
    Deterministic; components with identical posteriors get identical values, so equal posteriors give
    exactly ``1 / k`` each.

    Args:
        alpha: Shape ``(k,)``, all > 0 (best accuracy for values >= 1/2).
        beta: Shape ``(k,)``, all > 0.

    Returns:
        Array of shape ``(k,)``, non-negative, summing to 1.
    """
    a, b = [float(x) for x in alpha], [float(x) for x in beta]
    if len(a) < 2 or len(b) != len(a) or not all(x > 0.0 and math.isfinite(x) for x in a + b):
        raise ValueError(f"alpha={a} and beta={b} must be two sequences of the same length >= 2, all > 0 and finite")
    return np.array(prob_best_list(a, b))


@functools.cache
def _plan(n_panels: int, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-density basis of panels ``[p0, p1)`` of level ``n_panels`` (a view, as sliced before), their cumulative
    matrix, and ``sin^2`` of the range's lower end (where the CDFs are anchored; 0 when ``p0`` is 0)."""
    h, basis = _level(n_panels)
    return basis[:, p0 * _GL_NODES : p1 * _GL_NODES], _cumulative(p1 - p0), math.sin(p0 * h) ** 2


_COARSEST = _HALF_PI / _MIN_PANELS
"""Panel width of the coarsest partition, where :func:`_panels` stops at once unless a posterior is peaked."""


def prob_best_list(a: list[float], b: list[float]) -> list[float]:
    """:func:`prob_best` on lists, without argument checks (runs once per closed trade: few numpy calls).

    The same arithmetic as the scheme above, in as few numpy calls as it takes (each costs several thousand
    machine instructions on these tiny arrays): the results do not depend on how it is written.
    """
    k = len(a)
    pairs = list(zip(a, b, strict=True))
    n_distinct = len(set(pairs))
    if n_distinct == 1:
        return [1.0 / k] * k
    asin, sqrt, lgamma = math.asin, math.sqrt, math.lgamma
    lo = hi = 0.0
    coef: list[float] = []
    spread: list[tuple[float, float]] = []
    for x, y in pairs:
        n = x + y
        m, s = asin(sqrt(x / n)), 0.5 / sqrt(n + 1.0)  # arcsine-scale mean and sd
        low, top = m - _RANGE_SD * s, m + _RANGE_SD * s
        if low > lo:
            lo = low
        if top > hi:
            hi = top
        spread.append((top, s))
        coef += (2.0 * x - 1.0, 2.0 * y - 1.0, 1.0, lgamma(x) + lgamma(y) - lgamma(n))
    finest = min([s for top, s in spread if top > lo])  # the posteriors that can be the max
    hi = min(hi, _HALF_PI)
    if _COARSEST > _PANEL_SD * finest:
        n_panels, p0, p1 = _panels(lo, hi, finest)
    else:  # what _panels returns at the coarsest level (the usual case: posteriors of tens of trades)
        n_panels, p0, p1 = _MIN_PANELS, int(lo / _COARSEST), min(_MIN_PANELS, math.ceil(hi / _COARSEST))
    basis, cumulative, anchor = _plan(n_panels, p0, p1)
    dens = np.fromiter(coef, np.float64, 4 * k).reshape(k, 4) @ basis
    np.exp(dens, out=dens)  # weighted densities at the nodes, (k, m)
    cdf = dens @ cumulative  # (k, m): integral from the range's lower end to each node
    if p0 > 0:
        cdf += betainc(a, b, anchor)[:, None]
    others = np.multiply.reduce(cdf.take(_others(k), axis=0), axis=1)  # (k, m): product of the other CDFs
    p = [0.0 if x < 0.0 else x for x in np.vecdot(dens, others).tolist()]
    if n_distinct < k:  # exchangeable components: give them their mean
        sums: dict[tuple[float, float], list[float]] = {}
        for pair, x in zip(pairs, p, strict=True):
            sums.setdefault(pair, []).append(x)
        p = [sum(sums[pair]) / len(sums[pair]) for pair in pairs]
    total = sum(p)
    return [x / total for x in p]


def _row_plan(a: list[float], b: list[float]) -> tuple[tuple[int, int, int], list[float]] | None:
    """The quadrature plan and density coefficients of one row, as :func:`prob_best_list` computes them (None: every
    pair is equal, ``1 / k`` each)."""
    pairs = list(zip(a, b, strict=True))
    if len(set(pairs)) == 1:
        return None
    asin, sqrt, lgamma = math.asin, math.sqrt, math.lgamma
    lo = hi = 0.0
    coef: list[float] = []
    spread: list[tuple[float, float]] = []
    for x, y in pairs:
        n = x + y
        m, s = asin(sqrt(x / n)), 0.5 / sqrt(n + 1.0)  # arcsine-scale mean and sd
        low, top = m - _RANGE_SD * s, m + _RANGE_SD * s
        if low > lo:
            lo = low
        if top > hi:
            hi = top
        spread.append((top, s))
        coef += (2.0 * x - 1.0, 2.0 * y - 1.0, 1.0, lgamma(x) + lgamma(y) - lgamma(n))
    finest = min([s for top, s in spread if top > lo])  # the posteriors that can be the max
    hi = min(hi, _HALF_PI)
    if _COARSEST > _PANEL_SD * finest:
        plan = _panels(lo, hi, finest)
    else:  # what _panels returns at the coarsest level
        plan = (_MIN_PANELS, int(lo / _COARSEST), min(_MIN_PANELS, math.ceil(hi / _COARSEST)))
    return plan, coef


def _finish(pairs: list[tuple[float, float]], raw: list[float]) -> list[float]:
    """Clip, average exchangeable components and normalise one row of raw ``P(best)`` values (as
    :func:`prob_best_list` does)."""
    p = [0.0 if x < 0.0 else x for x in raw]
    if len(set(pairs)) < len(pairs):  # exchangeable components: give them their mean
        sums: dict[tuple[float, float], list[float]] = {}
        for pair, x in zip(pairs, p, strict=True):
            sums.setdefault(pair, []).append(x)
        p = [sum(sums[pair]) / len(sums[pair]) for pair in pairs]
    total = sum(p)
    return [x / total for x in p]


def prob_best_rows(alpha: list[list[float]], beta: list[list[float]]) -> list[list[float]]:
    """:func:`prob_best_list` of many rows at once (the batched stack's Tier 1): rows that share a quadrature plan
    go through the scheme's numpy calls together. Each row gets exactly the arithmetic of :func:`prob_best_list`
    (stacked matrix products are computed slice by slice, element-wise functions element by element), so the
    results are bit-identical to it, row by row (``tests/agents/test_stack_speed_equivalence.py``)."""
    out: list[list[float]] = [[]] * len(alpha)
    groups: dict[tuple[int, int, int], list[tuple[int, list[float]]]] = {}
    for r, (a, b) in enumerate(zip(alpha, beta, strict=True)):
        planned = _row_plan(a, b)
        if planned is None:
            out[r] = [1.0 / len(a)] * len(a)
        else:
            groups.setdefault(planned[0], []).append((r, planned[1]))
    for (n_panels, p0, p1), members in groups.items():
        basis, cumulative, anchor = _plan(n_panels, p0, p1)
        idx = [r for r, _ in members]
        k = len(alpha[idx[0]])
        dens = np.array([c for _, c in members], np.float64).reshape(len(idx), k, 4) @ basis
        np.exp(dens, out=dens)  # weighted densities at the nodes, (g, k, nodes)
        cdf = dens @ cumulative
        if p0 > 0:
            cdf += betainc([alpha[r] for r in idx], [beta[r] for r in idx], anchor)[:, :, None]
        others = np.multiply.reduce(cdf.take(_others(k), axis=1), axis=2)
        for r, raw in zip(idx, np.vecdot(dens, others).tolist(), strict=True):
            out[r] = _finish(list(zip(alpha[r], beta[r], strict=True)), raw)
    return out
