"""The live service's journal: SQLite in WAL mode, one transaction per write, a schema version with migrations.

Tables (schema version :data:`SCHEMA_VERSION`):

================  =====================================================================================
``schema``        one row: the schema version (a newer file than this code is refused)
``meta``          key/value: ``bundle_sha256`` (the bundle the journal belongs to), ``created``
``bars``          ``ticker, time, payload``: every bar observed (unique per ticker and time)
``decisions``     ``decision_id`` (unique), ``ticker, time, payload``
``trades``        ``trade_id`` (unique: a trade is learned once), ``payload``, ``received``
``breaker``       audited circuit-breaker calls: ``action, reason, payload, at``
``snapshots``     the brain's state after the write, latest only, in parts: ``core`` (bandit, account, counts, ids
                  learned) and ``tickers`` (histories and regime filters, rewritten only when bars arrive); the
                  recent decisions and trades are read back from their tables
================  =====================================================================================

Every write (:meth:`Store.write`) puts its journal rows and the brain's new state in one ``BEGIN IMMEDIATE ...
COMMIT``; the service answers only after the commit. With ``synchronous=FULL`` a commit survives a crash of the
process or the machine, so a restarted service restores exactly the acknowledged state, and a trade id that was
acknowledged is never learned twice (the ``trades`` table's unique key and the snapshot's learned ids agree).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE bars (id INTEGER PRIMARY KEY, ticker TEXT NOT NULL, time TEXT NOT NULL, payload TEXT NOT NULL,"
        " UNIQUE (ticker, time))",
        "CREATE TABLE decisions (id INTEGER PRIMARY KEY, decision_id TEXT NOT NULL UNIQUE, ticker TEXT NOT NULL,"
        " time TEXT NOT NULL, payload TEXT NOT NULL)",
        "CREATE TABLE trades (id INTEGER PRIMARY KEY, trade_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL,"
        " received REAL NOT NULL)",
        "CREATE TABLE breaker (id INTEGER PRIMARY KEY, action TEXT NOT NULL, reason TEXT NOT NULL,"
        " payload TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE TABLE snapshots (part TEXT PRIMARY KEY, written REAL NOT NULL, state TEXT NOT NULL)",
    ),
}
"""Statements that bring the schema from version ``v - 1`` to ``v`` (version 0 = an empty file)."""


class StoreError(RuntimeError):
    """A journal this code cannot use (newer schema, another bundle). The message names the fix."""


def _dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), allow_nan=False)


class Store:
    """The journal of one live brain (see the module docstring). Thread-safe: writes are serialised.

    Args:
        path: SQLite file (created with its folder).
        bundle_sha256: Identity of the bundle the brain was loaded from; a journal of another bundle is refused.
        synchronous: SQLite ``synchronous`` pragma: ``"FULL"`` (default: a commit survives a power loss) or
            ``"NORMAL"`` (survives a process crash only; faster).
    """

    def __init__(self, path: str | Path, bundle_sha256: str, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous={synchronous!r}; choose 'FULL' or 'NORMAL'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self.migrate()
        self._bind(bundle_sha256)

    # ------------------------------------------------------------------------------------------- schema
    def version(self) -> int:
        """Schema version of the file (0 for a new, empty file)."""
        has = self._conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema'").fetchone()
        if not has:
            return 0
        row = self._conn.execute("SELECT version FROM schema").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Bring the file to :data:`SCHEMA_VERSION`, one transaction per step; returns the version."""
        with self._lock:
            current = self.version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {current}; this tradebrain knows up to {SCHEMA_VERSION}: "
                    "upgrade tradebrain or start a new store file"
                )
            for v in range(current + 1, SCHEMA_VERSION + 1):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    if v == 1:
                        self._conn.execute("CREATE TABLE schema (version INTEGER NOT NULL)")
                        self._conn.execute("INSERT INTO schema VALUES (0)")
                    for stmt in MIGRATIONS[v]:
                        self._conn.execute(stmt)
                    self._conn.execute("UPDATE schema SET version = ?", (v,))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            return SCHEMA_VERSION

    def _bind(self, bundle_sha256: str) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE key='bundle_sha256'").fetchone()
        if row is None:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("INSERT INTO meta VALUES ('bundle_sha256', ?)", (bundle_sha256,))
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('created', ?)", (str(time.time()),))
            self._conn.execute("COMMIT")
        elif row[0] != bundle_sha256:
            raise StoreError(
                f"{self.path} is the journal of another bundle (bundle.json sha256 {row[0][:12]}...); "
                "use a new --store file for this bundle"
            )

    # ------------------------------------------------------------------------------------------- writes
    def write(
        self,
        state: Mapping[str, Any],
        tickers: Sequence[Any] | None = None,
        *,
        bars: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
        decision: Mapping[str, Any] | None = None,
        trade: Mapping[str, Any] | None = None,
        breaker: tuple[str, str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Journal rows and the brain's new ``state`` in one transaction (all or nothing).

        Args:
            state: :meth:`experiments.live.brain.LiveBrain.state_dict` after the change, without tickers and recent
            rows. tickers: The ``tickers`` part when bars changed it (None keeps the stored one). bars: ``(ticker, time,
            bar)`` rows. decision: A decision record (``decision_id``, ``ticker``, ``time``). trade: A learned trade
            (``trade_id``); a repeated id raises ``sqlite3.IntegrityError``. breaker: ``(action, reason, payload)`` of
            an audited breaker call.
        """
        parts = [("core", _dumps(state))] + ([] if tickers is None else [("tickers", _dumps(list(tickers)))])
        now = time.time()
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                if bars:
                    c.executemany(
                        "INSERT INTO bars (ticker, time, payload) VALUES (?, ?, ?)",
                        [(t, when, _dumps(b)) for t, when, b in bars],
                    )
                if decision is not None:
                    c.execute(
                        "INSERT INTO decisions (decision_id, ticker, time, payload) VALUES (?, ?, ?, ?)",
                        (decision["decision_id"], decision["ticker"], decision["time"], _dumps(decision)),
                    )
                if trade is not None:
                    c.execute(
                        "INSERT INTO trades (trade_id, payload, received) VALUES (?, ?, ?)",
                        (trade["trade_id"], _dumps(trade), now),
                    )
                if breaker is not None:
                    c.execute(
                        "INSERT INTO breaker (action, reason, payload, at) VALUES (?, ?, ?, ?)",
                        (breaker[0], breaker[1], _dumps(breaker[2]), now),
                    )
                c.executemany(
                    "INSERT OR REPLACE INTO snapshots (part, written, state) VALUES (?, ?, ?)",
                    [(part, now, text) for part, text in parts],
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------------------------------- reads
    def load_state(self, recent: int = 500) -> dict[str, Any] | None:
        """The latest brain state with its ``tickers`` and the last ``recent`` decisions and trades, or None."""
        with self._lock:
            c = self._conn
            parts = dict(c.execute("SELECT part, state FROM snapshots").fetchall())
            if "core" not in parts:
                return None
            state = json.loads(parts["core"])
            state["tickers"] = json.loads(parts.get("tickers", "[]"))
            for table, key in (("decisions", "decisions"), ("trades", "trades")):
                rows = c.execute(f"SELECT payload FROM {table} ORDER BY id DESC LIMIT ?", (recent,)).fetchall()
                state[key] = [json.loads(r[0]) for r in reversed(rows)]
        return state

    def trade_ids(self) -> list[str]:
        """Learned trade ids in the order they were acknowledged."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT trade_id FROM trades ORDER BY id")]

    def count(self, table: str) -> int:
        if table not in ("bars", "decisions", "trades", "breaker"):
            raise ValueError(f"table={table!r}; choose bars, decisions, trades or breaker")
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
