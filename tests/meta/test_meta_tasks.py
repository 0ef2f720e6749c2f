"""Regime tasks: held-out bands, seeded sampling, K-trade batches, the oracle, and real-data segments (issue 12)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.config import StackConfig, TierConfig
from agents.stack import fit_detector
from meta.policy import init_params
from meta.segments import SegmentTask, causal_regime_probs, regime_segments, segments_from_probs
from meta.tasks import Band, RegimeParams, RegimeTask, Task, TaskDistribution, TaskRanges, oracle, oracle_grid

torch.set_num_threads(1)


def test_held_out_tasks_lie_in_their_bands_and_training_tasks_never_do():
    bands = (Band("drift", 0.0005, 0.001), Band("vol", 0.03, 0.04))  # the vol band lies beyond the range
    dist = TaskDistribution(ranges=TaskRanges(vol=(0.005, 0.03)), held_out=bands)
    train = dist.sample_params(300, seed=0)
    held = dist.sample_params(300, seed=0, split="held_out")
    assert not any(dist.is_held_out(p) for p in train)
    assert all(dist.is_held_out(p) for p in held)
    in_drift = [p for p in held if bands[0].contains(p)]
    in_vol = [p for p in held if bands[1].contains(p)]
    assert in_drift and in_vol  # both bands are used
    train_drift = np.array([p.drift for p in train])
    assert not np.any((train_drift >= 0.0005) & (train_drift <= 0.001))
    assert max(p.vol for p in train) <= 0.03 < min(p.vol for p in in_vol)
    lo, hi = dist.ranges.drift  # the other parameters of a held-out task come from their full ranges
    assert all(lo <= p.drift <= hi for p in in_vol)


def test_same_seed_gives_the_same_tasks_and_markets():
    dist = TaskDistribution(n_bars=200)
    a, b, c = dist.sample(4, seed=7), dist.sample(4, seed=7), dist.sample(4, seed=8)
    assert a == b and a != c
    assert isinstance(a[0], Task)
    np.testing.assert_array_equal(a[0].market_data().close, b[0].market_data().close)


def test_bands_and_ranges_reject_bad_values_with_the_fix():
    with pytest.raises(ValueError, match=r"Band\.param='volatility' is not a regime parameter; valid: drift, vol"):
        Band("volatility", 0.0, 1.0)
    with pytest.raises(ValueError, match="lo must be < hi"):
        Band("vol", 0.02, 0.01)
    with pytest.raises(ValueError, match=r"tail=0\.5"):
        RegimeParams(drift=0.0, vol=0.01, tail=0.5)
    dist = TaskDistribution(ranges=TaskRanges(vol=(0.01, 0.02)), held_out=(Band("vol", 0.0, 1.0),), max_tries=5)
    with pytest.raises(ValueError, match="no draw outside the held-out bands in 5 tries"):
        dist.sample(1, seed=0)


def test_k_trades_are_k_decisions_of_the_policy_seeded():
    task = RegimeTask(RegimeParams(drift=0.001, vol=0.01), seed=3, n_bars=200)
    params = init_params(0)
    batch = task.collect(params, 12, seed=1)
    assert batch.k == 12 and batch.obs.shape == (12, 27) and batch.actions.shape == (12, 4)
    assert 0 < batch.n_trades <= 12
    assert np.all(batch.net_returns[~batch.traded] == 0.0)
    again, other = task.collect(params, 12, seed=1), task.collect(params, 12, seed=2)
    np.testing.assert_array_equal(batch.actions, again.actions)
    np.testing.assert_array_equal(batch.rewards, again.rewards)
    assert not np.array_equal(batch.actions, other.actions)
    head = batch.head(5)
    assert head.k == 5 and np.array_equal(head.rewards, batch.rewards[:5])
    # the log-return reward of a trade is 100 x its log growth, less penalties (never more)
    assert np.all(batch.rewards <= 100 * np.log1p(batch.net_returns) + 1e-9)
    # more decisions than one episode holds: the collection resets and goes on
    short = dataclasses.replace(task, stack=dataclasses.replace(task.stack, episode_bars=5))
    assert short.collect(params, 40, seed=0).k == 40


def test_oracle_is_the_best_grid_action_and_differs_between_opposite_regimes():
    up = oracle(RegimeTask(RegimeParams(drift=0.003, vol=0.008), seed=1, n_bars=300))
    down = oracle(RegimeTask(RegimeParams(drift=-0.003, vol=0.008), seed=1, n_bars=300))
    for result in (up, down):
        assert len(result.table) == len(oracle_grid()) == 55
        assert all(result.mean_return >= score for _, score in result.table)
        assert dict(result.table)[result.action] == result.mean_return
    assert up.params.size == pytest.approx(0.2) and up.mean_return > 0.005
    assert down.params.size == 0.0 and down.mean_return == 0.0  # flat beats every long bracket in a falling market
    assert up.action != down.action
    task = RegimeTask(RegimeParams(drift=0.003, vol=0.008), seed=1, n_bars=300)
    assert oracle(task) is up  # cached per task


@pytest.fixture(scope="module")
def labelled(synthetic_sample):
    data = synthetic_sample.data
    cfg = StackConfig(
        data="synthetic",
        train=(str(data.index[700].date()), str(data.index[1400].date())),
        tiers=TierConfig(tier1=False, tier2=True, tier2_restarts=1, tier2_fit_bars=500),
    )
    return cfg, data, fit_detector(cfg, data, "train")


def test_segment_labels_are_causal_prefix_invariant_and_never_smoothed(labelled, monkeypatch):
    from hmmlearn import hmm

    def forbidden(*args, **kwargs):
        raise AssertionError("smoothed HMM posteriors must never label a segment")

    for name in ("predict", "predict_proba", "score_samples", "decode"):
        monkeypatch.setattr(hmm.GaussianHMM, name, forbidden)
    cfg, data, det = labelled
    full = causal_regime_probs(data, det)
    labels = np.argmax(full, axis=1)
    segments = regime_segments(cfg, data, det, min_bars=5)
    for t in (760, 1000, 1250):
        cut = data.slice(0, t + 1)
        probs = causal_regime_probs(cut, det)
        np.testing.assert_allclose(probs, full[: t + 1], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(np.argmax(probs, axis=1), labels[: t + 1])
        closed = lambda segs, t=t: [s for r in segs.values() for s in r if s.stop <= t]  # noqa: E731
        assert closed(regime_segments(cfg, cut, det, min_bars=5)) == closed(segments)
    flat = [s for r in segments.values() for s in r]
    assert flat and all(700 <= s.start < s.stop <= 1400 and s.bars >= 5 for s in flat)
    for s in flat:
        assert np.all(labels[s.start : s.stop] == labels[s.start])


def test_segments_are_maximal_runs_of_one_label():
    eye = np.eye(5)
    probs = eye[[0, 0, 0, 2, 2, 1, 1, 1, 1, 0]]
    segs = segments_from_probs(probs, 1, 10, min_bars=2)
    assert [(s.regime, s.start, s.stop) for s in segs] == [
        ("bull_momentum", 1, 3),
        ("choppy", 3, 5),
        ("bear_defensive", 5, 9),
    ]
    with pytest.raises(ValueError, match="min_bars=0"):
        segments_from_probs(probs, 0, 10, min_bars=0)


def test_a_segment_task_trades_only_its_bars(labelled):
    cfg, data, det = labelled
    segment = max((s for r in regime_segments(cfg, data, det).values() for s in r), key=lambda s: s.bars)
    task = SegmentTask(cfg, data, segment, det)
    env = task.make_env("train")
    assert env.unwrapped.window == (segment.start, segment.stop)
    batch = task.collect(init_params(0), 6, seed=0)
    assert batch.k == 6 and segment.regime in task.name
    p_slot = batch.obs[:, 19:24]  # Tier 2 is on: the observed regime probabilities are the labelling ones
    assert np.all(np.isclose(p_slot.sum(axis=1), 1.0, atol=1e-5))
