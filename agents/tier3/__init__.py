"""Tier 3: the learners on the env stack (SB3 PPO by default), their settings, callbacks and observation scaling.

* :mod:`agents.tier3.config`: :class:`PPOConfig` and the learners ``algo`` may name (no torch).
* :mod:`agents.tier3.algos`: :func:`make_model`, any of SB3's PPO, A2C, SAC, TD3 or RecurrentPPO.
* :mod:`agents.tier3.ppo`: :func:`make_ppo` and the TensorBoard callbacks.
* :mod:`agents.tier3.obs_norm`: :class:`ObsNormalizer`, frozen observation statistics (numpy only).

Names load on first use: ``import agents.tier3`` imports no torch.
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ALGOS": "agents.tier3.config",
        "PPOConfig": "agents.tier3.config",
        "make_model": "agents.tier3.algos",
        "load_model": "agents.tier3.algos",
        "make_ppo": "agents.tier3.ppo",
        "TradingMetricsCallback": "agents.tier3.ppo",
        "HParamCallback": "agents.tier3.ppo",
        "ObsNormalizer": "agents.tier3.obs_norm",
    },
)
