"""Pydantic models of every request and response body of the service (``/api/learning``)."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from experiments.live.brain import Decision

_STRICT = ConfigDict(allow_inf_nan=False, extra="forbid")
Score = Field(default=None, ge=-1.0, le=1.0, description="component score in [-1, 1]")


def response_model(cls: type, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model with the fields of dataclass ``cls`` (less ``exclude``): one definition of a reply's shape."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in exclude:
            fields[f.name] = (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
    return create_model(f"{cls.__name__}Out", __doc__=cls.__doc__, **fields)  # type: ignore[call-overload, no-any-return]


class ComponentScores(BaseModel):
    """Scores of the four components (each optional: a missing one keeps the brain's own score)."""

    model_config = _STRICT
    theme: float | None = Score
    technical: float | None = Score
    ai: float | None = Score
    sentiment: float | None = Score


class BarIn(BaseModel):
    """One OHLCV bar at its close (component scores and VIX optional)."""

    model_config = _STRICT
    time: datetime
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(default=0.0, ge=0)
    theme: float | None = Score
    technical: float | None = Score
    ai: float | None = Score
    sentiment: float | None = Score
    vix: float | None = Field(default=None, gt=0)


class PortfolioIn(BaseModel):
    """The account as the broker sees it at the bar's close."""

    model_config = _STRICT
    equity: float | None = Field(default=None, gt=0, description="mark-to-market equity")
    exposure_elsewhere: float | None = Field(default=None, ge=0, le=1, description="gross exposure held elsewhere")


class DecideIn(BaseModel):
    model_config = _STRICT
    ticker: str = Field(min_length=1, max_length=64)
    component_scores: ComponentScores | None = None
    bar: BarIn | None = None
    portfolio_state: PortfolioIn | None = None


class BarsIn(BaseModel):
    model_config = _STRICT
    ticker: str = Field(min_length=1, max_length=64)
    bars: list[BarIn] = Field(min_length=1, max_length=5000)
    portfolio_state: PortfolioIn | None = None
    exit_reason: str | None = Field(default=None, description="reason of a position the risk layer closed on this bar")


class TradeIn(BaseModel):
    """A closed trade; learned once per ``trade_id``."""

    model_config = _STRICT
    trade_id: str = Field(min_length=1, max_length=200)
    net_return: float = Field(ge=-1.0, description="net return of the trade after costs")
    decision_id: str | None = None
    components: ComponentScores | None = None
    regime: str | None = None
    regime_probs: dict[str, float] | None = None
    pnl: float | None = None
    ticker: str | None = None
    exit_reason: str | None = None
    entry_time: str | None = None
    exit_time: str | None = None


class BreakerIn(BaseModel):
    model_config = _STRICT
    action: Literal["reset", "trip"]
    reason: str = Field(min_length=3, max_length=500, description="who and why (audited)")


DecisionOut = response_model(Decision, exclude=("observation",))
"""The answer of ``POST /decide``: :class:`experiments.live.brain.Decision` without its observation."""


class LearnOut(BaseModel):
    trade_id: str
    accepted: bool
    duplicate: bool
    weights: dict[str, float]


class BarsOut(BaseModel):
    ticker: str
    bars: int
    ready: bool
    regime: dict[str, float]


class BreakerOut(BaseModel):
    state: str
    level: float
    events: list[dict[str, Any]]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    bundle: str
    store: str
    schema_version: int
    trades: int
