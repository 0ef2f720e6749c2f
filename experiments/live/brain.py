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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from agents.rules import CompositeScoreRule
from agents.tier1 import ComponentBandit
from agents.tier1.market import MarketTier1
from agents.tier2 import RegimeDetector, regime_confidence
from agents.tier3.obs_norm import ObsNormalizer
from envs.features import LOOKBACK, compute_features
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap
from envs.menu import BracketMenu
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs
from experiments.live.bundle import read_bundle
from experiments.live.memory import BrainMemory
from experiments.live.onnx import OnnxPolicy, Tier4Onnx
from experiments.live.state import (
    Bar,
    LiveAccount,
    LiveConflictError,
    LiveInputError,
    LiveNotFoundError,
    TickerHistory,
    check_portfolio,
    has_text,
    ignored_keys,
    optional_text,
    parse_bar,
    regime_name,
    split_components,
)
from meta.rule_adapter import RuleAdapter

logger = logging.getLogger(__name__)


_CRISIS = REGIMES.index("crisis")


_HISTORY = 500
"""Points kept for the dashboard's time series (equity, regimes, weights) and recent decisions and trades."""


Policy = Callable[[np.ndarray], np.ndarray]


Mode = Literal["auto", "policy", "scores"]
"""How :meth:`LiveBrain.decide` decides: ``"policy"`` (the bundle's policy, or its rule, on the ticker's full
observation; needs :data:`~envs.features.LOOKBACK` bars), ``"scores"`` (the Tier 1 + Tier 2 composite rule from the
component scores alone, the seed's "simple mode": no bars needed) or ``"auto"`` (policy when the ticker has enough
bars, else scores when component scores are given)."""


class RulePolicy:
    """The Tier 1 + Tier 2 composite-score rule (no trained policy): one implementation, the baseline's."""

    def __init__(self, action_map: ActionMap) -> None:
        self.rule = CompositeScoreRule(action_map)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rule(obs, {})


def _rule_policy(action_map: ActionMap) -> Policy:
    return RulePolicy(action_map)


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
        mode: What decided: ``"policy"`` (the bundle's trained policy), ``"rule"`` (the composite-score rule of a
            bundle without a policy), ``"tier4"`` (the specialists) on the full observation, or ``"scores"`` (the
            composite-score rule from the component scores alone; the market slots are 0 while the ticker has
            fewer than 121 bars).
        warnings: What the brain ignored in the call (e.g. keys that are not components).
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
    mode: Literal["policy", "rule", "tier4", "scores"] = "policy"
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (a shallow copy: the dicts are the decision's own, never changed after it was made)."""
        out = {name: getattr(self, name) for name in _DECISION_FIELDS}
        out["reasons"], out["warnings"], out["raw_action"] = (
            list(self.reasons),
            list(self.warnings),
            list(self.raw_action),
        )
        out["observation"] = list(self.observation)
        return out


_DECISION_FIELDS = tuple(f.name for f in fields(Decision))


class LiveBrain(BrainMemory):
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
        self.tier1_market = self.tier1 and t1.get("learns_from", "trades") == "market"
        """Tier 1 learns from each ticker's bars (:mod:`agents.tier1.market`), not from reported trades."""
        self.tier1_horizon = int(t1.get("horizon", 5))
        self.account = LiveAccount(self.limits, self.reward, int(env.get("win_rate_window", 20)))
        self.norm = ObsNormalizer.from_json(spec["obs_norm"], "bundle.json obs_norm") if spec.get("obs_norm") else None
        self.tier4: Tier4Onnx | None = None
        if policy is None and (spec.get("policy") or {}).get("kind") == "tier4":
            self.tier4 = Tier4Onnx(spec.get("meta") or {}, Path(spec.get("_folder", ".")))
            policy = self._no_policy
        self.rule_adapter: RuleAdapter | None = None
        """Tier 4 adapting online (bundle policy kind ``"tier4_rules"``): :class:`meta.rule_adapter.RuleAdapter`."""
        if policy is None and (spec.get("policy") or {}).get("kind") == "tier4_rules":
            self.rule_adapter = RuleAdapter.from_json((spec.get("meta") or {}).get("rule_adapter") or {})
            self._adapter_env = {"costs": Costs(**env["costs"]), "limits": self.limits, "action_map": self.action_map,
                                 "min_trade": self.min_trade}  # fmt: skip
            self._menu_table = BracketMenu().actions(self.action_map)
            policy = self._no_policy
        self.policy = policy or self._bundle_policy(spec)
        self._scores_rule = RulePolicy(self.action_map)
        self.stale_after = stale_after
        self.tickers: dict[str, TickerHistory] = {}
        self.dirty: set[str] = set()
        self.last_observed: list[Bar] = []
        """The bars the last change appended (the service journals them)."""
        """Tickers whose history changed since the owner (the service's journal) last cleared this set."""
        self.find_decision: Callable[[str], dict[str, Any] | None] | None = None
        """Looks up a decision older than the recent ones kept in memory (the service sets it to its journal's)."""
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
        self.logged = dict.fromkeys(("equity", "regime", "weight"), 0)
        """Rows appended to each history since the brain was built (the service journals the new ones)."""

    def _log(self, kind: str, row: list[Any]) -> None:
        getattr(self, f"{kind}_history").append(row)
        self.logged[kind] += 1

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
            state = (spec.get("tier1") or {}).get("market_state")
            if brain.tier1_market and state:  # so is Tier 1's, learned from every bar before them
                hist.tier1 = MarketTier1.from_json(state)
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
                f"bundle policy kind {pol.get('kind')!r} is unknown; "
                "this tradebrain reads 'onnx', 'tier4', 'tier4_rules'"
            )
        folder = Path(spec.get("_folder", "."))
        return OnnxPolicy(folder / pol["file"], pol.get("input", "obs"), pol.get("output", "action"))

    # ------------------------------------------------------------------------------------------- bars
    def _make_ticker(self, ticker: str, *, fresh_filter: bool = True) -> TickerHistory:
        """A new, empty history of ``ticker`` (not registered: :meth:`_observe` adds it once the bars pass)."""
        det = None
        if self.tier2 and self._detector_json is not None:
            det = RegimeDetector.from_json(self._detector_json)
            if fresh_filter:
                det.reset_filter()
        tier1 = MarketTier1(self.bandit, self.tier1_horizon) if self.tier1_market else None
        return TickerHistory(ticker, self.history_bars, det, tier1)

    def _new_ticker(self, ticker: str, *, fresh_filter: bool = True) -> TickerHistory:
        hist = self.tickers[ticker] = self._make_ticker(ticker, fresh_filter=fresh_filter)
        return hist

    @staticmethod
    def _ticker(ticker: Any) -> str:
        if not has_text(ticker) or len(ticker) > 64:
            raise LiveInputError("ticker", f"{ticker!r} must be 1-64 characters, not only white space, e.g. 'SPY'")
        return ticker

    def observe_bars(
        self,
        ticker: str,
        bars: Sequence[Mapping[str, Any] | Bar],
        portfolio_state: Mapping[str, Any] | None = None,
        *,
        exit_reason: str | None = None,
    ) -> int:
        """Append bars of ``ticker`` (time order, each after the last one kept); returns the bars the ticker keeps.

        Args:
            ticker: Ticker name.
            bars: ``time open high low close`` (``volume``, ``theme technical ai sentiment``, ``vix`` optional).
            portfolio_state: ``equity`` (mark-to-market at the last bar's close), ``exposure_elsewhere`` (fraction).
            exit_reason: Reason of a position the risk layer closed on the last bar (``daily_loss`` blocks the day).

        Raises:
            LiveInputError: A bad bar or number (nothing changed); LiveConflictError: the first bar is not after the
                ticker's last one.
        """
        return self._observe_checked(ticker, bars, "bars", portfolio_state, exit_reason)

    def _observe_checked(self, ticker: str, bars: Any, where: str, portfolio_state: Any, exit_reason: Any) -> int:
        ticker = self._ticker(ticker)
        if not isinstance(bars, Sequence) or isinstance(bars, (str, bytes)) or not bars:
            raise LiveInputError(where, "is empty or not a list; send at least one bar")
        parsed = [parse_bar(b, f"{where}[{i}]" if where == "bars" else where) for i, b in enumerate(bars)]
        port = check_portfolio(portfolio_state)
        reason = optional_text("exit_reason", exit_reason)
        hist = self.tickers.get(ticker) or self._make_ticker(ticker)
        hist.check_new(parsed, where)
        self._observe(hist, parsed, port, reason)
        return len(hist.bars)

    def observe_bar(
        self,
        ticker: str,
        bar: Mapping[str, Any] | Bar,
        portfolio_state: Mapping[str, Any] | None = None,
        *,
        exit_reason: str | None = None,
    ) -> TickerHistory:
        """Append one bar (see :meth:`observe_bars`); returns the ticker's history."""
        self._observe_checked(ticker, [bar], "bar", portfolio_state, exit_reason)
        return self.tickers[ticker]

    def _observe(
        self, hist: TickerHistory, bars: Sequence[Bar], port: tuple[float | None, float | None], reason: str | None
    ) -> None:
        """Append checked bars (the change itself: nothing here refuses input)."""
        self.tickers.setdefault(hist.ticker, hist)
        hist.extend(bars)
        self.last_observed = list(bars)
        self._maybe_fit(hist)
        self.counts["bars"] += len(bars)
        self._apply_portfolio(port, bars[-1].time, reason)
        self._log("regime", [bars[-1].time.isoformat(), hist.ticker, *hist.regime])
        self.dirty.add(hist.ticker)

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

    def _apply_portfolio(
        self, port: tuple[float | None, float | None], time: pd.Timestamp | None, exit_reason: str | None = None
    ) -> None:
        equity, exposure = port
        if exposure is not None:
            self.account.exposure_elsewhere = exposure
        if equity is not None and time is not None and self.account.mark(equity, time, exit_reason):
            risk = self.account.risk
            self._log("equity", [time.isoformat(), equity, risk.drawdown, risk.state.name])

    # ------------------------------------------------------------------------------------------- decisions
    def _regime(self, hist: TickerHistory | None) -> tuple[tuple[float, ...], str | None]:
        if not self.tier2 or hist is None or hist.detector is None:  # Tier 2 off, or no detector fitted yet
            return tuple(OBS_LAYOUT.default_tier2().astype(float).tolist()), None
        return hist.regime, regime_name(hist.regime)

    def _weights(self, regime: str | None, hist: TickerHistory | None = None) -> list[float]:
        if not self.tier1:
            return OBS_LAYOUT.default_tier1().astype(float).tolist()
        if self.tier1_market:  # the ticker's own learner (the prior's weights before it has one)
            learner = hist.tier1 if hist is not None and hist.tier1 is not None else None
            return (learner.weights(regime) if learner else self.bandit.weights(regime)).tolist()  # type: ignore[no-any-return]
        return self.bandit.weights(regime).tolist()  # type: ignore[no-any-return]

    def _observation(
        self, hist: TickerHistory | None, scores: Mapping[str, float]
    ) -> tuple[np.ndarray, list[float], tuple[tuple[float, ...], str | None]]:
        """The 27-slot observation (float32, before normalisation), the components used and the regime.

        ``hist`` ready: the env's observation of its last bar, with ``scores`` over its own component scores.
        Otherwise (scores-only): the market slots are 0, missing component scores are 0 and the regime is unknown
        (uniform: a filter over fewer bars than the features need says nothing yet).
        """
        ready = hist is not None and hist.ready
        feats = hist.features if ready and hist is not None else None
        comps = [0.0] * len(COMPONENTS) if feats is None else [float(x) for x in feats[6:10]]
        for name, value in scores.items():
            comps[COMPONENTS.index(name)] = value
        regime = self._regime(hist if ready else None)
        weights = self._weights(regime[1], hist)
        market = [0.0] * 6 if feats is None else np.nan_to_num(feats[:6]).tolist()
        values = [*self.account.portfolio_slots(), *market, *comps, *weights, *regime[0]]
        obs = np.array([*values, *self.account.performance_slots()], dtype=np.float32)
        return obs, comps, regime

    def observation(self, ticker: str, component_scores: Mapping[str, Any] | None = None) -> np.ndarray:
        """The 27-slot observation of ``ticker``'s last bar, float32, as the env builds it (before normalisation)."""
        hist = self._ready(ticker)
        scores, _ = split_components("component_scores", component_scores or {})
        return self._observation(hist, scores)[0]

    def _ready(self, ticker: str, extra_bars: int = 0, *, scores_hint: bool = False) -> TickerHistory:
        """``ticker``'s history when it can decide with the policy (``extra_bars`` about to arrive), else 404/409."""
        hist = self.tickers.get(self._ticker(ticker))
        hint = "" if scores_hint else ", or send component_scores to decide from them alone (mode 'scores')"
        if hist is None and not extra_bars:
            raise LiveNotFoundError(
                "ticker", f"{ticker!r} has no bar history; POST its bars to /bars first ({LOOKBACK} needed){hint}"
            )
        n = (0 if hist is None else len(hist.bars)) + extra_bars
        if hist is None or not (hist.ready or (extra_bars and n >= LOOKBACK)):
            raise LiveConflictError(
                "ticker",
                f"{ticker!r} has {n} bars; the features need at least {LOOKBACK}: send {max(1, LOOKBACK - n)} more "
                f"to /bars{hint}",
            )
        if self.stale_after is not None and hist.last_time is not None and not extra_bars:
            age = _utc_now() - hist.last_time
            if age > self.stale_after:
                raise LiveConflictError(
                    "ticker", f"{ticker!r}'s last bar is {age} old (> {self.stale_after}): send the newest bar"
                )
        return hist

    def _mode(self, ticker: str, mode: str, scores: Mapping[str, float], n_new: int) -> bool:
        """Whether this decision is scores-only (checks, changing nothing, that the chosen mode can decide)."""
        if mode not in ("auto", "policy", "scores"):
            raise LiveInputError("mode", f"{mode!r} is not a mode; choose 'auto', 'policy' or 'scores'")
        if mode == "auto":
            hist = self.tickers.get(ticker)
            n = (0 if hist is None else len(hist.bars)) + n_new
            ready = (hist is not None and hist.ready) or (n_new > 0 and n >= LOOKBACK)
            if ready or not scores:
                self._ready(ticker, n_new)
            return not ready
        if mode == "policy":
            self._ready(ticker, n_new)
            return False
        hist = self.tickers.get(ticker)
        if not scores and not (hist is not None and (hist.ready or len(hist.bars) + n_new >= LOOKBACK)):
            raise LiveConflictError(
                "component_scores",
                f"missing; mode 'scores' decides from them while {ticker!r} has fewer than {LOOKBACK} bars: "
                f"send some of {', '.join(COMPONENTS)}",
            )
        return True

    def decide(
        self,
        ticker: str,
        component_scores: Mapping[str, Any] | None = None,
        bar: Mapping[str, Any] | Bar | None = None,
        portfolio_state: Mapping[str, Any] | None = None,
        *,
        mode: Mode = "auto",
    ) -> Decision:
        """Decide at the close of ``ticker``'s last bar (``bar`` is observed first if given); see :class:`Decision`.

        Every input is checked before anything changes: a refused call (:class:`LiveInputError` and its 404 / 409
        subclasses) leaves the brain as it was.

        Args:
            ticker: Ticker name.
            component_scores: ``{theme, technical, ai, sentiment}`` scores in [-1, 1] (any subset); other keys are
                ignored and named in the decision's ``warnings``.
            bar: The ticker's newest bar, observed before deciding.
            portfolio_state: ``equity`` (mark at the bar's close), ``exposure_elsewhere``.
            mode: See :data:`Mode`.
        """
        ticker = self._ticker(ticker)
        scores, extra = split_components("component_scores", component_scores or {})
        parsed = None if bar is None else parse_bar(bar, "bar")
        port = check_portfolio(portfolio_state)
        hist = self.tickers.get(ticker)
        target = hist or (None if parsed is None else self._make_ticker(ticker))
        if parsed is not None and target is not None:
            target.check_new([parsed], "bar")
        scores_only = self._mode(ticker, mode, scores, int(parsed is not None))
        if self.tier4 is not None and not scores_only and not self.account.started and port[0] is None:
            raise LiveConflictError(
                "portfolio_state.equity",
                "is missing: a Tier 4 bundle settles each decision from the equity; send the equity with the bars",
            )
        warnings = ignored_keys("component_scores", extra)
        if parsed is not None and target is not None:
            self._observe(target, [parsed], port, None)
            hist = target
        elif hist is not None:
            self._apply_portfolio(port, hist.last_time)
        elif port[0] is not None:
            warnings.append(f"portfolio_state.equity: not marked; {ticker!r} has no bar to mark it at")
            self._apply_portfolio((None, port[1]), None)
        return self._decide(ticker, hist, scores, scores_only, warnings)

    def _decide(
        self,
        ticker: str,
        hist: TickerHistory | None,
        scores: Mapping[str, float],
        scores_only: bool,
        warnings: list[str],
    ) -> Decision:
        obs, comps, (probs, name) = self._observation(hist, scores)
        specialist = None
        if scores_only:
            raw, mode = self._scores_rule(obs), "scores"
            n = 0 if hist is None else len(hist.bars)
            if n < LOOKBACK:
                warnings.append(
                    f"scores-only: {ticker!r} has {n} of {LOOKBACK} bars: the market slots are 0, the regime unknown"
                )
        elif self.tier4 is not None:
            assert hist is not None
            raw, specialist = self.tier4.act(ticker, obs, self.account.equity)
            mode = "tier4"
        elif self.rule_adapter is not None:
            assert hist is not None
            choice = self.rule_adapter.choose(hist._data(), **self._adapter_env)
            raw, specialist, mode = self._menu_table[choice.item], choice.name, "tier4"
        else:
            raw = self.policy(self.norm(obs) if self.norm else obs)
            mode = "rule" if isinstance(self.policy, RulePolicy) else "policy"
        action = np.asarray(raw, dtype=np.float32).reshape(-1)
        if action.shape != (4,) or not np.isfinite(action).all():
            raise RuntimeError(f"the policy returned {action.tolist()}; expected 4 finite values")
        params = self.action_map.decode(action)
        risk = self.account.risk
        approval = risk.approve(
            params.size, crisis=risk.is_crisis(probs, _CRISIS), exposure_elsewhere=self.account.exposure_elsewhere
        )
        buy = approval.size >= self.min_trade
        reasons = list(approval.reasons)
        if not buy:
            reasons.append(f"size {approval.size:.3f} < min_trade {self.min_trade}: stay flat one bar")
        if self.tier4 is not None and not scores_only:
            self.tier4.last_buy[ticker] = buy
            reasons.append(f"tier4: {specialist}")
        elif self.rule_adapter is not None and not scores_only:
            reasons.append(f"tier4 rule: {specialist}")
        time = hist.last_time if hist is not None and hist.last_time is not None else _utc_now().floor("s")
        self.counts["decisions"] += 1
        self.counts["buys"] += int(buy)
        decision = Decision(
            decision_id=f"{ticker}-{time.isoformat()}-{self.counts['decisions']}",
            ticker=ticker,
            time=time.isoformat(),
            action="buy" if buy else "hold",
            size=float(approval.size) if buy else 0.0,
            requested_size=float(params.size),
            stop=float(params.stop),
            target=float(params.target),
            hold_bars=int(params.hold),
            regime=name,
            regime_probs=dict(zip(REGIMES, map(float, probs), strict=True)),
            confidence=float(regime_confidence(np.asarray(probs))),
            weights=dict(zip(COMPONENTS, self._weights(name, hist), strict=True)),
            components=dict(zip(COMPONENTS, comps, strict=True)),
            breaker=risk.state.name,
            reasons=tuple(reasons),
            raw_action=tuple(float(x) for x in action),
            observation=tuple(float(x) for x in obs),
            specialist=specialist,
            mode=mode,  # type: ignore[arg-type]
            warnings=tuple(warnings),
        )
        record = decision.to_json()
        del record["observation"]
        self.decisions.append(record)
        self._log("weight", [decision.time, ticker, *decision.weights.values()])
        return decision


def _utc_now() -> pd.Timestamp:
    """Now in UTC without an offset (how bar times are kept)."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def finite(x: float) -> float | None:
    """``x`` or None when not finite (for JSON)."""
    return x if math.isfinite(x) else None
