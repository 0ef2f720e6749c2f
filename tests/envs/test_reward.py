from __future__ import annotations

import numpy as np
import pytest

from envs.reward import DifferentialSharpe, RewardConfig, step_penalty


def _direct_dsr(returns: np.ndarray, eta: float, warmup: int, floor: float) -> np.ndarray:
    """Moody and Saffell (2001), eq. for D_t, recomputed from scratch with explicit moment histories."""
    n = len(returns)
    a, b = np.zeros(n + 1), np.zeros(n + 1)
    for t in range(n):
        a[t + 1] = (1 - eta) * a[t] + eta * returns[t]
        b[t + 1] = (1 - eta) * b[t] + eta * returns[t] ** 2
    d = np.zeros(n)
    for t in range(warmup, n):
        da, db = returns[t] - a[t], returns[t] ** 2 - b[t]
        d[t] = (b[t] * da - 0.5 * a[t] * db) / max(b[t] - a[t] ** 2, floor) ** 1.5
    return d


def test_dsr_equals_direct_recomputation():
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.01, 500)
    cfg = RewardConfig(eta=0.02, warmup_bars=10, var_floor=1e-8)
    dsr = DifferentialSharpe(cfg)
    got = np.array([dsr.update(x) for x in r])
    np.testing.assert_allclose(got, _direct_dsr(r, 0.02, 10, 1e-8), rtol=1e-10, atol=1e-12)
    assert np.all(got[:10] == 0) and np.any(got[10:] != 0)


def test_dsr_known_small_series_by_hand():
    cfg = RewardConfig(eta=0.5, warmup_bars=0, var_floor=1e-12)
    dsr = DifferentialSharpe(cfg)
    assert dsr.update(0.02) == 0.0  # A=B=0: numerator 0
    # now A=0.01, B=0.0002; next R=-0.01: dA=-0.02, dB=0.0001-0.0002=-0.0001
    expected = (0.0002 * -0.02 - 0.5 * 0.01 * -0.0001) / (0.0002 - 0.0001) ** 1.5
    assert dsr.update(-0.01) == pytest.approx(expected)
    assert dsr.A == pytest.approx(0.0) and dsr.B == pytest.approx(0.00015)
    assert dsr.deviation == pytest.approx(np.sqrt(0.00015))


def test_positive_surprise_rewarded_negative_punished():
    dsr = DifferentialSharpe(RewardConfig(warmup_bars=0))
    for x in np.random.default_rng(1).normal(0.0, 0.01, 200):
        dsr.update(x)
    state = (dsr.A, dsr.B, dsr.n)
    up = dsr.update(0.02)
    dsr.A, dsr.B, dsr.n = state
    assert up > 0 > dsr.update(-0.02)


def test_variance_floor_bounds_the_reward_of_a_flat_book():
    dsr = DifferentialSharpe(RewardConfig(warmup_bars=0, var_floor=1e-6))
    for _ in range(100):
        assert dsr.update(0.0) == 0.0
    assert abs(dsr.update(0.001)) < 1e3


def test_penalties():
    cfg = RewardConfig(drawdown_penalty=10.0, clip_penalty=0.5)
    assert step_penalty(cfg, 0.02, 0.05, 0.0, 0.2) == pytest.approx(0.3)
    assert step_penalty(cfg, 0.05, 0.02, 0.1, 0.2) == pytest.approx(0.25)  # recovery is not rewarded, clip is punished


@pytest.mark.parametrize(
    "kwargs", [{"eta": 0.0}, {"eta": 1.0}, {"var_floor": 0.0}, {"clip_penalty": -1.0}, {"bar_cost": -0.01}]
)
def test_bad_config(kwargs):
    with pytest.raises(ValueError, match="RewardConfig"):
        RewardConfig(**kwargs)
