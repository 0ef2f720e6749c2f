"""The REST service: FastAPI under ``/api/learning`` over one :class:`~experiments.live.brain.LiveBrain` and its
:class:`Store`.

Layout after FastAPI's "bigger applications" guide: :func:`create_app` is the only place with state (the brain,
the store and a lock live on ``app.state``); one ``APIRouter`` for state-changing calls (each needs the bearer
token, :func:`require_token`) and one for reads; pydantic models (:mod:`experiments.live.service.models`) for every
body. Each state-changing call runs under the lock: the brain changes, the store commits the journal rows and the new
state in one transaction, and only then does the call answer. Bad input is a 422 naming the field.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from experiments.files import package_version, sha256_file
from experiments.live.brain import LiveBrain
from experiments.live.bundle import BUNDLE_JSON
from experiments.live.service.models import (
    BarsIn,
    BarsOut,
    BreakerIn,
    BreakerOut,
    DecideIn,
    DecisionOut,
    HealthOut,
    LearnOut,
    TradeIn,
)
from experiments.live.state import LiveInputError
from experiments.live.store import SCHEMA_VERSION, Store

logger = logging.getLogger("tradebrain.service")
STATIC = Path(__file__).parent / "static"
_bearer = HTTPBearer(auto_error=False)


class LiveService:
    """The brain, its journal and the lock that makes each change one atomic step."""

    def __init__(self, brain: LiveBrain, store: Store, token: str, bundle: Path) -> None:
        self.brain, self.store, self.token, self.bundle = brain, store, token, bundle
        self.lock = threading.Lock()

    def change(self, fn: Any, journal: Any, *, bars: bool = False) -> Any:
        """Run ``fn()`` on the brain, then journal ``journal(result)`` with the new state; restore on failure.

        ``bars``: the call changed the ticker histories (their snapshot part is rewritten too).
        """
        with self.lock:
            try:
                result = fn()
                state = self.brain.state_dict(tickers=False, recent=False)
                tickers = [h.to_json() for h in self.brain.tickers.values()] if bars else None
                self.store.write(state, tickers, **journal(result))
            except BaseException:
                self._restore()
                raise
            return result

    def _restore(self) -> None:
        """Put the brain back to the last committed state (a failed write leaves no trace in memory)."""
        fresh = LiveBrain.from_bundle(self.bundle)
        state = self.store.load_state()
        self.brain.__dict__.update((fresh.load_state(state) if state else fresh).__dict__)


def require_token(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Dependency of every state-changing call: ``Authorization: Bearer <token>`` or 401."""
    service: LiveService = request.app.state.service
    if cred is None or cred.scheme.lower() != "bearer" or not secrets.compare_digest(cred.credentials, service.token):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def _service(request: Request) -> LiveService:
    return request.app.state.service  # type: ignore[no-any-return]


write = APIRouter(prefix="/api/learning", tags=["changes"], dependencies=[Depends(require_token)])
read = APIRouter(prefix="/api/learning", tags=["reads"])


def _bar(bar: Any) -> dict[str, Any]:
    out = bar.model_dump(exclude_none=True)
    out["time"] = bar.time.isoformat()
    return out


@write.post("/decide", response_model=DecisionOut)
def decide(body: DecideIn, request: Request) -> dict[str, Any]:
    """Decide at the close of the ticker's last bar (``bar`` is observed first when given)."""
    svc, brain = _service(request), _service(request).brain
    scores = body.component_scores.model_dump(exclude_none=True) if body.component_scores else None
    bar = _bar(body.bar) if body.bar else None
    port = body.portfolio_state.model_dump(exclude_none=True) if body.portfolio_state else None

    def journal(d: Any) -> dict[str, Any]:
        rows = [(body.ticker, bar["time"], bar)] if bar else []
        return {"bars": rows, "decision": brain.decisions[-1]}

    d = svc.change(lambda: brain.decide(body.ticker, scores, bar, port), journal, bars=bar is not None)
    out = d.to_json()
    del out["observation"]
    return out


@write.post("/bars", response_model=BarsOut)
def bars(body: BarsIn, request: Request) -> dict[str, Any]:
    """Append bars of a ticker (history or the newest bar), optionally marking the account at the last close."""
    svc, brain = _service(request), _service(request).brain
    rows = [_bar(b) for b in body.bars]
    port = body.portfolio_state.model_dump(exclude_none=True) if body.portfolio_state else None

    def run() -> int:
        if len(rows) == 1:
            return len(brain.observe_bar(body.ticker, rows[0], port, exit_reason=body.exit_reason).bars)
        return brain.observe_bars(body.ticker, rows, port)

    n = svc.change(run, lambda _: {"bars": [(body.ticker, r["time"], r) for r in rows]}, bars=True)
    return {
        "ticker": body.ticker,
        "bars": n,
        "ready": brain.tickers[body.ticker].ready,
        "regime": brain.regime(body.ticker)["probs"],
    }


@write.post("/learn", response_model=LearnOut)
def learn(body: TradeIn, request: Request) -> dict[str, Any]:
    """Learn from a closed trade; a repeated ``trade_id`` is acknowledged as a duplicate and not learned again."""
    svc = _service(request)
    trade = body.model_dump(exclude_none=True)
    if body.components is not None:
        trade["components"] = body.components.model_dump(exclude_none=True)

    def journal(res: dict[str, Any]) -> dict[str, Any]:
        return {"trade": svc.brain.trades[-1]} if res["accepted"] else {}

    return svc.change(lambda: svc.brain.learn(trade), journal)  # type: ignore[no-any-return]


@write.post("/circuit-breaker", response_model=BreakerOut)
def circuit_breaker(body: BreakerIn, request: Request) -> dict[str, Any]:
    """Reset or trip the circuit breaker, with a reason (audited in the store and the brain's event log)."""
    svc = _service(request)
    fn = svc.brain.reset_breaker if body.action == "reset" else svc.brain.trip_breaker
    logger.info(json.dumps({"event": "breaker", "action": body.action, "reason": body.reason}))
    return svc.change(  # type: ignore[no-any-return]
        lambda: fn(body.reason), lambda res: {"breaker": (body.action, body.reason, res)}
    )


@read.get("/circuit-breaker", response_model=BreakerOut)
def breaker_state(request: Request) -> dict[str, Any]:
    return _service(request).brain.breaker()


@read.get("/statistics")
def statistics(request: Request) -> dict[str, Any]:
    """Counts, win rate, pnl, equity, breaker, tickers, and the recent decisions."""
    brain = _service(request).brain
    with _service(request).lock:
        return {**brain.statistics(), "recent_decisions": list(brain.decisions)[-50:]}


@read.get("/weights")
def weights(request: Request, ticker: str | None = Query(default=None)) -> dict[str, Any]:
    """Current Tier 1 weights (for the ticker's regime when given) and their history (time, theme..sentiment)."""
    brain = _service(request).brain
    with _service(request).lock:
        return {"weights": brain.current_weights(ticker), "history": list(brain.weight_history)}


@read.get("/regime")
def regime(request: Request, ticker: str | None = Query(default=None)) -> dict[str, Any]:
    """Current regime of a ticker (default: the last one seen) and the regime history (time, ticker, probs)."""
    brain = _service(request).brain
    with _service(request).lock:
        current = brain.regime(ticker) if brain.tickers else None
        return {"current": current, "history": list(brain.regime_history)}


@read.get("/performance")
def performance(request: Request) -> dict[str, Any]:
    """Equity and drawdown history, rolling Sharpe and recent trades."""
    with _service(request).lock:
        return _service(request).brain.performance()


@read.get("/config")
def config(request: Request) -> dict[str, Any]:
    """The bundle's settings: action map, limits and costs, tiers, source run, versions (no fitted parameters)."""
    spec = _service(request).brain.spec
    keep = ("format", "versions", "source", "action_map", "env", "features", "policy", "meta", "warmup")
    brain = _service(request).brain
    return {**{k: spec.get(k) for k in keep}, "tiers": {"tier1": brain.tier1, "tier2": brain.tier2}}


@read.get("/report")
def report(request: Request) -> dict[str, Any]:
    with _service(request).lock:
        return {"text": _service(request).brain.report()}


@read.get("/health", response_model=HealthOut)
def health(request: Request) -> dict[str, Any]:
    svc = _service(request)
    return {
        "status": "ok",
        "version": package_version(),
        "bundle": str(svc.bundle),
        "store": str(svc.store.path),
        "schema_version": SCHEMA_VERSION,
        "trades": svc.brain.counts["trades"],
    }


def _input_error(request: Request, exc: Exception) -> JSONResponse:
    """A :class:`LiveInputError` as FastAPI's 422 shape, with the field in ``loc``."""
    assert isinstance(exc, LiveInputError)
    loc = ["body", *exc.field.split(".")]
    return JSONResponse(status_code=422, content={"detail": [{"loc": loc, "msg": exc.message, "type": "value_error"}]})


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's 422 with each error's field (``loc``), message and the offending value as text (NaN included)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"], "value": repr(e.get("input"))[:200]}
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(bundle: str | Path, store_path: str | Path, token: str, *, synchronous: str = "FULL") -> FastAPI:
    """The app: loads the bundle, opens (or creates) the journal and restores the brain's last state from it."""
    if not token or len(token) < 16:
        raise ValueError("the bearer token must have at least 16 characters (set TRADEBRAIN_TOKEN or --token-file)")
    bundle = Path(bundle)
    brain = LiveBrain.from_bundle(bundle)
    store = Store(store_path, sha256_file(bundle / BUNDLE_JSON), synchronous=synchronous)
    state = store.load_state()
    if state is not None:
        brain.load_state(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="tradebrain live", version=package_version(), description=__doc__, lifespan=lifespan)
    app.state.service = LiveService(brain, store, token, bundle)
    app.include_router(write)
    app.include_router(read)
    app.add_exception_handler(LiveInputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Any:
        t0 = time.perf_counter()
        response = await call_next(request)
        ms = (time.perf_counter() - t0) * 1e3
        logger.info(
            json.dumps(
                {
                    "event": "request",
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round(ms, 2),
                }
            )
        )
        return response

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = STATIC / name
        if name not in ("dashboard.js", "dashboard.css") or not path.exists():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path)

    return app
