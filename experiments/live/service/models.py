"""Pydantic models of every request and response body of the service (``/api/learning``), and its error body.

The numbers carry the brain's own ranges (:data:`experiments.live.state.BOUNDS`: one definition), so the OpenAPI
schema states what the service accepts; what a schema cannot state (high >= low, open and close inside [low, high],
a bar after the ticker's last one) is checked by the brain and answered 422 or 409 naming the field.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from envs.layout import COMPONENTS, REGIMES
from experiments.live.brain import Decision
from experiments.live.state import BOUNDS, TEXT_PATTERN, TIME_PATTERN, LiveInputError, parse_time

_STRICT = ConfigDict(allow_inf_nan=False, extra="forbid", strict=True)
"""Request bodies: finite numbers, no unknown keys, no type coercion (``"1.5"`` is not a number)."""


def _bounded(kind: str, description: str, default: Any = None) -> Any:
    b = BOUNDS[kind]
    return Field(default=default, ge=b.low, le=b.high, description=f"{description}, in [{b.low:g}, {b.high:g}]")


def _score(name: str) -> Any:
    return _bounded("score", f"{name} score")


def _check_time(value: str) -> str:
    try:
        parse_time(value)
    except LiveInputError as exc:
        raise ValueError(exc.message) from None
    return value


BarTime = Annotated[
    str,
    AfterValidator(_check_time),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "date-time"}, {"format": "date"}],
            "pattern": TIME_PATTERN,
            "description": "ISO 8601 date or date-time of the bar's close, years 2-9998; an offset is converted to "
            "UTC, a time without one is read as UTC",
            "examples": ["2015-01-02", "2015-01-02T21:00:00Z"],
        }
    ),
]
Ticker = Annotated[str, Field(min_length=1, max_length=64, pattern=TEXT_PATTERN, examples=["sp500"])]


class ComponentScores(BaseModel):
    """Scores of the four components (each optional). Other keys are accepted and ignored: the reply's
    ``warnings`` names them (the seed system's clients send dozens of component scores)."""

    model_config = ConfigDict(allow_inf_nan=False, extra="allow", strict=True)
    theme: float | None = _score("theme")
    technical: float | None = _score("technical")
    ai: float | None = _score("ai")
    sentiment: float | None = _score("sentiment")


class BarIn(BaseModel):
    """One OHLCV bar at its close (component scores and VIX optional: all four scores or none)."""

    model_config = ConfigDict(
        allow_inf_nan=False,
        extra="forbid",
        strict=True,
        json_schema_extra={"dependentRequired": {c: [o for o in COMPONENTS if o != c] for c in COMPONENTS}},
    )
    time: BarTime
    open: float = _bounded("price", "open price", ...)
    high: float = _bounded("price", "high price", ...)
    low: float = _bounded("price", "low price", ...)
    close: float = _bounded("price", "close price", ...)
    volume: float = _bounded("volume", "volume", 0.0)
    # all four or none (dependentRequired), so not nullable: a null would be "given" to the schema, not to the brain
    theme: float = _score("theme")
    technical: float = _score("technical")
    ai: float = _score("ai")
    sentiment: float = _score("sentiment")
    vix: float | None = _bounded("vix", "VIX level")


class PortfolioIn(BaseModel):
    """The account as the broker sees it at the bar's close."""

    model_config = _STRICT
    equity: float | None = _bounded("equity", "mark-to-market equity")
    exposure_elsewhere: float | None = _bounded("exposure", "gross exposure held elsewhere (fraction of equity)")


class DecideIn(BaseModel):
    """A decision at the close of the ticker's last bar (``bar``: its newest bar, observed first)."""

    model_config = _STRICT
    ticker: Ticker
    component_scores: ComponentScores | None = None
    bar: BarIn | None = None
    portfolio_state: PortfolioIn | None = None
    mode: Literal["auto", "policy", "scores"] = Field(
        default="auto",
        description="policy: the bundle's policy on the full observation (needs 121 bars, else 409); scores: the "
        "Tier 1 + 2 composite rule from component_scores alone (no bars needed); auto: policy when the ticker has "
        "121 bars, else scores when component_scores are given",
    )


class BarsIn(BaseModel):
    """Bars of one ticker in time order, each after the ticker's last one (history, or the newest bar)."""

    model_config = _STRICT
    ticker: Ticker
    bars: list[BarIn] = Field(min_length=1, max_length=5000)
    portfolio_state: PortfolioIn | None = None
    exit_reason: str | None = Field(
        default=None, max_length=64, description="reason of a position the risk layer closed on the last bar"
    )


class RegimeProbs(BaseModel):
    """Regime probabilities (each optional, in [0, 1])."""

    model_config = _STRICT
    bull_momentum: float | None = _bounded("probability", "probability")
    bear_defensive: float | None = _bounded("probability", "probability")
    choppy: float | None = _bounded("probability", "probability")
    crisis: float | None = _bounded("probability", "probability")
    theme_driven: float | None = _bounded("probability", "probability")


class TradeIn(BaseModel):
    """A closed trade; learned once per ``trade_id``. Give ``decision_id`` (the "buy" that opened it) or
    ``components`` (the scores at entry), or both (then ``components`` are used)."""

    model_config = ConfigDict(
        allow_inf_nan=False,
        extra="forbid",
        strict=True,
        json_schema_extra={"anyOf": [{"required": ["decision_id"]}, {"required": ["components"]}]},
    )
    trade_id: str = Field(min_length=1, max_length=200)
    net_return: float = _bounded("net_return", "net return of the trade after costs (fraction)", ...)
    # one of the two is required (anyOf), so neither is nullable: a null would satisfy the schema's "required"
    decision_id: str = Field(default=None, max_length=200)  # type: ignore[assignment]
    components: ComponentScores = None  # type: ignore[assignment]
    regime: Literal[REGIMES] | None = None  # type: ignore[valid-type]
    regime_probs: RegimeProbs | None = None
    pnl: float | None = _bounded("pnl", "profit in currency units")
    ticker: str | None = Field(default=None, max_length=64)
    exit_reason: str | None = Field(default=None, max_length=64)
    entry_time: str | None = Field(default=None, max_length=64)
    exit_time: str | None = Field(default=None, max_length=64)


class BreakerIn(BaseModel):
    """Reset (unlatch) or trip (latch HALTED) the circuit breaker, with who and why (audited)."""

    model_config = _STRICT
    action: Literal["reset", "trip"]
    reason: str = Field(min_length=3, max_length=500, pattern=TEXT_PATTERN, description="who and why (audited)")


# ------------------------------------------------------------------------------------------- replies
def response_model(cls: type, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model with the fields of dataclass ``cls`` (less ``exclude``): one definition of a reply's shape."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in exclude:
            fields[f.name] = (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
    return create_model(f"{cls.__name__}Out", __doc__=cls.__doc__, **fields)  # type: ignore[call-overload, no-any-return]


DecisionOut = response_model(Decision, exclude=("observation",))
"""The answer of ``POST /decide``: :class:`experiments.live.brain.Decision` without its observation."""


Weights = dict[Literal[COMPONENTS], float]  # type: ignore[valid-type]
Probs = dict[Literal[REGIMES], float]  # type: ignore[valid-type]


class LearnOut(BaseModel):
    trade_id: str
    accepted: bool = Field(description="learned now (false: a repeat of a trade id already learned)")
    duplicate: bool
    weights: Weights
    warnings: list[str] = Field(default_factory=list, description="what the brain ignored (keys not components)")


class BarsOut(BaseModel):
    ticker: str
    bars: int = Field(description="bars the ticker keeps")
    ready: bool = Field(description="the ticker can decide with the policy (121 bars and every feature defined)")
    bars_needed: int = Field(description="bars still needed before it is ready (0 when ready)")
    regime: Probs


class BreakerOut(BaseModel):
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    level: float
    events: list[dict[str, Any]]


class RegimeNow(BaseModel):
    ticker: str
    regime: str | None = Field(description="most likely regime; null while Tier 2 is off or not fitted yet")
    probs: Probs
    confidence: float
    time: str | None = Field(description="time of the ticker's last bar (UTC)")
    bars: int
    ready: bool
    bars_needed: int


class RegimeOut(BaseModel):
    current: RegimeNow | None = Field(description="the asked ticker (default: the last one seen); null: no bars yet")
    history: list[list[Any]] = Field(description="[time, ticker, p_bull_momentum, ..., p_theme_driven] rows")


class WeightsOut(BaseModel):
    weights: Weights
    history: list[list[Any]] = Field(description="[time, ticker, theme, technical, ai, sentiment] per decision")


class StatisticsOut(BaseModel):
    decisions: int
    buys: int
    trades: int
    duplicates: int
    wins: int
    bars: int
    win_rate: float | None
    pnl: float
    equity: float | None
    drawdown: float
    breaker: str
    tickers: dict[str, int]
    tiers: dict[str, Any]
    recent_decisions: list[dict[str, Any]]


class PerformanceOut(BaseModel):
    equity: list[list[Any]] = Field(description="[time, equity, drawdown, breaker] marks")
    start_equity: float | None
    rolling_sharpe: float | None
    trades: list[dict[str, Any]]


class ReportOut(BaseModel):
    text: str


class ConfigOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    tiers: dict[str, bool]


class JournalHealth(BaseModel):
    commits: int = Field(description="commits since the start (each one transaction and one fsync)")
    changes: int = Field(description="changes acknowledged since the start (a commit holds one or more)")
    failures: int = Field(description="commits the file system refused (answered 503, rolled back)")
    last_error: str | None


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    bundle: str
    store: str
    schema_version: int
    trades: int
    journal: JournalHealth


# ------------------------------------------------------------------------------------------- errors
class ErrorItem(BaseModel):
    """One problem: where (``loc``), what and how to fix it (``msg``), its kind and the value received."""

    loc: list[str | int] = Field(description='e.g. ["body", "bars", 0, "close"] or ["query", "ticker"]')
    msg: str
    type: str = Field(description="value_error, not_found, conflict, unauthorized, store_unavailable, json_invalid...")
    value: str | None = Field(default=None, description="the value received, as text")


class ErrorOut(BaseModel):
    """The body of every error answer (400, 401, 404, 405, 409, 422, 503)."""

    detail: list[ErrorItem]


BODIES: dict[str, type[BaseModel]] = {
    "decide": DecideIn,
    "bars": BarsIn,
    "learn": TradeIn,
    "circuit-breaker": BreakerIn,
}
"""The body model of each state-changing route (by its last path segment), for error messages."""
FIXES: dict[str, str] = {
    **dict.fromkeys(("open", "high", "low", "close"), BOUNDS["price"].fix),
    **dict.fromkeys(COMPONENTS, BOUNDS["score"].fix),
    **dict.fromkeys(REGIMES, BOUNDS["probability"].fix),
    "volume": BOUNDS["volume"].fix,
    "vix": BOUNDS["vix"].fix,
    "equity": BOUNDS["equity"].fix,
    "exposure_elsewhere": BOUNDS["exposure"].fix,
    "net_return": BOUNDS["net_return"].fix,
    "pnl": BOUNDS["pnl"].fix,
    "ticker": "send the ticker's name: 1-64 characters, not only white space, e.g. 'SPY'",
    "trade_id": "send an id of 1-200 characters, unique per trade",
    "reason": "say who and why in 3-500 characters (it is audited)",
    "bars": "send 1 to 5,000 bars in time order",
}
"""The fix named in a 422 for a field that breaks its schema (by field name)."""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_of, typing.get_args(annotation)) if m is not None), None)


def fields_at(route: str, loc: list[Any]) -> list[str] | None:
    """The fields of the object at ``loc`` (``["body", ...]``) in ``route``'s body, or None when unknown."""
    model: type[BaseModel] | None = BODIES.get(route.rstrip("/").rsplit("/", 1)[-1])
    for key in loc[1:]:
        if model is None:
            return None
        if not isinstance(key, int):
            field = model.model_fields.get(key)
            model = None if field is None else _model_of(field.annotation)
    return None if model is None else list(model.model_fields)
