"""Tier 4's meta-training settings, importable without torch: :class:`MetaConfig`.

The ``meta.maml`` section of a ``tradebrain meta-train`` config is this class (see
:class:`experiments.training.meta.MetaTrainConfig`); :mod:`meta.maml` trains with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

BASELINES: tuple[str, ...] = ("mean", "value", "none")
"""Policy-gradient baselines of :func:`meta.maml.pg_loss`."""


@dataclass(frozen=True)
class MetaConfig:
    """Meta-training settings.

    Attributes:
        algorithm: ``"maml"`` (outer Adam on the meta-gradient) or ``"reptile"`` (interpolation).
        order: 1 (first-order MAML) or 2 (second-order); ignored by Reptile.
        iterations: Outer iterations.
        meta_batch: Tasks per iteration.
        k_support: Support decisions per task (the K of "adapts in K trades").
        k_query: Query decisions per task, collected with the adapted policy.
        inner_lr: Inner step size (a default, to be tuned on the adaptation benchmark).
        inner_steps: Inner gradient steps (Reptile needs several: with one it is joint training on all tasks).
        outer_lr: Adam step size of the outer loop (MAML).
        reptile_step: Interpolation step epsilon of Reptile.
        baseline: Policy-gradient baseline: ``"mean"``, ``"value"`` or ``"none"`` (:func:`meta.maml.pg_loss`).
        normalize: Normalise the advantages per batch.
        vf_coef: Weight of the critic's error (``baseline="value"``).
        max_grad_norm: Clip of the meta-gradient's global norm (None: no clip).
        torch_threads: Torch threads of this process.
    """

    algorithm: Literal["maml", "reptile"] = "maml"
    order: int = 1
    iterations: int = 100
    meta_batch: int = 8
    k_support: int = 10
    k_query: int = 10
    inner_lr: float = 0.05
    inner_steps: int = 1
    outer_lr: float = 1e-3
    reptile_step: float = 0.1
    baseline: str = "mean"
    normalize: bool = True
    vf_coef: float = 0.5
    max_grad_norm: float | None = 1.0
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.algorithm not in ("maml", "reptile"):
            raise ValueError(f"algorithm={self.algorithm!r}; choose 'maml' or 'reptile'")
        if self.order not in (1, 2):
            raise ValueError(f"order={self.order!r} must be 1 or 2")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline={self.baseline!r} is not one of {list(BASELINES)}")
        for name in ("iterations", "meta_batch", "k_support", "k_query", "torch_threads"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"MetaConfig.{name}={v!r} must be an integer >= 1")
        if int(self.inner_steps) != self.inner_steps or self.inner_steps < 0:
            raise ValueError(f"MetaConfig.inner_steps={self.inner_steps!r} must be an integer >= 0")
        for name in ("inner_lr", "outer_lr", "reptile_step"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"MetaConfig.{name}={v!r} must be a finite number >= 0")
