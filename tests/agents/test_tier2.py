"""Tier 2 regime detector and wrapper: causality, filter == online, persistence, alignment, guard, env checks."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hmmlearn import _hmmc
from hmmlearn.hmm import GaussianHMM
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from agents.tier2 import (
    RegimeDetector,
    RegimeRules,
    RegimeWrapper,
    component_stats_by_regime,
    format_component_stats,
    hmm_features,
    regime_confidence,
    regime_name,
)
from envs.layout import OBS_LAYOUT, REGIMES
from envs.synthetic import SyntheticMarket

N_BARS = 2000


@pytest.fixture(scope="module")
def sample():
    return SyntheticMarket.three_regime().generate(N_BARS, seed=9)


@pytest.fixture(scope="module")
def close(sample) -> np.ndarray:
    return np.asarray(sample.data.close)


@pytest.fixture(scope="module")
def vix(close) -> np.ndarray:
    # fear rises when prices fall: log VIX changes = -4 x the log return + noise
    r = np.diff(np.log(close), prepend=np.log(close[0]))
    return 20.0 * np.exp(np.cumsum(-4.0 * r + np.random.default_rng(11).normal(0.0, 0.03, len(close))))


@pytest.fixture(scope="module")
def theme(close) -> np.ndarray:
    return np.tanh(np.sin(np.arange(len(close)) / 40.0) * 2.0)


@pytest.fixture(scope="module")
def det(close) -> RegimeDetector:
    return RegimeDetector(n_restarts=3, random_state=0).fit(close[:1000])


@pytest.fixture(scope="module")
def det_vix(close, vix) -> RegimeDetector:
    return RegimeDetector(n_restarts=2, random_state=1).fit(close[:1000], vix[:1000])


def _fresh(det: RegimeDetector) -> RegimeDetector:
    """An independent copy (fitted state included) of a module-scoped detector."""
    return RegimeDetector.from_json(json.loads(json.dumps(det.to_json())))


# ------------------------------------------------------------------------------------------ contract
def test_use_before_fit_raises_with_the_method_to_call(close):
    with pytest.raises(NotFittedError, match=r"call fit\(close"):
        RegimeDetector().filter(close)
    with pytest.raises(NotFittedError, match="update"):
        RegimeDetector().update(100.0)


def test_bad_inputs_name_the_value_and_fix(det, close, det_vix):
    bad = close.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"`close`\[7\]"):
        det.filter(bad)
    with pytest.raises(ValueError, match="fitted with VIX"):
        det_vix.filter(close)
    with pytest.raises(ValueError, match="n_states"):
        RegimeDetector(n_states=1).fit(close)
    with pytest.raises(ValueError, match="usable bars"):
        RegimeDetector().fit(close[:40])


def test_same_seed_gives_identical_fit(close, det):
    again = RegimeDetector(n_restarts=3, random_state=0).fit(close[:1000])
    for name in ("transmat_", "means_", "covars_", "scaler_mean_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(det, name))


def test_states_ordered_calm_to_stress(det, close, sample):
    var = det.covars_[:, 0, 0]
    assert np.all(np.diff(var) > 0)
    # the stress state is most likely during the true crisis bars (label 2), the calm state during bull (label 0)
    p = det.filter(close)
    assert p[sample.labels == 2, -1].mean() > 0.5
    assert p[sample.labels == 0, 0].mean() > 0.5


def test_probabilities_are_distributions(det_vix, close, vix, theme):
    for p in (det_vix.filter(close, vix), det_vix.regime_probs(close, vix, theme)):
        assert np.all(p >= 0.0) and np.all(p <= 1.0)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    conf = regime_confidence(det_vix.regime_probs(close, vix, theme))
    assert np.all((conf >= 0) & (conf <= 1))


def test_returns_only_detector_filters_on_the_return_alone(close, sample):
    d = RegimeDetector(vol_feature=False, n_restarts=2).fit(close[:1000])
    assert d.means_.shape == (3, 1)
    p = d.filter(close)
    assert np.all(np.isfinite(p[1:])) and p[sample.labels == 2, -1].mean() > 0.5
    d.reset_filter()
    online = [d.update(c) for c in close[:200]]
    np.testing.assert_allclose(online, d.regime_probs(close[:200]), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------ causality
def test_prefix_invariance_of_filter_and_regimes(det_vix, close, vix, theme):
    full_f = det_vix.filter(close, vix)
    full_r = det_vix.regime_probs(close, vix, theme)
    rng = np.random.default_rng(5)
    for t in [0, 5, 19, 20, 21, *rng.integers(22, len(close), 20).tolist()]:
        s = slice(0, t + 1)
        np.testing.assert_allclose(det_vix.filter(close[s], vix[s])[-1], full_f[t], rtol=0, atol=1e-12)
        np.testing.assert_allclose(det_vix.regime_probs(close[s], vix[s], theme[s])[-1], full_r[t], rtol=0, atol=1e-12)


def test_filter_is_forward_recursion_not_smoothed_posterior(det, close):
    x = hmm_features(close)
    valid = np.isfinite(x).all(axis=1)
    z = (x[valid] - det.scaler_mean_) / det.scaler_scale_
    model = GaussianHMM(n_components=det.n_states, covariance_type="full")
    model.startprob_, model.transmat_, model.means_, model.covars_ = (
        det.prior_,
        det.transmat_,
        det.means_,
        det.covars_,
    )
    ours = det.filter(close)
    np.testing.assert_allclose(ours[~valid], np.tile(det.prior_, (int((~valid).sum()), 1)), atol=1e-12)  # prior
    # equals hmmlearn's own forward lattice, normalised per bar (= filtered probabilities)
    _, fwd = _hmmc.forward_log(model.startprob_, model.transmat_, model._compute_log_likelihood(z))
    filtered = np.exp(fwd - np.logaddexp.reduce(fwd, axis=1, keepdims=True))
    np.testing.assert_allclose(ours[valid], filtered, atol=1e-9)
    # ... and differs from the smoothed posterior, which looks at the future
    smoothed = model.predict_proba(z)
    gap = np.abs(smoothed - ours[valid]).max(axis=1)
    assert gap.max() > 0.3
    t = int(np.flatnonzero(valid)[np.argmax(gap)])
    prefix = det.filter(close[: t + 1])[-1]
    np.testing.assert_allclose(prefix, ours[t], atol=1e-12)
    assert np.abs(prefix - smoothed[np.argmax(gap)]).max() > 0.3


# ------------------------------------------------------------------------------------------ online, persistence
def test_online_update_and_step_equal_the_array_filter(det_vix, close, vix, theme):
    d = _fresh(det_vix)
    n = 400
    d.reset_filter()
    online_r, online_f = [], []
    for t in range(n):
        online_r.append(d.update(close[t], vix[t], theme[t]))
        online_f.append(d.filter_probs)
    np.testing.assert_allclose(online_r, d.regime_probs(close[:n], vix[:n], theme[:n]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(online_f, d.filter(close[:n], vix[:n]), rtol=0, atol=1e-12)
    d.reset_filter()
    stepped = [d.step(row) for row in hmm_features(close[:n], vix[:n])]
    np.testing.assert_allclose(stepped, online_f, rtol=0, atol=1e-12)


def test_json_round_trip_is_exact_and_the_online_filter_continues(det, close, theme, tmp_path):
    live = _fresh(det)
    live.reset_filter()
    for t in range(300):
        live.update(close[t], theme_t=theme[t])
    path = live.save(tmp_path / "tier2.json")
    loaded = RegimeDetector.load(path)
    assert loaded.get_params() == live.get_params()
    np.testing.assert_array_equal(loaded.filter(close), live.filter(close))
    np.testing.assert_array_equal(loaded.filter_probs, live.filter_probs)
    for t in range(300, 400):
        np.testing.assert_array_equal(
            loaded.update(close[t], theme_t=theme[t]), live.update(close[t], theme_t=theme[t])
        )
    with pytest.raises(ValueError, match="unknown format"):
        RegimeDetector.from_json({"format": "pickle"})


# ------------------------------------------------------------------------------------------ refits
def test_refit_on_overlapping_windows_keeps_labels(det, close):
    d = _fresh(det)
    before = d.filter(close)
    stress_before = d.means_[-1] * d.scaler_scale_ + d.scaler_mean_
    d.fit(close[500:1500])
    after = d.filter(close)
    stress_after = d.means_[-1] * d.scaler_scale_ + d.scaler_mean_
    assert np.argmax(d.covars_[:, 0, 0]) == d.n_states - 1  # stress is still the last state
    assert abs(stress_after[1] - stress_before[1]) < 0.5  # same high-vol state (log-vol feature units)
    overlap = slice(500, 1000)
    agree = (before[overlap].argmax(axis=1) == after[overlap].argmax(axis=1)).mean()
    assert agree >= 0.9, agree
    regimes_agree = (d.regime_probs(close)[overlap].argmax(1) == det.regime_probs(close)[overlap].argmax(1)).mean()
    assert regimes_agree >= 0.9, regimes_agree


def test_refit_matches_states_to_the_previous_fit_by_hungarian(det, close):
    perm = np.array([2, 0, 1])
    d = _fresh(det)
    d.means_, d.covars_ = det.means_[perm], det.covars_[perm]  # pretend the previous fit had another order
    d.transmat_, d.prior_ = det.transmat_[np.ix_(perm, perm)], det.prior_[perm]
    d.fit(close[:1000])  # same data and seed: EM finds the same states, which must follow the previous order
    np.testing.assert_allclose(d.means_, det.means_[perm], atol=1e-12)
    np.testing.assert_allclose(d.transmat_, det.transmat_[np.ix_(perm, perm)], atol=1e-12)


def test_convergence_guard_keeps_previous_fit_or_raises(det, close):
    d = _fresh(det)
    d.set_params(n_iter=1)  # one EM iteration: no restart can converge
    with pytest.warns(ConvergenceWarning, match="keeping the previous fit"):
        d.fit(close[800:1800])
    np.testing.assert_array_equal(d.means_, det.means_)
    np.testing.assert_array_equal(d.transmat_, det.transmat_)
    with pytest.raises(RuntimeError, match="no previous fit"):
        RegimeDetector(n_iter=1, n_restarts=2).fit(close[:1000])


# ------------------------------------------------------------------------------------------ rules, stats
def test_rules_map_evidence_to_the_named_regimes():
    rules = RegimeRules()
    calm = np.array([[1.0, 0.0, 0.0]])
    z, dd0 = np.array([3.0]), np.array([0.0])
    assert regime_name(rules.apply(calm, z, dd0)[0]) == "bull_momentum"
    assert regime_name(rules.apply(calm, -z, dd0)[0]) == "bear_defensive"
    assert regime_name(rules.apply(np.array([[0.0, 1.0, 0.0]]), np.array([0.0]), dd0)[0]) == "choppy"
    assert rules.apply(np.array([[0.0, 0.0, 1.0]]), z, dd0)[0, REGIMES.index("crisis")] > 0.99
    assert regime_name(rules.apply(calm, z, np.array([0.4]))[0]) == "crisis"  # deep drawdown
    assert regime_name(rules.apply(calm, z, dd0, vix=np.array([60.0]))[0]) == "crisis"
    assert regime_name(rules.apply(calm, z, dd0, theme=np.array([-0.95]))[0]) == "theme_driven"
    assert regime_name(rules.apply(calm, z, dd0, theme=np.array([0.1]))[0]) == "bull_momentum"
    with pytest.raises(ValueError, match="trend_width"):
        RegimeRules(trend_width=0.0)


@settings(max_examples=60, deadline=None)
@given(
    p=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda v: sum(v) > 1e-6),
    z=st.floats(-50, 50),
    dd=st.floats(0.0, 0.99),
    vix=st.floats(5.0, 150.0),
    theme=st.floats(-1.0, 1.0),
)
def test_rules_always_give_a_distribution(p, z, dd, vix, theme):
    probs = np.array([p]) / sum(p)
    for v, th in ((None, None), (np.array([vix]), np.array([theme]))):
        out = RegimeRules().apply(probs, np.array([z]), np.array([dd]), v, th)
        assert out.shape == (1, 5) and np.all(out >= 0) and np.all(out <= 1)
        assert abs(out.sum() - 1.0) < 1e-12


def test_component_stats_by_regime_ranks_components():
    stats = {
        "bull_momentum": {
            "theme": {"alpha": 3, "beta": 5, "mean": 0.375, "n_effective": 8},
            "technical": {"alpha": 9, "beta": 3, "mean": 0.75, "n_effective": 12},
        },
        "crisis": {"sentiment": {"alpha": 6, "beta": 2, "mean": 0.75, "n_effective": 8}},
    }
    table = component_stats_by_regime(stats)
    assert table["bull_momentum"]["best"] == "technical"
    assert table["bull_momentum"]["ranking"] == ["technical", "theme"]
    assert table["bull_momentum"]["components"]["theme"]["edge"] == pytest.approx(-0.125)
    assert "| crisis |" in format_component_stats(table)
    with pytest.raises(ValueError, match="lacks"):
        component_stats_by_regime({"crisis": {"ai": {"alpha": 1.0}}})


def test_module_does_not_import_torch():
    code = "import sys, agents.tier2; sys.exit(int('torch' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------------------------------ wrapper
@pytest.fixture(scope="module")
def env_parts(sample):
    from envs.trading_env import TradingEnv

    window = (1200, N_BARS)
    wrapped = RegimeWrapper(TradingEnv(sample.data, window=window), RegimeDetector(n_restarts=2), fit_bars=750)
    return sample, window, wrapped


def test_wrapper_passes_both_env_checkers(env_parts):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    _, _, env = env_parts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the one notice that the checker runs on a wrapper (which is the point here) is not an env problem
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        gym_check(env, skip_render_check=True)
        sb3_check(env, warn=True)


def test_wrapper_writes_the_slot_info_and_the_env_regime(env_parts):
    _, _, env = env_parts
    obs, info = env.reset(seed=0)
    assert env.observation_space == env.unwrapped.observation_space and obs.shape == (27,)
    sl = OBS_LAYOUT.group_slice("tier2")
    for _ in range(5):
        bar = info["bar"]
        np.testing.assert_allclose(obs[sl], env.probs[bar].astype(np.float32))
        assert abs(float(obs[sl].sum()) - 1.0) < 1e-5
        assert info["regime"]["name"] == REGIMES[int(np.argmax(env.probs[bar]))]
        assert sum(info["regime"]["probs"].values()) == pytest.approx(1.0)
        np.testing.assert_allclose(env.unwrapped.regime_probs, env.probs[bar])
        obs, _, term, trunc, info = env.step(np.array([-1.0, -1.0, 0.0, 0.0], dtype=np.float32))
        if term or trunc:
            break


def test_wrapper_fits_before_the_window_and_is_prefix_invariant(env_parts):
    from envs.trading_env import TradingEnv

    sample, window, env = env_parts
    det = env.detector
    ref = RegimeDetector(n_restarts=2).fit(sample.data.close[window[0] - 750 : window[0]])
    np.testing.assert_array_equal(ref.means_, det.means_)  # fitted on the 750 bars before the window
    theme = np.nan_to_num(env.unwrapped.features.components[:, 0], nan=0.0)
    for t in (window[0], window[0] + 37, N_BARS - 5):
        short = sample.data.slice(0, t + 2)
        env_short = RegimeWrapper(TradingEnv(short, window=(window[0], t + 2)), _fresh(det))
        obs_short, _ = env_short.reset(options={"start": t})
        obs_full, _ = env.reset(options={"start": t})
        np.testing.assert_allclose(obs_short, obs_full, atol=1e-6)
        expected = det.regime_probs(sample.data.close[: t + 1], None, theme[: t + 1])[-1]
        np.testing.assert_allclose(env.probs[t], expected, atol=1e-12)


def test_wrapper_rejects_bad_arguments(env_parts):
    _, _, env = env_parts
    with pytest.raises(ValueError, match="fit_bars"):
        RegimeWrapper(env.env, fit_bars=0)
    with pytest.raises(TypeError, match="RegimeDetector"):
        RegimeWrapper(env.env, detector="hmm")  # type: ignore[arg-type]


def test_stress_state_is_a_crisis_only_with_high_absolute_vol():
    """The HMM's stress state after a calm fit window is an ordinary correction, not cash-only crisis."""
    rules = RegimeRules()
    stress = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out = rules.apply(stress, np.zeros(2), np.zeros(2), vol=np.array([0.15, 0.60]))
    crisis = REGIMES.index("crisis")
    assert out[0, crisis] < 0.05 and out[1, crisis] > 0.95
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
