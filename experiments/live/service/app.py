"""The REST service: FastAPI under ``/api/learning`` over one :class:`~experiments.live.brain.LiveBrain` and its
:class:`~experiments.live.store.Store`, with a dashboard at ``/``.

Layout after FastAPI's "bigger applications" guide: :func:`create_app` is the only place with state (the
:class:`~experiments.live.service.committer.LiveService` lives on ``app.state``); one ``APIRouter`` per concern
(:mod:`experiments.live.service.routes`); pydantic models for every body and reply
(:mod:`experiments.live.service.models`); one error body for every error (:mod:`experiments.live.service.errors`).
Every state-changing call needs the bearer token and answers only after the SQLite commit that holds it (changes
that arrive together share one commit); bad input is a 422 naming the field, the value and the fix, and changes
nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from experiments.files import package_version, sha256_file
from experiments.live.brain import LiveBrain
from experiments.live.bundle import BUNDLE_JSON
from experiments.live.service.committer import LiveService
from experiments.live.service.errors import HANDLERS
from experiments.live.service.routes import ROUTERS
from experiments.live.store import Store

logger = logging.getLogger("tradebrain.service")
STATIC = Path(__file__).parent / "static"

DESCRIPTION = """The live brain over REST. **Authorize** with the bearer token `tradebrain serve` uses: every POST
needs it (401 without); reads are open. Every error has one body, `{"detail": [{"loc", "msg", "type", "value"}]}`:
400 (not JSON), 401, 404 (unknown ticker or decision), 409 (the brain's state refuses the call now: the message
names the fix), 422 (a field: its value and the fix), 503 (the journal refused the commit: nothing changed)."""


class RequestLog:
    """ASGI middleware: one JSON line per request (method, path, status, ms) at DEBUG on ``tradebrain.service``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), [0]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        ms = round((time.perf_counter() - t0) * 1e3, 2)
        logger.debug(
            json.dumps(
                {"event": "request", "method": scope["method"], "path": scope["path"], "status": status[0], "ms": ms}
            )
        )


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
    service = LiveService(brain, store, token, bundle, fresh=state is None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="tradebrain live", version=package_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    for router in ROUTERS:
        app.include_router(router)
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)

    app.add_middleware(RequestLog)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        path = STATIC / name
        if name not in ("dashboard.js", "dashboard.css") or not path.exists():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path)

    return app
