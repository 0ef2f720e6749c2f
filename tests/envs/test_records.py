from __future__ import annotations

import copy
import json
import pickle

import pandas as pd
import pytest

from envs.records import Record


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
