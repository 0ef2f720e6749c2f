"""The journal's faults through the real service: a full disk and a read-only journal answer 503 with a clear
message, change nothing (in the file or in memory), and the service recovers when the disk does; a restart then
restores exactly what was acknowledged. SIGKILL mid-stream is tested in ``test_service.py``.

Two in-process servers (uvicorn in a thread, so the test reaches the journal's connection) inject the faults
SQLite reports: ``SQLITE_FULL`` raised by a fault-injecting wrapper of the store's transaction, and a real
``SQLITE_READONLY`` from ``PRAGMA query_only`` on every connection while the fault lasts. A third test, as root
where mounts are allowed, puts the journal of a ``tradebrain serve`` subprocess on a 16 MB tmpfs and fills it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from .server import TOKEN, Server, free_port

API = "/api/learning"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READS = ("/statistics", "/weights", "/performance", "/circuit-breaker", "/regime")


class InProcess:
    """``create_app`` under uvicorn in a thread on a loopback port; ``store`` is the app's journal."""

    def __init__(self, bundle: Path, store: Path) -> None:
        import uvicorn

        from experiments.live.service.app import create_app

        self.app = create_app(bundle, store, TOKEN)
        self.store = self.app.state.service.store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            assert time.monotonic() - t0 < 30, "the in-process server did not start"
            time.sleep(0.05)
        self.http = httpx.Client(base_url=self.url + API, headers=AUTH, timeout=30)

    def reads(self) -> dict:
        return {path: self.http.get(path).json() for path in READS}

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(30)


class FullDisk:
    """Fault injector: while on, every transaction of the store fails as SQLite fails on a full disk."""

    def __init__(self, store) -> None:
        self.on = False
        original = store._transaction

        def transaction(rows) -> None:
            if self.on:
                error = sqlite3.OperationalError("database or disk is full")
                error.sqlite_errorname = "SQLITE_FULL"  # what sqlite3 sets on the real error
                raise error
            original(rows)

        store._transaction = transaction


class ReadOnly:
    """While on, every connection of the store is read-only (``PRAGMA query_only``): SQLite's own SQLITE_READONLY."""

    def __init__(self, store) -> None:
        self.store, self.on = store, False
        connect = store._connect

        def connect_read_only() -> sqlite3.Connection:
            conn = connect()
            conn.execute(f"PRAGMA query_only = {int(self.on)}")
            return conn

        store._connect = connect_read_only

    def set(self, on: bool) -> None:
        with self.store._lock:
            self.on = on
            self.store._conn.execute(f"PRAGMA query_only = {int(on)}")


def _next_bar(http: httpx.Client, ticker: str) -> dict:
    import pandas as pd

    last = pd.Timestamp(http.get("/regime", params={"ticker": ticker}).json()["current"]["time"])
    return {
        "time": (last + pd.Timedelta(days=1)).isoformat(),
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.5,
    }


def _refused(r: httpx.Response, words: str) -> None:
    assert r.status_code == 503, r.text
    item = r.json()["detail"][0]
    assert item["type"] == "store_unavailable" and "nothing was changed" in item["msg"] and words in item["msg"], item
    assert r.headers["retry-after"] == "5"


def _exercise_fault(srv: InProcess, fault, words: str) -> list[str]:
    """Acknowledged writes, then a fault: every kind of write is 503 and changes nothing; then recovery."""
    http, ticker = srv.http, srv.app.state.service.brain.spec["warmup"]["ticker"]
    acked = []
    for i in range(5):
        assert http.post("/bars", json={"ticker": ticker, "bars": [_next_bar(http, ticker)]}).status_code == 200
        r = http.post("/learn", json={"trade_id": f"ok-{i}", "net_return": 0.01, "components": {"theme": 0.5}})
        assert r.status_code == 200 and r.json()["accepted"], r.text
        acked.append(f"ok-{i}")
    before, rows_before = srv.reads(), srv.store.count("trades")
    fault.set(True) if hasattr(fault, "set") else setattr(fault, "on", True)
    trade = {"trade_id": "during", "net_return": 0.02, "components": {"ai": 0.7}}
    _refused(http.post("/learn", json=trade), words)
    repeat = {"trade_id": "ok-0", "net_return": 0.5, "components": {"ai": 0.9}}  # a repeat waits for a commit too
    _refused(http.post("/learn", json=repeat), words)
    _refused(http.post("/bars", json={"ticker": ticker, "bars": [_next_bar(http, ticker)]}), words)
    _refused(http.post("/bars", json={"ticker": "NEW", "bars": [_next_bar(http, ticker)]}), words)
    _refused(http.post("/decide", json={"ticker": ticker, "component_scores": {"theme": 0.4}}), words)
    _refused(http.post("/circuit-breaker", json={"action": "trip", "reason": "fault test"}), words)
    assert srv.reads() == before  # nothing changed in memory: same bars, counts, weights, histories, breaker
    assert srv.store.count("trades") == rows_before
    health = http.get("/health").json()["journal"]
    assert health["failures"] >= 5 and words in health["last_error"]
    fault.set(False) if hasattr(fault, "set") else setattr(fault, "on", False)
    r = http.post("/learn", json=trade)  # the disk recovered: the same trade is learned now, once
    assert r.status_code == 200 and r.json()["accepted"] and not r.json()["duplicate"], r.text
    assert http.post("/bars", json={"ticker": ticker, "bars": [_next_bar(http, ticker)]}).status_code == 200
    assert http.post("/learn", json=repeat).json()["duplicate"]  # the undo kept what was committed: still learned
    assert http.get("/health").json()["journal"]["last_error"] is None
    return [*acked, "during"]


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_a_refused_commit_is_503_changes_nothing_and_the_service_recovers(tiny_bundle, tmp_path, kind):
    store = tmp_path / "journal.sqlite"
    srv = InProcess(tiny_bundle, store)
    try:
        if kind == "full":
            acked = _exercise_fault(srv, FullDisk(srv.store), "the disk holding the journal is full")
        else:
            acked = _exercise_fault(srv, ReadOnly(srv.store), "the journal is read-only")
        final = srv.reads()
    finally:
        srv.stop()
    with sqlite3.connect(store) as db:
        rows = [r[0] for r in db.execute("SELECT trade_id FROM trades")]
    assert sorted(rows) == sorted(acked)  # every acknowledged trade once, nothing else
    again = InProcess(tiny_bundle, store)
    try:
        assert again.reads() == final  # a restart restores what was acknowledged, exactly
    finally:
        again.stop()


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None and shutil.which("umount") is not None


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount(8) to make a small tmpfs for the journal")
def test_a_full_file_system_then_sigkill_loses_nothing_acknowledged(tiny_bundle, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mount refused here: {done.stderr.strip()}")
    srv = None
    try:
        srv = Server(tiny_bundle, disk / "journal.sqlite", tmp_path / "server.log")
        http = httpx.Client(base_url=srv.url + API, headers=srv.auth, timeout=30)
        acked, refused = [], 0
        with open(disk / "filler", "wb", buffering=0) as filler:  # take every free byte
            try:
                while True:
                    filler.write(b"\0" * (1 << 12))
            except OSError:
                pass
        for i in range(400):  # pages freed earlier can still take a few writes; then the disk refuses
            trade = {"trade_id": f"f-{i}-" + "x" * 150, "net_return": 0.01, "components": {"theme": 0.3}}
            r = http.post("/learn", json=trade)
            if r.status_code == 200:
                acked.append(trade["trade_id"])
                continue
            _refused(r, "full")
            refused += 1
            if refused == 3:
                break
        assert refused == 3, "the full disk never refused a commit"
        stats = http.get("/statistics").json()
        assert stats["trades"] == len(acked)
        (disk / "filler").unlink()  # the disk recovers
        for i in range(20):
            trade = {"trade_id": f"g-{i}", "net_return": -0.01, "components": {"ai": 0.3}}
            assert http.post("/learn", json=trade).status_code == 200
            acked.append(trade["trade_id"])
        srv.kill()  # SIGKILL: no shutdown, no checkpoint
        srv = Server(tiny_bundle, disk / "journal.sqlite", tmp_path / "server2.log")
        assert httpx.get(srv.url + API + "/statistics").json()["trades"] == len(acked)
        with sqlite3.connect(disk / "journal.sqlite") as db:
            rows = [r[0] for r in db.execute("SELECT trade_id FROM trades")]
        assert sorted(rows) == sorted(acked)
    finally:
        if srv is not None:
            srv.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_change_that_fails_half_way_is_undone(tiny_bundle, tmp_path):
    """A bug (an error after the brain began to change) answers 500 for that call only; the brain goes back to its
    last commit and the next calls work."""
    srv = InProcess(tiny_bundle, tmp_path / "journal.sqlite")
    try:
        http, brain = srv.http, srv.app.state.service.brain
        assert (
            http.post("/learn", json={"trade_id": "a", "net_return": 0.01, "components": {"theme": 0.4}}).status_code
            == 200
        )
        before = srv.reads()
        learn = brain.learn

        def half_way(trade):
            brain.bandit.update({"ai": 0.9}, 0.5, None)  # changed ...
            brain.counts["trades"] += 1
            raise RuntimeError("a bug after the change began")  # ... then failed

        brain.learn = half_way
        r = http.post("/learn", json={"trade_id": "b", "net_return": 0.01, "components": {"theme": 0.4}})
        assert r.status_code == 500 and r.json()["detail"][0]["type"] == "internal_error", r.text
        brain.learn = learn
        t0 = time.monotonic()
        while srv.reads() != before:  # the committer puts the brain back to its last commit
            assert time.monotonic() - t0 < 10, "the brain was not restored"
            time.sleep(0.05)
        r = http.post("/learn", json={"trade_id": "b", "net_return": 0.01, "components": {"theme": 0.4}})
        assert r.status_code == 200 and r.json()["accepted"]
    finally:
        srv.stop()
