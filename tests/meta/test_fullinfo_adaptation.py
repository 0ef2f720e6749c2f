"""Tier 4 adaptation on full-information outcomes: causal rule scores, the posterior, the oracle, the benchmark's
summary and the full-information MAML inner step."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from envs.features import LOOKBACK
from envs.market import MarketData
from meta.fullinfo import FullInfoPath, chain_totals, dense_totals, menu_rules, rule_scores, running_totals
from meta.menu_maml import Window, adapt, init_params, loss
from meta.posterior import RulePosterior, RulePrior, fit_prior, gaussian_posterior, leader
from meta.tasks import RegimeParams

RULES = menu_rules()


def _sample(params: RegimeParams, n: int, seed: int) -> MarketData:
    return params.market().generate(LOOKBACK + n, seed=seed).data


@pytest.fixture(scope="module")
def path() -> FullInfoPath:
    return FullInfoPath.of(_sample(RegimeParams(drift=0.0005, vol=0.012, hit_rates=(0.5, 0.62, 0.5, 0.5)), 400, 3))


def test_rule_family_is_the_documented_one() -> None:
    names = [r.name for r in RULES]
    assert len(RULES) == 51 and len(set(names)) == 51
    assert names[0] == "flat" and "follow/technical/h5" in names and "defensive/h20" in names


def test_running_totals_are_prefix_invariant(path: FullInfoPath) -> None:
    """Changing every bar after t leaves each rule's causal totals at t unchanged (and changes them later)."""
    t = 150
    frame = path.env.data.to_frame()
    cut = path.start + t + 1  # bars 0 .. start + t stay
    other = _sample(RegimeParams(drift=-0.003, vol=0.03), len(frame), 99).to_frame()
    tail = other.iloc[cut:].copy()
    scale = frame["close"].iloc[cut - 1] / other["close"].iloc[cut - 1]
    for col in ("open", "high", "low", "close"):
        tail[col] *= scale
    changed = FullInfoPath.of(MarketData.from_frame(pd.concat([frame.iloc[:cut], tail]), name="changed"))
    items, items2 = path.items(RULES), changed.items(RULES)
    np.testing.assert_array_equal(items[:t], items2[:t])
    g1, s1 = running_totals(items, path, 0, t)
    g2, s2 = running_totals(items2, changed, 0, t)
    assert (s1 > 100).sum() > 40  # most rules have closed trades by t
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(g1, g2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(dense_totals(items, path, 0, t)[0], dense_totals(items2, changed, 0, t)[0], atol=1e-15)
    later1, _ = running_totals(items, path, 0, t + 60)
    later2, _ = running_totals(items2, changed, 0, t + 60)
    assert np.abs(later1 - later2).max() > 1e-4  # the test can see a leak: later totals do depend on the tail


def test_observed_outcomes_use_no_bar_after_t(path: FullInfoPath) -> None:
    _, growth, spans = path.observed(10, 60)
    assert (np.arange(10, 60)[:, None] + spans <= 60).all()  # every trade closed by row 60
    closed = np.arange(10, 60)[:, None] + path.spans[10:60] <= 60
    assert closed.any() and (~closed).any()
    np.testing.assert_array_equal(spans[closed], path.spans[10:60][closed])  # a closed trade is the same trade
    np.testing.assert_allclose(growth[closed], path.growth[10:60][closed])
    with pytest.raises(ValueError, match="observed"):
        path.observed(60, 10)


def test_chain_of_a_constant_rule_matches_a_hand_sum(path: FullInfoPath) -> None:
    k = [r.name for r in RULES].index("long/h5/b0")
    items = path.items(RULES)
    g, s, _, _ = chain_totals(items, path, 0, 50)
    t, total, bars = 0, 0.0, 0
    while t < 50:
        total, bars = total + path.growth[t, items[t, k]], bars + path.spans[t, items[t, k]]
        t += path.spans[t, items[t, k]]
    assert g[k] == pytest.approx(total) and s[k] == bars
    assert rule_scores(items, path, 0, 50)[k] == pytest.approx(total / bars)


def test_posterior_is_the_closed_form_gaussian_update() -> None:
    """Against a numerical posterior on a grid (prior x the likelihood of each trade, g ~ N(mu s, sigma2 s))."""
    m, v, sigma2 = 1e-4, 4e-8, 4e-6
    trades = [(0.004, 5), (-0.001, 3), (0.006, 20)]
    mean, var = gaussian_posterior(
        np.array([m]), np.array([v]), np.array([sum(g for g, _ in trades)]), np.array([28]), np.array([sigma2])
    )
    mu = np.linspace(-2e-3, 2e-3, 200_001)
    logp = -0.5 * (mu - m) ** 2 / v
    for g, s in trades:
        logp += -0.5 * (g - mu * s) ** 2 / (sigma2 * s)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    num_mean = (w * mu).sum()
    assert mean[0] == pytest.approx(num_mean, rel=1e-6)
    assert var[0] == pytest.approx((w * (mu - num_mean) ** 2).sum(), rel=1e-4)
    assert m < mean[0] < sum(g for g, _ in trades) / 28  # between the prior and the data


def test_posterior_choice_moves_from_the_prior_to_the_evidence() -> None:
    scores = np.array([[0.0, 2e-4, 1e-4], [0.0, 1e-4, 0.0], [0.0, 3e-4, 1e-4]])
    prior = fit_prior(scores, np.full_like(scores, 1e-6))
    post = RulePosterior(prior)
    zero = np.zeros(3)
    assert post.default == 1 and post.choose(zero, zero, zero, zero) == 1
    # rule 2 earns 5 bp a bar over 400 bars, rule 1 loses 5 bp: the evidence wins
    g, s, n = np.array([0.0, -0.02, 0.02]), np.array([400, 400, 400]), np.array([400, 80, 80])
    assert post.choose(g, s, g**2 / np.maximum(s, 1), n) == 2
    assert fit_prior(scores, scores * 0 + 1e-6, temper=4.0).var == pytest.approx(4 * prior.var)
    assert leader(g, s, default=0) == 2 and leader(zero, zero, default=1) == 1
    with pytest.raises(ValueError, match="temper"):
        fit_prior(scores, scores, temper=0.0)


def test_lower_bound_choice_prefers_the_known_rule_until_the_evidence_is_strong() -> None:
    """Flat (rule 0) has a known growth of 0; rule 1 a prior mean of +1 bp a bar with a wide spread: the mean picks
    rule 1, the one-sd lower bound flat; 2,000 bars at +2 bp a bar convince both."""
    prior = RulePrior(np.array([0.0, 1e-4]), np.array([0.0, 4e-8]), np.array([0.0, 4e-6]))
    by_mean, by_bound = RulePosterior(prior), RulePosterior(prior, lcb=1.0)
    zero = np.zeros(2)
    assert by_mean.choose(zero, zero, zero, zero) == 1 and by_bound.choose(zero, zero, zero, zero) == 0
    g, s, n = np.array([0.0, 0.4]), np.array([2000, 2000]), np.array([2000, 100])
    q = np.array([0.0, 100 * 4e-6 * 20])  # per-bar noise 4e-6 over 100 trades of 20 bars
    assert by_mean.choose(g, s, q, n) == 1 and by_bound.choose(g, s, q, n) == 1
    with pytest.raises(ValueError, match="lcb"):
        RulePosterior(prior, lcb=-1.0)


def test_family_prior_pools_the_group() -> None:
    scores = np.array([[1.0, 3.0, 0.0], [1.0, 3.0, 0.0]]) * 1e-4
    prior = fit_prior(scores, np.ones_like(scores), groups=["a", "a", "b"])
    assert prior.mean[0] == prior.mean[1] == pytest.approx(2e-4) and prior.mean[2] == 0.0


def test_oracle_beats_no_adaptation_on_a_planted_task() -> None:
    """A falling market where the technical score has edge: the oracle's rule (picked on its own path of the true
    parameters) beats always-long, the no-adaptation choice of an up-trend training distribution."""
    params = RegimeParams(drift=-0.0015, vol=0.01, hit_rates=(0.5, 0.64, 0.5, 0.5))
    names = [r.name for r in RULES]
    o_path = FullInfoPath.of(_sample(params, 2000, 1))
    best = int(np.argmax(rule_scores(o_path.items(RULES), o_path, 0, 2000)))
    scored = FullInfoPath.of(_sample(params, 1500, 2))
    s = rule_scores(scored.items(RULES), scored, 0, 1500)
    no_adapt = names.index("long/h20/b0")
    assert s[best] > s[no_adapt] + 1e-4  # at least 1 bp a bar better
    assert names[best] != "long/h20/b0"


def test_benchmark_writes_the_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from experiments.benchmarks import adaptation

    argv = ["--quick", "--seeds", "0", "--tasks", "2", "--train-tasks", "4", "--val-tasks", "2", "--iterations", "2"]
    argv += ["--score-bars", "200", "--oracle-bars", "300", "--train-bars", "300", "--out", str(tmp_path)]
    assert adaptation.main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {"default_method", "gap_closed"}
    assert summary["default_method"] in adaptation.NUMPY_METHODS
    assert set(summary["gap_closed"]) == set(adaptation.METHODS)
    for row in summary["gap_closed"].values():
        assert set(row) == {"1", "3", "5", "10", "30"}
        assert all(len(v) == 3 for v in row.values())
    with pytest.raises(ValueError, match="train_tasks"):
        adaptation.Settings(train_tasks=1)


def test_inner_step_on_the_full_information_loss_lowers_it() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 10, generator=gen)
    u = torch.zeros(100, 11)
    u[:, 3] = 5.0 * torch.sign(x[:, 7])  # item 3 pays when feature 7 is positive
    window = Window(x, u)
    params = init_params(seed=0)
    before = float(loss(params, window))
    after = float(loss(adapt(params, window, lr=0.05, steps=1), window).detach())
    assert after < before - 1e-3
    # second order: the adapted parameters depend on the initialisation through the inner gradient
    p0 = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = loss(adapt(p0, window, lr=0.05, steps=2, order=2), window)
    (grad_w,) = torch.autograd.grad(out, [p0["w"]])
    assert torch.isfinite(grad_w).all() and grad_w.abs().sum() > 0
    with pytest.raises(ValueError, match="order"):
        adapt(params, window, lr=0.05, steps=1, order=3)


def test_meta_sgd_step_sizes_act_per_entry() -> None:
    from meta.menu_maml import MenuMamlConfig, meta_train_sgd

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(60, 10, generator=gen)
    u = torch.zeros(60, 11)
    u[:, 2] = 3.0 * torch.sign(x[:, 6])
    window = Window(x, u)
    params = init_params(seed=1)
    same = {k: torch.full_like(v, 0.05) for k, v in params.items()}
    a, b = adapt(params, window, 0.05, 2), adapt(params, window, same, 2)
    assert all(torch.allclose(a[k], b[k]) for k in a)
    frozen = {k: torch.zeros_like(v) for k, v in params.items()}
    assert all(torch.equal(adapt(params, window, frozen, 2)[k], params[k]) for k in params)
    _, lrs = meta_train_sgd([(window, window)], params, MenuMamlConfig(iterations=5, meta_batch=1))
    assert set(lrs) == set(params) and all((v > 0).all() and v.shape == params[k].shape for k, v in lrs.items())
    assert not torch.allclose(lrs["w"], torch.full_like(lrs["w"], 0.02))  # the step sizes were learnt
