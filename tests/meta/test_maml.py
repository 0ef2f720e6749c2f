"""MAML, first- and second-order, and Reptile: exact checks on tiny networks, and meta-training runs (issue 12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from meta.config import MetaConfig
from meta.maml import evaluate_adaptation, inner_adapt, maml_outer_grad, meta_train, pg_loss, reptile_update
from meta.policy import detach, init_params, value
from meta.tasks import TaskDistribution, TradeBatch
from meta.toy import TargetDistribution, TargetTask

torch.set_num_threads(1)


def tiny_params(seed=0):
    """A float64 network 3 -> 4 -> 2 with every parameter random (no zero biases, no tiny output gain)."""
    gen = torch.Generator().manual_seed(seed)
    base = init_params(seed, obs_dim=3, act_dim=2, net_arch=(4,), dtype=torch.float64)
    return {k: 0.6 * torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in base.items()}


def tiny_batch(seed, k=6):
    rng = np.random.default_rng(seed)
    return TradeBatch(
        obs=rng.normal(size=(k, 3)),
        actions=rng.normal(size=(k, 2)),
        rewards=rng.normal(size=k),
        net_returns=np.zeros(k),
        traded=np.ones(k, dtype=bool),
    )


def value_loss(p, b):
    """REINFORCE with the batch-mean baseline plus a critic error: a loss of every parameter, with no stop-gradient
    (a detached critic baseline is a constant to autograd but not to finite differences)."""
    critic = (value(p, b.obs) - torch.as_tensor(b.rewards)) ** 2
    return pg_loss(p, b, baseline="mean", normalize=True) + 0.5 * critic.mean()


def meta_objective(params, support, query, lr, steps):
    return float(value_loss(inner_adapt(params, support, lr, steps, order=1, loss_fn=value_loss), query))


def test_second_order_meta_gradient_matches_finite_differences():
    params, support, query, lr, steps = tiny_params(), tiny_batch(1), tiny_batch(2), 0.3, 2
    grad2, loss = maml_outer_grad(
        params, [support], [query], inner_lr=lr, inner_steps=steps, order=2, loss_fn=value_loss
    )
    grad1, _ = maml_outer_grad(params, [support], [query], inner_lr=lr, inner_steps=steps, order=1, loss_fn=value_loss)
    assert loss == pytest.approx(meta_objective(params, support, query, lr, steps), abs=1e-12)
    eps, worst_fo = 1e-6, 0.0
    for key, tensor in params.items():
        fd = torch.zeros_like(tensor)
        for i in range(tensor.numel()):
            up, down = detach(params), detach(params)
            up[key].view(-1)[i] += eps
            down[key].view(-1)[i] -= eps
            fd.view(-1)[i] = (
                meta_objective(up, support, query, lr, steps) - meta_objective(down, support, query, lr, steps)
            ) / (2 * eps)
        torch.testing.assert_close(grad2[key], fd, rtol=1e-5, atol=1e-7, msg=f"second-order gradient of {key}")
        worst_fo = max(worst_fo, float((grad1[key] - fd).abs().max()))
    assert worst_fo > 1e-3  # the check can tell: first-order MAML drops terms of this size


def test_first_order_meta_gradient_is_the_query_gradient_at_the_adapted_parameters():
    params, lr, steps = tiny_params(3), 0.2, 3
    supports, queries = [tiny_batch(4), tiny_batch(5)], [tiny_batch(6), tiny_batch(7)]
    grad1, _ = maml_outer_grad(params, supports, queries, inner_lr=lr, inner_steps=steps, order=1, loss_fn=value_loss)
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    for s, q in zip(supports, queries, strict=True):
        adapted = {
            k: v.detach().requires_grad_(True) for k, v in inner_adapt(params, s, lr, steps, 1, value_loss).items()
        }
        grads = torch.autograd.grad(value_loss(adapted, q), list(adapted.values()))
        for k, g in zip(adapted, grads, strict=True):
            expected[k] += g / len(supports)
    for k in params:
        torch.testing.assert_close(grad1[k], expected[k], rtol=1e-12, atol=1e-14)


def test_first_and_second_order_adapt_to_the_same_values():
    params, support = tiny_params(8), tiny_batch(9)
    a1 = inner_adapt(params, support, 0.1, 2, order=1, loss_fn=value_loss)
    a2 = inner_adapt(params, support, 0.1, 2, order=2, loss_fn=value_loss)
    for k in params:
        torch.testing.assert_close(a1[k].detach(), a2[k].detach(), rtol=0, atol=1e-14)
    assert all(torch.equal(inner_adapt(params, support, 0.1, 0)[k], params[k]) for k in params)


def test_reptile_update_is_the_interpolation_toward_the_adapted_parameters():
    theta = tiny_params(10)
    adapted = [tiny_params(11), tiny_params(12), tiny_params(13)]
    step = 0.25
    new = reptile_update(theta, adapted, step)
    for k, v in theta.items():
        mean = (adapted[0][k] + adapted[1][k] + adapted[2][k]) / 3
        torch.testing.assert_close(new[k], v + step * (mean - v), rtol=0, atol=1e-15)
    unchanged = reptile_update(theta, adapted, 0.0)
    assert all(torch.equal(unchanged[k], theta[k]) for k in theta)
    with pytest.raises(ValueError, match="at least one task"):
        reptile_update(theta, [], 0.1)


def test_inner_loop_lowers_the_exact_loss_of_a_known_optimum_task():
    task, params = TargetTask((0.8, -0.6, 0.4, 0.2)), init_params(0, dtype=torch.float64)
    obs = task.observations(128, seed=0)

    def exact(p, batch):
        return task.expected_loss(p, batch.obs)

    batch = task.collect(params, 128, seed=0)
    losses, point = [float(exact(params, batch))], params
    for _ in range(5):
        point = inner_adapt(point, batch, 0.05, 1, loss_fn=exact)
        losses.append(float(exact(point, batch)))
    assert np.all(np.diff(losses) < 0), losses
    # the policy-gradient loss on sampled trades lowers the exact expected loss too
    adapted = inner_adapt(params, batch, 0.05, 3, loss_fn=pg_loss)
    before, after = float(task.expected_loss(params, obs)), float(task.expected_loss(adapted, obs))
    assert after < before - 0.2, (before, after)


TOY = MetaConfig(iterations=30, meta_batch=4, k_support=32, k_query=32, inner_lr=0.1, outer_lr=0.02, reptile_step=0.3)


@pytest.mark.parametrize("algorithm", ["maml", "reptile"])
def test_meta_training_on_a_toy_family_beats_the_initialisation_after_adaptation(algorithm):
    dist, cfg = TargetDistribution(), MetaConfig(**{**TOY.__dict__, "algorithm": algorithm})
    result = meta_train(dist, cfg, seed=0)
    tasks = dist.sample(8, seed=123)  # tasks the training never drew
    before = evaluate_adaptation(init_params(0), tasks, cfg, seed=5)
    after = evaluate_adaptation(result.params, tasks, cfg, seed=5)
    assert after.post_return > before.post_return + 0.5, (before, after)
    assert len(result.history.meta_loss) == cfg.iterations


def test_meta_training_is_deterministic_and_order_two_runs():
    dist = TargetDistribution()
    cfg = MetaConfig(iterations=3, meta_batch=2, k_support=8, k_query=8, order=2, inner_steps=2)
    a, b = meta_train(dist, cfg, seed=4), meta_train(dist, cfg, seed=4)
    assert a.history.meta_loss == b.history.meta_loss and a.history.post_return == b.history.post_return
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert all(len(c.support_loss) == 3 for curves in a.history.curves for c in curves)


def test_tiny_meta_training_on_regime_tasks_logs_a_finite_history():
    logged: list[tuple[str, float, int]] = []
    cfg = MetaConfig(iterations=3, meta_batch=2, k_support=5, k_query=5)
    result = meta_train(TaskDistribution(n_bars=300), cfg, seed=0, log=lambda *row: logged.append(row))
    h = result.history
    assert len(h.meta_loss) == len(h.pre_return) == len(h.post_return) == len(h.curves) == 3
    assert all(math.isfinite(x) for x in [*h.meta_loss, *h.pre_return, *h.post_return])
    assert all(len(curves) == 2 and curves[0].task.startswith("regime(") for curves in h.curves)
    assert {tag for tag, _, _ in logged} >= {"meta/loss", "meta/post_return", "adapt/support_loss_step0"}
    assert [v for tag, v, _ in logged if tag == "meta/loss"] == h.meta_loss
    assert all(torch.isfinite(v).all() for v in result.params.values())


def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match="order=3"):
        MetaConfig(order=3)
    with pytest.raises(ValueError, match="baseline='median'"):
        MetaConfig(baseline="median")
    with pytest.raises(ValueError, match="k_support=0"):
        MetaConfig(k_support=0)
    with pytest.raises(ValueError, match="order=0"):
        inner_adapt(tiny_params(), tiny_batch(0), 0.1, 1, order=0)
