"""Gymnasium registration of ``tradebrain/TradingBrain-v0``."""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "tradebrain/TradingBrain-v0"


def register_envs() -> None:
    """Register the env id (idempotent); also run by gymnasium's plugin entry point."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="envs.trading_env:TradingEnv")
