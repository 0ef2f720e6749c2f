"""Gymnasium registration of ``tradebrain/TradingBrain-v0``.

Importing :mod:`envs` registers the id. Without an import, ``gym.make("envs:tradebrain/TradingBrain-v0")``
imports the package first (Gymnasium 1.x no longer loads plugin entry points).
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "tradebrain/TradingBrain-v0"


def register_envs() -> None:
    """Register the env id (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="envs.trading_env:TradingEnv")
