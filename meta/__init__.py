"""Tier 4: regime tasks, MAML / Reptile meta-learning, specialists, the selector and the torch-free online schedule.

``meta`` imports ``envs`` and ``agents``. Names load on first use: ``import meta`` imports no torch.

* :mod:`meta.config`: :class:`MetaConfig` (no torch); :mod:`meta.maml`: MAML and Reptile (``torch.func``).
* :mod:`meta.tasks`, :mod:`meta.segments`: synthetic regime tasks and real-data regime segments.
* :mod:`meta.policy`: the actor-critic with the SB3 PPO actor's shape; :mod:`meta.specialists`, :mod:`meta.selector`.
* :mod:`meta.online`: the schedule the backtest and the live brain share (numpy only); :mod:`meta.brain`: Tier 4.
* Issue 25: :mod:`meta.fullinfo` (menu rules scored on full-information outcomes), :mod:`meta.posterior` (the
  Gaussian posterior over rules, numpy), :mod:`meta.rule_adapter` (it online: backtest and live brain, no torch),
  :mod:`meta.menu_maml` (the menu policy, MAML on a full-information loss), :mod:`meta.rule_prior` (the adapter's
  prior from synthetic training tasks: the adaptation benchmark and ``tradebrain meta-train`` call it).
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "MetaConfig": "meta.config",
        "meta_train": "meta.maml",
        "TaskDistribution": "meta.tasks",
        "SegmentDistribution": "meta.segments",
        "Tier4": "meta.brain",
        "Tier4Policy": "meta.brain",
        "train_tier4": "meta.brain",
        "SpecialistSchedule": "meta.online",
        "menu_rules": "meta.fullinfo",
        "FullInfoPath": "meta.fullinfo",
        "RulePosterior": "meta.posterior",
        "fit_prior": "meta.posterior",
        "RuleAdapter": "meta.rule_adapter",
        "RuleAdapterPolicy": "meta.rule_adapter",
        "fit_synthetic": "meta.rule_prior",
    },
)
