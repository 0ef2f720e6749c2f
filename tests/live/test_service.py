"""The REST service against a real uvicorn server on a loopback port."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from .server import Server

API = "/api/learning"
_ids = itertools.count()


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("service")
    srv = Server(tiny_bundle, tmp / "journal.sqlite", tmp / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ticker(tiny_bundle) -> str:
    return json.loads((tiny_bundle / "bundle.json").read_text())["warmup"]["ticker"]


def _opened_by(d: dict) -> dict:
    """The learn fields of a trade opened by decision ``d``: its id when it was a buy, else its components (a
    "hold" opened nothing: learning it by id is refused with 409)."""
    return {"decision_id": d["decision_id"]} if d["action"] == "buy" else {"components": d["components"]}


def _next_bar(server, ticker) -> dict:
    """A bar one day after the ticker's last one (so every test can append)."""
    import pandas as pd

    last = httpx.get(server.url + API + "/regime", params={"ticker": ticker}).json()["current"]["time"]
    t = (pd.Timestamp(last) + pd.Timedelta(days=1)).isoformat()
    return {"time": t, "open": 1400.0, "high": 1410.0, "low": 1390.0, "close": 1405.0, "volume": 1e9}


def test_every_endpoint(server, ticker):
    c = httpx.Client(base_url=server.url, timeout=30)
    health = c.get(API + "/health").json()
    assert health["status"] == "ok" and health["schema_version"] == 2
    assert c.get(API + "/config").json()["action_map"]["max_position"] == 0.2
    r = c.post(
        API + "/bars",
        json={"ticker": ticker, "bars": [_next_bar(server, ticker)], "portfolio_state": {"equity": 100_000.0}},
        headers=server.auth,
    )
    assert r.status_code == 200 and r.json()["ready"] is True
    body = {"ticker": ticker, "component_scores": {"theme": 0.3, "ai": -0.2}, "portfolio_state": {"equity": 100_500.0}}
    d = c.post(API + "/decide", json=body, headers=server.auth).json()
    assert (
        d["action"] in ("buy", "hold")
        and d["components"]["theme"] == 0.3
        and abs(sum(d["weights"].values()) - 1) < 1e-9
    )
    assert 0.005 <= d["stop"] <= 0.10 and 1 <= d["hold_bars"] <= 20 and d["regime"] is not None
    trade = {"trade_id": f"e-{next(_ids)}", "net_return": 0.01, **_opened_by(d)}
    learned = c.post(API + "/learn", json=trade, headers=server.auth).json()
    assert learned["accepted"] is True and learned["weights"]["theme"] > learned["weights"]["ai"]
    stats = c.get(API + "/statistics").json()
    assert (
        stats["decisions"] >= 1
        and stats["trades"] >= 1
        and stats["recent_decisions"][-1]["decision_id"] == d["decision_id"]
    )
    assert set(c.get(API + "/weights").json()["weights"]) == {"theme", "technical", "ai", "sentiment"}
    assert c.get(API + "/regime", params={"ticker": ticker}).json()["current"]["ticker"] == ticker
    assert len(c.get(API + "/performance").json()["equity"]) >= 1
    assert "tradebrain live brain" in c.get(API + "/report").json()["text"]
    trip = c.post(API + "/circuit-breaker", json={"action": "trip", "reason": "test: manual halt"}, headers=server.auth)
    assert trip.json()["state"] == "HALTED"
    halted = c.post(API + "/decide", json={"ticker": ticker}, headers=server.auth).json()
    assert halted["action"] == "hold" and any("halted" in x for x in halted["reasons"])
    reset = c.post(API + "/circuit-breaker", json={"action": "reset", "reason": "test: all clear"}, headers=server.auth)
    assert reset.json()["state"] == "ACTIVE" and reset.json()["events"][-1]["reason"] == "reset: test: all clear"
    schema = c.get("/openapi.json").json()
    for path in (
        "decide",
        "learn",
        "bars",
        "statistics",
        "weights",
        "regime",
        "performance",
        "config",
        "report",
        "health",
        "circuit-breaker",
    ):
        assert API + "/" + path in schema["paths"]


def test_state_changing_calls_need_the_token(server, ticker):
    for path, body in (
        ("/decide", {"ticker": ticker}),
        ("/learn", {"trade_id": "x", "net_return": 0.0}),
        ("/circuit-breaker", {"action": "trip", "reason": "nope"}),
    ):
        assert httpx.post(server.url + API + path, json=body).status_code == 401
        bad = {"Authorization": "Bearer wrong-token-wrong-token"}
        assert httpx.post(server.url + API + path, json=body, headers=bad).status_code == 401
    assert httpx.get(server.url + API + "/statistics").status_code == 200
    assert httpx.get(server.url + API + "/circuit-breaker").json()["state"] == "ACTIVE"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"ticker": "T", "component_scores": {"theme": NaN}}', ["body", "component_scores", "theme"]),
        ('{"ticker": "T", "component_scores": {"theme": 1.5}}', ["body", "component_scores", "theme"]),
        ('{"component_scores": {}}', ["body", "ticker"]),
        (
            '{"ticker": "T", "bar": {"time": "2020-01-01", "open": 1, "high": 1, "low": 1, "close": "abc"}}',
            ["body", "bar", "close"],
        ),
    ],
)
def test_bad_input_is_422_naming_the_field(server, body, loc):
    r = httpx.post(
        server.url + API + "/decide", content=body, headers={**server.auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_bad_trade_is_422(server):
    r = httpx.post(server.url + API + "/learn", json={"trade_id": "n", "net_return": 0.1}, headers=server.auth)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "components"]


def test_duplicate_trade_id_is_counted_once(server):
    before = httpx.get(server.url + API + "/statistics").json()
    trade = {"trade_id": f"dup-{next(_ids)}", "net_return": -0.01, "components": {"theme": 0.5, "technical": -0.5}}
    first = httpx.post(server.url + API + "/learn", json=trade, headers=server.auth).json()
    again = httpx.post(server.url + API + "/learn", json=trade, headers=server.auth).json()
    assert first["accepted"] and not first["duplicate"] and again["duplicate"] and not again["accepted"]
    after = httpx.get(server.url + API + "/statistics").json()
    assert after["trades"] == before["trades"] + 1 and after["duplicates"] == before["duplicates"] + 1


def test_concurrent_decide_and_learn_leave_consistent_statistics(server, ticker):
    before = httpx.get(server.url + API + "/statistics").json()
    errors: list[str] = []

    def worker(k: int) -> None:
        with httpx.Client(base_url=server.url + API, headers=server.auth, timeout=60) as c:
            for i in range(8):
                d = c.post("/decide", json={"ticker": ticker})
                t = c.post(
                    "/learn", json={"trade_id": f"c-{k}-{i}", "net_return": 0.01 * (-1) ** i, **_opened_by(d.json())}
                )
                if d.status_code != 200 or t.status_code != 200 or not t.json()["accepted"]:
                    errors.append(f"{d.status_code} {t.status_code} {t.text[:200]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    after = httpx.get(server.url + API + "/statistics").json()
    assert after["trades"] == before["trades"] + 32 and after["decisions"] == before["decisions"] + 32
    assert after["wins"] == before["wins"] + 16


def test_sigkill_mid_learn_stream_keeps_every_acknowledged_trade_once(tiny_bundle, tmp_path):
    store = tmp_path / "journal.sqlite"
    srv = Server(tiny_bundle, store, tmp_path / "server.log")
    acked: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=srv.url + API, headers=srv.auth, timeout=5) as c:
            for i in range(10_000):
                if stop.is_set():
                    return
                trade = {"trade_id": f"k-{i}", "net_return": 0.01 if i % 3 else -0.01, "components": {"theme": 0.4}}
                try:
                    r = c.post("/learn", json=trade)
                except httpx.HTTPError:
                    return
                if r.status_code == 200 and r.json()["accepted"]:
                    acked.append(trade["trade_id"])

    th = threading.Thread(target=stream)
    th.start()
    while len(acked) < 40 and th.is_alive():
        threading.Event().wait(0.02)
    srv.kill()  # SIGKILL while the stream is still sending
    stop.set()
    th.join(10)
    assert len(acked) >= 40
    with sqlite3.connect(store) as db:
        rows = [r[0] for r in db.execute("SELECT trade_id FROM trades")]
    assert len(rows) == len(set(rows)) and set(acked) <= set(rows) and len(rows) <= len(acked) + 1
    again = Server(tiny_bundle, store, tmp_path / "server2.log")
    try:
        stats = httpx.get(again.url + API + "/statistics").json()
        assert stats["trades"] == len(rows)  # the restored brain holds exactly the committed trades
        with httpx.Client(base_url=again.url + API, headers=again.auth) as c:
            replies = [
                c.post("/learn", json={"trade_id": t, "net_return": 0.5, "components": {"ai": 0.9}}).json()
                for t in acked[-10:]
            ]
        assert all(r["duplicate"] for r in replies)
        assert httpx.get(again.url + API + "/statistics").json()["trades"] == len(rows)
    finally:
        again.stop()


def test_dashboard_page_and_script_are_served(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and '<canvas id="equity"' in page.text and "http" not in page.text.split("<body>")[1]
    js = httpx.get(server.url + "/static/dashboard.js")
    assert js.status_code == 200 and "/api/learning" in js.text and "cdn" not in js.text.lower()


def test_store_refuses_newer_schema_and_other_bundles(tmp_path: Path):
    from experiments.live.store import Store, StoreError

    s = Store(tmp_path / "j.sqlite", "aaa")
    assert s.version() == 2
    s.close()
    with pytest.raises(StoreError, match="journal of another bundle"):
        Store(tmp_path / "j.sqlite", "bbb")
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        db.execute("UPDATE schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99; this tradebrain knows up to 2"):
        Store(tmp_path / "j.sqlite", "aaa")


def test_a_restarted_service_restores_the_brain_exactly(tiny_bundle, ticker, tmp_path):
    """Bars, decisions, trades and a breaker trip, then a restart on the same store: every read endpoint answers
    what it answered before."""

    def read(c: httpx.Client, path: str, **params: str) -> dict:
        r = c.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    store = tmp_path / "journal.sqlite"
    srv = Server(tiny_bundle, store, tmp_path / "server.log")
    reads = ("/statistics", "/weights", "/performance", "/report")
    try:
        with httpx.Client(base_url=srv.url + API, headers=srv.auth, timeout=10) as c:
            for i in range(6):
                assert c.post("/bars", json={"ticker": ticker, "bars": [_next_bar(srv, ticker)]}).status_code == 200
                d = c.post("/decide", json={"ticker": ticker, "component_scores": {"theme": 0.5, "ai": -0.2}}).json()
                trade = {"trade_id": f"r-{i}", "net_return": 0.01 if i % 2 else -0.005, **_opened_by(d)}
                assert c.post("/learn", json=trade).json()["accepted"]
            c.post("/circuit-breaker", json={"action": "trip", "reason": "restore test"})
            before = {path: read(c, path) for path in reads}
            before["/regime"] = read(c, "/regime", ticker=ticker)
    finally:
        srv.stop()
    again = Server(tiny_bundle, store, tmp_path / "server2.log")
    try:
        with httpx.Client(base_url=again.url + API, headers=again.auth, timeout=10) as c:
            after = {path: read(c, path) for path in reads}
            after["/regime"] = read(c, "/regime", ticker=ticker)
    finally:
        again.stop()
    for path, value in before.items():
        assert after[path] == value, path
    assert after["/statistics"]["trades"] == 6 and after["/statistics"]["breaker"] == "HALTED"
