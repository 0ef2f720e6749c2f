"""The live brain's input checks (hypothesis): every number inside ``BOUNDS`` keeps every derived value finite (the
state serialises as strict JSON, the decision's action is finite), and a refused input changes nothing."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.live.brain import LiveBrain
from experiments.live.state import BOUNDS, LiveConflictError, LiveInputError, LiveNotFoundError

P = BOUNDS["price"]
_names = itertools.count()


@pytest.fixture(scope="module")
def brain(tiny_bundle) -> LiveBrain:
    return LiveBrain.from_bundle(tiny_bundle)


def _edge(kind: str) -> st.SearchStrategy[float]:
    b = BOUNDS[kind]
    inner = st.floats(b.low, b.high, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from([b.low, b.high]), inner)


@st.composite
def bar_series(draw, n: int) -> list[dict]:
    """``n`` bars one day apart from a drawn start; prices log-uniform over the whole range with the bounds
    themselves mixed in (jumps of 20 orders of magnitude from one bar to the next), drawn from a seeded generator so
    hypothesis shrinks a handful of numbers, not hundreds."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    edge = draw(st.floats(0.0, 1.0))  # share of prices at a bound
    t0 = pd.Timestamp(draw(st.sampled_from(["0002-01-01", "1990-06-30", "9997-01-01"])))
    logs = rng.uniform(math.log(P.low), math.log(P.high), size=(n, 4))
    at_edge = rng.random((n, 4)) < edge
    prices = np.where(at_edge, np.where(rng.random((n, 4)) < 0.5, P.low, P.high), np.exp(logs))
    prices = np.sort(np.clip(prices, P.low, P.high), axis=1)
    volume = np.where(rng.random(n) < edge, BOUNDS["volume"].high, rng.uniform(0, 1e6, n))
    return [
        {
            "time": (t0 + pd.Timedelta(days=i)).isoformat(),
            "low": float(row[0]),
            "open": float(row[1]),
            "close": float(row[2]),
            "high": float(row[3]),
            "volume": float(volume[i]),
        }
        for i, row in enumerate(prices)
    ]


@settings(max_examples=15, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bars=bar_series(121), equity=_edge("equity"), score=_edge("score"), net=_edge("net_return"), pnl=_edge("pnl"))
def test_numbers_in_range_keep_every_derived_value_finite(brain, bars, equity, score, net, pnl):
    ticker = f"x{next(_names)}"
    for chunk in (bars[:1], bars[1:60], bars[60:120]):  # one bar, then many: 120 in all
        brain.observe_bars(ticker, chunk, {"equity": equity})
        json.dumps(brain.state_dict(), allow_nan=False)  # what the journal writes: strict JSON, no NaN or inf
    assert not brain.tickers[ticker].ready and brain.tickers[ticker].bars_needed == 1
    d = brain.decide(ticker, {"theme": score}, bar=bars[120], portfolio_state={"equity": equity}, mode="policy")
    assert d.mode == "policy" and all(math.isfinite(x) for x in (*d.raw_action, *d.observation, d.size, d.confidence))
    out = brain.learn({"trade_id": f"{ticker}-t", "net_return": net, "pnl": pnl, "components": {"ai": score}})
    assert out["accepted"] and all(math.isfinite(w) for w in out["weights"].values())
    json.dumps(brain.state_dict(), allow_nan=False)


def _refusals(ticker: str, last: str, hold: str) -> list[tuple[type, str, dict]]:
    bar = {"time": "2999-01-01", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}
    return [
        (LiveInputError, "bars[0].open", {"bars": [{**bar, "open": 5e-324}]}),
        (LiveInputError, "bars[0].close", {"bars": [{**bar, "close": float("nan")}]}),
        (LiveInputError, "bars[0].high", {"bars": [{**bar, "high": 0.5}]}),
        (LiveInputError, "bars[1].volume", {"bars": [bar, {**bar, "time": "2999-01-02", "volume": 1e19}]}),
        (LiveConflictError, "bars[0].time", {"bars": [{**bar, "time": last}]}),
        (LiveConflictError, "bars[1].time", {"bars": [bar, bar]}),
        (LiveInputError, "portfolio_state.equity", {"bars": [bar], "portfolio_state": {"equity": 1e16}}),
        (LiveInputError, "bars[0].time", {"bars": [{**bar, "time": "0001-06-01"}]}),
        (LiveNotFoundError, "decision_id", {"learn": {"trade_id": "r1", "net_return": 0.1, "decision_id": "nope"}}),
        (LiveConflictError, "decision_id", {"learn": {"trade_id": "r2", "net_return": 0.1, "decision_id": hold}}),
        (LiveInputError, "net_return", {"learn": {"trade_id": "r3", "net_return": 101.0, "components": {}}}),
        (LiveInputError, "regime", {"learn": {"trade_id": "r4", "net_return": 0.1, "components": {}, "regime": "x"}}),
        (LiveInputError, "component_scores.ai", {"decide": {"ai": 1.5}}),
    ]


def test_a_refused_input_changes_nothing(brain):
    ticker = brain.spec["warmup"]["ticker"]
    hold = brain.decide("HOLD-ONLY", {"theme": -1.0, "technical": -1.0}).decision_id
    last = brain.tickers[ticker].last_time.isoformat()
    before = json.dumps(brain.state_dict(), sort_keys=True)
    for error, field, call in _refusals(ticker, last, hold):
        with pytest.raises(error) as caught:
            if "learn" in call:
                brain.learn(call["learn"])
            elif "decide" in call:
                brain.decide(ticker, call["decide"])
            else:
                brain.observe_bars(ticker, call["bars"], call.get("portfolio_state"))
        assert caught.value.field == field, (field, str(caught.value))
        assert json.dumps(brain.state_dict(), sort_keys=True) == before, field


def test_a_name_is_valid_exactly_when_the_schema_says_so(brain):
    """The schema's pattern for tickers and reasons (any character but ASCII white space) is the brain's rule:
    control characters that ``str.strip`` drops (0x1c-0x1f) make a valid name (schemathesis found the mismatch)."""
    from experiments.live.state import TEXT_PATTERN

    assert brain.decide("\x1f", {"theme": 0.5}).ticker == "\x1f"
    for blank in ("", " ", "\t\n\r\f\v "):
        with pytest.raises(LiveInputError, match="not only white space"):
            brain.decide(blank, {"theme": 0.5})
    assert TEXT_PATTERN == r"[^ \t\n\r\f\v]"
