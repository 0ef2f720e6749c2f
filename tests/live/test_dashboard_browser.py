"""The dashboard in a real headless Chromium: data in every panel, no console errors, and a screenshot to look at.

A real ``tradebrain serve`` (uvicorn on a loopback port, :mod:`tests.live.server`) is fed bars with equity marks,
decisions, learned trades and a breaker trip and reset through the API; then selenium opens ``GET /`` and waits
until every panel shows what was fed. The screenshot goes to the test's tmp dir and to ``/tmp/dashboard.png``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import httpx
import pytest

from .server import Server

API = "/api/learning"
SCREENSHOT = Path("/tmp/dashboard.png")
N_BARS = 30
OTHER = "demo"
"""The second ticker: not in the bundle, warmed up with 130 bars in one post."""
REGIMES = ("bull_momentum", "bear_defensive", "choppy", "crisis", "theme_driven")
COMPONENTS = ("theme", "technical", "ai", "sentiment")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(f"needs chromium and chromedriver on PATH (chromium: {browser}, chromedriver: {driver})")
    return browser, driver


@pytest.fixture(scope="module")
def fed_server(tiny_bundle, tmp_path_factory):
    """A running service with two tickers: the bundle's own (bars with equity marks) and a second one warmed up
    from nothing; decisions, trades (with exit reasons) and a breaker trip and reset."""
    tmp = tmp_path_factory.mktemp("dashboard")
    srv = Server(tiny_bundle, tmp / "journal.sqlite", tmp / "server.log")
    try:
        _feed(srv, json.loads((tiny_bundle / "bundle.json").read_text())["warmup"]["ticker"])
        yield srv
    finally:
        srv.stop()


def _bar(t, close: float) -> dict:
    return {"time": t.isoformat(), "open": close * 0.998, "high": close * 1.01, "low": close * 0.99, "close": close}


def _trade(c, ticker: str, i: int, d: dict) -> None:
    """Learn the trade opened by decision ``d`` (by id when it was a buy; else with its components and ticker)."""
    won = i % 10 == 4
    trade = {
        "trade_id": f"{ticker}-{i}",
        "net_return": 0.02 if won else -0.01,
        "exit_reason": "target" if won else "stop",
    }
    if d["action"] == "buy":
        trade["decision_id"] = d["decision_id"]  # the ticker comes from the decision
    else:
        trade.update(components=d["components"], ticker=ticker)
    r = c.post("/learn", json=trade)
    assert r.status_code == 200 and r.json()["accepted"], r.text


def _feed(srv: Server, ticker: str) -> None:
    import pandas as pd

    with httpx.Client(base_url=srv.url + API, headers=srv.auth, timeout=30) as c:
        last = pd.Timestamp(c.get("/regime", params={"ticker": ticker}).json()["current"]["time"])
        history = [_bar(last - pd.Timedelta(days=200 - i), 50.0 * (1 + 0.01 * math.sin(i / 5))) for i in range(130)]
        r = c.post("/bars", json={"ticker": OTHER, "bars": history})
        assert r.status_code == 200 and r.json()["ready"], r.text
        close, equity = 1400.0, 100_000.0
        for i in range(N_BARS):
            close *= 1 + 0.012 * math.sin(i / 3.0) + 0.002
            equity *= 1 + 0.0006 * math.sin(i / 4.0)  # a rise, a dip of a fraction of a percent, a recovery
            t = last + pd.Timedelta(days=i + 1)
            body = {
                "ticker": ticker,
                "bars": [{**_bar(t, close), "volume": 1e9}],
                "portfolio_state": {"equity": equity},
            }
            assert c.post("/bars", json=body).status_code == 200
            assert c.post("/bars", json={"ticker": OTHER, "bars": [_bar(t, close / 28)]}).status_code == 200
            if i % 5 == 4:  # a decision of each ticker and the trades they led to, every fifth bar
                for name in (ticker, OTHER):
                    scores = {"theme": 0.6 * math.cos(i), "technical": 0.4, "ai": -0.3 * math.sin(i), "sentiment": 0.1}
                    d = c.post("/decide", json={"ticker": name, "component_scores": scores})
                    assert d.status_code == 200, d.text
                    _trade(c, name, i, d.json())
        assert (
            c.post("/circuit-breaker", json={"action": "trip", "reason": "dashboard test: manual halt"}).status_code
            == 200
        )
        r = c.post("/circuit-breaker", json={"action": "reset", "reason": "dashboard test: all clear"})
        assert r.json()["state"] == "ACTIVE"


# Pixels drawn inside a canvas' plot frame (the frame itself and the axis labels excluded).
_INK = """
const c = document.getElementById(arguments[0]);
const pad = Number(c.dataset.pad);
const data = c.getContext("2d").getImageData(pad + 2, 7, c.width - pad - 9, c.height - 24).data;
let n = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
return n;
"""


def _rows(driver, tbody: str) -> list[list[str]]:
    """The cells of a table body, read in one script call: the page re-renders every 5 s, so element handles
    found in one call can be stale in the next."""
    script = (
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tr'))"
        ".map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText));"
    )
    return driver.execute_script(script, tbody)


def _text(driver, element_id: str) -> str:
    """An element's text, read in one script call (see :func:`_rows`)."""
    return driver.execute_script("return document.getElementById(arguments[0]).innerText;", element_id)


def _browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = _chromium()
    opts = Options()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1500",
        # no background traffic: this machine's network is closed except for package registries
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)


def _shows(driver, ticker: str) -> bool:
    """The page has rendered every panel for ``ticker``."""
    return (
        driver.execute_script("return document.body.dataset.loaded") == "1"
        and driver.execute_script("return document.body.dataset.ticker") == ticker
        and _text(driver, "regime-current").startswith(f"{ticker}: ")
        and all(len(_rows(driver, t)) > 0 for t in ("decisions", "trades", "breaker-events"))
        and all(r[1] == ticker for r in _rows(driver, "decisions") + _rows(driver, "trades"))
    )


def test_dashboard_renders_every_panel_per_ticker_without_console_errors(fed_server, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _browser(tmp_path)
    try:
        driver.set_page_load_timeout(20)
        driver.get(fed_server.url + "/")
        WebDriverWait(driver, 15, poll_frequency=0.2).until(lambda d: _shows(d, OTHER))  # the last ticker seen
        png = driver.get_screenshot_as_png()  # before the checks, so a failing run leaves one to look at
        (tmp_path / "dashboard.png").write_bytes(png)
        SCREENSHOT.write_bytes(png)
        select = Select(driver.find_element("id", "ticker"))
        assert [o.text for o in select.options] == ["sp500", OTHER]
        text = {
            k: _text(driver, k)
            for k in ("status", "equity-summary", "regime-current", "weights-current", "breaker-state")
        }
        assert text["status"].startswith("12 decisions, 12 trades, breaker ACTIVE"), text
        assert f"{N_BARS} marks" in text["equity-summary"] and "since the start" in text["equity-summary"], text
        assert any(r in text["regime-current"] for r in REGIMES) and "confidence" in text["regime-current"], text
        assert text["weights-current"].startswith(f"{OTHER}'s regime now: "), text
        weights = dict(part.rsplit(" ", 1) for part in text["weights-current"].split(" now: ")[1].split(", "))
        assert set(weights) == set(COMPONENTS) and abs(sum(map(float, weights.values())) - 1) < 0.02, text
        assert text["breaker-state"].startswith("state ACTIVE") and "2 events" in text["breaker-state"], text
        assert "last decision: theme" in _text(driver, "weights-caption")
        for canvas in ("equity", "drawdown", "regimes", "weights"):
            assert driver.execute_script(_INK, canvas) > 200, f"canvas {canvas} has no curve"
        labels = json.loads(driver.execute_script("return document.getElementById('equity').dataset.labels"))
        assert len(labels) >= 3 and len(set(labels)) == len(labels), labels  # a readable scale: distinct ticks
        legends = {k: _text(driver, k) for k in ("regime-legend", "weights-legend")}
        assert all(r in legends["regime-legend"] for r in REGIMES) and all(
            c in legends["weights-legend"] for c in COMPONENTS
        )

        decisions, trades, events = (_rows(driver, t) for t in ("decisions", "trades", "breaker-events"))
        assert len(decisions) == 6 and all(r[2] in ("buy", "hold") and r[8] for r in decisions), decisions
        assert {r[0] for r in trades} == {f"{OTHER}-{i}" for i in range(4, N_BARS, 5)}, trades
        assert all(r[3] in ("target", "stop") for r in trades), trades  # the exit reason
        newest_first = [("HALTED", "ACTIVE"), ("ACTIVE", "HALTED")]
        assert [(r[1], r[2]) for r in events] == newest_first, events
        assert "reset: dashboard test: all clear" in events[0][3], events

        select.select_by_visible_text("sp500")  # every ticker panel follows the selector
        WebDriverWait(driver, 15, poll_frequency=0.2).until(lambda d: _shows(d, "sp500"))
        trades = _rows(driver, "trades")
        assert {r[0] for r in trades} == {f"sp500-{i}" for i in range(4, N_BARS, 5)}, trades
        assert driver.current_url.endswith("#ticker=sp500")
        assert _text(driver, "weights-current").startswith("sp500's regime now: ")

        logs = driver.get_log("browser")
        severe = [e for e in logs if e["level"] == "SEVERE"]
        assert severe == [], severe
    finally:
        driver.quit()
