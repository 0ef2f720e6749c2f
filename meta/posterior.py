"""Bayesian choice among menu rules (numpy only): a Gaussian posterior on each rule's log growth per bar.

The model: a trade of rule ``r`` spanning ``s`` bars earns log growth ``g ~ N(mu_r * s, sigma2_r * s)`` (a
Brownian account: mean and variance grow with the bars it takes; a flat bar earns 0). The prior on the rule's mean
growth per bar is ``mu_r ~ N(m_r, v_r)``, estimated on the training tasks (:func:`fit_prior`: the mean and the
spread of each rule's score over the training distribution). After trades of summed growth ``G`` and summed bars
``S``, the posterior is Gaussian (conjugate update, :func:`gaussian_posterior`)::

    precision = 1 / v_r + S / sigma2_r
    mean      = (m_r / v_r + G / sigma2_r) / precision

``sigma2_r`` is estimated from the rule's own trades (``sum g^2 / s`` over its trades), shrunk toward the training
tasks' value with ``noise_trades`` pseudo-trades. The choice is the rule of the highest posterior mean, or with
``lcb`` of the highest lower bound ``mean - lcb * sd`` (:meth:`RulePosterior.choose`). The ``leader`` variant has no
prior: the rule of the best running score.

Levers (:func:`fit_prior`): ``temper`` multiplies the prior variances (a weaker prior for tasks outside the training
distribution), ``groups`` pools the prior over rules that differ only in what a held-out band could change (e.g.
the same hold following different components). The updates are causal when the totals are
(:func:`meta.fullinfo.running_totals`: trades closed by the decision bar).

Example:
    >>> prior = fit_prior(train_scores, train_noise)                       # (tasks, rules) each
    >>> post = RulePosterior(prior)
    >>> post.choose(growth_sum, bars, sq_sum, trades)                      # index of the rule
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RulePosterior", "RulePrior", "fit_prior", "gaussian_posterior", "leader"]

VAR_FLOOR = 1e-14
"""Smallest variance used (per bar, squared log growth): a rule that never trades (flat) has a known mean of 0."""


@dataclass(frozen=True)
class RulePrior:
    """Prior of each rule's mean log growth per bar and of its per-bar noise variance.

    Attributes:
        mean: ``(rules,)`` prior means ``m_r``.
        var: ``(rules,)`` prior variances ``v_r``.
        noise_var: ``(rules,)`` per-bar variance ``sigma2_r`` of the rule's growth on the training tasks.
    """

    mean: np.ndarray
    var: np.ndarray
    noise_var: np.ndarray

    def __post_init__(self) -> None:
        shapes = {np.shape(self.mean), np.shape(self.var), np.shape(self.noise_var)}
        if len(shapes) != 1 or np.ndim(self.mean) != 1:
            raise ValueError(f"RulePrior: mean, var and noise_var must be 1-D of one length; got shapes {shapes}")
        if (np.asarray(self.var) < 0).any() or (np.asarray(self.noise_var) < 0).any():
            raise ValueError("RulePrior: var and noise_var must be >= 0")

    def to_json(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k), float).tolist() for k in ("mean", "var", "noise_var")}

    @classmethod
    def from_json(cls, d: dict[str, Sequence[float]]) -> RulePrior:
        return cls(*(np.asarray(d[k], np.float64) for k in ("mean", "var", "noise_var")))


def _pool(x: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``x`` ``(tasks, rules)`` pooled over the tasks and the rules of each group."""
    keys = np.asarray(groups)
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    for key in np.unique(keys):
        cols = keys == key
        vals = x[:, cols].ravel()
        mean[cols], var[cols] = vals.mean(), vals.var(ddof=1) if len(vals) > 1 else 0.0
    return mean, var


def fit_prior(
    scores: np.ndarray, noise: np.ndarray, temper: float = 1.0, groups: Sequence[str] | None = None
) -> RulePrior:
    """The prior of :class:`RulePosterior` from the training tasks.

    Args:
        scores: ``(tasks, rules)`` log growth per bar of each rule on each training task.
        noise: ``(tasks, rules)`` per-bar noise variance of each rule on each task (``sum g^2 / s / trades``).
        temper: Multiplies the prior variances (> 0; above 1: a weaker prior).
        groups: Optional group key per rule: the prior mean and variance are pooled over the rules of a group.

    Returns:
        The prior: per-rule mean and variance of the scores (ddof 1), mean noise variance.
    """
    scores, noise = np.asarray(scores, np.float64), np.asarray(noise, np.float64)
    if scores.ndim != 2 or scores.shape != noise.shape or len(scores) < 2:
        raise ValueError(
            f"scores {scores.shape} and noise {noise.shape} must both be (tasks, rules) with at least 2 tasks"
        )
    if not temper > 0:
        raise ValueError(f"temper={temper!r} must be > 0 (1: the training spread; 4: a prior four times wider)")
    if groups is not None and len(groups) != scores.shape[1]:
        raise ValueError(f"groups has {len(groups)} keys; expected one per rule ({scores.shape[1]})")
    mean, var = (scores.mean(axis=0), scores.var(axis=0, ddof=1)) if groups is None else _pool(scores, groups)
    return RulePrior(mean, var * temper, noise.mean(axis=0))


def gaussian_posterior(
    prior_mean: np.ndarray, prior_var: np.ndarray, growth: np.ndarray, bars: np.ndarray, noise_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of each rule's growth per bar after trades of summed ``growth`` over ``bars``
    (the conjugate update of the module docstring; variances floored at :data:`VAR_FLOOR`)."""
    v0 = np.maximum(np.asarray(prior_var, np.float64), VAR_FLOOR)
    s2 = np.maximum(np.asarray(noise_var, np.float64), VAR_FLOOR)
    precision = 1.0 / v0 + np.asarray(bars, np.float64) / s2
    mean = (np.asarray(prior_mean, np.float64) / v0 + np.asarray(growth, np.float64) / s2) / precision
    return mean, 1.0 / precision


def leader(growth: np.ndarray, bars: np.ndarray, default: int) -> int:
    """The rule of the best running score ``growth / bars`` among those with closed trades (``default`` when none
    has one)."""
    bars = np.asarray(bars)
    if not (bars > 0).any():
        return int(default)
    score = np.where(bars > 0, np.asarray(growth) / np.maximum(bars, 1), -np.inf)
    return int(np.argmax(score))


class RulePosterior:
    """The choice among rules from their causal running totals (module docstring). Stateless between calls: the
    totals carry the evidence, so the backtest and the live brain call it with the same numbers.

    Args:
        prior: From :func:`fit_prior`.
        noise_trades: Pseudo-trades of the prior noise variance in the noise estimate (>= 0).
        lcb: The choice maximises ``mean - lcb * sd`` of the posterior (0: the posterior mean; 1: a one-sd lower
            bound, which prefers a rule whose growth is known, such as flat, until the evidence says otherwise).
    """

    def __init__(self, prior: RulePrior, noise_trades: float = 5.0, lcb: float = 0.0) -> None:
        if not noise_trades >= 0:
            raise ValueError(f"noise_trades={noise_trades!r} must be >= 0 (pseudo-trades of the prior noise)")
        if not lcb >= 0:
            raise ValueError(f"lcb={lcb!r} must be >= 0 (standard deviations below the posterior mean; 0: the mean)")
        self.prior, self.noise_trades, self.lcb = prior, float(noise_trades), float(lcb)

    @property
    def default(self) -> int:
        """The rule of the best prior mean: the choice with no evidence (no adaptation)."""
        return int(np.argmax(self.prior.mean))

    def noise(self, sq: np.ndarray, trades: np.ndarray) -> np.ndarray:
        """Per-bar noise variance: the rules' own ``sq / trades`` shrunk toward the prior's."""
        n0 = self.noise_trades
        return (n0 * self.prior.noise_var + np.asarray(sq, np.float64)) / np.maximum(n0 + np.asarray(trades), 1e-12)

    def posterior(
        self, growth: np.ndarray, bars: np.ndarray, sq: np.ndarray, trades: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and variances of every rule's growth per bar."""
        return gaussian_posterior(self.prior.mean, self.prior.var, growth, bars, self.noise(sq, trades))

    def score(self, growth: np.ndarray, bars: np.ndarray, sq: np.ndarray, trades: np.ndarray) -> np.ndarray:
        """What the choice maximises: ``mean - lcb * sd`` of each rule's posterior."""
        mean, var = self.posterior(growth, bars, sq, trades)
        return mean - self.lcb * np.sqrt(var) if self.lcb else mean

    def choose(self, growth: np.ndarray, bars: np.ndarray, sq: np.ndarray, trades: np.ndarray) -> int:
        """The rule of the highest :meth:`score` (the posterior mean when ``lcb`` is 0)."""
        return int(np.argmax(self.score(growth, bars, sq, trades)))
