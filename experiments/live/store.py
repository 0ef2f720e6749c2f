"""The live service's journal: SQLite in WAL mode, group commits, a schema version with migrations.

Tables (schema version :data:`SCHEMA_VERSION`):

================  =====================================================================================
``schema``        one row: the schema version (a newer file than this code is refused)
``meta``          key/value: ``bundle_sha256`` (the bundle the journal belongs to), ``created``
``bars``          ``ticker, time, payload``: every bar observed (unique per ticker and time), the bundle's
                  warm-up bars included; a ticker's last bars are read back from here
``decisions``     ``decision_id`` (unique), ``ticker, time, payload``
``trades``        ``trade_id`` (unique: a trade is learned once), ``payload``, ``received``; the ids learned
``breaker``       audited circuit-breaker calls: ``action, reason, payload, at``
``history``       ``kind`` (``equity``, ``regime``, ``weight``) and ``payload``: the dashboard's time series
``snapshots``     the brain's state after the last commit, in parts: ``core`` (bandit, account, counts) and one
                  ``ticker:<name>`` per ticker (features, regime filter; its bars are in ``bars``), rewritten only
                  when its bars change
================  =====================================================================================

Every commit (:meth:`Store.commit`) puts the journal rows of one or more changes and the brain's state after the last
of them in one ``BEGIN IMMEDIATE ... COMMIT``: the service groups the changes that arrive while the previous commit
is running (a group commit: one transaction and one fsync for all of them) and answers each change only after the
commit that holds it. With ``synchronous=FULL`` a commit survives a crash of the process or the machine, so a
restarted service restores exactly the acknowledged state, and a trade id that was acknowledged is never learned
twice (the ``trades`` table's unique key is the set of ids learned).

A commit the file system refuses (disk full, read-only, I/O error, locked) raises :class:`StoreUnavailable` after
the transaction was rolled back: the file holds exactly what it held before, and the next commit tries again (on a
new connection).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
HISTORIES = ("equity", "regime", "weight")
"""Kinds of the ``history`` table (the brain's ``<kind>_history``)."""
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
    2: (  # snapshots small enough to write at every commit: bars, histories and ids learned read from their tables
        "CREATE TABLE history (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL)",
        "CREATE INDEX history_kind ON history (kind, id)",
        # the bars kept in version 1's ticker snapshot (the bundle's warm-up bars were only there)
        "INSERT OR IGNORE INTO bars (ticker, time, payload) SELECT json_extract(t.value, '$.ticker'), "
        "json_extract(b.value, '$.time'), b.value FROM snapshots AS s, json_each(s.state) AS t, "
        "json_each(t.value, '$.bars') AS b WHERE s.part = 'tickers'",
        "INSERT INTO snapshots (part, written, state) SELECT 'ticker:' || json_extract(t.value, '$.ticker'), "
        "s.written, json_remove(t.value, '$.bars') FROM snapshots AS s, json_each(s.state) AS t "
        "WHERE s.part = 'tickers'",
        "DELETE FROM snapshots WHERE part = 'tickers'",
        *(
            f"INSERT INTO history (kind, payload) SELECT '{kind}', h.value FROM snapshots AS s, "
            f"json_each(s.state, '$.{kind}_history') AS h WHERE s.part = 'core' ORDER BY h.key"
            for kind in HISTORIES
        ),
        "UPDATE snapshots SET state = json_remove(state, '$.learned', '$.equity_history', '$.regime_history', "
        "'$.weight_history') WHERE part = 'core'",
    ),
}
"""Statements that bring the schema from version ``v - 1`` to ``v`` (version 0 = an empty file)."""


class StoreError(RuntimeError):
    """A journal this code cannot use (newer schema, another bundle). The message names the fix."""


class StoreUnavailable(RuntimeError):
    """The file system refused a commit (disk full, read-only, I/O error, locked); it was rolled back.

    The service answers 503 with this message; nothing of the refused changes is kept in the file or in memory.
    """


_UNAVAILABLE = {
    "SQLITE_FULL": "the disk holding the journal is full: free space there, then retry",
    "SQLITE_READONLY": "the journal is read-only (file permissions or a read-only mount): make it writable, then retry",
    "SQLITE_IOERR": "the disk holding the journal reported an I/O error: check the disk, then retry",
    "SQLITE_BUSY": "another process holds the journal's write lock: stop it, then retry",
    "SQLITE_LOCKED": "the journal is locked: retry",
    "SQLITE_CANTOPEN": "the journal file cannot be opened (deleted or moved, or its folder is not writable)",
    "SQLITE_PERM": "the journal's file permissions refuse the write: fix them, then retry",
}


def unavailable(exc: sqlite3.Error, path: Path) -> StoreUnavailable | None:
    """The :class:`StoreUnavailable` for a file-system error of SQLite, or None for any other error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    fix = _UNAVAILABLE.get(name) or next((v for k, v in _UNAVAILABLE.items() if name.startswith(k)), None)
    if fix is None:
        return None
    return StoreUnavailable(f"the journal {path} refused the write ({name}: {exc}); nothing was changed; {fix}")


def _dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), allow_nan=False)


def _text(x: Any) -> str:
    return x if isinstance(x, str) else _dumps(x)


@dataclass(frozen=True)
class Entry:
    """The journal rows of one change (see :meth:`Store.commit`).

    Attributes:
        bars: ``(ticker, time, bar)`` rows. decision: A decision record (``decision_id``, ``ticker``, ``time``).
        trade: A learned trade (``trade_id``): a repeated id raises ``sqlite3.IntegrityError`` (nothing is kept).
        breaker: ``(action, reason, payload)`` of an audited breaker call.
        history: ``(kind, row)`` rows appended to the brain's histories (:data:`HISTORIES`).
    """

    bars: Sequence[tuple[str, str, Mapping[str, Any]]] = ()
    decision: Mapping[str, Any] | None = None
    trade: Mapping[str, Any] | None = None
    breaker: tuple[str, str, Mapping[str, Any]] | None = None
    history: Sequence[tuple[str, Sequence[Any]]] = ()


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
        self.synchronous = synchronous
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._conn = self._connect()
        self._broken = False
        self.migrate()
        self._bind(bundle_sha256)
        self._read = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

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
        state: Mapping[str, Any] | str,
        tickers: Sequence[Mapping[str, Any]] | None = None,
        *,
        bars: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
        decision: Mapping[str, Any] | None = None,
        trade: Mapping[str, Any] | None = None,
        breaker: tuple[str, str, Mapping[str, Any]] | None = None,
    ) -> None:
        """One change: :meth:`commit` of one :class:`Entry` (``tickers``: the changed tickers' snapshots)."""
        parts = None if tickers is None else {t["ticker"]: t for t in tickers}
        self.commit([Entry(bars, decision, trade, breaker)], state, parts)

    def commit(
        self,
        entries: Sequence[Entry],
        state: Mapping[str, Any] | str,
        tickers: Mapping[str, Mapping[str, Any] | str] | None = None,
    ) -> None:
        """Journal the rows of ``entries`` and the brain's ``state`` after the last of them in one transaction.

        Args:
            entries: The changes, in the order they were applied.
            state: :meth:`experiments.live.brain.LiveBrain.state_dict` without tickers, recent rows, histories and
                learned ids (a mapping or its JSON text).
            tickers: ``{ticker: snapshot}`` (``TickerHistory.to_json(bars=False)``, JSON text or mapping) of the
                tickers whose bars changed; the others' snapshots are kept.

        Raises:
            StoreUnavailable: The file system refused the commit (the transaction was rolled back).
            sqlite3.IntegrityError: A trade id, decision id or (ticker, time) already stored (nothing was kept).
            ValueError: A value JSON cannot hold (NaN, inf): nothing was kept.
        """
        parts = [("core", _text(state))] + [(f"ticker:{k}", _text(v)) for k, v in (tickers or {}).items()]
        now = time.time()
        rows = {
            "INSERT INTO bars (ticker, time, payload) VALUES (?, ?, ?)": [
                (t, when, _dumps(b)) for e in entries for t, when, b in e.bars
            ],
            "INSERT INTO decisions (decision_id, ticker, time, payload) VALUES (?, ?, ?, ?)": [
                (d["decision_id"], d["ticker"], d["time"], _dumps(d)) for e in entries if (d := e.decision)
            ],
            "INSERT INTO trades (trade_id, payload, received) VALUES (?, ?, ?)": [
                (t["trade_id"], _dumps(t), now) for e in entries if (t := e.trade)
            ],
            "INSERT INTO breaker (action, reason, payload, at) VALUES (?, ?, ?, ?)": [
                (b[0], b[1], _dumps(b[2]), now) for e in entries if (b := e.breaker)
            ],
            "INSERT INTO history (kind, payload) VALUES (?, ?)": [
                (kind, _dumps(row)) for e in entries for kind, row in e.history
            ],
            "INSERT OR REPLACE INTO snapshots (part, written, state) VALUES (?, ?, ?)": [
                (part, now, text) for part, text in parts
            ],
        }
        with self._lock:
            try:
                if self._broken:  # the last commit failed: start again on a new connection
                    self._conn.close()
                    self._conn = self._connect()
                    self._broken = False
                self._transaction(rows)
            except sqlite3.Error as exc:
                error = unavailable(exc, self.path)
                if error is None:
                    raise
                self._broken = True
                raise error from exc

    def _transaction(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            for sql, values in rows.items():
                if values:
                    c.executemany(sql, values)
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                try:
                    c.execute("ROLLBACK")
                except sqlite3.Error:  # a failed disk can refuse the rollback too: SQLite rolls back on reopen
                    pass
            raise

    # ------------------------------------------------------------------------------------------- reads
    def load_state(self, recent: int = 500) -> dict[str, Any] | None:
        """The latest brain state, or None for a new journal: the core snapshot with its ``tickers`` (each with its
        last ``history_bars`` bars), the ids ``learned``, the last ``recent`` decisions and trades and the last
        ``recent`` rows of each history."""
        with self._lock:
            c = self._conn
            parts = dict(c.execute("SELECT part, state FROM snapshots").fetchall())
            if "core" not in parts:
                return None
            state = json.loads(parts.pop("core"))
            state["tickers"] = [self._ticker(json.loads(v)) for k, v in parts.items() if k.startswith("ticker:")]
            state["learned"] = [r[0] for r in c.execute("SELECT trade_id FROM trades")]
            for table in ("decisions", "trades"):
                rows = c.execute(f"SELECT payload FROM {table} ORDER BY id DESC LIMIT ?", (recent,)).fetchall()
                state[table] = [json.loads(r[0]) for r in reversed(rows)]
            for kind in HISTORIES:
                sql = "SELECT payload FROM history WHERE kind = ? ORDER BY id DESC LIMIT ?"
                rows = c.execute(sql, (kind, recent)).fetchall()
                state[f"{kind}_history"] = [json.loads(r[0]) for r in reversed(rows)]
        return state

    def _ticker(self, snap: dict[str, Any]) -> dict[str, Any]:
        """A ticker's snapshot with its last ``history_bars`` bars from the ``bars`` table (unless it holds them)."""
        if "bars" in snap:
            return snap
        sql = "SELECT payload FROM bars WHERE ticker = ? ORDER BY time DESC LIMIT ?"
        rows = self._conn.execute(sql, (snap["ticker"], snap["history_bars"])).fetchall()
        return {**snap, "bars": [json.loads(r[0]) for r in reversed(rows)]}

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """A journaled decision by id, or None.

        Raises:
            StoreUnavailable: The journal cannot be read.
        """
        with self._read_lock:
            try:
                row = self._read.execute(
                    "SELECT payload FROM decisions WHERE decision_id = ?", (decision_id,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise (unavailable(exc, self.path) or exc) from exc
        return None if row is None else json.loads(row[0])  # type: ignore[no-any-return]

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
        with self._lock, self._read_lock:
            self._conn.close()
            self._read.close()
