"""The service's state: one :class:`LiveBrain`, its :class:`Store` and the group commit that makes each change durable.

A change (a bar, a decision, a learned trade, a breaker call) runs on the event loop: the brain checks its input and
changes (a refused input raises before anything changes), the change's journal rows join the pending list, and the
request waits for the commit that holds them. A committer thread takes everything pending at once, with a snapshot
of the brain's state after the last of those changes, and commits it in one SQLite transaction (one fsync): a group
commit. Only then are the requests answered. Changes that arrive while a commit runs wait for the next one.

When the file system refuses a commit (disk full, read-only, I/O error), every change not yet committed is undone in
memory (the brain goes back to the last committed state, kept as JSON text) and each of those requests is answered
503; the next change tries again. Reads see the brain in memory, which may hold changes whose commit is running (a
few milliseconds); what was acknowledged is always in the journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from experiments.live.brain import LiveBrain
from experiments.live.state import LiveInputError, TickerHistory
from experiments.live.store import Entry, Store, StoreUnavailable

logger = logging.getLogger("tradebrain.service")
T = TypeVar("T")


def _dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), allow_nan=False)


@dataclass
class _Change:
    """One applied change waiting for its commit."""

    entry: Entry
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    trade_id: str | None = None
    tickers: frozenset[str] = frozenset()


@dataclass
class _Committed:
    """The brain's state as of the last commit, kept to undo what a refused commit held.

    Attributes:
        core: The core snapshot (JSON text). tickers: Each ticker's snapshot without bars (JSON text).
        bars: Each ticker's last bars (their JSON). recent: The recent decisions, trades and the histories.
        order: The tickers in the brain's order.
    """

    core: str
    tickers: dict[str, str]
    bars: dict[str, deque[dict[str, Any]]]
    recent: dict[str, list[Any]]
    order: list[str] = field(default_factory=list)


class InternalError(RuntimeError):
    """A change failed after it had begun to change the brain (a bug): the brain was put back to its last commit."""


class LiveService:
    """The brain, its journal and the group commit (see the module docstring).

    Args:
        brain: The brain, restored from ``store``.
        store: Its journal.
        token: The bearer token of the state-changing calls.
        bundle: The bundle folder (for ``/health``).
        fresh: ``store`` is a new journal: its first commit holds the brain as loaded from the bundle.
    """

    def __init__(self, brain: LiveBrain, store: Store, token: str, bundle: Path, *, fresh: bool = False) -> None:
        self.brain, self.store, self.token, self.bundle = brain, store, token, bundle
        self.lock = threading.Lock()
        """Guards the brain: the event loop changes and reads it, the committer snapshots or restores it."""
        self._wake = threading.Condition(self.lock)
        self._pending: list[_Change] = []
        self._poison: BaseException | None = None
        self._dead: BaseException | None = None
        self._closed = False
        brain.find_decision = store.decision
        self._committed = self._snapshot_all()
        if fresh:  # a new journal starts with the bundle's own state (its warmed-up ticker and bars)
            rows = [(t, b["time"], b) for t, bars in self._committed.bars.items() for b in bars]
            store.commit([Entry(bars=rows)], self._committed.core, self._committed.tickers)
        self.stats = {"commits": 0, "changes": 0, "failures": 0, "last_error": None}
        self._thread = threading.Thread(target=self._run, name="tradebrain-committer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------------- changes
    async def change(self, fn: Callable[[], T], journal: Callable[[T], Entry]) -> T:
        """Apply ``fn()`` to the brain, then wait until ``journal(result)`` is committed; returns the result.

        Raises:
            LiveInputError: ``fn`` refused its input (nothing changed).
            StoreUnavailable: The commit was refused: the change (and every later uncommitted one) was undone.
            InternalError: ``fn`` failed after it began to change the brain; the brain goes back to its last commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._wake:
            if self._poison is not None:
                raise StoreUnavailable("the service is restoring its last committed state; retry in a moment")
            if self._dead is not None:
                raise InternalError(f"the committer stopped ({self._dead}); restart the service")
            dirty_before, logged_before = set(self.brain.dirty), dict(self.brain.logged)
            try:
                result = fn()
                entry = dataclasses.replace(journal(result), history=self._new_rows(logged_before))
            except (LiveInputError, StoreUnavailable):
                raise
            except BaseException as exc:  # a bug: undo everything uncommitted (once the running commit ends)
                self._poison = exc
                self._wake.notify()
                raise InternalError(f"{type(exc).__name__}: {exc}; the brain goes back to its last commit") from exc
            tickers = frozenset(self.brain.dirty - dirty_before)
            learned = None if entry.trade is None else entry.trade["trade_id"]  # a trade learned now (not a repeat)
            self._pending.append(_Change(entry, future, loop, learned, tickers))
            self._wake.notify()
        await future
        return result

    def _new_rows(self, before: dict[str, int]) -> list[tuple[str, list[Any]]]:
        """The history rows the brain appended since its counters were ``before``."""
        out: list[tuple[str, list[Any]]] = []
        for kind, n in self.brain.logged.items():
            if n > before[kind]:
                rows = getattr(self.brain, f"{kind}_history")
                out.extend((kind, row) for row in list(rows)[-(n - before[kind]) :])
        return out

    def read(self, fn: Callable[[], T]) -> T:
        """``fn()`` under the brain's lock (a consistent read of the brain in memory)."""
        with self.lock:
            return fn()

    # ------------------------------------------------------------------------------------------- committer
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug in the committer itself: refuse every write from now on, loudly
            logger.exception(json.dumps({"event": "committer_stopped", "error": str(exc)}))
            with self._wake:
                self._dead, failed, self._pending = exc, self._pending, []
            for change in failed:
                change.loop.call_soon_threadsafe(_settle, change.future, InternalError(f"the committer stopped: {exc}"))

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and self._poison is None and not self._closed:
                    self._wake.wait()
                if self._poison is not None:
                    self._undo(self._pending, InternalError("an earlier change failed; the brain was restored"))
                    self._pending, self._poison = [], None
                    continue
                if not self._pending and self._closed:
                    return
                batch, self._pending = self._pending, []
                snapshot = self._snapshot(batch)
            self._commit(batch, snapshot)

    def _snapshot(self, batch: list[_Change]) -> _Committed:
        """The brain's state after ``batch`` (under the lock): core, the tickers it changed, the recent rows."""
        brain = self.brain
        core = _dumps(brain.state_dict(tickers=False, recent=False, learned=False))
        names = brain.dirty & set(brain.tickers)  # every change applied so far is in this batch
        tickers = {name: _dumps(brain.tickers[name].to_json(bars=False)) for name in names}
        brain.dirty.clear()
        return _Committed(core, tickers, {}, _recent(brain), list(brain.tickers))

    def _commit(self, batch: list[_Change], snap: _Committed) -> None:
        try:
            self.store.commit([c.entry for c in batch], snap.core, snap.tickers)
        except Exception as exc:  # refused by the disk (StoreUnavailable) or a bug: undo, answer every waiting change
            logger.error(json.dumps({"event": "commit_failed", "changes": len(batch), "error": str(exc)}))
            with self._wake:
                failed, self._pending = batch + self._pending, []
                self.stats["failures"] += 1
                self.stats["last_error"] = str(exc)
                self._undo(failed, exc if isinstance(exc, StoreUnavailable) else InternalError(str(exc)))
            return
        with self.lock:
            old = self._committed
            for change in batch:
                for ticker, _, bar in change.entry.bars:
                    old.bars.setdefault(ticker, deque(maxlen=self.brain.history_bars)).append(dict(bar))
            self._committed = _Committed(snap.core, {**old.tickers, **snap.tickers}, old.bars, snap.recent, snap.order)
            self.stats["commits"] += 1
            self.stats["changes"] += len(batch)
            self.stats["last_error"] = None
        for change in batch:
            change.loop.call_soon_threadsafe(_settle, change.future, None)

    def _undo(self, failed: list[_Change], error: BaseException) -> None:
        """Put the brain back to the last commit (under the lock) and answer ``failed`` with ``error``."""
        brain, committed = self.brain, self._committed
        changed = set(brain.dirty).union(*(c.tickers for c in failed))
        kept = {name: hist for name, hist in brain.tickers.items() if name not in changed}
        state = {**json.loads(committed.core), **committed.recent, "tickers": []}
        state["learned"] = brain.learned - {c.trade_id for c in failed if c.trade_id}
        brain.load_state(state)
        restored = {
            n: TickerHistory.from_json({**json.loads(committed.tickers[n]), "bars": list(committed.bars[n])})
            for n in changed
            if n in committed.tickers
        }
        brain.tickers = {n: kept.get(n) or restored[n] for n in committed.order if n in kept or n in restored}
        for change in failed:
            change.loop.call_soon_threadsafe(_settle, change.future, error)

    def _snapshot_all(self) -> _Committed:
        brain = self.brain
        core = _dumps(brain.state_dict(tickers=False, recent=False, learned=False))
        tickers = {name: _dumps(h.to_json(bars=False)) for name, h in brain.tickers.items()}
        bars = {name: deque((b.to_json() for b in h.bars), maxlen=h.history_bars) for name, h in brain.tickers.items()}
        brain.dirty.clear()  # the journal holds them (restored from it, or written by the first commit)
        return _Committed(core, tickers, bars, _recent(brain), list(brain.tickers))

    def close(self) -> None:
        """Commit what is pending, stop the committer and close the journal."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(30)
        self.store.close()


def _recent(brain: LiveBrain) -> dict[str, list[Any]]:
    """Copies of the brain's recent rows (decisions, trades, histories): lists of references, cheap."""
    names = ("decisions", "trades", "equity_history", "regime_history", "weight_history")
    return {name: list(getattr(brain, name)) for name in names}


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client gone): its change is committed or undone all the same
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
