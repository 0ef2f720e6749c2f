"""Gymnasium registration of ``tradebrain/TradingBrain-v2`` (the bare env) and ``tradebrain/TradingBrainStack-v2``.

Importing :mod:`envs` registers both ids. Without an import, the ``"module:id"`` form imports the package first
(Gymnasium 1.x no longer loads plugin entry points): ``gym.make("envs:tradebrain/TradingBrainStack-v2")``.

``tradebrain/TradingBrain-v2`` is :class:`envs.trading_env.TradingEnv`; its keywords are ``TradingEnv``'s.

``tradebrain/TradingBrainStack-v2`` is the Tier 1 + Tier 2 stack that PPO trains on, built by
:func:`agents.stack.make_stack_env` from a :class:`agents.stack.StackConfig` given as keywords::

    env = gym.make("tradebrain/TradingBrainStack-v2", data="sp500", split="train", tier1=True, tier2=True,
                   train=("2002-01-01", "2013-01-01"), commission_bps=1.0)

Its entry point is a string, so registering it imports nothing from :mod:`agents` (``envs`` depends on no other
package of the project); ``gym.make`` imports ``agents.stack`` when it builds the env, also in a fresh worker
process of ``gym.make_vec(..., vectorization_mode="async")``.

Both ids have a vector entry point, the batched core: ``gym.make_vec(id, n, vectorization_mode=
"vector_entry_point", **keywords)`` gives :class:`envs.batch.TradingVectorEnv` (the bare env) or
:class:`agents.batch.StackVectorEnv` (the stack), ``n`` copies stepped in one compiled call with Gymnasium's
next-step autoreset; ``"sync"`` and ``"async"`` still give Gymnasium's own vector envs over single envs.

Version 2 (2026-12-07): the ``equity_log_growth`` slot is the log growth over the last
:data:`~envs.layout.GROWTH_BARS` bars (since the episode start when that is later), so it means the same in a 252-bar
training episode and a multi-year test; version 1 measured it since the episode start. ``gym.make`` of a ``-v1`` id
says that version 1 is gone and names the ``-v2`` id.
"""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "tradebrain/TradingBrain-v2"
"""The bare trading env, :class:`envs.trading_env.TradingEnv`."""

STACK_ENV_ID = "tradebrain/TradingBrainStack-v2"
"""The Tier 1 + Tier 2 stack, :func:`agents.stack.make_stack_env`."""


def register_envs() -> None:
    """Register both env ids (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="envs.trading_env:TradingEnv",
            vector_entry_point="envs.batch:TradingVectorEnv",
        )
    if STACK_ENV_ID not in gym.registry:
        gym.register(
            id=STACK_ENV_ID,
            entry_point="agents.stack:make_stack_env",
            vector_entry_point="agents.batch:StackVectorEnv",
        )
