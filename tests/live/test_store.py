"""The journal on its own (no brain, no server): its unique keys, group commits, migration and refused commits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from experiments.live.store import MIGRATIONS, SCHEMA_VERSION, Entry, Store, StoreUnavailable

CORE = {"format": 1, "counts": {"trades": 0}}


def _trades(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT trade_id FROM trades ORDER BY id")]


def test_the_same_trade_id_is_refused_by_the_store_itself(tmp_path):
    """The brain drops repeats before the store sees them; the store keeps its own promise all the same."""
    s = Store(tmp_path / "j.sqlite", "bundle")
    s.commit([Entry(trade={"trade_id": "t-1", "net_return": 0.01})], CORE)
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: trades\.trade_id"):
        s.commit([Entry(trade={"trade_id": "t-1", "net_return": 0.5})], {**CORE, "counts": {"trades": 2}})
    s.close()
    assert _trades(tmp_path / "j.sqlite") == ["t-1"]
    assert Store(tmp_path / "j.sqlite", "bundle").load_state()["trades"] == [{"trade_id": "t-1", "net_return": 0.01}]


def test_a_group_commit_is_all_or_nothing(tmp_path):
    s = Store(tmp_path / "j.sqlite", "bundle")
    s.commit([Entry(trade={"trade_id": f"a-{i}"}) for i in range(5)], CORE)
    group = [Entry(trade={"trade_id": "b-1"}), Entry(bars=[("X", "2020-01-01T00:00:00", {"close": 1.0})])]
    group.append(Entry(trade={"trade_id": "a-3"}))  # a repeat inside the group: the whole group is refused
    with pytest.raises(sqlite3.IntegrityError):
        s.commit(group, {**CORE, "counts": {"trades": 99}})
    assert _trades(tmp_path / "j.sqlite") == [f"a-{i}" for i in range(5)]
    assert s.count("bars") == 0 and s.load_state()["counts"] == {"trades": 0}
    with pytest.raises(ValueError, match="Out of range float values"):
        s.commit([Entry(trade={"trade_id": "nan", "net_return": float("nan")})], CORE)
    assert s.count("trades") == 5


def test_the_version_1_journal_is_migrated(tmp_path):
    """A journal written by schema version 1 (ticker histories and the time series inside the snapshot) opens as
    version 2 with the same state: bars, ids learned and histories read back from their tables."""
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema VALUES (1)")
        for stmt in MIGRATIONS[1]:
            db.execute(stmt)
        db.execute("INSERT INTO meta VALUES ('bundle_sha256', 'bundle')")
        bars = [
            {"time": f"2020-01-0{i}T00:00:00", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0} for i in (1, 2, 3)
        ]
        db.execute(
            "INSERT INTO bars (ticker, time, payload) VALUES ('X', ?, ?)", (bars[2]["time"], json.dumps(bars[2]))
        )
        ticker = {"ticker": "X", "history_bars": 600, "bars": bars, "features": None, "regime": [0.2] * 5}
        core = {
            **CORE,
            "learned": ["t-1"],
            "equity_history": [["2020-01-03", 1.0, 0.0, "ACTIVE"]],
            "regime_history": [],
        }
        core["weight_history"] = [["2020-01-03", 0.25, 0.25, 0.25, 0.25]]
        db.execute("INSERT INTO snapshots VALUES ('core', 0, ?)", (json.dumps(core),))
        db.execute("INSERT INTO snapshots VALUES ('tickers', 0, ?)", (json.dumps([ticker]),))
        db.execute("INSERT INTO trades (trade_id, payload, received) VALUES ('t-1', '{}', 0)")
    s = Store(path, "bundle")
    assert s.version() == SCHEMA_VERSION == 2
    state = s.load_state()
    assert [t["ticker"] for t in state["tickers"]] == ["X"] and state["tickers"][0]["bars"] == bars
    assert state["learned"] == ["t-1"] and state["equity_history"] == [["2020-01-03", 1.0, 0.0, "ACTIVE"]]
    assert state["weight_history"] == [["2020-01-03", 0.25, 0.25, 0.25, 0.25]] and state["regime_history"] == []
    assert "learned" not in json.loads(sqlite3.connect(path).execute("SELECT state FROM snapshots").fetchone()[0])


def test_a_full_journal_refuses_the_commit_keeps_the_file_and_recovers(tmp_path):
    """SQLite's own page limit stands in for a full disk: the commit raises StoreUnavailable naming SQLITE_FULL
    and the fix, the file holds what it held, and the next commit after the limit is raised succeeds."""
    s = Store(tmp_path / "j.sqlite", "bundle")
    s.commit([Entry(trade={"trade_id": "kept"})], CORE)
    pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
    s._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [Entry(trade={"trade_id": f"big-{i}", "pad": "x" * 4000}) for i in range(50)]
    with pytest.raises(
        StoreUnavailable, match=r"SQLITE_FULL.*nothing was changed; the disk holding the journal is full"
    ):
        s.commit(big, {**CORE, "counts": {"trades": 51}})
    assert _trades(tmp_path / "j.sqlite") == ["kept"] and s.load_state()["counts"] == CORE["counts"]
    s.commit(big, {**CORE, "counts": {"trades": 51}})  # a new connection: no page limit any more
    assert len(_trades(tmp_path / "j.sqlite")) == 51


def test_a_read_only_journal_refuses_the_commit(tmp_path):
    s = Store(tmp_path / "j.sqlite", "bundle")
    s._conn.execute("PRAGMA query_only = 1")
    with pytest.raises(StoreUnavailable, match=r"SQLITE_READONLY.*make it writable"):
        s.commit([Entry(trade={"trade_id": "t"})], CORE)
    s.commit([Entry(trade={"trade_id": "t"})], CORE)
    assert _trades(tmp_path / "j.sqlite") == ["t"]
