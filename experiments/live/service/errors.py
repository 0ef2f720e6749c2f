"""Every error the service answers, in one body (:class:`~experiments.live.service.models.ErrorOut`), and the
``responses`` each route declares in the OpenAPI schema.

=====  =======================================================================================================
400    the body is not JSON (or not a JSON object)
401    a state-changing call without ``Authorization: Bearer <token>`` (or with a wrong token)
404    an unknown ticker or decision id (the fix: POST the ticker's bars first, use an id ``/decide`` returned)
405    a method the path does not have (``Allow`` lists those it has)
409    a well-formed call the brain's state refuses: too few bars yet, a bar not after the ticker's last one, a
       trade for a "hold" decision, the breaker already in the asked state
422    a field that breaks the schema or the brain's checks; ``loc`` names it, ``msg`` the value and the fix
503    the journal refused the commit (disk full, read-only, I/O error): nothing was changed, retry later
=====  =======================================================================================================
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from experiments.live.service.committer import InternalError
from experiments.live.service.models import FIXES, ErrorOut, fields_at
from experiments.live.state import LiveInputError
from experiments.live.store import StoreUnavailable

logger = logging.getLogger("tradebrain.service")

DESCRIPTIONS = {
    400: "The body is not JSON: send Content-Type: application/json and a JSON object",
    401: "Missing or wrong bearer token (Authorization: Bearer <token>)",
    404: "Unknown ticker or decision id",
    409: "The brain's state refuses the call now (too few bars, a bar not after the last one, a 'hold' decision, "
    "the breaker already in that state); the message names the fix",
    422: "A field breaks the schema or the brain's checks: loc names it, msg the value and the fix",
    503: "The journal refused the commit (disk full, read-only, I/O error): nothing was changed; retry later",
}
_AUTH_HEADER = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each of ``codes`` with the error body and its description."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorOut, "description": DESCRIPTIONS[code]}
        if code == 401:
            out[code]["headers"] = _AUTH_HEADER
    return out


WRITE = responses(400, 401, 409, 422, 503)
"""What every state-changing call can answer besides 200 (routes add 404 where a name can be unknown)."""


def error_body(loc: list[str | int], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if value is not None:
        item["value"] = value if isinstance(value, str) else repr(value)[:200]
    return {"detail": [item]}


def _loc(where: str, field: str) -> list[str | int]:
    """``"bars[3].close"`` -> ``[where, "bars", 3, "close"]``."""
    out: list[str | int] = [where]
    for part in field.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])+)", part)
        if m is None:
            out.append(part)
        else:
            out.append(m.group(1))
            out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


async def live_error(request: Request, exc: Exception) -> JSONResponse:
    """A refusal of the brain (:class:`LiveInputError` 422, its 404 and 409 subclasses), with the field in ``loc``."""
    assert isinstance(exc, LiveInputError)
    where = "query" if request.method == "GET" else "body"
    body = error_body(_loc(where, exc.field), exc.message, exc.kind)
    return JSONResponse(status_code=exc.status, content=body)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's errors: 400 when the body is not JSON, else 422 with each field, the value received and the fix."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    bad = next((e for e in errors if e["type"] == "json_invalid" or _unparsed(e)), None)
    if bad is not None:
        kind = request.headers.get("content-type") or "no Content-Type"
        why = bad.get("ctx", {}).get("error", bad["msg"]) if bad["type"] == "json_invalid" else f"sent as {kind}"
        msg = f"the body is not JSON ({why}); send Content-Type: application/json and a JSON object"
        return JSONResponse(status_code=400, content=error_body(["body"], msg, "json_invalid"))
    detail = []
    for e in errors:
        loc = [x if isinstance(x, int) else str(x) for x in e["loc"]]
        item = {"loc": loc, "msg": _explain(request.url.path, e, loc), "type": e["type"]}
        detail.append(item | ({"value": repr(e["input"])[:200]} if "input" in e else {}))
    return JSONResponse(status_code=422, content={"detail": detail})


def _unparsed(e: Any) -> bool:
    """The body arrived as bytes (a Content-Type other than JSON): it was never parsed."""
    return list(e["loc"]) == ["body"] and isinstance(e.get("input"), (bytes, bytearray))


def _explain(path: str, e: Any, loc: list[str | int]) -> str:
    """Pydantic's message with the fix: the field's range, the keys an object takes, a missing body."""
    msg, name = e["msg"], loc[-1] if loc else ""
    if e["type"] == "extra_forbidden":
        keys = fields_at(path, loc[:-1])
        return f"{msg}: remove {name!r}" + (f"; this object takes {', '.join(keys)}" if keys else "")
    if loc == ["body"]:
        return f"{msg}: send a JSON object"
    if e["type"] == "missing":
        return f"{msg}: add {name!r}"
    fix = FIXES.get(name) if isinstance(name, str) else None
    return f"{msg}; {fix}" if fix else msg


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's HTTP errors (401, 404 of a path, 405) in the error body; 405 lists every method."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    kind, loc = {401: ("unauthorized", ["header", "Authorization"]), 405: ("method_not_allowed", ["method"])}.get(
        exc.status_code, ("not_found" if exc.status_code == 404 else "http_error", ["path"])
    )
    declared = request.app.openapi()["paths"].get(request.url.path)
    if exc.status_code == 405 and declared:  # every method of the path (its routes live in different routers)
        headers["Allow"] = ", ".join(sorted(m.upper() for m in declared))
    body = error_body(loc, str(exc.detail), kind)
    return JSONResponse(status_code=exc.status_code, content=body, headers=headers)


async def store_error(request: Request, exc: Exception) -> JSONResponse:
    """The journal refused the commit: 503, nothing changed (in the file or in memory)."""
    body = error_body(["journal"], str(exc), "store_unavailable")
    return JSONResponse(status_code=503, content=body, headers={"Retry-After": "5"})


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug (never a client's input): logged with its traceback; the brain is back at its last commit."""
    logger.exception(json.dumps({"event": "internal_error", "path": request.url.path}), exc_info=exc)
    msg = str(exc) if isinstance(exc, InternalError) else f"{type(exc).__name__}: {exc}"
    return JSONResponse(status_code=500, content=error_body(["server"], msg, "internal_error"))


HANDLERS: dict[Any, Any] = {
    LiveInputError: live_error,
    RequestValidationError: validation_error,
    HTTPException: http_error,
    StoreUnavailable: store_error,
    InternalError: internal_error,
    Exception: internal_error,
}
