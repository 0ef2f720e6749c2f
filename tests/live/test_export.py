"""Export: the ONNX policy equals SB3's deterministic action; bundle.json is checked on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from envs.layout import OBS_LAYOUT
from experiments.live.brain import LiveBrain, ObsNormalizer
from experiments.live.bundle import BundleError, read_bundle
from experiments.live.export import _mean_action_module, export_bundle, onnx_actions


def _real_observations(run: Path, n: int = 1500) -> np.ndarray:
    from agents.stack import make_env
    from experiments.config import load_config

    cfg = load_config(run / "config.yaml")
    env, out = make_env(cfg.stack, "train"), []
    rng = np.random.default_rng(3)
    obs, _ = env.reset(seed=3)
    while len(out) < n:
        out.append(obs)
        obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        if term or trunc:
            obs, _ = env.reset()
    return np.asarray(out, dtype=np.float32)


@pytest.mark.parametrize("action", ["menu", "box"])
def test_onnx_matches_sb3_on_thousands_of_random_and_real_observations(action, request, tmp_path):
    from agents.config import StackConfig
    from envs.layout import ActionMap
    from experiments.evaluation.policies import load_model

    run = request.getfixturevalue("tiny_run" if action == "menu" else "tiny_box_run")
    if action == "menu":
        bundle = request.getfixturevalue("tiny_bundle")
    else:
        bundle = tmp_path / "bundle"
        export_bundle(run, bundle, which="final", n_check=500)
    model = load_model(run / "model.zip")
    rng = np.random.default_rng(0)
    wide = rng.uniform(OBS_LAYOUT.low, OBS_LAYOUT.high, size=(3000, OBS_LAYOUT.size)).astype(np.float32)
    obs = np.vstack([wide, rng.normal(0, 3, (1000, OBS_LAYOUT.size)).astype(np.float32), _real_observations(run)])
    ours = onnx_actions(bundle / "policy.onnx", obs)
    theirs = model.predict(obs, deterministic=True)[0]
    if action == "menu":  # SB3 predicts the item; the bundle's policy gives the item's Box action
        stack = StackConfig()
        table = stack.menu.actions(ActionMap(stack.limits.max_position, stack.max_hold))
        assert theirs.shape == (len(obs),)
        theirs = table[theirs]
    assert ours.shape == (len(obs), 4)
    assert np.max(np.abs(ours - theirs)) <= 1e-5
    assert np.abs(ours).max() <= 1.0
    spec = json.loads((bundle / "bundle.json").read_text())
    assert spec["policy"]["check"]["max_abs_diff"] <= 1e-5


def test_bundle_json_holds_every_part(tiny_bundle):
    spec = read_bundle(tiny_bundle)
    assert [s["name"] for s in spec["layout"]] == list(OBS_LAYOUT.names)
    assert spec["action_map"]["max_position"] == 0.2 and spec["env"]["limits"]["max_drawdown"] == 0.15
    assert spec["tier2"]["detector"]["format"].startswith("tradebrain.tier2")
    assert spec["tier1"]["bandit"]["class"] == "ComponentBandit"
    assert spec["obs_norm"] is None and spec["meta"] == {"specialists": [], "selector": None}
    assert set(spec["files"]) == {"policy.onnx", "warmup.json"}
    assert spec["source"]["algo"] == "PPO" and spec["versions"]["onnxruntime"] != "absent"


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "b"))


def test_tampered_file_is_refused(bundle_copy):
    with open(bundle_copy / "policy.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"'policy.onnx' has sha256 .* changed or corrupted"):
        LiveBrain.from_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format", "tradebrain.bundle/99", "has format 'tradebrain.bundle/99'; this tradebrain reads"),
        ("versions", {"tradebrain": "9.9.0"}, "exported by tradebrain 9.9.0; this is tradebrain"),
        ("layout", [{"name": "x"}], "observation layout differs"),
        (
            "layout",
            [
                {**s, "description": "log(equity / equity at episode start)"} if s["index"] == 0 else s
                for s in OBS_LAYOUT.to_json()
            ],  # env version 1's slot 0
            "slot 'equity_log_growth' means 'log\\(equity / equity at episode start\\)' in the bundle",
        ),
    ],
)
def test_wrong_format_version_or_layout_is_refused(bundle_copy, key, value, match):
    path = bundle_copy / "bundle.json"
    spec = json.loads(path.read_text())
    spec[key] = value
    path.write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=match):
        read_bundle(bundle_copy)


def test_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match=r"not a bundle .* `tradebrain export --run RUN`"):
        read_bundle(tmp_path)


def test_other_algorithms_are_refused_by_name():
    class SAC:
        policy = None

    with pytest.raises(BundleError, match=r"export supports PPO, A2C .* model is SAC"):
        _mean_action_module(SAC())


def test_observation_normaliser_is_carried_and_applied(tiny_run, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    rng = np.random.default_rng(5)
    norm = {
        "format": 1,
        "mean": rng.normal(0, 0.1, OBS_LAYOUT.size).tolist(),
        "var": rng.uniform(0.05, 2.0, OBS_LAYOUT.size).tolist(),
        "clip_obs": 5.0,
        "epsilon": 1e-8,
    }
    (run / "obs_norm.json").write_text(json.dumps(norm))
    spec = export_bundle(run, tmp_path / "bundle", which="final", n_check=100)
    assert spec["obs_norm"] == norm
    brain = LiveBrain.from_bundle(tmp_path / "bundle")
    d = brain.decide(spec["warmup"]["ticker"], portfolio_state={"equity": 1e5})
    obs = np.asarray(d.observation, dtype=np.float32)
    expected = np.clip((obs - np.array(norm["mean"])) / np.sqrt(np.array(norm["var"]) + 1e-8), -5, 5)
    np.testing.assert_allclose(ObsNormalizer.from_json(norm)(obs), expected, rtol=1e-6, atol=1e-6)
    want = onnx_actions(tmp_path / "bundle" / "policy.onnx", expected[None].astype(np.float32))[0]
    np.testing.assert_allclose(d.raw_action, want, atol=1e-6)
    raw = onnx_actions(tmp_path / "bundle" / "policy.onnx", obs[None])[0]
    assert np.max(np.abs(raw - want)) > 1e-4  # the normaliser changed the action


def test_bad_obs_norm_is_refused(tiny_run, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    (run / "obs_norm.json").write_text(json.dumps({"format": 1, "mean": [0.0] * 3, "var": [1.0] * 27}))
    with pytest.raises(BundleError, match=r"obs_norm.json\['mean'\] must be a list of 27 numbers"):
        export_bundle(run, tmp_path / "bundle", which="final", n_check=10)
