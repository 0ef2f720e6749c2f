"""What the live brain learns, keeps and reports: trades learned, the circuit breaker, the read side (weights,
regime, statistics, performance, a text report) and its state as plain JSON.

:class:`BrainMemory` is a base class of :class:`experiments.live.brain.LiveBrain` (the brain's acting side, bars
and decisions, lives there); it uses the brain's tickers, bandit, account, recent rows and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Self

import numpy as np

from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import regime_confidence
from envs.layout import COMPONENTS, REGIMES
from experiments.live.state import (
    LiveConflictError,
    LiveInputError,
    LiveNotFoundError,
    TickerHistory,
    check_trade,
    has_text,
    ignored_keys,
    split_components,
)

STATE_FORMAT = 1
"""Format of :meth:`BrainMemory.state_dict` (the store's snapshots)."""


class BrainMemory:
    """Learning, the breaker, the read side and the state of :class:`~experiments.live.brain.LiveBrain`."""

    find_decision: Callable[[str], dict[str, Any] | None] | None

    # ------------------------------------------------------------------------------------------- learning
    def learn(self, trade: Mapping[str, Any]) -> dict[str, Any]:
        """Learn from a closed trade, once per ``trade_id`` (a repeat is counted as a duplicate and ignored).

        One trade updates the Tier 1 bandit once: each component whose score at entry has ``|score| >=
        min_abs_score`` counts a success when its sign matches the sign of ``net_return``, else a failure (in
        the entry regime's posterior and the pooled one). Every input is checked before anything changes.

        Args:
            trade: ``trade_id`` (str), ``net_return`` (after costs, in [-1, 100]); ``decision_id`` (the "buy"
                decision that opened it: its components, regime and ticker are used) or ``components`` (scores at
                entry; other keys are ignored with a warning); optional ``regime``, ``regime_probs``, ``pnl``,
                ``ticker``, ``exit_reason``, ``entry_time``, ``exit_time``.

        Returns:
            ``{"trade_id", "accepted", "duplicate", "weights", "warnings"}``.

        Raises:
            LiveNotFoundError: ``decision_id`` is not a decision of this brain.
            LiveConflictError: ``decision_id`` was a "hold": no position was opened, there is no trade to learn.
            LiveInputError: A missing or bad field.
        """
        if not isinstance(trade, Mapping):
            raise LiveInputError("trade", f"is a {type(trade).__name__}; pass a mapping with trade_id and net_return")
        tid = trade.get("trade_id")
        if not isinstance(tid, str) or not tid or len(tid) > 200:
            raise LiveInputError("trade_id", f"{tid!r} must be a non-empty string (unique per trade, <= 200 chars)")
        record, warnings = self._trade_record(trade)
        if tid in self.learned:
            self.counts["duplicates"] += 1
            return {"trade_id": tid, "accepted": False, "duplicate": True, "weights": self.current_weights()}
        net = record["net_return"]
        if self.tier1 and not self.tier1_market:  # a market-learning Tier 1 learns from the bars, not from trades
            self.bandit.update(record["components"], net, ComponentWeightWrapper._trade_regime(record))
        self.account.record_trade(net)
        self.learned.add(tid)
        self.counts["trades"] += 1
        self.counts["wins"] += int(net > 0)
        self.pnl += float(record.get("pnl") or 0.0)
        self.trades.append(record)
        out = {"trade_id": tid, "accepted": True, "duplicate": False, "weights": self.current_weights()}
        return {**out, "warnings": warnings} if warnings else out

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """A decision record by id: the recent ones in memory, then :attr:`find_decision` (the service's journal)."""
        found = next((d for d in reversed(self.decisions) if d["decision_id"] == decision_id), None)
        if found is None and self.find_decision is not None:
            found = self.find_decision(decision_id)
        return found

    def _trade_record(self, trade: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The trade as it is learned and journaled (checked; nothing changes here), and the warnings."""
        record = check_trade(trade)
        did = record.get("decision_id")
        if trade["trade_id"] in self.learned:
            return record, []
        decision = None if did is None else self.decision(did)
        if did is not None and decision is None:
            raise LiveNotFoundError(
                "decision_id",
                f"{did!r} is not a decision of this brain; pass the decision_id /decide returned, or the components "
                "at entry without a decision_id",
            )
        if decision is not None and decision["action"] == "hold":
            raise LiveConflictError(
                "decision_id",
                f"{did!r} was a 'hold': no position was opened, so there is no trade to learn from (nothing was "
                "learned); send the decision_id of the 'buy' that opened the trade, or its components",
            )
        warnings: list[str] = []
        comps = record.get("components")
        if comps is not None:
            known, extra = split_components("components", comps)
            record["components"], warnings = known, ignored_keys("components", extra)
        elif decision is not None:
            record["components"] = dict(decision["components"])
        else:
            raise LiveInputError(
                "components", "missing; pass the component scores at entry, or the decision_id of the 'buy' decision"
            )
        if decision is not None:
            record.setdefault("ticker", decision["ticker"])
            if "regime" not in record:
                record["regime"], record["regime_probs"] = decision["regime"], decision["regime_probs"]
        if not self.tier2:
            record["regime"] = None
        return record, warnings

    # ------------------------------------------------------------------------------------------- breaker
    def reset_breaker(self, reason: str) -> dict[str, Any]:
        """Unlatch the circuit breaker (audited with ``reason``); returns :meth:`breaker`.

        Raises:
            LiveConflictError: The breaker is ACTIVE (nothing to reset; a reset would also move the high-water mark).
        """
        if not has_text(reason):
            raise LiveInputError("reason", "is empty; say who resets the breaker and why (it is audited)")
        if self.account.risk.state.name == "ACTIVE":
            raise LiveConflictError("action", "the breaker is ACTIVE: there is nothing to reset")
        self.account.risk.reset_breaker(reason, self.account.n_marks)
        return self.breaker()

    def trip_breaker(self, reason: str) -> dict[str, Any]:
        """Latch the circuit breaker HALTED (audited); only :meth:`reset_breaker` unlatches it.

        Raises:
            LiveConflictError: The breaker is HALTED already.
        """
        if not has_text(reason):
            raise LiveInputError("reason", "is empty; say who trips the breaker and why (it is audited)")
        if self.account.risk.state.name == "HALTED":
            raise LiveConflictError("action", "the breaker is HALTED already; reset it first to trip it again")
        self.account.trip(reason)
        return self.breaker()

    def breaker(self) -> dict[str, Any]:
        risk = self.account.risk
        return {"state": risk.state.name, "level": risk.breaker_level(), "events": [asdict(e) for e in risk.events]}

    # ------------------------------------------------------------------------------------------- read side
    def _known(self, ticker: Any) -> TickerHistory:
        hist = self.tickers.get(self._ticker(ticker))
        if hist is None:
            raise LiveNotFoundError("ticker", f"{ticker!r} has no bar history; POST its bars to /bars first")
        return hist

    def current_weights(self, ticker: str | None = None) -> dict[str, float]:
        """Tier 1 weights (for ``ticker``'s current regime when given and Tier 2 is on; pooled otherwise).

        Raises:
            LiveNotFoundError: ``ticker`` has no bar history.
        """
        hist = None if ticker is None else self._known(ticker)
        name = self._regime(hist if hist is not None and hist.ready else None)[1]  # what its decisions use
        return dict(zip(COMPONENTS, self._weights(name, hist), strict=True))

    def regime(self, ticker: str | None = None) -> dict[str, Any]:
        """Current regime of ``ticker`` (default: the last ticker seen): name, probabilities, confidence.

        Raises:
            LiveNotFoundError: ``ticker`` (or, without one, every ticker) has no bar history.
        """
        if ticker is None:
            ticker = next(reversed(self.tickers), None)
            if ticker is None:
                raise LiveNotFoundError("ticker", "no ticker has bars yet; POST bars to /bars first")
        hist = self._known(ticker)
        probs, name = self._regime(hist)
        return {
            "ticker": ticker,
            "regime": name,
            "probs": dict(zip(REGIMES, map(float, probs), strict=True)),
            "confidence": float(regime_confidence(np.asarray(probs))),
            "time": None if (last := hist.last_time) is None else last.isoformat(),
            "bars": len(hist.bars),
            "ready": hist.ready,
            "bars_needed": hist.bars_needed,
        }

    def statistics(self) -> dict[str, Any]:
        """Counts (decisions, buys, trades, duplicates, wins, bars), win rate, pnl, equity, breaker, tickers."""
        c = self.counts
        acc = self.account
        return {
            **c,
            "win_rate": c["wins"] / c["trades"] if c["trades"] else None,
            "pnl": self.pnl,
            "equity": acc.equity if acc.started else None,
            "drawdown": acc.risk.drawdown if acc.started else 0.0,
            "breaker": acc.risk.state.name,
            "tickers": {k: len(v.bars) for k, v in self.tickers.items()},
            "tiers": {
                "tier1": self.tier1,
                "tier2": self.tier2,
                "policy": (self.spec.get("policy") or {}).get("kind", "rule"),
            },
        }

    def performance(self) -> dict[str, Any]:
        """Equity and drawdown history, recent trades, rolling Sharpe."""
        acc = self.account
        return {
            "equity": [list(x) for x in self.equity_history],
            "start_equity": acc.start_equity if acc.started else None,
            "rolling_sharpe": acc.risk.rolling_sharpe,
            "trades": list(self.trades),
        }

    def report(self) -> str:
        """A short plain-text report: statistics, weights, regime, breaker."""
        st = self.statistics()
        lines = [
            "tradebrain live brain",
            f"  decisions {st['decisions']} (buy {st['buys']}), trades learned {st['trades']} "
            f"(duplicates ignored {st['duplicates']}), win rate "
            + ("-" if st["win_rate"] is None else f"{st['win_rate']:.1%}"),
            f"  equity {st['equity']}, drawdown {st['drawdown']:.2%}, breaker {st['breaker']}",
            "  weights " + ", ".join(f"{k} {v:.2f}" for k, v in self.current_weights().items()),
        ]
        for ticker in self.tickers:
            if self.tickers[ticker].ready:
                r = self.regime(ticker)
                lines.append(f"  {ticker}: regime {r['regime']} (confidence {r['confidence']:.2f}) at {r['time']}")
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------- state
    def state_dict(self, *, tickers: bool = True, recent: bool = True, learned: bool = True) -> dict[str, Any]:
        """Everything learned or observed since the bundle was loaded, as plain JSON (for the store).

        Args:
            tickers: Include the per-ticker histories and regime filters (they change only with new bars).
            recent: Include the recent decisions and trades and the equity, regime and weight histories (the
                store journals them as rows in their own tables).
            learned: Include the ids of the trades learned (the store reads them back from its trades table).
        """
        out: dict[str, Any] = {
            "format": STATE_FORMAT,
            "bandit": self.bandit.to_json(),
            "account": self.account.to_json(),
            "counts": dict(self.counts),
            "pnl": self.pnl,
            "ticker_order": list(self.tickers),
        }
        if recent:
            for kind in self.logged:
                out[f"{kind}_history"] = list(getattr(self, f"{kind}_history"))
        if learned:
            out["learned"] = sorted(self.learned)
        if self.tier4 is not None:
            out["tier4"] = self.tier4.to_json()
        if tickers:
            out["tickers"] = [h.to_json() for h in self.tickers.values()]
        if recent:
            out["decisions"], out["trades"] = list(self.decisions), list(self.trades)
        return out

    def load_state(self, state: Mapping[str, Any]) -> Self:
        """Restore :meth:`state_dict` output (the same bundle must be loaded); returns self."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"brain state format {state.get('format')!r}; this tradebrain reads {STATE_FORMAT}")
        self.bandit = ComponentBandit.from_json(state["bandit"])
        self.account.load_json(state["account"])
        loaded = {d["ticker"]: TickerHistory.from_json(d) for d in state.get("tickers", [])}
        order = [t for t in state.get("ticker_order", []) if t in loaded]  # first seen first, as before
        self.tickers = {t: loaded[t] for t in [*order, *(t for t in loaded if t not in order)]}
        self.dirty.clear()
        self._reset_journal()
        self.learned = set(state.get("learned", ()))
        self.counts.update(state["counts"])
        self.pnl = float(state["pnl"])
        if self.tier4 is not None:
            self.tier4.load_json(state.get("tier4") or {})
        for name in ("decisions", "trades", "equity_history", "regime_history"):
            getattr(self, name).extend(state.get(name, []))
        # rows before the ticker was kept with each weight: [time, theme, technical, ai, sentiment]
        rows = state.get("weight_history", [])
        self.weight_history.extend(r if len(r) == 2 + len(COMPONENTS) else [r[0], None, *r[1:]] for r in rows)
        return self
