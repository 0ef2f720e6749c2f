"""tradebrain environments: market data, causal features, layout, risk layer, reward and ``TradingEnv``.

Importing this package registers ``tradebrain/TradingBrain-v2`` (the bare env) and
``tradebrain/TradingBrainStack-v2`` (the Tier 1 + Tier 2 stack, see :func:`agents.stack.make_stack_env`) with
Gymnasium::

    import gymnasium as gym
    import envs

    env = gym.make("tradebrain/TradingBrain-v2", data="sp500")
    stack = gym.make("tradebrain/TradingBrainStack-v2", data="sp500", split="train", tier1=True, tier2=True)
"""

from envs.data import DataError, MarketData, load, load_dataset, load_file
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES, ActionMap, ObservationLayout, TradeParams
from envs.registration import ENV_ID, STACK_ENV_ID, register_envs
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
    "STACK_ENV_ID",
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
