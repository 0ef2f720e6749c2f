from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from envs.records import Info, Record


def test_record_is_a_read_only_dict_shared_by_copies():
    r = Record(a=1, nested=Record(b=2.5))
    for mutate in (lambda: r.__setitem__("a", 2), lambda: r.update(a=3), lambda: r.pop("a"), r.clear):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert r == {"a": 1, "nested": {"b": 2.5}}
    assert copy.deepcopy(r) is r and copy.copy(r) is r
    assert {**r, "a": 5}["a"] == 5 and isinstance(dict(r), dict)
    assert json.loads(json.dumps(r)) == {"a": 1, "nested": {"b": 2.5}}
    back = pickle.loads(pickle.dumps(r))
    assert back == r and isinstance(back, Record)
    assert pd.DataFrame([r, Record(a=2, nested=None)])["a"].tolist() == [1, 2]


def _immutable(value: object) -> bool:
    if isinstance(value, (bool, int, float, str, type(None))):
        return True
    if isinstance(value, np.ndarray):
        return not value.flags.writeable
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    if isinstance(value, Record):
        return all(_immutable(v) for v in value.values())
    return False


def test_info_deep_copy_shares_its_values_and_keeps_the_type():
    trade = Record(net_return=0.01)
    info = Info(bar=3, trade=trade, reasons=("cap",))
    for copied in (copy.deepcopy(info), copy.copy(info)):
        assert copied == info and copied is not info and isinstance(copied, Info)
        assert copied["trade"] is trade
    copied["terminal_observation"] = 1  # callers may add keys; the original is untouched
    assert "terminal_observation" not in info


def test_every_info_value_of_the_wrapped_stack_is_immutable():
    """What makes Info's shallow deep copy correct: no env or wrapper puts a mutable value in an info."""
    from agents.config import StackConfig
    from agents.stack import make_env

    env = make_env(StackConfig(train=("2004-01-01", "2006-01-01"), episode_bars=60), "train")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    for _ in range(300):
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        assert isinstance(info, Info)
        bad = {k: type(v).__name__ for k, v in info.items() if not _immutable(v)}
        assert not bad, f"mutable info values: {bad}"
        seen |= set(info)
        if terminated or truncated:
            env.reset()
    assert {"trade", "regime", "weights", "episode_equity", "risk_reasons"} <= seen
