"""The service's contract against a real uvicorn server: the OpenAPI schema, every error status with its body, the
warm-up of a new ticker, the scores-only mode, extra component keys and learn on a "hold" decision."""

from __future__ import annotations

import json
import math
import sqlite3

import httpx
import pytest

from .server import Server

API = "/api/learning"
POSTS = ("decide", "bars", "learn", "circuit-breaker")


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    srv = Server(tiny_bundle, tmp / "journal.sqlite", tmp / "server.log")
    srv.store = tmp / "journal.sqlite"
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def c(server):
    with httpx.Client(base_url=server.url + API, headers=server.auth, timeout=60) as client:
        yield client


def _bars(n: int, start: int = 0, day0: str = "2020-01-01") -> list[dict]:
    import pandas as pd

    t0 = pd.Timestamp(day0)
    out = []
    for i in range(start, start + n):
        p = 50.0 * math.exp(0.03 * math.sin(i / 6.0))
        t = (t0 + pd.Timedelta(days=i)).isoformat()
        out.append({"time": t, "open": p, "high": p * 1.01, "low": p * 0.99, "close": p, "volume": 1e6})
    return out


def _error(r: httpx.Response, status: int) -> dict:
    """The one error item of a refused call, after checking the status and the error body's shape."""
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and {"loc", "msg", "type"} <= set(detail[0]), detail
    return detail[0]


def test_openapi_declares_the_bearer_scheme_and_every_status(server):
    schema = httpx.get(server.url + "/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for name in POSTS:
        op = schema["paths"][f"{API}/{name}"]["post"]
        assert op["security"] == [{"bearer": []}], name
        expected = {"200", "400", "401", "409", "422", "503"} | ({"404"} if name in ("decide", "learn") else set())
        assert set(op["responses"]) == expected, (name, sorted(op["responses"]))
        for code in expected - {"200"}:
            assert op["responses"][code]["content"]["application/json"]["schema"] == error_ref, (name, code)
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
    for name in ("regime", "weights"):
        op = schema["paths"][f"{API}/{name}"]["get"]
        assert "security" not in op and {"200", "404", "422"} == set(op["responses"]), name
    bar = schema["components"]["schemas"]["BarIn"]["properties"]
    assert bar["close"]["minimum"] == 1e-8 and bar["close"]["maximum"] == 1e12  # the brain's own bounds


def test_auth_errors_and_bodies_that_are_not_json(server):
    r = httpx.post(server.url + API + "/learn", json={"trade_id": "x", "net_return": 0.0})
    item = _error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer" and item["loc"] == ["header", "Authorization"]
    assert "Authorization: Bearer" in item["msg"]
    r = httpx.post(
        server.url + API + "/bars", content=b"{not json", headers={**server.auth, "Content-Type": "application/json"}
    )
    assert _error(r, 400)["type"] == "json_invalid"
    r = httpx.post(server.url + API + "/bars", data={"ticker": "X"}, headers=server.auth)  # a form, not JSON
    assert "application/x-www-form-urlencoded" in _error(r, 400)["msg"]
    r = httpx.delete(server.url + API + "/circuit-breaker")
    assert _error(r, 405)["type"] == "method_not_allowed" and r.headers["allow"] == "GET, POST"


def test_tiny_prices_are_422_naming_field_value_and_fix_and_change_nothing(c):
    before = c.get("/statistics").json()
    bar = {"time": "2020-01-01", "open": 5e-324, "high": 5e-324, "low": 5e-324, "close": 5e-324}
    r = c.post("/bars", json={"ticker": "TINY", "bars": [bar]})
    item = _error(r, 422)
    assert item["loc"] == ["body", "bars", 0, "open"] and item["value"] == "5e-324"
    assert "1e-08" in item["msg"] and "send prices in" in item["msg"]  # the fix
    bad = {"time": "2020-01-01", "open": 10.0, "high": 9.0, "low": 11.0, "close": 10.0}  # high < low
    item = _error(c.post("/bars", json={"ticker": "TINY", "bars": [bad]}), 422)
    assert item["loc"] == ["body", "bars", 0, "high"] and "below low=11.0" in item["msg"]
    after = c.get("/statistics").json()
    assert after == before and "TINY" not in after["tickers"]


@pytest.mark.parametrize("n", [1, 50, 120, 121])
def test_a_ticker_warms_up_over_any_number_of_posts(c, server, n):
    one, all_ = f"warm-one-{n}", f"warm-all-{n}"
    for i, bar in enumerate(_bars(n)):
        r = c.post("/bars", json={"ticker": one, "bars": [bar], "portfolio_state": {"equity": 1e5}})
        assert r.status_code == 200, r.text
        assert r.json()["bars"] == i + 1 and r.json()["ready"] is (i + 1 >= 121)
        assert r.json()["bars_needed"] == max(0, 121 - (i + 1))
    r = c.post("/bars", json={"ticker": all_, "bars": _bars(n)})
    assert r.status_code == 200 and r.json()["ready"] is (n >= 121) and r.json()["bars_needed"] == max(0, 121 - n)
    d = c.post("/decide", json={"ticker": one, "mode": "policy"})
    if n < 121:
        item = _error(d, 409)
        assert (
            item["loc"] == ["body", "ticker"]
            and f"has {n} bars" in item["msg"]
            and f"send {121 - n} more" in item["msg"]
        )
    else:
        assert d.status_code == 200 and d.json()["mode"] == "policy"
    # nothing non-finite reached the journal: every stored JSON parses without NaN or Infinity
    with sqlite3.connect(f"file:{server.store}?mode=ro", uri=True) as db:
        texts = [r[0] for r in db.execute("SELECT state FROM snapshots")]
        texts += [r[0] for r in db.execute("SELECT payload FROM bars WHERE ticker IN (?, ?)", (one, all_))]
    bad: list[str] = []
    for text in texts:
        json.loads(text, parse_constant=bad.append)  # called for NaN, Infinity and -Infinity only
    assert bad == []
    assert any(f'"ticker":"{one}"' in t for t in texts)


def test_state_errors_are_404_and_409_with_the_fix(c):
    item = _error(c.post("/decide", json={"ticker": "NEVER-SEEN"}), 404)
    assert item["loc"] == ["body", "ticker"] and "POST its bars to /bars first" in item["msg"]
    assert "component_scores" in item["msg"]
    assert _error(c.get("/regime", params={"ticker": "NEVER-SEEN"}), 404)["loc"] == ["query", "ticker"]
    assert _error(c.get("/weights", params={"ticker": "NEVER-SEEN"}), 404)["type"] == "not_found"
    item = _error(c.post("/learn", json={"trade_id": "u-1", "net_return": 0.01, "decision_id": "no-such-id"}), 404)
    assert item["loc"] == ["body", "decision_id"] and "not a decision of this brain" in item["msg"]
    item = _error(c.post("/learn", json={"trade_id": "u-2", "net_return": 0.01}), 422)
    assert item["loc"] == ["body", "components"]
    sp = c.get("/regime").json()["history"][0][1]
    last = c.get("/regime", params={"ticker": sp}).json()["current"]["time"]
    r = c.post("/bars", json={"ticker": sp, "bars": [{**_bars(1)[0], "time": last}]})  # the same bar again
    assert "is not after the last bar" in _error(r, 409)["msg"]
    trip = {"action": "trip", "reason": "contract test"}
    assert c.post("/circuit-breaker", json=trip).status_code == 200
    assert "HALTED already" in _error(c.post("/circuit-breaker", json=trip), 409)["msg"]
    assert c.post("/circuit-breaker", json={"action": "reset", "reason": "contract test"}).status_code == 200
    assert (
        "nothing to reset"
        in _error(c.post("/circuit-breaker", json={"action": "reset", "reason": "again"}), 409)["msg"]
    )


def test_scores_only_mode_and_extra_component_keys(c):
    seed_scores = {"theme": 0.9, "technical": 0.8, "ai": 0.7, "sentiment": 0.6}
    seed_scores |= {f"signal_{i:02d}": 0.1 for i in range(33)}  # the seed's example sends 37 scores
    r = c.post("/decide", json={"ticker": "SEED", "component_scores": seed_scores})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["mode"] == "scores" and d["action"] == "buy" and d["components"]["theme"] == 0.9
    assert len(d["warnings"]) == 2 and "ignored 33 key(s) that are not components" in d["warnings"][0]
    assert "the brain reads theme, technical, ai, sentiment" in d["warnings"][0]
    assert "has 0 of 121 bars" in d["warnings"][1]
    assert "SEED" not in c.get("/statistics").json()["tickers"]  # a scores-only decision keeps no bar history
    learned = c.post("/learn", json={"trade_id": "seed-1", "net_return": 0.02, "decision_id": d["decision_id"]})
    assert learned.status_code == 200 and learned.json()["accepted"]
    trade = c.get("/performance", params={"ticker": "SEED"}).json()["trades"][-1]
    assert trade["trade_id"] == "seed-1" and trade["ticker"] == "SEED"  # the ticker comes from the decision
    assert trade["components"] == {k: seed_scores[k] for k in ("theme", "technical", "ai", "sentiment")}
    item = _error(c.post("/decide", json={"ticker": "SEED", "mode": "scores"}), 409)
    assert item["loc"] == ["body", "component_scores"]


def test_learn_on_a_hold_decision_is_409_and_learns_nothing(c):
    hold = c.post("/decide", json={"ticker": "HOLD", "component_scores": {"theme": -0.9, "technical": -0.9}}).json()
    assert hold["action"] == "hold" and hold["mode"] == "scores"
    before = c.get("/weights").json()["weights"], c.get("/statistics").json()["trades"]
    item = _error(
        c.post("/learn", json={"trade_id": "h-1", "net_return": 0.05, "decision_id": hold["decision_id"]}), 409
    )
    assert item["loc"] == ["body", "decision_id"] and "was a 'hold': no position was opened" in item["msg"]
    assert (c.get("/weights").json()["weights"], c.get("/statistics").json()["trades"]) == before


def test_times_with_an_offset_are_kept_in_utc(c):
    bars = _bars(2, day0="2021-03-01")
    bars[0]["time"], bars[1]["time"] = "2021-03-01T09:30:00-05:00", "2021-03-01T14:31:00Z"
    r = c.post("/bars", json={"ticker": "TZ", "bars": bars})
    assert r.status_code == 200, r.text
    assert c.get("/regime", params={"ticker": "TZ"}).json()["current"]["time"] == "2021-03-01T14:31:00"
    late = {**bars[1], "time": "2021-03-01T09:30:00-05:00"}  # 14:30 UTC: before the last bar
    assert (
        "not after the last bar of 'TZ' (2021-03-01T14:31:00)"
        in _error(c.post("/bars", json={"ticker": "TZ", "bars": [late]}), 409)["msg"]
    )
