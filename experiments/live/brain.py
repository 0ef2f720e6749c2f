"""``LiveBrain``: the exported brain in live or paper use, with numpy and onnxruntime only (no torch, SB3, pickle).

A :class:`LiveBrain` loads a bundle (:mod:`experiments.live.bundle`, written by ``tradebrain export``) and decides one
bar at a time with the env's own code: features (:mod:`envs.features`), Tier 2 filtered regime probabilities
(:meth:`agents.tier2.RegimeDetector.update`), Tier 1 weights (:class:`agents.tier1.ComponentBandit`), the observation
layout and action map (:mod:`envs.layout`) and the risk layer (:class:`envs.risk.RiskManager`). The policy is the
bundle's ``policy.onnx`` (the PPO actor's mean action) or, in a bundle without a policy, the Tier 1 + Tier 2
composite-score rule (:class:`experiments.evaluation.baselines.CompositeScoreRule`).

A decision at bar ``t`` sees bars up to ``t`` only: :meth:`LiveBrain.observe_bar` appends a bar and refuses one
that is not after the last; regime probabilities are filtered, never smoothed. Replaying a test window bar by bar
gives the backtest's decisions (``tests/live/test_replay_parity.py``).

Example:
    >>> brain = LiveBrain.from_bundle("runs/quickstart-.../bundle")                                 # doctest: +SKIP
    >>> d = brain.decide("sp500", bar={"time": "2015-01-02", "open": 2058.9, "high": 2072.4,
    ...     "low": 2046.0, "close": 2058.2}, portfolio_state={"equity": 1e5})                    # doctest: +SKIP
    >>> d.action, d.size, d.stop, d.target, d.hold_bars, d.regime                                   # doctest: +SKIP
    >>> brain.learn({"trade_id": "t1", "net_return": 0.012, "decision_id": d.decision_id})          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from agents.rules import CompositeScoreRule
from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import RegimeDetector, regime_confidence
from agents.tier3.obs_norm import ObsNormalizer
from envs.features import compute_features
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from experiments.live.bundle import read_bundle
from experiments.live.onnx import OnnxPolicy, Tier4Onnx
from experiments.live.state import Bar, LiveAccount, LiveInputError, TickerHistory, _number, parse_bar, regime_name

logger = logging.getLogger(__name__)


_CRISIS = REGIMES.index("crisis")


_HISTORY = 500
"""Points kept for the dashboard's time series (equity, regimes, weights) and recent decisions and trades."""


STATE_FORMAT = 1
"""Format of :meth:`LiveBrain.state_dict` (the store's snapshots)."""


Policy = Callable[[np.ndarray], np.ndarray]


def _check_components(field: str, scores: Any) -> dict[str, float]:
    """``{component: score}`` checked (known names, numbers in [-1, 1]); None values are left out."""
    if not isinstance(scores, Mapping):
        raise LiveInputError(field, f"is a {type(scores).__name__}; pass {{name: score}}")
    out: dict[str, float] = {}
    for name, value in scores.items():
        if name not in COMPONENTS:
            raise LiveInputError(f"{field}.{name}", f"unknown component; valid: {', '.join(COMPONENTS)}")
        if value is not None:
            out[name] = _number(f"{field}.{name}", value, low=-1.0, high=1.0)
    return out


def _rule_policy(action_map: ActionMap) -> Policy:
    """The Tier 1 + Tier 2 composite-score rule (no trained policy): one implementation, the baseline's."""
    rule = CompositeScoreRule(action_map)
    return lambda obs: rule(obs, {})


@dataclass(frozen=True)
class Decision:
    """What the brain decided at the close of a bar.

    Attributes:
        decision_id: Unique id; pass it back in :meth:`LiveBrain.learn` so the trade is scored on these components.
        ticker, time: The bar decided on.
        action: ``"buy"`` (open a bracket at the next open) or ``"hold"`` (stay flat).
        size: Approved size, fraction of equity (0 for hold); ``requested_size`` what the policy asked.
        stop, target: Bracket distances below / above the entry fill (fractions); hold_bars: time exit.
        regime, regime_probs, confidence: Tier 2's filtered regime at the bar (uniform when Tier 2 is off).
        weights: Tier 1 component weights; components: the component scores used.
        breaker: Circuit-breaker state; reasons: short reasons (risk cuts, crisis, breaker, policy).
        raw_action: The policy's action in [-1, 1]^4; observation: the 27-slot observation.
        specialist: The Tier 4 specialist that decided (None without Tier 4).
    """

    decision_id: str
    ticker: str
    time: str
    action: Literal["buy", "hold"]
    size: float
    requested_size: float
    stop: float
    target: float
    hold_bars: int
    regime: str | None
    regime_probs: dict[str, float]
    confidence: float
    weights: dict[str, float]
    components: dict[str, float]
    breaker: str
    reasons: tuple[str, ...]
    raw_action: tuple[float, ...]
    observation: tuple[float, ...] = field(repr=False)
    specialist: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


class LiveBrain:
    """A bundle's brain in live use (see the module docstring).

    Args:
        spec: The bundle's ``bundle.json`` content (:func:`experiments.live.bundle.read_bundle`).
        policy: ``obs (27,) -> action (4,)``; default the bundle's ONNX policy, or the composite-score rule.
        use_tier1, use_tier2: Switch a tier off even when the bundle has it (uniform slots, no crisis rule).
        stale_after: Refuse to decide when the ticker's last bar is older than this (``pd.Timedelta``); None: off.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        policy: Policy | None = None,
        use_tier1: bool = True,
        use_tier2: bool = True,
        stale_after: pd.Timedelta | None = None,
    ) -> None:
        self.spec = dict(spec)
        env = spec["env"]
        self.action_map = ActionMap(
            **{
                **spec["action_map"],
                "stop_range": tuple(spec["action_map"]["stop_range"]),
                "target_range": tuple(spec["action_map"]["target_range"]),
            }
        )
        self.limits = RiskLimits(**env["limits"])
        self.reward = RewardConfig(**env["reward"])
        self.min_trade, self.initial_equity = float(env["min_trade"]), float(env["initial_equity"])
        self.history_bars = int(spec["features"]["history_bars"])
        t1, t2 = spec.get("tier1") or {}, spec.get("tier2") or {}
        self.tier1 = bool(t1.get("enabled")) and use_tier1
        self.tier2 = bool(t2.get("enabled")) and use_tier2
        self._detector_json = t2.get("detector") if self.tier2 else None
        self.tier2_fit_bars = int(t2.get("fit_bars", 500))
        """Without a fitted detector in the bundle, each ticker fits its own on its first ``fit_bars`` bars."""
        self.bandit = ComponentBandit.from_json(t1["bandit"]) if t1.get("bandit") else ComponentBandit()
        self.account = LiveAccount(self.limits, self.reward, int(env.get("win_rate_window", 20)))
        self.norm = ObsNormalizer.from_json(spec["obs_norm"], "bundle.json obs_norm") if spec.get("obs_norm") else None
        self.tier4: Tier4Onnx | None = None
        if policy is None and (spec.get("policy") or {}).get("kind") == "tier4":
            self.tier4 = Tier4Onnx(spec.get("meta") or {}, Path(spec.get("_folder", ".")))
            policy = self._no_policy
        self.policy = policy or self._bundle_policy(spec)
        self.stale_after = stale_after
        self.tickers: dict[str, TickerHistory] = {}
        self._reset_journal()

    def _reset_journal(self) -> None:
        self.learned: set[str] = set()
        self.decisions: deque[dict[str, Any]] = deque(maxlen=_HISTORY)
        self.trades: deque[dict[str, Any]] = deque(maxlen=_HISTORY)
        self.equity_history: deque[list[Any]] = deque(maxlen=_HISTORY)
        self.regime_history: deque[list[Any]] = deque(maxlen=_HISTORY)
        self.weight_history: deque[list[Any]] = deque(maxlen=_HISTORY)
        self.counts = {"decisions": 0, "buys": 0, "trades": 0, "duplicates": 0, "wins": 0, "bars": 0}
        self.pnl = 0.0

    @classmethod
    def from_bundle(cls, folder: str | Path, **kwargs: Any) -> LiveBrain:
        """Load and check a bundle folder (format, versions, sha256) and warm up its ticker from ``warmup.json``."""
        spec = read_bundle(folder)
        brain = cls(spec, **kwargs)
        warm = spec.get("warmup")
        if warm:
            bars = json.loads((Path(folder) / warm["file"]).read_text(encoding="utf-8"))["bars"]
            hist = brain._new_ticker(warm["ticker"], fresh_filter=False)
            if bars:
                hist.extend([parse_bar(b, f"warmup.bars[{i}]") for i, b in enumerate(bars)], filter_regime=False)
            last = (spec.get("tier2") or {}).get("last_regime")
            if brain.tier2 and last is not None:  # the detector's filter state is the one after the warmup bars
                hist.regime = tuple(float(x) for x in last)
        return brain

    @staticmethod
    def _no_policy(obs: np.ndarray) -> np.ndarray:
        raise RuntimeError("a Tier 4 bundle decides through its specialists (LiveBrain.tier4), not a single policy")

    def _bundle_policy(self, spec: Mapping[str, Any]) -> Policy:
        pol = spec.get("policy")
        if not pol:
            return _rule_policy(self.action_map)
        if pol.get("kind") != "onnx":
            raise ValueError(
                f"bundle policy kind {pol.get('kind')!r} is unknown; this tradebrain reads 'onnx', 'tier4'"
            )
        folder = Path(spec.get("_folder", "."))
        return OnnxPolicy(folder / pol["file"], pol.get("input", "obs"), pol.get("output", "action"))

    # ------------------------------------------------------------------------------------------- bars
    def _new_ticker(self, ticker: str, *, fresh_filter: bool = True) -> TickerHistory:
        det = None
        if self.tier2 and self._detector_json is not None:
            det = RegimeDetector.from_json(self._detector_json)
            if fresh_filter:
                det.reset_filter()
        hist = self.tickers[ticker] = TickerHistory(ticker, self.history_bars, det)
        return hist

    @staticmethod
    def _ticker(ticker: Any) -> str:
        if not isinstance(ticker, str) or not ticker.strip():
            raise LiveInputError("ticker", f"{ticker!r} must be a non-empty string, e.g. 'SPY'")
        return ticker

    def observe_bars(
        self, ticker: str, bars: Sequence[Mapping[str, Any] | Bar], portfolio_state: Mapping[str, Any] | None = None
    ) -> int:
        """Append bars of ``ticker`` (time order, each after the last one kept); returns the bars the ticker has."""
        ticker = self._ticker(ticker)
        parsed = [parse_bar(b, f"bars[{i}]") for i, b in enumerate(bars)]
        if not parsed:
            raise LiveInputError("bars", "is empty; send at least one bar")
        hist = self.tickers.get(ticker) or self._new_ticker(ticker)
        hist.extend(parsed)
        self._maybe_fit(hist)
        self.counts["bars"] += len(parsed)
        self._portfolio(portfolio_state, parsed[-1].time)
        self.regime_history.append([parsed[-1].time.isoformat(), ticker, *hist.regime])
        return len(hist.bars)

    def observe_bar(
        self,
        ticker: str,
        bar: Mapping[str, Any] | Bar,
        portfolio_state: Mapping[str, Any] | None = None,
        *,
        exit_reason: str | None = None,
    ) -> TickerHistory:
        """Append one bar; with ``portfolio_state["equity"]`` also mark the account at its close.

        Args:
            ticker: Ticker name.
            bar: ``time open high low close`` (``volume``, ``theme technical ai sentiment``, ``vix`` optional).
            portfolio_state: ``equity`` (mark-to-market at this bar's close), ``exposure_elsewhere`` (fraction).
            exit_reason: Reason of a position the risk layer closed on this bar (``daily_loss`` blocks the day).
        """
        ticker = self._ticker(ticker)
        b = parse_bar(bar)
        hist = self.tickers.get(ticker) or self._new_ticker(ticker)
        hist.extend([b])
        self._maybe_fit(hist)
        self.counts["bars"] += 1
        self._portfolio(portfolio_state, b.time, exit_reason)
        self.regime_history.append([b.time.isoformat(), ticker, *hist.regime])
        return hist

    def _maybe_fit(self, hist: TickerHistory) -> None:
        """Tier 2 without a bundled detector: fit one on the ticker's first ``tier2_fit_bars`` bars, then filter them.

        The fit sees only bars already observed (causal); the filter then runs forward over the same bars.
        """
        if not self.tier2 or hist.detector is not None or len(hist.bars) < self.tier2_fit_bars:
            return
        data = hist._data()
        det = RegimeDetector(n_restarts=2).fit(data.close, data.vix)
        det.reset_filter()
        themes = np.nan_to_num(compute_features(data).components[:, 0], nan=0.0)
        for t in range(len(data)):
            vix = None if data.vix is None else float(data.vix[t])
            hist.regime = tuple(det.update(float(data.close[t]), vix, float(themes[t])).tolist())
        hist.detector = det
        logger.info("Tier 2 detector for %s fitted on its first %d bars", hist.ticker, len(data))

    def _portfolio(self, state: Mapping[str, Any] | None, time: pd.Timestamp, exit_reason: str | None = None) -> None:
        if not state:
            return
        if not isinstance(state, Mapping):
            raise LiveInputError("portfolio_state", f"is a {type(state).__name__}; pass a mapping (equity, ...)")
        if state.get("exposure_elsewhere") is not None:
            x = _number("portfolio_state.exposure_elsewhere", state["exposure_elsewhere"], low=0.0, high=1.0)
            self.account.exposure_elsewhere = x
        if state.get("equity") is not None:
            equity = _number("portfolio_state.equity", state["equity"], positive=True)
            if self.account.mark(equity, time, exit_reason):
                risk = self.account.risk
                self.equity_history.append([time.isoformat(), equity, risk.drawdown, risk.state.name])

    # ------------------------------------------------------------------------------------------- decisions
    def _components(self, hist: TickerHistory, scores: Mapping[str, Any] | None) -> list[float]:
        assert hist.features is not None
        comps = [float(x) for x in hist.features[6:10]]
        if scores is None:
            return comps
        for name, value in _check_components("component_scores", scores).items():
            comps[COMPONENTS.index(name)] = value
        return comps

    def _regime(self, hist: TickerHistory) -> tuple[tuple[float, ...], str | None]:
        if not self.tier2 or hist.detector is None:  # Tier 2 off, or its detector not fitted yet
            return tuple(OBS_LAYOUT.default_tier2().astype(float).tolist()), None
        return hist.regime, regime_name(hist.regime)

    def observation(self, ticker: str, component_scores: Mapping[str, Any] | None = None) -> np.ndarray:
        """The 27-slot observation of ``ticker``'s last bar, float32, as the env builds it (before normalisation)."""
        hist = self._ready(ticker)
        comps = self._components(hist, component_scores)
        probs, name = self._regime(hist)
        weights = self.bandit.weights(name if self.tier1 else None) if self.tier1 else OBS_LAYOUT.default_tier1()
        market = np.nan_to_num(np.asarray([*hist.features[:6], *comps], dtype=np.float32)).tolist()  # type: ignore[index]
        values = [*self.account.portfolio_slots(), *market, *weights, *probs, *self.account.performance_slots()]
        return np.array(values, dtype=np.float32)

    def _ready(self, ticker: str) -> TickerHistory:
        hist = self.tickers.get(self._ticker(ticker))
        if hist is None:
            raise LiveInputError("ticker", f"{ticker!r} has no bar history; POST its bars first (at least 121)")
        if not hist.ready:
            raise LiveInputError(
                "ticker", f"{ticker!r} has {len(hist.bars)} bars; the features need at least 121: send more history"
            )
        if self.stale_after is not None and hist.last_time is not None:
            age = pd.Timestamp.now(tz=hist.last_time.tz) - hist.last_time
            if age > self.stale_after:
                raise LiveInputError(
                    "bar.time", f"{ticker!r}'s last bar is {age} old (> {self.stale_after}): stale data"
                )
        return hist

    def decide(
        self,
        ticker: str,
        component_scores: Mapping[str, Any] | None = None,
        bar: Mapping[str, Any] | Bar | None = None,
        portfolio_state: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Decide at the close of ``ticker``'s last bar (``bar`` is observed first if given); see :class:`Decision`."""
        if bar is not None:
            self.observe_bar(ticker, bar, portfolio_state)
        elif portfolio_state:
            hist = self._ready(ticker)
            self._portfolio(portfolio_state, hist.last_time)  # type: ignore[arg-type]
        hist = self._ready(ticker)
        comps = self._components(hist, component_scores)
        obs = self.observation(ticker, component_scores)
        specialist = None
        if self.tier4 is not None:
            if not self.account.started:
                raise LiveInputError(
                    "portfolio_state.equity",
                    "is missing: a Tier 4 bundle settles each decision from the equity; send the equity with the bars",
                )
            raw, specialist = self.tier4.act(hist.ticker, obs, self.account.equity)
        else:
            raw = self.policy(self.norm(obs) if self.norm else obs)
        action = np.asarray(raw, dtype=np.float32).reshape(-1)
        if action.shape != (4,) or not np.isfinite(action).all():
            raise RuntimeError(f"the policy returned {action.tolist()}; expected 4 finite values")
        params = self.action_map.decode(action)
        probs, name = self._regime(hist)
        risk = self.account.risk
        approval = risk.approve(
            params.size, crisis=risk.is_crisis(probs, _CRISIS), exposure_elsewhere=self.account.exposure_elsewhere
        )
        buy = approval.size >= self.min_trade
        reasons = list(approval.reasons)
        if not buy:
            reasons.append(f"size {approval.size:.3f} < min_trade {self.min_trade}: stay flat one bar")
        weights = self.current_weights(ticker)
        if self.tier4 is not None:
            self.tier4.last_buy[hist.ticker] = buy
            reasons.append(f"tier4: {specialist}")
        return self._record(
            hist, obs, action, params, approval, buy, (probs, name), reasons, (comps, weights), specialist
        )

    def _record(self, hist, obs, action, params, approval, buy, regime, reasons, scores, specialist) -> Decision:  # type: ignore[no-untyped-def]
        (probs, name), (comps, weights) = regime, scores
        t = hist.last_time.isoformat()
        self.counts["decisions"] += 1
        self.counts["buys"] += int(buy)
        decision = Decision(
            decision_id=f"{hist.ticker}-{t}-{self.counts['decisions']}",
            ticker=hist.ticker,
            time=t,
            action="buy" if buy else "hold",
            size=float(approval.size) if buy else 0.0,
            requested_size=float(params.size),
            stop=float(params.stop),
            target=float(params.target),
            hold_bars=int(params.hold),
            regime=name,
            regime_probs=dict(zip(REGIMES, map(float, probs), strict=True)),
            confidence=float(regime_confidence(np.asarray(probs))),
            weights=weights,
            components=dict(zip(COMPONENTS, comps, strict=True)),
            breaker=self.account.risk.state.name,
            reasons=tuple(reasons),
            raw_action=tuple(float(x) for x in action),
            observation=tuple(float(x) for x in obs),
            specialist=specialist,
        )
        record = decision.to_json()
        del record["observation"]
        self.decisions.append(record)
        self.weight_history.append([t, *decision.weights.values()])
        return decision

    # ------------------------------------------------------------------------------------------- learning
    def learn(self, trade: Mapping[str, Any]) -> dict[str, Any]:
        """Learn from a closed trade, once per ``trade_id`` (a repeat is counted as a duplicate and ignored).

        Args:
            trade: ``trade_id`` (str), ``net_return`` (after costs); optional ``decision_id`` (the decision it
                came from: its components and regime are used), ``components`` (scores at entry), ``regime``,
                ``regime_probs``, ``pnl``, ``ticker``, ``exit_reason``, ``exit_time``.

        Returns:
            ``{"trade_id", "accepted", "duplicate", "weights"}``.
        """
        if not isinstance(trade, Mapping):
            raise LiveInputError("trade", f"is a {type(trade).__name__}; pass a mapping with trade_id and net_return")
        tid = trade.get("trade_id")
        if not isinstance(tid, str) or not tid:
            raise LiveInputError("trade_id", f"{tid!r} must be a non-empty string (unique per trade)")
        net = _number("net_return", trade.get("net_return"), low=-1.0)
        if tid in self.learned:
            self.counts["duplicates"] += 1
            return {"trade_id": tid, "accepted": False, "duplicate": True, "weights": self.current_weights()}
        record = self._trade_record(dict(trade), net)
        if self.tier1:
            self.bandit.update(record["components"], net, ComponentWeightWrapper._trade_regime(record))
        self.account.record_trade(net)
        self.learned.add(tid)
        self.counts["trades"] += 1
        self.counts["wins"] += int(net > 0)
        self.pnl += float(record.get("pnl") or 0.0)
        self.trades.append(record)
        return {"trade_id": tid, "accepted": True, "duplicate": False, "weights": self.current_weights()}

    def _trade_record(self, trade: dict[str, Any], net: float) -> dict[str, Any]:
        decision = None
        did = trade.get("decision_id")
        if did is not None:
            decision = next((d for d in reversed(self.decisions) if d["decision_id"] == did), None)
        comps = trade.get("components")
        if comps is None and decision is not None:
            comps = decision["components"]
        if comps is None:
            raise LiveInputError("components", "missing; pass the component scores at entry or a known decision_id")
        _check_components("components", comps)
        if "regime" not in trade and decision is not None:
            trade["regime"], trade["regime_probs"] = decision["regime"], decision["regime_probs"]
        if not self.tier2:
            trade["regime"] = None
        return {**trade, "components": dict(comps), "net_return": net}

    # ------------------------------------------------------------------------------------------- breaker
    def reset_breaker(self, reason: str) -> dict[str, Any]:
        """Unlatch the circuit breaker (audited with ``reason``); returns :meth:`breaker`."""
        if not isinstance(reason, str) or not reason.strip():
            raise LiveInputError("reason", "is empty; say who resets the breaker and why (it is audited)")
        self.account.risk.reset_breaker(reason, self.account.n_marks)
        return self.breaker()

    def trip_breaker(self, reason: str) -> dict[str, Any]:
        """Latch the circuit breaker HALTED (audited); only :meth:`reset_breaker` unlatches it."""
        self.account.trip(reason)
        return self.breaker()

    def breaker(self) -> dict[str, Any]:
        risk = self.account.risk
        return {"state": risk.state.name, "level": risk.breaker_level(), "events": [asdict(e) for e in risk.events]}

    # ------------------------------------------------------------------------------------------- read side
    def current_weights(self, ticker: str | None = None) -> dict[str, float]:
        """Tier 1 weights (for ``ticker``'s current regime when given and Tier 2 is on)."""
        if not self.tier1:
            return dict(zip(COMPONENTS, OBS_LAYOUT.default_tier1().astype(float).tolist(), strict=True))
        name = None
        if ticker is not None and ticker in self.tickers and self.tier2:
            name = regime_name(self.tickers[ticker].regime)
        return dict(zip(COMPONENTS, self.bandit.weights(name).tolist(), strict=True))

    def regime(self, ticker: str | None = None) -> dict[str, Any]:
        """Current regime of ``ticker`` (default: the last ticker seen): name, probabilities, confidence."""
        if ticker is None:
            ticker = next(reversed(self.tickers), None)
        if ticker is None or ticker not in self.tickers:
            raise LiveInputError("ticker", f"{ticker!r} has no bar history")
        probs, name = self._regime(self.tickers[ticker])
        return {
            "ticker": ticker,
            "regime": name,
            "probs": dict(zip(REGIMES, map(float, probs), strict=True)),
            "confidence": float(regime_confidence(np.asarray(probs))),
            "time": None if (last := self.tickers[ticker].last_time) is None else last.isoformat(),
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
    def state_dict(self, *, tickers: bool = True, recent: bool = True) -> dict[str, Any]:
        """Everything learned or observed since the bundle was loaded, as plain JSON (for the store).

        Args:
            tickers: Include the per-ticker histories and regime filters (they change only with new bars).
            recent: Include the recent decisions and trades (the store journals them in their own tables).
        """
        out: dict[str, Any] = {
            "format": STATE_FORMAT,
            "bandit": self.bandit.to_json(),
            "account": self.account.to_json(),
            "learned": sorted(self.learned),
            "counts": dict(self.counts),
            "pnl": self.pnl,
            "equity_history": list(self.equity_history),
            "regime_history": list(self.regime_history),
            "weight_history": list(self.weight_history),
        }
        if self.tier4 is not None:
            out["tier4"] = self.tier4.to_json()
        if tickers:
            out["tickers"] = [h.to_json() for h in self.tickers.values()]
        if recent:
            out["decisions"], out["trades"] = list(self.decisions), list(self.trades)
        return out

    def load_state(self, state: Mapping[str, Any]) -> LiveBrain:
        """Restore :meth:`state_dict` output (the same bundle must be loaded); returns self."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"brain state format {state.get('format')!r}; this tradebrain reads {STATE_FORMAT}")
        self.bandit = ComponentBandit.from_json(state["bandit"])
        self.account.load_json(state["account"])
        self.tickers = {d["ticker"]: TickerHistory.from_json(d) for d in state.get("tickers", [])}
        self._reset_journal()
        self.learned = set(state["learned"])
        self.counts.update(state["counts"])
        self.pnl = float(state["pnl"])
        if self.tier4 is not None:
            self.tier4.load_json(state.get("tier4") or {})
        for name in ("decisions", "trades", "equity_history", "regime_history", "weight_history"):
            getattr(self, name).extend(state.get(name, []))
        return self


def finite(x: float) -> float | None:
    """``x`` or None when not finite (for JSON)."""
    return x if math.isfinite(x) else None
