from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs.data import MarketData
from envs.features import LOOKBACK, component_scores, compute_features, market_features, rsi


def test_features_are_prefix_invariant(sp500, rng):
    """A feature at bar t computed on data[:t+1] equals the one computed on the full data."""
    full = compute_features(sp500)
    for t in rng.integers(LOOKBACK, len(sp500), size=25):
        part = compute_features(sp500.slice(0, int(t) + 1))
        np.testing.assert_array_equal(part.market[t], full.market[t])
        np.testing.assert_array_equal(part.components[t], full.components[t])


def test_features_with_vix_are_prefix_invariant(rng):
    from envs.data import load_dataset

    d = load_dataset("sp500", with_vix=True)
    full = component_scores(d.close, d.vix)
    for t in rng.integers(LOOKBACK, len(d), size=10):
        np.testing.assert_array_equal(component_scores(d.close[: t + 1], d.vix[: t + 1])[t], full[t])


def test_future_bars_cannot_change_a_feature(sp500):
    """Changing every bar after t leaves the features at t unchanged."""
    t = 3000
    frame = sp500.to_frame()
    frame.iloc[t + 1 :, :4] *= 1.7
    shocked = compute_features(MarketData.from_frame(frame))
    base = compute_features(sp500)
    np.testing.assert_array_equal(shocked.market[: t + 1], base.market[: t + 1])
    np.testing.assert_array_equal(shocked.components[: t + 1], base.components[: t + 1])
    assert not np.array_equal(shocked.market[t + 1 : t + 30], base.market[t + 1 : t + 30])


def test_market_features_by_hand():
    close = 100 * np.exp(np.cumsum(np.r_[0.0, np.tile([0.01, -0.005], 40)]))
    f = market_features(close)
    t = 60
    assert f[t, 0] == pytest.approx(np.log(close[t] / close[t - 1]))
    assert f[t, 1] == pytest.approx(np.log(close[t] / close[t - 5]))
    assert f[t, 2] == pytest.approx(np.log(close[t] / close[t - 20]))
    r = np.diff(np.log(close))[t - 20 : t]
    assert f[t, 3] == pytest.approx(np.std(r, ddof=1) * np.sqrt(252))
    assert f[t, 5] == pytest.approx(close[t] / close[t - 49 : t + 1].mean() - 1)
    assert np.isnan(f[48, 5]) and np.isfinite(f[49, 5])


def test_rsi_matches_wilder_by_hand():
    close = np.array([10, 11, 10.5, 11.5, 12, 11, 11.5], dtype=float)
    out = rsi(close, period=3)
    # changes: +1, -0.5, +1, +0.5, -1, +0.5; seed avg gain (1+0+1)/3, avg loss 0.5/3
    g, lo = 2 / 3, 0.5 / 3
    assert out[3] == pytest.approx(100 * g / (g + lo))
    g, lo = (g * 2 + 0.5) / 3, (lo * 2 + 0) / 3
    assert out[4] == pytest.approx(100 * g / (g + lo))
    assert np.isnan(out[:3]).all()


def test_default_components_bounded_and_defined_after_lookback(sp500):
    f = compute_features(sp500)
    assert f.first_valid == LOOKBACK - 1
    comps = f.components[f.first_valid :]
    assert np.isfinite(comps).all() and (np.abs(comps) <= 1).all()
    assert np.isfinite(f.market[f.first_valid :]).all()
    assert (comps.std(axis=0) > 0.1).all()  # each score actually varies


def test_user_components_are_used_verbatim(synthetic_sample):
    f = compute_features(synthetic_sample.data)
    np.testing.assert_array_equal(f.components, synthetic_sample.data.components)


def test_flat_prices_give_zero_scores_not_nan():
    n = LOOKBACK + 20
    frame = pd.DataFrame(
        {c: 100.0 for c in ("open", "high", "low", "close")}, index=pd.bdate_range("2000-01-03", periods=n)
    )
    f = compute_features(MarketData.from_frame(frame))
    assert np.all(f.components[LOOKBACK:] == 0.0)
