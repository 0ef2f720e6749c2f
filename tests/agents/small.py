"""The small stack the agents tests share: sp500, 2004-2006, 60-bar episodes, a fast Tier 2 fit."""

from agents.config import StackConfig, TierConfig

SMALL = StackConfig(
    train=("2004-01-01", "2006-01-01"),
    val=("2006-01-01", "2006-07-01"),
    test=("2006-07-01", "2007-01-01"),
    episode_bars=60,
    tiers=TierConfig(tier2_restarts=2, tier2_fit_bars=500),
)
