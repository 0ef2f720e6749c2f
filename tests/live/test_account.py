"""The live account's portfolio slots as the env computes them (env version 2), and their save and load."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from envs.layout import GROWTH_BARS
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from experiments.live.state import LiveAccount


def test_equity_log_growth_looks_back_a_year_of_marks_and_survives_a_save():
    acc = LiveAccount(RiskLimits(), RewardConfig())
    rng = np.random.default_rng(0)
    equity = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.002, 400)))
    times = pd.bdate_range("2020-01-01", periods=400)
    for t, (eq, time) in enumerate(zip(equity, times, strict=True)):
        assert acc.mark(float(eq), time)
        ref = equity[max(0, t - GROWTH_BARS)]
        assert math.isclose(acc.portfolio_slots()[0], math.log(eq / ref), rel_tol=1e-12, abs_tol=1e-15)
    again = LiveAccount(RiskLimits(), RewardConfig())
    again.load_json(acc.to_json())
    assert again.portfolio_slots() == acc.portfolio_slots()
    old = acc.to_json()
    del old["marks"]  # a state saved by env version 1: the start equity stays the reference
    again.load_json(old)
    assert math.isclose(again.portfolio_slots()[0], math.log(equity[-1] / equity[0]))
