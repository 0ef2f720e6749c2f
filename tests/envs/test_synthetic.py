from __future__ import annotations

import numpy as np
import pytest

from envs.synthetic import RegimeSpec, SyntheticMarket, bars_from_closes


def test_same_seed_same_market_and_valid_bars():
    m = SyntheticMarket.three_regime(student_df=4.0)
    a, b, c = m.generate(800, seed=3), m.generate(800, seed=3), m.generate(800, seed=4)
    np.testing.assert_array_equal(a.data.close, b.data.close)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.data.close, c.data.close)
    d = a.data
    assert (d.high >= np.maximum(d.open, d.close)).all() and (d.low <= np.minimum(d.open, d.close)).all()


def test_regime_statistics_match_the_configuration():
    m = SyntheticMarket.three_regime()
    s = m.generate(60_000, seed=0)
    r = np.diff(np.log(s.data.close))
    lab = s.labels[1:]
    for k, spec in enumerate(m.regimes):
        assert r[lab == k].std() == pytest.approx(spec.vol, rel=0.05)
        runs = np.diff(np.flatnonzero(np.diff(s.labels) != 0))
        assert runs.size > 100
    # expected durations: mean run length per regime close to its configured duration
    change = np.flatnonzero(np.diff(s.labels) != 0)
    starts, ends = np.r_[0, change + 1], np.r_[change + 1, len(s.labels)]
    for k, spec in enumerate(m.regimes):
        lengths = (ends - starts)[s.labels[starts] == k]
        assert lengths.mean() == pytest.approx(spec.duration, rel=0.15)


def test_component_signals_have_their_configured_hit_rates():
    spec = RegimeSpec("one", 0.0, 0.01, 1e9, hit_rates=(0.5, 0.6, 0.7, 0.4))
    s = SyntheticMarket((spec,), signal_horizon=3).generate(40_000, seed=1)
    close = s.data.close
    fwd = np.log(close[3:] / close[:-3])
    comps = s.data.components[:-3]
    hit = (np.sign(comps) == np.where(fwd >= 0, 1.0, -1.0)[:, None]).mean(axis=0)
    np.testing.assert_allclose(hit, [0.5, 0.6, 0.7, 0.4], atol=0.01)
    assert (np.abs(s.data.components) <= 1).all() and (np.abs(s.data.components) >= 0.05).all()


def test_bad_specs_and_hand_made_bars():
    with pytest.raises(ValueError, match="vol=0"):
        RegimeSpec("x", 0.0, 0.0, 10)
    with pytest.raises(ValueError, match="student_df"):
        SyntheticMarket.three_regime(student_df=2.0).generate(100)
    d = bars_from_closes([100, 101, 99], open_=[100, 100.5, 100])
    assert d.close.tolist() == [100, 101, 99] and d.open[1] == 100.5 and d.high[1] == pytest.approx(101 * 1.002)
