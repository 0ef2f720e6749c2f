"""Crisis means cash, including the position already open: it exits at the open after a crisis close."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flat_then
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_env_fill_prices import DATA, check_fills

from envs.layout import REGIMES, ActionMap, TradeParams
from envs.trading_env import Costs, TradingEnv

S, C = 0.001, 0.0005
COSTS = Costs(commission_bps=5.0, slippage_bps=10.0)
E0 = 100_000.0
DECISION = 129
CALM = (0.6, 0.1, 0.1, 0.1, 0.1)
CRISIS = (0.1, 0.1, 0.1, 0.6, 0.1)
# (row, crisis?) by the rule "P(crisis) >= 0.5 and the largest": the flags are worked out here, not by the env
ROWS = [
    (CALM, False),
    (CRISIS, True),
    ((0.125, 0.125, 0.125, 0.5, 0.125), True),  # exactly at the threshold
    ((0.3, 0.1, 0.1, 0.45, 0.05), False),  # largest but below the threshold
    ((0.2, 0.2, 0.2, 0.2, 0.2), False),
]
BARS = [
    (100.0, 100.5, 99.8, 100.0),  # 130: entry bar
    (100.2, 101.0, 99.9, 100.8),  # 131
    (100.8, 101.2, 100.1, 101.0),  # 132: closes in crisis
    (101.5, 102.0, 99.0, 100.0),  # 133: out at this open
    (100.0, 100.5, 99.5, 100.0),  # 134
]


def _act(size: float, hold: int, stop: float = 0.10, target: float = 0.20) -> np.ndarray:
    return ActionMap().encode(TradeParams(size, hold, stop, target))


def _path(n: int, crisis_bars: range) -> np.ndarray:
    probs = np.tile(CALM, (n, 1))
    probs[list(crisis_bars)] = CRISIS
    return probs


def _env(crisis_bars: range) -> TradingEnv:
    data = flat_then(BARS + [(100.0, 100.5, 99.5, 100.0)] * 5)
    env = TradingEnv(data, window=(DECISION, None), costs=COSTS)
    env.set_regime_path(_path(len(data), crisis_bars))
    env.reset(seed=0)
    return env


def _round_trip(size: float, entry_open: float, exit_level: float) -> float:
    entry = entry_open * (1 + S)
    shares = size * E0 / entry
    return E0 - size * E0 * (1 + C) + shares * exit_level * (1 - S) * (1 - C)


def test_open_trade_exits_at_the_next_open_after_a_crisis_close():
    env = _env(range(132, 134))
    _, _, term, trunc, info = env.step(_act(0.2, 10))
    t = info["trade"]
    assert (t["decision_bar"], t["entry_bar"], t["exit_bar"], t["exit_reason"]) == (129, 130, 133, "crisis")
    assert t["exit_price"] == pytest.approx(101.5 * (1 - S), rel=1e-12)  # the open of 133, less slippage
    assert info["equity"] == pytest.approx(_round_trip(0.2, 100.0, 101.5), rel=1e-12)
    assert info["bar"] == 133 and info["time"] == t["exit_time"] == env._dates[133] and not term and not trunc
    assert env.equity_curve[133] == info["equity"] == env.risk.equity
    assert t["regime"] == "bull_momentum" and t["regime_probs"]["crisis"] == pytest.approx(0.1)  # at the decision
    check_fills(env, env.data, info)
    # the decision at the close of 133 is still in crisis: cash; at 134 the crisis is over
    _, _, _, _, info = env.step(_act(0.2, 1))
    assert "trade" not in info and info["risk_reasons"] == ("crisis regime: cash only",) and info["bar"] == 134
    _, _, _, _, info = env.step(_act(0.2, 1))
    assert info["trade"]["exit_reason"] == "time"


def test_crisis_exit_record_and_info_look_like_any_other_exit():
    crisis_info = _env(range(132, 134)).step(_act(0.2, 10))[4]
    time_info = _env(range(0)).step(_act(0.2, 3))[4]
    assert time_info["trade"]["exit_reason"] == "time" and time_info["trade"]["exit_bar"] == 132
    assert crisis_info.keys() == time_info.keys()
    assert crisis_info["trade"].keys() == time_info["trade"].keys()
    assert type(crisis_info["trade"]) is type(time_info["trade"])


def test_crisis_at_the_close_of_the_last_bar_of_the_trade_is_a_time_exit():
    _, _, _, _, info = _env(range(132, 134)).step(_act(0.2, 3))  # hold 3: the trade's last bar is 132
    assert (info["trade"]["exit_bar"], info["trade"]["exit_reason"]) == (132, "time")


def test_crisis_on_the_entry_bar_close_exits_at_the_next_open():
    _, _, _, _, info = _env(range(130, 131)).step(_act(0.2, 10))
    assert (info["trade"]["exit_bar"], info["trade"]["exit_reason"]) == (131, "crisis")
    assert info["trade"]["exit_price"] == pytest.approx(100.2 * (1 - S), rel=1e-12)


def test_the_path_sets_the_decision_regime_and_the_observation():
    env = _env(range(129, 131))
    obs, _ = env.reset()
    assert env.regime_probs == CRISIS and obs[22] == np.float32(0.6)
    _, _, _, _, info = env.step(_act(0.2, 5))  # crisis at the decision bar: no trade
    assert "trade" not in info and info["bar"] == 130
    obs, _, _, _, info = env.step(_act(0.2, 5))  # 130 is a crisis close too
    assert "trade" not in info and env.regime_probs == CALM and obs[19] == np.float32(0.6)
    env.set_regime_path(None)  # back to no Tier 2: uniform from the next reset on, and no crisis exits
    env.reset()
    assert env.regime_probs == (0.2,) * 5 and not any(env._crisis)


@pytest.mark.parametrize(
    ("probs", "error", "match"),
    [
        ([[0.2] * 5], TypeError, "numpy array"),
        (np.full((10, 5), 0.2), ValueError, r"shape \(10, 5\); expected \(\d+, 5\)"),
        ("nan", ValueError, r"row 135 \(\d{4}-\d\d-\d\d\).*finite"),
        ("sum", ValueError, r"row 135 .*summing to 1"),
    ],
)
def test_bad_regime_paths_are_rejected(probs, error, match):
    env = _env(range(0))
    if isinstance(probs, str):
        bad = np.tile(CALM, (len(env.data), 1))
        bad[135] = [np.nan, 0.1, 0.1, 0.1, 0.1] if probs == "nan" else [0.6, 0.6, 0.1, 0.1, 0.1]
        probs = bad
    with pytest.raises(error, match=match):
        env.set_regime_path(probs)


SEGMENTS = st.lists(st.tuples(st.integers(0, len(ROWS) - 1), st.integers(1, 12)), min_size=1, max_size=25)
ACTIONS = st.lists(
    st.tuples(st.floats(-0.5, 1.5), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0)),
    min_size=5,
    max_size=40,
)


def _expand(data_len: int, segments: list[tuple[int, int]]) -> tuple[np.ndarray, list[bool]]:
    kinds = [k for k, length in segments for _ in range(length)]
    kinds = (kinds * (data_len // len(kinds) + 1))[:data_len]
    return np.array([ROWS[k][0] for k in kinds]), [ROWS[k][1] for k in kinds]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(DATA) - 1), segments=SEGMENTS, actions=ACTIONS, slippage=st.sampled_from([0.0, 20.0]))
def test_no_position_is_held_over_a_bar_that_follows_a_crisis_close(which, segments, actions, slippage):
    data = DATA[which]
    probs, crisis = _expand(len(data), segments)
    env = TradingEnv(data, window=(120, None), costs=Costs(1.0, slippage))
    env.set_regime_path(probs)
    env.reset(seed=0)
    for a in actions * 3:
        if env.bar >= env._end:
            break
        decision = env.bar
        *_, term, _, info = env.step(np.asarray(a, dtype=np.float32))
        if "trade" not in info:
            assert info["bar"] == decision + 1
            continue
        t = info["trade"]
        assert not crisis[t["decision_bar"]], "a trade opened at a crisis close"
        for b in range(t["entry_bar"], t["exit_bar"]):  # the position was open at the close of b
            if crisis[b]:
                assert t["exit_bar"] == b + 1 and t["exit_reason"] == "crisis"
        if t["exit_reason"] == "crisis":
            assert t["exit_bar"] > t["entry_bar"] and crisis[t["exit_bar"] - 1]
            assert t["exit_price"] / (1 - env.costs.slippage) == pytest.approx(data.open[t["exit_bar"]], rel=1e-12)
        check_fills(env, data, info)
        if term:
            break


def test_the_property_test_exercises_crisis_exits():
    """Guard: on these paths a long-holding policy does get crisis exits (the property above is not vacuous)."""
    probs, crisis = _expand(len(DATA[0]), [(0, 9), (1, 3)])
    env = TradingEnv(DATA[0], window=(120, None))
    env.set_regime_path(probs)
    env.reset(seed=0)
    reasons = []
    while env.bar < env._end:
        *_, term, _, info = env.step(np.array([1.0, 1.0, 1.0, 1.0], dtype=np.float32))
        reasons += [info["trade"]["exit_reason"]] if "trade" in info else []
        if term:
            break
    assert reasons.count("crisis") >= 3 and sum(crisis) > 0


def test_regime_wrapper_hands_its_path_to_the_env():
    """RegimeWrapper gives the env its causal probabilities: an open trade exits on the wrapper's crisis."""
    from agents.tier2 import RegimeDetector, RegimeWrapper

    data = flat_then(BARS + [(100.0, 100.5, 99.5, 100.0)] * 5)
    planted = _path(len(data), range(132, 134))

    class Planted(RegimeDetector):
        transmat_ = np.eye(3)  # "fitted"

        def regime_probs(self, close, vix=None, theme=None):  # type: ignore[no-untyped-def]
            return planted.copy()

    env = RegimeWrapper(TradingEnv(data, window=(DECISION, None), costs=COSTS), detector=Planted())
    obs, info = env.reset(seed=0)
    assert info["regime"]["name"] == "bull_momentum"
    obs, _, _, _, info = env.step(_act(0.2, 10))
    assert (info["trade"]["exit_bar"], info["trade"]["exit_reason"]) == (133, "crisis")
    assert info["regime"]["name"] == "crisis" and obs[22] == np.float32(0.6)
    assert REGIMES[3] == "crisis"
