"""Shared fixtures: small seeded markets, no network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs.data import MarketData
from envs.features import LOOKBACK
from envs.synthetic import SyntheticMarket


def flat_then(
    bars: list[tuple[float, float, float, float]], *, warmup: int = LOOKBACK + 9, price: float = 100.0
) -> MarketData:
    """``warmup`` flat bars at ``price`` followed by hand-made (open, high, low, close) bars."""
    rows = [(price, price, price, price)] * warmup + list(bars)
    frame = pd.DataFrame(
        rows, columns=["open", "high", "low", "close"], index=pd.bdate_range("2001-01-01", periods=len(rows))
    )
    frame["volume"] = 1e6
    return MarketData.from_frame(frame, name="hand")


@pytest.fixture(scope="session")
def synthetic_sample():
    return SyntheticMarket.three_regime(student_df=5.0).generate(n_bars=1500, seed=11)


@pytest.fixture(scope="session")
def sp500():
    from envs.data import load_dataset

    return load_dataset("sp500")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
