"""tradebrain environments: market data, causal features, layout, risk layer, reward and ``TradingEnv``.

Importing this package registers ``tradebrain/TradingBrain-v0`` with Gymnasium::

    import gymnasium as gym
    import envs

    env = gym.make("tradebrain/TradingBrain-v0", data="sp500")
"""

from envs.data import DataError, MarketData, load, load_dataset, load_file
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap, ObservationLayout, TradeParams
from envs.registration import ENV_ID, register_envs
from envs.reward import DifferentialSharpe, RewardConfig
from envs.risk import Breaker, RiskLimits, RiskManager
from envs.synthetic import RegimeSpec, SyntheticMarket, bars_from_closes
from envs.trading_env import Costs, TradingEnv

register_envs()

__all__ = [
    "COMPONENTS",
    "ENV_ID",
    "OBS_LAYOUT",
    "REGIMES",
    "ActionMap",
    "Breaker",
    "Costs",
    "DataError",
    "DifferentialSharpe",
    "MarketData",
    "ObservationLayout",
    "RegimeSpec",
    "RewardConfig",
    "RiskLimits",
    "RiskManager",
    "SyntheticMarket",
    "TradeParams",
    "TradingEnv",
    "bars_from_closes",
    "load",
    "load_dataset",
    "load_file",
]
