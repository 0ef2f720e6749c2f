"""Tier 2: the HMM regime detector (filtered probabilities only), its rules and the wrapper for slots 19-23.

* :mod:`agents.tier2.features`: the detector's causal inputs (log return, log realised vol, VIX change, trend).
* :mod:`agents.tier2.detector`: :class:`RegimeDetector`, a Gaussian HMM (``hmmlearn``) with a forward filter.
* :mod:`agents.tier2.rules`: :class:`RegimeRules`, from state probabilities to the five named regimes.
* :mod:`agents.tier2.stats`: component statistics per regime (for reports).
* :mod:`agents.tier2.wrapper`: :class:`RegimeWrapper`, the observation wrapper.
"""

from agents.tier2.detector import RegimeDetector, forward_step, stationary_distribution
from agents.tier2.features import hmm_features, price_momentum, trend_and_drawdown
from agents.tier2.rules import RegimeRules, combine_regimes, regime_confidence, regime_name
from agents.tier2.stats import component_stats_by_regime, format_component_stats
from agents.tier2.wrapper import RegimeWrapper

__all__ = [
    "RegimeDetector",
    "RegimeRules",
    "RegimeWrapper",
    "combine_regimes",
    "component_stats_by_regime",
    "format_component_stats",
    "forward_step",
    "hmm_features",
    "price_momentum",
    "regime_confidence",
    "regime_name",
    "stationary_distribution",
    "trend_and_drawdown",
]
