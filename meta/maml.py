"""MAML (Finn, Abbeel, Levine 2017, https://arxiv.org/abs/1703.03400) and Reptile (Nichol, Achiam, Schulman 2018,
https://arxiv.org/abs/1803.02999) on regime tasks, in plain PyTorch with ``torch.func.functional_call``.

Parameters are a dict of tensors (:mod:`meta.policy`); nothing updates a module's weights in place. The pieces:

* :func:`pg_loss`, the task loss on a :class:`~meta.tasks.TradeBatch` of K decisions ("trades", see
  :mod:`meta.tasks`). Each decision is treated as one sample of a contextual bandit: its return ``R_i`` is the
  env's reward of that step (the trade it opened, run to its exit, or a flat bar), not a discounted sum over
  later steps, because a bracket trade's outcome is settled inside the step. REINFORCE with a baseline
  (Williams 1992)::

      L(theta) = -mean_i[(R_i - b_i) log pi_theta(a_i | s_i)]  (+ vf_coef * mean_i (V_theta(s_i) - R_i)^2)

  ``b`` is the batch mean of ``R`` (``baseline="mean"``, default; with K = 1 the advantage is 0, so one trade
  does not move the policy), the critic's ``V(s)`` (``"value"``: detached in the first term, fitted by the second,
  so the critic is meta-learned too and one trade can move the policy) or 0 (``"none"``). With ``normalize``
  the advantages are divided by their standard deviation over the batch (K >= 2), which makes the step size of the
  inner loop independent of the return scale of the regime (a 3%-vol regime pays ten times a 0.3% one).
  The batch mean and the normalisation are constants of the batch, so with ``"mean"`` and ``"none"`` the
  second-order meta-gradient is the exact derivative of the meta-objective (checked against finite differences
  in the tests). The detached critic of ``"value"`` is a constant to autograd but not to the objective's value:
  there the second-order terms hold the advantages fixed, as MAML-RL does with its fitted baseline.
* :func:`inner_adapt`, the inner loop (paper, Algorithm 3 line 7, ``theta' = theta - alpha grad L_support``): a
  few plain gradient steps on the support trades. ``order=2`` keeps the graph of each step (``create_graph=True``)
  so the meta-gradient flows through the Hessian-vector products; ``order=1`` (default, first-order MAML, paper
  section 5.2) treats each inner gradient as a constant, so ``d theta' / d theta`` is the identity and the
  meta-gradient is the query loss gradient at the adapted parameters. The adapted values are the same either way.
* :func:`maml_outer_grad`, the outer loop (Algorithm 3 line 10): the gradient of the mean query loss at the
  adapted parameters with respect to the initialisation. The query trades of each task are collected with the
  adapted policy, as in MAML for RL; the outer step is plain ``torch.optim.Adam``.
* :func:`reptile_update` (Reptile, Algorithm 2): ``theta + epsilon * (mean_i theta'_i - theta)`` with ``theta'_i``
  the support-adapted parameters: no query loss and no outer gradient.
* :func:`meta_train` draws tasks, collects, adapts, steps the initialisation and records a
  :class:`MetaHistory`; :func:`evaluate_adaptation` measures returns before and after adaptation on given tasks.

The support trades are collected with ``theta`` but their sampling distribution is not differentiated (as in the
original MAML-RL; DiCE/ProMP would add that term). The query loss is a surrogate whose *value* is not a
performance measure: read the returns (``pre_return``, ``post_return``) for that.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from meta.config import BASELINES, MetaConfig
from meta.policy import Params, detach, init_params, log_prob, value
from meta.tasks import Task, TradeBatch

logger = logging.getLogger(__name__)

LossFn = Callable[[Mapping[str, torch.Tensor], TradeBatch], torch.Tensor]
"""``loss(params, batch) -> scalar``: the task loss the inner and outer loops minimise."""
LogFn = Callable[[str, float, int], Any]
"""``log(tag, value, step)``, e.g. ``SummaryWriter(...).add_scalar``."""


class TaskSampler(Protocol):
    """A task distribution: :class:`~meta.tasks.TaskDistribution`, or the toy one of :mod:`meta.toy`."""

    def sample(self, n: int, seed: int | np.random.Generator, split: Any = "train") -> Sequence[Task]: ...


# ----------------------------------------------------------------------------------------------------- losses
def pg_loss(
    params: Mapping[str, torch.Tensor],
    batch: TradeBatch,
    *,
    baseline: str = "mean",
    normalize: bool = True,
    vf_coef: float = 0.5,
) -> torch.Tensor:
    """REINFORCE with a baseline on a batch of decisions (see the module docstring); a scalar tensor.

    Args:
        params: Policy parameters.
        batch: K decisions: observations ``(K, obs_dim)``, sampled actions ``(K, act_dim)``, rewards ``(K,)``.
        baseline: ``"mean"``, ``"value"`` (the critic, plus its squared error times ``vf_coef``) or ``"none"``.
        normalize: Divide the advantages by their standard deviation over the batch (when K >= 2).
        vf_coef: Weight of the critic's squared error (``baseline="value"`` only).
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline={baseline!r} is not one of {list(BASELINES)}")
    dtype = params["log_std"].dtype
    returns = torch.as_tensor(batch.rewards, dtype=dtype)
    logp = log_prob(params, batch.obs, batch.actions)
    critic = torch.zeros((), dtype=dtype)
    if baseline == "mean":
        adv = returns - returns.mean()
    elif baseline == "value":
        v = value(params, batch.obs)
        adv = returns - v.detach()
        critic = vf_coef * ((v - returns) ** 2).mean()
    else:
        adv = returns
    if normalize and len(adv) > 1:
        adv = adv / (adv.std(correction=0) + 1e-8)
    return -(adv * logp).mean() + critic


# ----------------------------------------------------------------------------------------- inner and outer loops
def inner_adapt(
    params: Mapping[str, torch.Tensor],
    support: TradeBatch,
    lr: float,
    steps: int = 1,
    order: int = 1,
    loss_fn: LossFn = pg_loss,
) -> Params:
    """``steps`` gradient steps of size ``lr`` on the support loss: ``theta' = theta - lr grad L(theta)``.

    Args:
        params: The initialisation; with ``order=2`` the result is differentiable with respect to it (tensors that
            do not require grad are made leaves that do).
        support: The task's K support decisions.
        lr: Inner step size.
        steps: Inner steps (0 returns ``params``).
        order: 1 (first-order: each step's gradient is a constant) or 2 (through the gradient, ``create_graph``).
        loss_fn: Task loss.

    Returns:
        The adapted parameters (same keys).
    """
    if order not in (1, 2):
        raise ValueError(f"order={order!r} must be 1 (first-order MAML) or 2 (second-order)")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps={steps!r} must be an integer >= 0")
    adapted = dict(params)
    if order == 2:
        adapted = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in adapted.items()}
    for _ in range(int(steps)):
        point = adapted if order == 2 else {k: v.detach().requires_grad_(True) for k, v in adapted.items()}
        loss = loss_fn(point, support)
        grads = torch.autograd.grad(loss, list(point.values()), create_graph=order == 2, allow_unused=True)
        adapted = {k: v if g is None else v - lr * g for (k, v), g in zip(adapted.items(), grads, strict=True)}
    return adapted


def maml_outer_grad(
    params: Mapping[str, torch.Tensor],
    supports: Sequence[TradeBatch],
    queries: Sequence[TradeBatch],
    *,
    inner_lr: float,
    inner_steps: int = 1,
    order: int = 1,
    loss_fn: LossFn = pg_loss,
) -> tuple[Params, float]:
    """The meta-gradient ``d/d theta mean_i L(inner_adapt(theta, support_i), query_i)`` and the meta-loss.

    With ``order=1`` it equals the mean of the query-loss gradients at the adapted parameters; with ``order=2``
    it includes the second-order terms. Parameters the loss does not use get a zero gradient.

    Returns:
        ``(gradient by key, meta-loss value)``.
    """
    if len(supports) != len(queries) or not supports:
        raise ValueError(f"{len(supports)} support and {len(queries)} query batches: need as many, at least one")
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    losses = [
        loss_fn(inner_adapt(leaves, s, inner_lr, inner_steps, order, loss_fn), q)
        for s, q in zip(supports, queries, strict=True)
    ]
    meta_loss = torch.stack(losses).mean()
    grads = torch.autograd.grad(meta_loss, list(leaves.values()), allow_unused=True)
    out = {k: torch.zeros_like(v) if g is None else g for (k, v), g in zip(leaves.items(), grads, strict=True)}
    return out, float(meta_loss.detach())


def reptile_update(
    params: Mapping[str, torch.Tensor], adapted: Sequence[Mapping[str, torch.Tensor]], step: float
) -> Params:
    """Reptile's outer step: ``theta + step * (mean_i theta'_i - theta)`` (detached)."""
    if not adapted:
        raise ValueError("adapted is empty: Reptile needs the adapted parameters of at least one task")
    out = {}
    for k, v in params.items():
        target = torch.stack([a[k].detach() for a in adapted]).mean(dim=0)
        out[k] = v.detach() + step * (target - v.detach())
    return out


# ------------------------------------------------------------------------------------------------- meta-training
def config_loss(config: MetaConfig) -> LossFn:
    """The task loss ``config`` defines (:func:`pg_loss` with its baseline, normalisation and critic weight)."""
    return functools.partial(pg_loss, baseline=config.baseline, normalize=config.normalize, vf_coef=config.vf_coef)


@dataclass(frozen=True)
class TaskCurve:
    """One task's adaptation in one iteration.

    Attributes:
        task: The task's name.
        support_loss: Support loss before each inner step and after the last (``inner_steps + 1`` values).
        pre_return: Mean reward per decision of the support trades (policy before adaptation).
        post_return: Mean reward per decision of the query trades (adapted policy).
        support_trades: Support decisions that opened a trade.
    """

    task: str
    support_loss: tuple[float, ...]
    pre_return: float
    post_return: float
    support_trades: int


@dataclass
class MetaHistory:
    """What :func:`meta_train` records, one entry per iteration.

    Attributes:
        meta_loss: Mean query loss at the adapted parameters (the outer objective's value).
        pre_return: Mean reward per decision before adaptation, over the iteration's tasks.
        post_return: Mean reward per decision after adaptation.
        curves: Per-task :class:`TaskCurve` of each iteration.
    """

    meta_loss: list[float] = field(default_factory=list)
    pre_return: list[float] = field(default_factory=list)
    post_return: list[float] = field(default_factory=list)
    curves: list[list[TaskCurve]] = field(default_factory=list)


@dataclass(frozen=True)
class MetaResult:
    """A meta-trained initialisation (loadable into SB3 PPO with :func:`meta.policy.load_into_sb3`) and its
    history."""

    params: Params
    history: MetaHistory
    config: MetaConfig


def _adapt_and_trace(
    params: Mapping[str, torch.Tensor], support: TradeBatch, cfg: MetaConfig, loss_fn: LossFn
) -> tuple[Params, tuple[float, ...]]:
    """The adapted values (detached) and the support loss at every inner step, one step at a time."""
    point, losses = detach(params), []
    for _ in range(cfg.inner_steps):
        losses.append(float(loss_fn(point, support).detach()))
        point = detach(inner_adapt(point, support, cfg.inner_lr, 1, 1, loss_fn))
    with torch.no_grad():
        losses.append(float(loss_fn(point, support)))
    return point, tuple(losses)


def _task_round(
    theta: Mapping[str, torch.Tensor], task: Task, cfg: MetaConfig, loss_fn: LossFn, rng: np.random.Generator
) -> tuple[TradeBatch, TradeBatch, Params, TaskCurve]:
    """Support trades at ``theta``, adaptation, query trades at the adapted parameters."""
    s_seed, q_seed = (int(x) for x in rng.integers(2**31, size=2))
    support = task.collect(theta, cfg.k_support, s_seed)
    adapted, losses = _adapt_and_trace(theta, support, cfg, loss_fn)
    query = task.collect(adapted, cfg.k_query, q_seed)
    curve = TaskCurve(task.name, losses, float(support.rewards.mean()), float(query.rewards.mean()), support.n_trades)
    return support, query, adapted, curve


def _maml_step(
    theta: Params,
    optimizer: torch.optim.Optimizer,
    supports: Sequence[TradeBatch],
    queries: Sequence[TradeBatch],
    cfg: MetaConfig,
    loss_fn: LossFn,
) -> float:
    """One Adam step of ``theta`` (leaf tensors) on the meta-gradient; returns the meta-loss."""
    grads, meta_loss = maml_outer_grad(
        theta, supports, queries, inner_lr=cfg.inner_lr, inner_steps=cfg.inner_steps, order=cfg.order, loss_fn=loss_fn
    )
    for k, p in theta.items():
        p.grad = grads[k]
    if cfg.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(list(theta.values()), cfg.max_grad_norm)
    optimizer.step()
    return meta_loss


def _reptile_step(
    theta: Params, adapted: Sequence[Params], queries: Sequence[TradeBatch], cfg: MetaConfig, loss_fn: LossFn
) -> float:
    """Move ``theta`` (in place) by :func:`reptile_update`; returns the query loss at the adapted parameters."""
    with torch.no_grad():
        meta_loss = float(np.mean([float(loss_fn(a, q)) for a, q in zip(adapted, queries, strict=True)]))
        new = reptile_update(theta, adapted, cfg.reptile_step)
        for k, p in theta.items():
            p.copy_(new[k])
    return meta_loss


def _log_iteration(log: LogFn | None, history: MetaHistory, it: int) -> None:
    curves = history.curves[-1]
    logger.info(
        "meta iteration %d: loss %.4f, return %.4f -> %.4f",
        it,
        history.meta_loss[-1],
        history.pre_return[-1],
        history.post_return[-1],
    )
    if log is None:
        return
    log("meta/loss", history.meta_loss[-1], it)
    log("meta/pre_return", history.pre_return[-1], it)
    log("meta/post_return", history.post_return[-1], it)
    log("meta/adaptation_gain", history.post_return[-1] - history.pre_return[-1], it)
    for j in range(len(curves[0].support_loss)):
        log(f"adapt/support_loss_step{j}", float(np.mean([c.support_loss[j] for c in curves])), it)
    log("adapt/support_trades", float(np.mean([c.support_trades for c in curves])), it)


def meta_train(
    distribution: TaskSampler,
    config: MetaConfig,
    seed: int,
    log: LogFn | None = None,
    init: Mapping[str, torch.Tensor] | None = None,
) -> MetaResult:
    """Meta-train an initialisation on tasks drawn from ``distribution`` (split ``"train"``).

    Each iteration draws ``meta_batch`` tasks; per task it collects ``k_support`` decisions with the current
    initialisation, adapts (:func:`inner_adapt`), collects ``k_query`` decisions with the adapted policy; then
    MAML takes an Adam step on :func:`maml_outer_grad` and Reptile applies :func:`reptile_update`.

    Args:
        distribution: Where tasks come from (``sample(n, rng, split="train")``).
        config: Settings.
        seed: Seeds the initialisation (unless ``init``), the task draws and every collection: the same seed gives
            the same result.
        log: ``log(tag, value, iteration)`` for TensorBoard (``SummaryWriter.add_scalar``): ``meta/loss``,
            ``meta/pre_return``, ``meta/post_return``, ``meta/adaptation_gain``, ``adapt/support_loss_step<j>``,
            ``adapt/support_trades`` (mean support decisions that traded).
        init: Initial parameters (e.g. :func:`meta.policy.params_from_sb3` of a pretrained PPO); default
            :func:`meta.policy.init_params` ``(seed)``.
    """
    torch.set_num_threads(config.torch_threads)
    rng = np.random.default_rng(seed)
    start = init_params(seed) if init is None else init
    theta = {k: v.detach().clone().requires_grad_(True) for k, v in start.items()}
    optimizer = torch.optim.Adam(list(theta.values()), lr=config.outer_lr)
    loss_fn, history = config_loss(config), MetaHistory()
    for it in range(config.iterations):
        tasks = distribution.sample(config.meta_batch, rng, "train")
        rounds = [_task_round(detach(theta), task, config, loss_fn, rng) for task in tasks]
        supports, queries, adapted, curves = (list(x) for x in zip(*rounds, strict=True))
        if config.algorithm == "maml":
            meta_loss = _maml_step(theta, optimizer, supports, queries, config, loss_fn)
        else:
            meta_loss = _reptile_step(theta, adapted, queries, config, loss_fn)
        history.meta_loss.append(meta_loss)
        history.pre_return.append(float(np.mean([c.pre_return for c in curves])))
        history.post_return.append(float(np.mean([c.post_return for c in curves])))
        history.curves.append(curves)
        _log_iteration(log, history, it)
    return MetaResult(detach(theta), history, config)


# ---------------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class AdaptationResult:
    """Returns before and after adaptation on a set of tasks.

    Attributes:
        pre_return: Mean reward per query decision of the initialisation, over tasks.
        post_return: Mean reward per query decision of the adapted policy (same env starts and noise).
        per_task: ``(task name, pre, post)`` for each task.
    """

    pre_return: float
    post_return: float
    per_task: tuple[tuple[str, float, float], ...]


def evaluate_adaptation(
    params: Mapping[str, torch.Tensor], tasks: Sequence[Task], config: MetaConfig, seed: int
) -> AdaptationResult:
    """Adapt ``params`` to each task on ``k_support`` decisions and compare ``k_query`` decisions before and after.

    The query decisions before and after adaptation use the same seed (same env starts and action noise: common
    random numbers), so their difference is the effect of the adaptation.
    """
    rng = np.random.default_rng(seed)
    loss_fn, rows = config_loss(config), []
    for task in tasks:
        s_seed, q_seed = (int(x) for x in rng.integers(2**31, size=2))
        support = task.collect(params, config.k_support, s_seed)
        adapted, _ = _adapt_and_trace(params, support, config, loss_fn)
        pre = float(task.collect(params, config.k_query, q_seed).rewards.mean())
        post = float(task.collect(adapted, config.k_query, q_seed).rewards.mean())
        rows.append((task.name, pre, post))
    return AdaptationResult(float(np.mean([r[1] for r in rows])), float(np.mean([r[2] for r in rows])), tuple(rows))
