"""tradebrain agents: Tier 1 (component bandit), Tier 2 (regime detector), Tier 3 (learners) and the env stack.

``agents`` imports ``envs`` and nothing else of the project. Names load on first use, so ``import agents`` pulls in
neither torch nor scikit-learn::

    from agents import ComponentBandit, RegimeDetector, StackConfig, make_env
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ComponentBandit": "agents.tier1",
        "ComponentWeightWrapper": "agents.tier1",
        "RegimeDetector": "agents.tier2",
        "RegimeRules": "agents.tier2",
        "RegimeWrapper": "agents.tier2",
        "PPOConfig": "agents.tier3",
        "make_model": "agents.tier3",
        "make_ppo": "agents.tier3",
        "ObsNormalizer": "agents.tier3",
        "CompositeScoreRule": "agents.rules",
        "Rule": "agents.rules",
        "StackConfig": "agents.stack",
        "TierConfig": "agents.stack",
        "make_env": "agents.stack",
        "make_stack_env": "agents.stack",
        "make_vec_env": "agents.vec",
        "fit_detector": "agents.stack",
    },
)
