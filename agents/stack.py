"""Build the wrapped env stack (TradingEnv -> Tier 2 regime wrapper -> Tier 1 weight wrapper) from a config.

One function builds one env for a split (train, val or test); one builds SB3 vectorised envs for training. The
Tier 2 detector is fitted once per split on the ``tier2_fit_bars`` bars *before* that split's window (never on
a bar it labels) and shared by the copies of the env. The Tier 1 bandit starts every episode from its prior, in
every split, and learns online from that episode's own closed trades (see :mod:`agents.tier1`): the weights at
bar ``t`` depend only on trades closed by ``t``, whether the episode is a random-start training episode, the
n-th validation pass of SB3's ``EvalCallback`` over the same env, or a backtest; and training and evaluation see
the same distribution of weights in slots 15-18.

Example:
    >>> cfg = StackConfig(data="sp500")                              # doctest: +SKIP
    >>> env = make_env(cfg, "test")                                  # wrapped, window = cfg.test
    >>> venv = make_vec_env(cfg, n_envs=4, seed=0)                   # SB3 DummyVecEnv + VecMonitor
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from agents.tier1 import ComponentBandit, ComponentWeightWrapper
from agents.tier2 import RegimeDetector, RegimeWrapper
from envs.data import MarketData, load
from envs.layout import ActionMap
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

logger = logging.getLogger(__name__)

Split = Literal["train", "val", "test"]


@dataclass(frozen=True)
class TierConfig:
    """Which tiers are on, and their hyper-parameters.

    Attributes:
        tier1: Thompson-sampling component weights (slots 15-18); uniform 0.25 when off.
        tier2: HMM regime probabilities (slots 19-23) and the crisis rule; uniform 0.2 when off.
        tier1_gamma: Discount of the bandit's posteriors (1.0 = no forgetting).
        tier1_per_regime: Keep one set of posteriors per regime (uses Tier 2's regime when on).
        tier2_states: Hidden states of the Gaussian HMM.
        tier2_restarts: EM restarts when fitting the HMM.
        tier2_fit_bars: Bars before a window used to fit its detector.
    """

    tier1: bool = True
    tier2: bool = True
    tier1_gamma: float = 0.97
    tier1_per_regime: bool = True
    tier2_states: int = 3
    tier2_restarts: int = 3
    tier2_fit_bars: int = 750


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

    def window(self, split: Split) -> tuple[str, str]:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split={split!r}; choose 'train', 'val' or 'test'")
        return getattr(self, split)


def _base_env(cfg: StackConfig, data: MarketData, split: Split) -> TradingEnv:
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


def fit_detector(cfg: StackConfig, data: MarketData, split: Split) -> RegimeDetector:
    """Fit the Tier 2 detector on the ``tier2_fit_bars`` bars before the split's window."""
    start = data.bar_at(cfg.window(split)[0])
    lo = max(0, start - cfg.tiers.tier2_fit_bars)
    if start - lo < 100:
        raise ValueError(
            f"only {start - lo} bars before the {split} window ({cfg.window(split)[0]}) to fit the Tier 2 detector; "
            "start the window later or lower tiers.tier2_fit_bars"
        )
    det = RegimeDetector(n_states=cfg.tiers.tier2_states, n_restarts=cfg.tiers.tier2_restarts)
    det.fit(data.close[lo:start], None if data.vix is None else data.vix[lo:start])
    logger.info("Tier 2 detector for %s fitted on bars [%d, %d)", split, lo, start)
    return det


def wrap(env: TradingEnv, cfg: StackConfig, detector: RegimeDetector | None, *, learn: bool = True) -> gym.Env:
    """Put the enabled tiers around a base env (Tier 2 inside, Tier 1 outside: Tier 1 reads Tier 2's regime).

    The Tier 1 bandit restarts from its prior at every ``reset()`` (causal in every context; see
    :class:`~agents.tier1.ComponentWeightWrapper`); ``learn=False`` keeps it at the prior.
    """
    wrapped: gym.Env = env
    if cfg.tiers.tier2:
        wrapped = RegimeWrapper(wrapped, detector, fit_bars=cfg.tiers.tier2_fit_bars)
    if cfg.tiers.tier1:
        bandit = ComponentBandit(gamma=cfg.tiers.tier1_gamma, per_regime=cfg.tiers.tier1_per_regime and cfg.tiers.tier2)
        wrapped = ComponentWeightWrapper(wrapped, bandit, learn=learn, reset_each_episode=True)
    return wrapped


def make_env(
    cfg: StackConfig,
    split: Split = "train",
    *,
    data: MarketData | None = None,
    detector: RegimeDetector | None = None,
) -> gym.Env:
    """One wrapped env for ``split``; training envs start at random bars, evaluation envs at the window start."""
    data = data if data is not None else load(cfg.data)
    if cfg.tiers.tier2 and detector is None:
        detector = fit_detector(cfg, data, split)
    return wrap(_base_env(cfg, data, split), cfg, detector)


def make_vec_env(cfg: StackConfig, n_envs: int, seed: int, split: Split = "train") -> VecEnv:
    """``n_envs`` copies of the stack in a DummyVecEnv with a VecMonitor, seeded ``seed, seed + 1, ...``.

    The data is loaded and the detector fitted once and shared by all copies.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs={n_envs!r} must be >= 1")
    data = load(cfg.data)
    detector = fit_detector(cfg, data, split) if cfg.tiers.tier2 else None
    venv = DummyVecEnv([lambda: make_env(cfg, split, data=data, detector=detector) for _ in range(n_envs)])
    venv.seed(seed)
    return VecMonitor(venv)
