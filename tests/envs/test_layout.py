from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap, TradeParams


def test_layout_names_groups_and_defaults():
    assert OBS_LAYOUT.size == 27 and len(set(OBS_LAYOUT.names)) == 27
    assert OBS_LAYOUT.groups == ("portfolio", "market", "components", "tier1", "tier2", "performance")
    assert [OBS_LAYOUT.index(f"w_{c}") for c in COMPONENTS] == [15, 16, 17, 18]
    assert [OBS_LAYOUT.index(f"p_{r}") for r in REGIMES] == [19, 20, 21, 22, 23]
    assert OBS_LAYOUT.group_slice("performance") == slice(24, 27)
    assert OBS_LAYOUT.default_tier1().sum() == pytest.approx(1.0) and OBS_LAYOUT.default_tier2()[0] == np.float32(0.2)
    assert (OBS_LAYOUT.low < OBS_LAYOUT.high).all()
    with pytest.raises(KeyError, match="valid slots"):
        OBS_LAYOUT.index("p_panic")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        OBS_LAYOUT.as_dict(np.zeros(3))


def test_action_map_corners_and_clipping():
    am = ActionMap()
    assert am.decode(np.array([-1, -1, -1, -1])) == TradeParams(0.0, 1, 0.005, 0.005)
    assert am.decode(np.array([1, 1, 1, 1])) == TradeParams(0.2, 20, 0.10, 0.20)
    assert am.decode(np.array([5.0, 3.0, 2.0, 9.0])) == am.decode(np.ones(4))  # clipped
    mid = am.decode(np.zeros(4))
    assert mid.size == pytest.approx(0.1) and mid.hold == 10 and mid.stop == pytest.approx(0.0525)
    with pytest.raises(ValueError, match="non-finite"):
        am.decode(np.array([np.nan, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        am.decode(np.zeros(3))


@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4))
def test_encode_inverts_decode(a):
    am = ActionMap(max_position=0.15, max_hold=30)
    p = am.decode(np.array(a))
    q = am.decode(am.encode(p))
    assert q.hold == p.hold
    np.testing.assert_allclose([q.size, q.stop, q.target], [p.size, p.stop, p.target], rtol=1e-5, atol=1e-7)
    assert 0 <= p.size <= 0.15 and 1 <= p.hold <= 30


@pytest.mark.parametrize(
    "kwargs", [{"max_position": 0.0}, {"max_hold": 0}, {"stop_range": (0.1, 0.05)}, {"target_range": (0.0, 0.2)}]
)
def test_bad_action_map(kwargs):
    with pytest.raises(ValueError):
        ActionMap(**kwargs)
