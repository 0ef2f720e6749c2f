"""A small HTTP client of the service with the paper loop's :class:`~experiments.live.paper.Brain` interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import numpy as np


class ServiceBrain:
    """Talks to ``tradebrain serve`` at ``url`` (bearer ``token`` for the state-changing calls)."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        if not token:
            raise ValueError("the service needs a bearer token: set TRADEBRAIN_TOKEN to the token `serve` uses")
        headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/learning", headers=headers, timeout=timeout)

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        if r.status_code != 200:
            raise RuntimeError(f"POST {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()  # type: ignore[no-any-return]

    def observe_bars(self, ticker: str, bars: list[dict[str, Any]], portfolio_state: Mapping[str, Any] | None) -> Any:
        body: dict[str, Any] = {"ticker": ticker, "bars": bars, "portfolio_state": portfolio_state}
        if len(bars) == 1 and "_exit_reason" in bars[0]:
            body["exit_reason"] = bars[0].pop("_exit_reason")
        return self._post("/bars", body)

    def decide_action(self, ticker: str) -> tuple[np.ndarray, dict[str, Any]]:
        d = self._post("/decide", {"ticker": ticker})
        return np.asarray(d["raw_action"], dtype=np.float32), d

    def learn(self, trade: Mapping[str, Any]) -> Any:
        return self._post("/learn", trade)

    def last_time(self, ticker: str) -> str | None:
        r = self.http.get("/regime", params={"ticker": ticker})
        return r.json()["current"]["time"] if r.status_code == 200 and r.json().get("current") else None
