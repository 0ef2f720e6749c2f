"""The routes under ``/api/learning``, one ``APIRouter`` per concern: decisions, market data, learning, the circuit
breaker and the service itself. State-changing calls depend on :func:`require_token` (bearer token, 401 without it);
reads are open. Each route declares every status it answers (:mod:`experiments.live.service.errors`).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from experiments.files import package_version
from experiments.live.service.committer import LiveService
from experiments.live.service.errors import WRITE, responses
from experiments.live.service.models import (
    BarsIn,
    BarsOut,
    BreakerIn,
    BreakerOut,
    ConfigOut,
    DecideIn,
    DecisionOut,
    HealthOut,
    LearnOut,
    PerformanceOut,
    RegimeOut,
    ReportOut,
    StatisticsOut,
    TradeIn,
    WeightsOut,
)
from experiments.live.state import TEXT_PATTERN
from experiments.live.store import SCHEMA_VERSION, Entry

logger = logging.getLogger("tradebrain.service")
PREFIX = "/api/learning"
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The token `tradebrain serve` reads from --token-file or $TRADEBRAIN_TOKEN (or writes to "
    "BUNDLE/../live/token). Needed by every POST; reads are open.",
)


async def service(request: Request) -> LiveService:
    """The app's one :class:`LiveService` (the brain is injected, never global)."""
    return request.app.state.service  # type: ignore[no-any-return]


Service = Annotated[LiveService, Depends(service)]


async def require_token(svc: Service, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Dependency of every state-changing call: ``Authorization: Bearer <token>`` or 401."""
    if cred is None or cred.scheme.lower() != "bearer" or not secrets.compare_digest(cred.credentials, svc.token):
        raise HTTPException(
            401,
            "missing or wrong bearer token: send Authorization: Bearer <token>, the token `tradebrain serve` uses",
            headers={"WWW-Authenticate": "Bearer"},
        )


TOKEN = [Depends(require_token)]
QueryTicker = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=TEXT_PATTERN, description="ticker (default: see route)")
]

decisions = APIRouter(prefix=PREFIX, tags=["decisions"])
market = APIRouter(prefix=PREFIX, tags=["market data"])
learning = APIRouter(prefix=PREFIX, tags=["learning"])
breaker = APIRouter(prefix=PREFIX, tags=["circuit breaker"])
system = APIRouter(prefix=PREFIX, tags=["service"])


# ------------------------------------------------------------------------------------------- decisions
@decisions.post("/decide", response_model=DecisionOut, dependencies=TOKEN, responses={**WRITE, **responses(404)})
async def decide(body: DecideIn, svc: Service) -> dict[str, Any]:
    """Decide at the close of the ticker's last bar (``bar``, when given, is observed first).

    ``mode`` auto (default): the bundle's policy once the ticker has 121 bars; before that, with
    ``component_scores``, the composite rule decides from the scores alone (``mode`` in the reply says which).
    404: a ticker without bars and without scores; 409: too few bars for mode policy.
    """
    brain = svc.brain
    scores = body.component_scores.model_dump(exclude_none=True) if body.component_scores else None
    bar = body.bar.model_dump(exclude_none=True) if body.bar else None
    port = body.portfolio_state.model_dump(exclude_none=True) if body.portfolio_state else None

    def journal(d: Any) -> Entry:
        rows = [(d.ticker, b.time.isoformat(), b.to_json()) for b in brain.last_observed] if bar else []
        return Entry(bars=rows, decision=brain.decisions[-1])

    d = await svc.change(lambda: brain.decide(body.ticker, scores, bar, port, mode=body.mode), journal)
    out = d.to_json()
    del out["observation"]
    return out


# ------------------------------------------------------------------------------------------- market data
@market.post("/bars", response_model=BarsOut, dependencies=TOKEN, responses=WRITE)
async def bars(body: BarsIn, svc: Service) -> dict[str, Any]:
    """Append bars of a ticker (history, or the newest bar), optionally marking the account at the last close.

    A new ticker warms up over any number of posts: the reply says whether it is ``ready`` and how many bars are
    still needed (121 in all). 409: the first bar is not after the ticker's last one.
    """
    brain = svc.brain
    rows = [b.model_dump(exclude_none=True) for b in body.bars]
    port = body.portfolio_state.model_dump(exclude_none=True) if body.portfolio_state else None

    def journal(_: Any) -> Entry:
        return Entry(bars=[(body.ticker, b.time.isoformat(), b.to_json()) for b in brain.last_observed])

    def run() -> dict[str, Any]:
        brain.observe_bars(body.ticker, rows, port, exit_reason=body.exit_reason)
        return brain.regime(body.ticker)

    now = await svc.change(run, journal)
    return {k: now[k] for k in ("ticker", "bars", "ready", "bars_needed")} | {"regime": now["probs"]}


@market.get("/regime", response_model=RegimeOut, responses=responses(404, 422))
async def regime(svc: Service, ticker: QueryTicker = None) -> dict[str, Any]:
    """Current regime of a ticker (default: the last one seen; null before any bar) and the regime history
    (time, ticker, probabilities). 404: a ticker without bars."""
    brain = svc.brain

    def read() -> dict[str, Any]:
        current = brain.regime(ticker) if ticker is not None or brain.tickers else None
        return {"current": current, "history": list(brain.regime_history)}

    return svc.read(read)


# ------------------------------------------------------------------------------------------- learning
@learning.post("/learn", response_model=LearnOut, dependencies=TOKEN, responses={**WRITE, **responses(404)})
async def learn(body: TradeIn, svc: Service) -> dict[str, Any]:
    """Learn from a closed trade, once per ``trade_id`` (a repeat is acknowledged as a duplicate, not learned).

    The trade's components: ``components``, else those of the decision ``decision_id``. 404: an unknown decision
    id; 409: the decision was a "hold" (no position was opened: nothing to learn, nothing changes).
    """
    trade = body.model_dump(exclude_none=True)
    if body.components is not None:
        trade["components"] = body.components.model_dump(exclude_none=True)
    if body.regime_probs is not None:
        trade["regime_probs"] = body.regime_probs.model_dump(exclude_none=True)
    brain = svc.brain

    def journal(res: dict[str, Any]) -> Entry:
        return Entry(trade=brain.trades[-1]) if res["accepted"] else Entry()

    return await svc.change(lambda: brain.learn(trade), journal)


@learning.get("/weights", response_model=WeightsOut, responses=responses(404, 422))
async def weights(svc: Service, ticker: QueryTicker = None) -> dict[str, Any]:
    """Current Tier 1 weights (for the ticker's regime when given, else pooled) and their history (time, ticker,
    theme..sentiment, one row per decision). 404: a ticker without bars."""
    brain = svc.brain
    return svc.read(lambda: {"weights": brain.current_weights(ticker), "history": list(brain.weight_history)})


def _of(rows: Any, ticker: str | None, n: int) -> list[dict[str, Any]]:
    """The last ``n`` of ``rows`` (all, or those of ``ticker``)."""
    return [r for r in rows if ticker is None or r.get("ticker") == ticker][-n:]


@learning.get("/statistics", response_model=StatisticsOut, responses=responses(422))
async def statistics(svc: Service, ticker: QueryTicker = None) -> dict[str, Any]:
    """Counts, win rate, pnl, equity, breaker, tickers (bars kept), and the 50 most recent decisions (of ``ticker``
    when given)."""
    brain = svc.brain
    return svc.read(lambda: {**brain.statistics(), "recent_decisions": _of(brain.decisions, ticker, 50)})


@learning.get("/performance", response_model=PerformanceOut, responses=responses(422))
async def performance(svc: Service, ticker: QueryTicker = None) -> dict[str, Any]:
    """The account's equity and drawdown marks, rolling Sharpe and the recent trades (with ticker and exit reason;
    those of ``ticker`` when given)."""
    brain = svc.brain
    return svc.read(lambda: {**brain.performance(), "trades": _of(brain.trades, ticker, 500)})


# ------------------------------------------------------------------------------------------- breaker
@breaker.post("/circuit-breaker", response_model=BreakerOut, dependencies=TOKEN, responses=WRITE)
async def circuit_breaker(body: BreakerIn, svc: Service) -> dict[str, Any]:
    """Reset or trip the circuit breaker, with a reason (audited in the journal and the brain's event log).

    409: a reset of an ACTIVE breaker, or a trip of a HALTED one.
    """
    fn = svc.brain.reset_breaker if body.action == "reset" else svc.brain.trip_breaker
    logger.info(json.dumps({"event": "breaker", "action": body.action, "reason": body.reason}))
    return await svc.change(lambda: fn(body.reason), lambda res: Entry(breaker=(body.action, body.reason, res)))


@breaker.get("/circuit-breaker", response_model=BreakerOut)
async def breaker_state(svc: Service) -> dict[str, Any]:
    """The breaker's state, level (0, 0.5, 1) and its audited events."""
    return svc.read(svc.brain.breaker)


# ------------------------------------------------------------------------------------------- the service
@system.get("/config", response_model=ConfigOut)
async def config(svc: Service) -> dict[str, Any]:
    """The bundle's settings: action map, limits and costs, tiers, source run, versions (no fitted parameters)."""
    spec, brain = svc.brain.spec, svc.brain
    keep = ("format", "versions", "source", "action_map", "env", "features", "policy", "meta", "warmup")
    return {**{k: spec.get(k) for k in keep}, "tiers": {"tier1": brain.tier1, "tier2": brain.tier2}}


@system.get("/report", response_model=ReportOut)
async def report(svc: Service) -> dict[str, Any]:
    """A short plain-text report: statistics, weights, regimes, breaker."""
    return {"text": svc.read(svc.brain.report)}


@system.get("/health", response_model=HealthOut)
async def health(svc: Service) -> dict[str, Any]:
    """Liveness, versions, the journal's path and its commit counters (commits, changes, refused commits)."""
    return {
        "status": "ok",
        "version": package_version(),
        "bundle": str(svc.bundle),
        "store": str(svc.store.path),
        "schema_version": SCHEMA_VERSION,
        "trades": svc.brain.counts["trades"],
        "journal": dict(svc.stats),
    }


ROUTERS = (decisions, market, learning, breaker, system)
