"""The env stack's settings, importable without scikit-learn or torch: :class:`StackConfig`, :class:`TierConfig`
and :func:`base_env`, the bare env they describe.

:mod:`agents.stack` adds the tiers; the experiments' config loader reads the settings from YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from envs.data import MarketData
from envs.layout import ActionMap
from envs.menu import BracketMenu
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

__all__ = ["ACTIONS", "TIER2_MIN_FIT_BARS", "VEC_ENVS", "Split", "StackConfig", "TierConfig", "base_env"]

ACTIONS: tuple[str, ...] = ("box", "menu")
"""Values of ``StackConfig.action``."""

Split = Literal["train", "val", "test"]

VEC_ENVS: tuple[str, ...] = ("batched", "dummy", "subproc")
"""Values of ``make_vec_env(vec_env=...)`` (the config key ``train.vec_env``)."""

TIER2_MIN_FIT_BARS = 100
"""Fewest bars the Tier 2 detector is fitted on (:func:`agents.stack.fit_detector` refuses fewer): a 3-state
Gaussian HMM on two or three features has about 20 free parameters, and 100 bars is the least that fits them."""


@dataclass(frozen=True)
class TierConfig:
    """Which tiers are on, and their hyper-parameters.

    Attributes:
        tier1: Thompson-sampling component weights (slots 15-18); uniform 0.25 when off.
        tier2: HMM regime probabilities (slots 19-23) and the crisis rule; uniform 0.2 when off.
        tier1_gamma: Discount of the bandit's posteriors (1.0 = no forgetting).
        tier1_per_regime: Keep one set of posteriors per regime (uses Tier 2's regime when on).
        tier1_learns_from: ``trades`` (the agent's closed trades, restarting every episode) or ``market`` (every
            bar's outcome ``tier1_horizon`` bars later, from the data's first bar: :mod:`agents.tier1.market`).
        tier1_horizon: Bars to each outcome Tier 1 learns from with ``tier1_learns_from: market``.
        tier2_states: Hidden states of the Gaussian HMM.
        tier2_restarts: EM restarts when fitting the HMM.
        tier2_fit_bars: Bars before a window used to fit its detector (at least :data:`TIER2_MIN_FIT_BARS`).

    Raises:
        ValueError: A value out of its range (the message names the field, the value and a valid one).
    """

    tier1: bool = True
    tier2: bool = True
    tier1_gamma: float = 0.97
    tier1_per_regime: bool = True
    tier1_learns_from: str = "trades"
    tier1_horizon: int = 5
    tier2_states: int = 3
    tier2_restarts: int = 3
    tier2_fit_bars: int = 750

    def __post_init__(self) -> None:
        for name in ("tier1", "tier2", "tier1_per_regime"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"TierConfig.{name}={getattr(self, name)!r} must be true or false")
        if not 0.0 < self.tier1_gamma <= 1.0:
            raise ValueError(
                f"TierConfig.tier1_gamma={self.tier1_gamma!r} must be in (0, 1]: the discount of the bandit's "
                "posteriors per trade (1 = never forget), e.g. 0.97 (about 33 trades of memory)"
            )
        if self.tier1_learns_from not in ("trades", "market"):
            raise ValueError(
                f"TierConfig.tier1_learns_from={self.tier1_learns_from!r} is not one of ['trades', 'market']: "
                "what Tier 1's bandit learns from, e.g. 'trades'"
            )
        if isinstance(self.tier1_horizon, bool) or not isinstance(self.tier1_horizon, int) or self.tier1_horizon < 1:
            raise ValueError(
                f"TierConfig.tier1_horizon={self.tier1_horizon!r} must be an integer >= 1: the bars from a component "
                "score to the close its outcome is measured at, e.g. 5"
            )
        for name, low, example in (("tier2_states", 2, 3), ("tier2_restarts", 1, 3)):
            if getattr(self, name) < low:
                raise ValueError(f"TierConfig.{name}={getattr(self, name)!r} must be >= {low}, e.g. {example}")
        if self.tier2_fit_bars < TIER2_MIN_FIT_BARS:
            raise ValueError(
                f"TierConfig.tier2_fit_bars={self.tier2_fit_bars!r} is too small: the Tier 2 detector is fitted on "
                f"at least {TIER2_MIN_FIT_BARS} bars before each window; raise it to {TIER2_MIN_FIT_BARS} or more "
                "(the default 750 is three years of days), or turn Tier 2 off (set TierConfig.tier2 to false)"
            )


@dataclass(frozen=True)
class StackConfig:
    """Everything that defines the environment an agent trades in.

    Attributes:
        data: Dataset name (``sp500``, ``nasdaq``) or a CSV/Parquet path.
        train: ``[start, stop)`` dates of the training window.
        val: Validation window (model selection during training).
        test: Test window (out-of-sample evaluation; never seen in training).
        episode_bars: Training episode length cap in bars (random starts); evaluation runs the whole window.
        min_trade: Smallest position opened, as a fraction of equity.
        max_hold: Longest holding period an action can ask for, in bars.
        initial_equity: Starting equity of every episode.
        costs: Commission and slippage per side, in basis points.
        limits: Risk limits (never overridden by any tier).
        reward: Differential Sharpe reward and penalties.
        tiers: Tier 1 and Tier 2 switches and settings.
        action: What the agent chooses: ``box`` (the env's 4-dim action: size, hold, stop, target) or ``menu``
            (an item of :attr:`menu` through :class:`envs.menu.MenuActionWrapper`: a categorical policy).
        menu: The bracket menu of ``action: menu`` (flat, or long at the cap x holds x (stop, target) pairs).
    """

    data: str = "sp500"
    train: tuple[str, str] = ("2002-01-01", "2013-01-01")
    val: tuple[str, str] = ("2013-01-01", "2015-01-01")
    test: tuple[str, str] = ("2015-01-01", "2019-01-01")
    episode_bars: int = 252
    min_trade: float = 0.01
    max_hold: int = 20
    initial_equity: float = 100_000.0
    costs: Costs = field(default_factory=Costs)
    limits: RiskLimits = field(default_factory=RiskLimits)
    reward: RewardConfig = field(default_factory=RewardConfig)
    tiers: TierConfig = field(default_factory=TierConfig)
    action: str = "box"
    menu: BracketMenu = field(default_factory=BracketMenu)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"StackConfig.action={self.action!r} is not one of {list(ACTIONS)}; e.g. 'menu'")

    def window(self, split: Split) -> tuple[str, str]:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split={split!r}; choose 'train', 'val' or 'test'")
        return getattr(self, split)


def base_env(cfg: StackConfig, data: MarketData, split: Split) -> TradingEnv:
    """The bare :class:`TradingEnv` of ``split`` (no tiers): random starts and ``episode_bars`` only in training.

    Building it runs the env's own checks of the config (episode length, hold, minimum trade, equity, window):
    :func:`experiments.config.check_data_fit` builds one to stop a command before any work.
    """
    train = split == "train"
    return TradingEnv(
        data,
        window=cfg.window(split),
        costs=cfg.costs,
        limits=cfg.limits,
        action_map=ActionMap(max_position=cfg.limits.max_position, max_hold=cfg.max_hold),
        reward=cfg.reward,
        min_trade=cfg.min_trade,
        random_start=train,
        episode_bars=cfg.episode_bars if train else None,
        initial_equity=cfg.initial_equity,
    )
