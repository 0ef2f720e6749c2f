"""MAML over the bracket menu with a full-information inner loss (Finn, Abbeel, Levine 2017,
https://arxiv.org/abs/1703.03400).

The policy is a small categorical policy over the menu (:class:`envs.menu.BracketMenu`): the decision bar's ten
features (market features and component scores, :data:`meta.fullinfo.N_FEATURES`), standardised, to 11 logits by
one linear map. Parameters are a dict of tensors; nothing is updated in place.

**The task loss carries information.** Every observed decision bar scores every menu item through its
full-information outcome (:meth:`meta.fullinfo.FullInfoPath.observed`: trades still open at the last observed bar
close there, so nothing after it is used). The utility of item ``k`` at bar ``t`` is its log growth per bar in basis
points, ``u_tk = 1e4 * growth_tk / spans_tk``, and the loss is the negative expected utility of the policy::

    L(theta) = -mean_t sum_k softmax(f_theta(x_t))_k * u_tk

an exact, differentiable function of the parameters (no sampled trades, no REINFORCE noise): K bars observed give
K decisions each scored on all 11 items.

* :func:`adapt`: the inner loop (paper, Algorithm 1 line 6): ``steps`` plain gradient steps of size ``lr`` on the
  support loss; ``order=2`` keeps the graph (``create_graph=True``) for the second-order meta-gradient,
  ``order=1`` (first-order MAML, paper section 5.2) detaches each inner gradient.
* :func:`pretrain`: one policy fitted on every training task's bars (Adam; no inner loop).
* :func:`meta_train`: the outer loop (Algorithm 1 line 8): Adam on the mean query loss at the adapted parameters;
  support windows of K observed bars, query windows of the bars after them; initialised at the pretrained
  parameters.
* :func:`meta_train_sgd`: first-order Meta-SGD (Li et al. 2017, https://arxiv.org/abs/1707.09835): the outer loop
  also learns a step size per parameter entry.
* :func:`greedy_items`: the policy's most likely item at each row (what is scored).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from meta.fullinfo import N_FEATURES

logger = logging.getLogger(__name__)

__all__ = [
    "MenuMamlConfig",
    "Window",
    "adapt",
    "greedy_items",
    "init_params",
    "loss",
    "meta_train",
    "meta_train_sgd",
    "pretrain",
]

Params = dict[str, torch.Tensor]
UTILITY_BP = 1e4
"""Growth per bar is scored in basis points."""


@dataclass(frozen=True)
class MenuMamlConfig:
    """Settings of the menu policy's training and adaptation.

    Attributes:
        inner_lr: Step size of an inner (adaptation / fine-tuning) step.
        inner_steps: Inner steps per adaptation.
        pretrain_steps: Adam steps of :func:`pretrain` (full batch).
        pretrain_lr: Adam step size of pretraining and of learning from scratch.
        scratch_steps: Adam steps of learning from scratch on the observed bars.
        iterations: Outer steps of :func:`meta_train`.
        meta_batch: Support/query pairs per outer step.
        outer_lr: Adam step size of the outer loop.
        l2: Weight of ``0.5 * |theta|^2`` in the training and scratch losses (not in the inner loss).
    """

    inner_lr: float = 0.02
    inner_steps: int = 5
    pretrain_steps: int = 300
    pretrain_lr: float = 0.02
    scratch_steps: int = 100
    iterations: int = 200
    meta_batch: int = 8
    outer_lr: float = 0.005
    l2: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("inner_lr", "pretrain_lr", "outer_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MenuMamlConfig.{name}={getattr(self, name)!r} must be > 0 (e.g. 0.01)")
        for name in ("inner_steps", "pretrain_steps", "scratch_steps", "iterations", "meta_batch"):
            v = getattr(self, name)
            if int(v) != v or v < 0 or (name == "meta_batch" and v < 1):
                raise ValueError(f"MenuMamlConfig.{name}={v!r} must be a non-negative integer (meta_batch >= 1)")
        if self.l2 < 0:
            raise ValueError(f"MenuMamlConfig.l2={self.l2!r} must be >= 0")


@dataclass(frozen=True)
class Window:
    """Decisions of a task with every item's outcome: standardised features ``x`` ``(n, 10)`` and utilities ``u``
    ``(n, 11)`` (bp of log growth per bar), both float32 tensors."""

    x: torch.Tensor
    u: torch.Tensor

    @classmethod
    def of(
        cls, features: np.ndarray, growth: np.ndarray, spans: np.ndarray, scale: tuple[np.ndarray, np.ndarray]
    ) -> Window:
        """From raw features and outcomes; ``scale`` is the ``(mean, std)`` of the training features."""
        mean, std = scale
        x = (np.asarray(features, np.float64) - mean) / std
        u = UTILITY_BP * np.asarray(growth, np.float64) / np.maximum(np.asarray(spans, np.float64), 1.0)
        return cls(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(u, dtype=torch.float32))


def init_params(n_items: int = 11, seed: int | None = None) -> Params:
    """Zeros (the uniform policy) or, with ``seed``, small random weights."""
    w = torch.zeros(N_FEATURES, n_items)
    if seed is not None:
        w = 0.01 * torch.randn(N_FEATURES, n_items, generator=torch.Generator().manual_seed(seed))
    return {"w": w, "b": torch.zeros(n_items)}


def logits(params: Params, x: torch.Tensor) -> torch.Tensor:
    """``(n, items)`` logits of the linear policy."""
    return x @ params["w"] + params["b"]


def loss(params: Params, window: Window, l2: float = 0.0) -> torch.Tensor:
    """Negative expected full-information utility of the policy on ``window`` (module docstring), plus ``l2``."""
    value = -(torch.softmax(logits(params, window.x), dim=-1) * window.u).sum(dim=-1).mean()
    if l2:
        value = value + 0.5 * l2 * sum((p**2).sum() for p in params.values())
    return value


def adapt(params: Params, support: Window, lr: float | Params, steps: int, order: int = 1) -> Params:
    """``steps`` gradient steps on the support loss (the inner loop; ``order`` 1 or 2). ``lr`` is one step size, or
    a step size per parameter entry (a dict shaped as ``params``: Meta-SGD, Li et al. 2017,
    https://arxiv.org/abs/1707.09835)."""
    if order not in (1, 2):
        raise ValueError(f"order={order!r}; choose 1 (first-order MAML) or 2 (second-order)")
    out = {k: v if v.requires_grad else v.detach().clone().requires_grad_(True) for k, v in params.items()}
    for _ in range(steps):
        names = list(out)
        grads = torch.autograd.grad(loss(out, support), [out[n] for n in names], create_graph=order == 2)
        if order == 1:
            grads = tuple(g.detach() for g in grads)
        out = {n: out[n] - (lr[n] if isinstance(lr, dict) else lr) * g for n, g in zip(names, grads, strict=True)}
    return out


def _fit(params: Params, windows: Sequence[Window], steps: int, lr: float, l2: float) -> Params:
    """Adam on the mean loss of ``windows`` from ``params`` (full batch)."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(p.values(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        value = sum(loss(p, w) for w in windows) / len(windows) + 0.5 * l2 * sum((v**2).sum() for v in p.values())
        value.backward()  # type: ignore[union-attr]
        opt.step()
    return {k: v.detach() for k, v in p.items()}


def pretrain(windows: Sequence[Window], config: MenuMamlConfig, seed: int = 0) -> Params:
    """One policy fitted on all training tasks (no inner loop)."""
    if not windows:
        raise ValueError("pretrain needs at least one training window")
    return _fit(init_params(seed=seed), windows, config.pretrain_steps, config.pretrain_lr, config.l2)


def scratch(window: Window, config: MenuMamlConfig, seed: int = 0) -> Params:
    """A policy learnt from the observed bars only, from small random weights."""
    return _fit(init_params(seed=seed), [window], config.scratch_steps, config.pretrain_lr, config.l2)


def meta_train(
    pairs: Sequence[tuple[Window, Window]], init: Params, config: MenuMamlConfig, order: int, seed: int = 0
) -> Params:
    """MAML's outer loop on ``(support, query)`` pairs of the training tasks, from ``init``.

    Args:
        pairs: Support windows (K observed bars, outcomes truncated at their end) and query windows (later bars).
        init: Starting parameters (the pretrained ones).
        config: Step sizes and counts.
        order: 1 (first-order MAML) or 2 (second-order).
        seed: Seed of the pair sampling.
    """
    return _outer(pairs, init, None, config, order, seed)[0]


def meta_train_sgd(
    pairs: Sequence[tuple[Window, Window]], init: Params, config: MenuMamlConfig, seed: int = 0
) -> tuple[Params, Params]:
    """First-order Meta-SGD: the initialisation and a step size per parameter entry (started at
    ``config.inner_lr``, learnt in the outer loop as its log); returns both (pass the second as ``adapt``'s ``lr``)."""
    log_lr = {k: torch.full_like(v, float(np.log(config.inner_lr))) for k, v in init.items()}
    params, log_lr = _outer(pairs, init, log_lr, config, 1, seed)
    return params, {k: torch.exp(v) for k, v in log_lr.items()}


def _outer(
    pairs: Sequence[tuple[Window, Window]], init: Params, log_lr: Params | None, config: MenuMamlConfig, order: int,
    seed: int,
) -> tuple[Params, Params]:  # fmt: skip
    if not pairs:
        raise ValueError("meta_train needs at least one (support, query) pair")
    rng = np.random.default_rng(seed)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in init.items()}
    lrs = {k: v.detach().clone().requires_grad_(True) for k, v in (log_lr or {}).items()}
    opt = torch.optim.Adam([*p.values(), *lrs.values()], lr=config.outer_lr)
    for it in range(config.iterations):
        opt.zero_grad()
        batch = rng.integers(len(pairs), size=config.meta_batch)
        step: float | Params = {k: torch.exp(v) for k, v in lrs.items()} if lrs else config.inner_lr
        losses = [loss(adapt(p, pairs[i][0], step, config.inner_steps, order), pairs[i][1]) for i in batch]
        total = sum(losses, torch.zeros(()))  # summed in order, as the pretraining loss is
        value = total / config.meta_batch + 0.5 * config.l2 * sum(((v**2).sum() for v in p.values()), torch.zeros(()))
        value.backward()
        opt.step()
        if it % 50 == 0:
            logger.debug("meta_train order %d iteration %d: query loss %.4f", order, it, float(value.detach()))
    return {k: v.detach() for k, v in p.items()}, {k: v.detach() for k, v in lrs.items()}


def greedy_items(params: Params, x: torch.Tensor) -> np.ndarray:
    """``(n,)`` int64: the most likely item at each row of standardised features ``x``."""
    with torch.no_grad():
        return logits(params, x).argmax(dim=-1).numpy().astype(np.int64)
