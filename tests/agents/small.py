"""The small stack the agents tests share: sp500, 2004-2006, 60-bar episodes, a fast Tier 2 fit."""

from agents.config import StackConfig, TierConfig

SMALL = StackConfig(
    train=("2004-01-01", "2006-01-01"),
    val=("2006-01-01", "2006-07-01"),
    test=("2006-07-01", "2007-01-01"),
    episode_bars=60,
    tiers=TierConfig(tier2_restarts=2, tier2_fit_bars=500),
)


def reload_and_check_onnx(model, cfg: StackConfig, folder):  # type: ignore[no-untyped-def]
    """Save ``model`` (a menu policy on ``cfg``), load it back, export it to ONNX in ``folder`` and assert the ONNX
    policy's actions match it on 500 random observations; returns the loaded model."""
    import numpy as np

    from envs.layout import OBS_LAYOUT, ActionMap
    from experiments.evaluation.policies import load_model
    from experiments.live.export import check_onnx, export_onnx

    model.save(folder / "model.zip")
    loaded = load_model(folder / "model.zip")
    table = cfg.menu.actions(ActionMap(cfg.limits.max_position, cfg.max_hold))
    export_onnx(loaded, folder / "policy.onnx", table)
    obs = np.random.default_rng(0).uniform(OBS_LAYOUT.low, OBS_LAYOUT.high, (500, OBS_LAYOUT.size)).astype(np.float32)
    assert check_onnx(loaded, folder / "policy.onnx", obs, 1e-5, table) <= 1e-5
    return loaded
