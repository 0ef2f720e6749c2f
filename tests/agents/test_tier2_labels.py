"""Tier 2 labels mean what their names say (issue 7, part 4): real S&P 500 years and synthetic theme cases.

Each detector is fitted walk-forward on the 750 bars before the year it labels (as :func:`agents.stack.fit_detector`
does), so no test looks at a bar the detector was fitted on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.tier2 import RegimeDetector, RegimeRules, price_momentum, regime_name, trend_and_drawdown
from envs.data import load
from envs.features import component_scores, compute_features
from envs.layout import REGIMES
from envs.synthetic import SyntheticMarket

FIT_BARS = 750


@pytest.fixture(scope="module")
def sp500():
    data = load("sp500")
    theme = np.nan_to_num(compute_features(data).components[:, 0], nan=0.0)
    return data, theme


def _labels(sp500, year: int) -> pd.Series:
    """Filtered argmax labels of ``year`` from a detector fitted on the 750 bars before it."""
    data, theme = sp500
    start = data.bar_at(f"{year}-01-01")
    stop = int(data.index.searchsorted(pd.Timestamp(f"{year + 1}-01-01")))
    det = RegimeDetector(n_restarts=3).fit(data.close[start - FIT_BARS : start])
    probs = det.regime_probs(data.close[:stop], None, theme[:stop])[start:]
    return pd.Series(np.array(REGIMES)[probs.argmax(axis=1)], index=data.index[start:stop])


@pytest.fixture(scope="module")
def labels_2008(sp500) -> pd.Series:
    return _labels(sp500, 2008)


@pytest.fixture(scope="module")
def labels_2017(sp500) -> pd.Series:
    return _labels(sp500, 2017)


# ------------------------------------------------------------------------------------------ defect 1: stress
def test_falling_market_under_stress_is_defensive_or_crisis_not_choppy(labels_2008):
    """Aug 2008 (18% below its high, stress state certain) was choppy on every day; Aug-Nov 2008 must not be."""
    fall = labels_2008.loc["2008-08":"2008-11"]
    assert fall.isin(["bear_defensive", "crisis"]).mean() >= 0.9
    for month in ("2008-08", "2008-09", "2008-10", "2008-11"):
        assert (labels_2008.loc[month] == "choppy").mean() < 0.5, month
    assert (labels_2008.loc["2008-10"] == "crisis").mean() >= 0.9  # vol 0.8 and a 30%+ drawdown: cash only


# ------------------------------------------------------------------------------------------ defect 2: theme
def test_strong_up_year_is_bull_momentum_not_theme_driven(labels_2017):
    """2017 was theme_driven on 243 of 251 days with no bull_momentum day."""
    shares = labels_2017.value_counts(normalize=True)
    assert shares.get("bull_momentum", 0.0) >= 0.5
    assert shares.get("theme_driven", 0.0) < 0.2
    assert shares.get("crisis", 0.0) == 0.0


def test_falling_market_is_not_theme_driven(labels_2008):
    """March 2008 (down-trend, 120-bar momentum strongly negative) was theme_driven."""
    march = labels_2008.loc["2008-03"]
    assert (march == "theme_driven").mean() < 0.2
    assert (march == "bear_defensive").mean() >= 0.5


def test_theme_equal_to_price_momentum_never_leads():
    """The default theme component is price momentum: it restates the trend, so it never reads theme_driven."""
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(3).normal(0.002, 0.006, 600)))  # strong up-trend
    theme = np.nan_to_num(component_scores(close)[:, 0], nan=0.0)
    np.testing.assert_allclose(price_momentum(close, 120)[200:], theme[200:], atol=1e-12)
    det = RegimeDetector(n_restarts=1).fit(close[:300])
    probs = det.regime_probs(close, theme=theme)[300:]
    assert probs[:, REGIMES.index("theme_driven")].max() < 0.05
    assert (probs.argmax(axis=1) == REGIMES.index("bull_momentum")).mean() >= 0.8


def test_theme_leading_a_flat_or_opposite_price_is_theme_driven():
    rules = RegimeRules()
    calm = np.array([[1.0, 0.0, 0.0]])
    flat, dd0 = np.array([0.0]), np.array([0.0])
    lead = rules.apply(calm, flat, dd0, theme=np.array([0.9]), momentum=np.array([0.0]))
    assert regime_name(lead[0]) == "theme_driven"
    against = rules.apply(calm, np.array([-2.0]), dd0, theme=np.array([0.9]), momentum=np.array([-0.6]))
    assert regime_name(against[0]) == "theme_driven"  # the theme points up while the price still falls
    same = rules.apply(calm, np.array([3.0]), dd0, theme=np.array([0.9]), momentum=np.array([0.9]))
    assert regime_name(same[0]) == "bull_momentum"  # theme == momentum: the trend, not a theme
    down = rules.apply(calm, np.array([-3.0]), dd0, theme=np.array([-0.9]), momentum=np.array([-0.9]))
    assert regime_name(down[0]) == "bear_defensive"


def test_theme_lead_on_a_detector_with_a_flat_price():
    """A user theme of 0.9 while the price only oscillates (calm, no trend): the theme leads."""
    train = np.asarray(SyntheticMarket.three_regime().generate(1000, seed=9).data.close)
    det = RegimeDetector(n_restarts=3, random_state=0).fit(train)
    rng = np.random.default_rng(1)
    x = np.zeros(400)
    for t in range(1, 400):  # mean-reverting log price: no trend, no drawdown, calm
        x[t] = 0.9 * x[t - 1] + rng.normal(0.0, 0.004)
    close = np.concatenate([train, train[-1] * np.exp(x)])
    theme = np.where(np.arange(len(close)) >= 1000, 0.9, 0.0)
    labels = det.regime_probs(close, theme=theme)[1150:].argmax(axis=1)
    assert (labels == REGIMES.index("theme_driven")).mean() >= 0.9
    restated = det.regime_probs(close, theme=price_momentum(close, 120))[1150:].argmax(axis=1)
    assert (restated == REGIMES.index("theme_driven")).mean() == 0.0


# ------------------------------------------------------------------------------------------ defect 3: thresholds
def test_crisis_vol_gate_comes_from_training_bars_only(sp500):
    """The default gate is the 99th percentile of the 20-bar vol of the bars before 2007, not of a test year."""
    data, _ = sp500
    cut = data.bar_at("2007-01-01")
    q99 = RegimeRules.calibrate_crisis_vol(data.close[:cut])
    assert abs(RegimeRules().crisis_vol - q99) <= 0.02, q99
    other = data.close.copy()
    other[cut:] *= np.exp(np.random.default_rng(0).normal(0.0, 0.05, len(other) - cut).cumsum())  # later bars
    assert RegimeRules.calibrate_crisis_vol(other[:cut]) == q99
    with pytest.raises(ValueError, match="training bars"):
        RegimeRules.calibrate_crisis_vol(data.close[:10])


# ------------------------------------------------------------------------------------------ persistence
def test_labels_switch_at_most_twelve_times_in_a_year(labels_2008, labels_2017):
    for labels in (labels_2008, labels_2017):
        values = labels.to_numpy()
        assert (values[1:] != values[:-1]).sum() <= 12


def test_persistence_filter_is_causal_and_reduces_switches():
    rng = np.random.default_rng(7)
    p = np.tile([0.9, 0.1, 0.0], (400, 1))
    z, dd = rng.normal(0.0, 1.5, 400), np.zeros(400)
    fast = RegimeRules(persistence_halflife=0.0).apply(p, z, dd)
    slow = RegimeRules().apply(p, z, dd)
    switches = [int((x.argmax(1)[1:] != x.argmax(1)[:-1]).sum()) for x in (fast, slow)]
    assert switches[1] < switches[0] / 2, switches
    np.testing.assert_allclose(slow.sum(axis=1), 1.0, atol=1e-12)
    for t in (0, 1, 50, 399):  # prefix invariance of the filtered rule output
        np.testing.assert_array_equal(RegimeRules().apply(p[: t + 1], z[: t + 1], dd[: t + 1])[-1], slow[t])
    with pytest.raises(ValueError, match="persistence_halflife"):
        RegimeRules(persistence_halflife=-1.0)


def test_crisis_is_not_delayed_by_the_persistence_filter():
    p = np.tile([1.0, 0.0, 0.0], (60, 1))
    p[30:] = [0.0, 0.0, 1.0]
    vol = np.where(np.arange(60) >= 30, 0.8, 0.1)
    out = RegimeRules().apply(p, np.zeros(60), np.zeros(60), vol=vol)
    assert regime_name(out[30]) == "crisis"  # on the first stressed bar


def test_momentum_rule_input_is_prefix_invariant():
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(5).normal(0.0005, 0.01, 400)))
    full = price_momentum(close, 120)
    for t in (0, 119, 120, 121, 250, 399):
        np.testing.assert_allclose(price_momentum(close[: t + 1], 120)[-1], full[t], rtol=0, atol=1e-12)
    z, _, _ = trend_and_drawdown(close, 63, 20, 252)
    assert np.all(np.isfinite(full)) and np.all(np.isfinite(z))
