"""The seed system's Python usage, as thin names over :class:`experiments.live.brain.LiveBrain`.

The names the first version of the trading brain documented keep working::

    from experiments.live.seed import LearningConfig, SelfLearningBrain, get_learning_brain

    brain = SelfLearningBrain(LearningConfig(use_tier1=True, use_tier2=True))   # no trained policy: rules decide
    decision = brain.get_trading_decision(
        ticker="SPY",
        component_scores={"theme": 0.4, "technical": 0.2, "ai": 0.1, "sentiment": -0.1},
        market_context={"bars": history},          # or {"bar": {...}} for the newest bar
        portfolio_state={"equity": 100_000.0},
    )
    brain.learn_from_trade({"trade_id": "t-1", "net_return": 0.012, "decision_id": decision["decision_id"]})
    brain.current_weights.theme
    brain.print_report()

Everything is delegated: the decision is :meth:`LiveBrain.decide`, learning :meth:`LiveBrain.learn`, the weights the
Tier 1 bandit's. With ``bundle`` set the bundle's ONNX policy decides (Tier 3); without one (or with
``use_tier3=False``) the Tier 1 + Tier 2 composite-score rule does, and Tier 2 fits each ticker's detector on its
first ``tier2_fit_bars`` bars.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from agents.tier1 import ComponentBandit
from envs.features import LOOKBACK
from envs.layout import OBS_LAYOUT, ActionMap
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs
from experiments.files import package_version
from experiments.live.brain import LiveBrain, _rule_policy
from experiments.live.bundle import BUNDLE_FORMAT
from experiments.live.state import LiveInputError


@dataclass(frozen=True)
class LearningConfig:
    """Settings of :class:`SelfLearningBrain`.

    Attributes:
        use_tier1: Thompson-sampling component weights.
        use_tier2: HMM regime probabilities and the crisis rule.
        use_tier3: The bundle's trained policy (needs ``bundle``); False lets the composite-score rule decide.
        bundle: Folder written by ``tradebrain export``; None for a brain without a trained policy.
        tier1_gamma: Discount of the bandit's posteriors (without a bundle).
        tier2_fit_bars: Bars a ticker needs before its regime detector is fitted (without a bundle's detector).
        initial_equity: Equity of the account before the first mark (without a bundle).
        max_position: Largest position as a fraction of equity (without a bundle).
    """

    use_tier1: bool = True
    use_tier2: bool = True
    use_tier3: bool = True
    bundle: str | None = None
    tier1_gamma: float = 0.97
    tier2_fit_bars: int = 500
    initial_equity: float = 100_000.0
    max_position: float = 0.20


class ComponentWeights(NamedTuple):
    """Tier 1 weights by name (they sum to 1)."""

    theme: float
    technical: float
    ai: float
    sentiment: float


def rules_spec(config: LearningConfig) -> dict[str, Any]:
    """A bundle specification without a policy or fitted detector (see :mod:`experiments.live.bundle`), from
    defaults."""
    limits = RiskLimits(max_position=config.max_position)
    return {
        "format": BUNDLE_FORMAT,
        "versions": {"tradebrain": package_version()},
        "layout": OBS_LAYOUT.to_json(),
        "action_map": ActionMap(max_position=config.max_position).to_json(),
        "env": {
            "costs": asdict(Costs()),
            "limits": limits.to_json(),
            "reward": RewardConfig().to_json(),
            "min_trade": 0.01,
            "initial_equity": config.initial_equity,
            "win_rate_window": 20,
        },
        "features": {"lookback": LOOKBACK, "history_bars": 600},
        "tier1": {
            "enabled": config.use_tier1,
            "bandit": ComponentBandit(config.tier1_gamma, per_regime=True).to_json(),
        },
        "tier2": {"enabled": config.use_tier2, "detector": None, "fit_bars": config.tier2_fit_bars},
        "obs_norm": None,
        "policy": None,
        "meta": {"specialists": [], "selector": None},
    }


class SelfLearningBrain:
    """The seed API over one :class:`~experiments.live.brain.LiveBrain` (``self.brain``)."""

    def __init__(self, config: LearningConfig | None = None) -> None:
        self.config = config or LearningConfig()
        cfg = self.config
        if cfg.bundle is not None:
            brain = LiveBrain.from_bundle(Path(cfg.bundle), use_tier1=cfg.use_tier1, use_tier2=cfg.use_tier2)
            if not cfg.use_tier3:
                brain.policy = _rule_policy(brain.action_map)
        else:
            brain = LiveBrain(rules_spec(cfg))
        self.brain = brain

    def get_trading_decision(
        self,
        ticker: str,
        component_scores: Mapping[str, float] | None = None,
        market_context: Mapping[str, Any] | None = None,
        portfolio_state: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """:meth:`LiveBrain.decide` as a dict; ``market_context`` may carry ``bars`` (history) and/or ``bar``."""
        ctx = dict(market_context or {})
        if ctx.get("bars"):
            self.brain.observe_bars(ticker, ctx["bars"], None)
        bar = ctx.get("bar")
        if bar is None and "close" in ctx:
            bar = {k: ctx[k] for k in ("time", "open", "high", "low", "close", "volume", "vix") if k in ctx}
        if not isinstance(bar, Mapping | None):
            raise LiveInputError("market_context.bar", f"is a {type(bar).__name__}; pass a bar mapping")
        return self.brain.decide(ticker, component_scores, bar, portfolio_state).to_json()

    def learn_from_trade(self, trade: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`LiveBrain.learn` (idempotent per ``trade_id``)."""
        return self.brain.learn(trade)

    @property
    def current_weights(self) -> ComponentWeights:
        """Tier 1 weights (pooled over regimes)."""
        return ComponentWeights(**self.brain.current_weights())

    def get_statistics(self) -> dict[str, Any]:
        return self.brain.statistics()

    def print_report(self) -> None:
        """Print :meth:`LiveBrain.report` (the seed API printed; library code otherwise never does)."""
        print(self.brain.report())


_LOCK = threading.Lock()
_BRAIN: list[SelfLearningBrain] = []
"""The process-wide brain of :func:`get_learning_brain` (the seed API's singleton; created on first use)."""


def get_learning_brain(config: LearningConfig | None = None) -> SelfLearningBrain:
    """The process-wide :class:`SelfLearningBrain`, created with ``config`` on the first call.

    Raises:
        ValueError: A later call passes a different ``config`` than the one the brain was created with.
    """
    with _LOCK:
        if not _BRAIN:
            _BRAIN.append(SelfLearningBrain(config))
        elif config is not None and config != _BRAIN[0].config:
            raise ValueError(
                f"get_learning_brain() already made a brain with {_BRAIN[0].config}; call it without a config, "
                "or build a separate SelfLearningBrain(config)"
            )
        return _BRAIN[0]
