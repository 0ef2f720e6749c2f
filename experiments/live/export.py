"""``tradebrain export``: a training run becomes a bundle that :class:`experiments.live.brain.LiveBrain` loads without
torch.

Reads ``RUN_DIR/config.yaml`` and the model (``best/best_model.zip``, or ``model.zip`` with ``--model final``)
through :func:`experiments.training.train.load_model`, and writes ``OUT/``:

* ``policy.onnx``: the deterministic action, the Gaussian mean through the actor
  (``action_net(mlp_extractor.forward_actor(extract_features(obs)))``) clipped to [-1, 1] as SB3's
  ``predict(deterministic=True)`` does for a Box action space; input ``obs`` ``(batch, 27)`` float32 with a dynamic
  batch dimension, output ``action`` ``(batch, 4)``. The export is checked against ``model.predict`` on random and
  real observations before anything is written (max abs difference <= ``--atol``, default 1e-5).
* ``warmup.json``: the last ``history_bars`` bars before the live start, so the run's own ticker decides at once.
* ``bundle.json``: see :mod:`experiments.live.bundle` (layout, action map, limits and costs, feature parameters, the
Tier 2
  detector fitted exactly as the backtest fits it, with its filter run over every bar before the live start, the
  Tier 1 bandit at its prior, the observation normaliser when the run has one, versions, sha256 of every file).

A `tradebrain meta-train` run (a ``tier4/`` folder) exports Tier 4 instead (:func:`export_tier4`):
``specialist_<name>.onnx`` per specialist (its mean action through its size bound) and ``selector.onnx``, each
checked against torch, with the schedule the backtest ran in the bundle's ``meta`` section. With ``--tier4 rules``
it exports the run's ``rule_adapter.json`` instead (:func:`export_rules_run`: policy kind ``tier4_rules``, no
network).

The live start defaults to the run's test window start: replaying the test window through the bundle then gives
the backtest's decisions (``tests/live/test_replay_parity.py``).

Example::

    tradebrain export --run runs/quickstart-sp500-20260101-120000 --out runs/quickstart-sp500-20260101-120000/bundle
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agents.stack import fit_detector
from agents.tier1 import ComponentBandit
from agents.tier3.obs_norm import FILENAME as OBS_NORM_FILE
from agents.tier3.obs_norm import ObsNormalizer
from envs.data import MarketData, load
from envs.features import LOOKBACK
from envs.layout import OBS_LAYOUT, ActionMap
from experiments.config import RunConfig, load_config
from experiments.evaluation.runfiles import model_path
from experiments.files import package_version, sha256_file, write_json_atomic
from experiments.live.bundle import BUNDLE_FORMAT, BUNDLE_JSON, BundleError, check_obs_norm
from experiments.live.state import bar_record

logger = logging.getLogger(__name__)


SUPPORTED_ALGOS = ("PPO", "A2C")
"""Algorithms whose policy is an SB3 ``ActorCriticPolicy`` with a Gaussian (Box) action head."""


HISTORY_BARS = 600
"""Bars of history a live ticker keeps (features are recomputed on them; EMA and RSI seeds are forgotten)."""


OPSET = 17


def read_obs_norm(model_file: Path) -> dict[str, Any] | None:
    """The ``obs_norm.json`` next to a model (the run's observation normaliser), or None when there is none.

    Checked twice: for the bundle's layout (27 slots; :func:`~experiments.live.bundle.check_obs_norm`) and as the
    transform the live brain applies (:class:`~agents.tier3.obs_norm.ObsNormalizer`, the reader the backtest uses too).
    """
    path = model_file.parent / OBS_NORM_FILE
    if not path.exists():
        return None
    try:
        norm = check_obs_norm(json.loads(path.read_text(encoding="utf-8")), str(path))
        ObsNormalizer.from_json(norm or {}, str(path))
    except (json.JSONDecodeError, ValueError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{path}: {exc}") from exc
    return norm


# ----------------------------------------------------------------------------------------------- ONNX policy
def _mean_action_module(model: Any, table: np.ndarray | None = None) -> Any:
    """A torch module ``obs -> clip(mean action, -1, 1)`` over the model's actor (PPO and A2C), or, for a
    categorical policy over the bracket menu, ``obs -> table[argmax logits]`` (the Box action of its likeliest
    item: the live brain takes Box actions either way)."""
    import torch
    from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy

    algo = type(model).__name__
    policy = getattr(model, "policy", None)
    if algo not in SUPPORTED_ALGOS or not isinstance(policy, ActorCriticPolicy):
        raise BundleError(
            f"export supports {', '.join(SUPPORTED_ALGOS)} (an ActorCriticPolicy with a Gaussian action); this run's "
            f"model is {algo} with {type(policy).__name__}: export its mean-action network by hand"
        )
    if table is not None:
        return _menu_module(policy, torch.as_tensor(table, dtype=torch.float32))
    if policy.squash_output:
        raise BundleError(f"{algo} policy uses squash_output (gSDE); export supports the plain Gaussian mean only")
    low, high = model.action_space.low, model.action_space.high
    if not (np.all(low == -1.0) and np.all(high == 1.0)):
        raise BundleError(f"action space bounds {low}..{high}; the bundle expects Box(-1, 1, (4,))")

    class MeanAction(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            features = BasePolicy.extract_features(self.policy, obs, self.policy.pi_features_extractor)
            mean = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
            return torch.clamp(mean, -1.0, 1.0)

    return MeanAction().eval()


def _menu_module(policy: Any, table: Any) -> Any:
    import torch
    from stable_baselines3.common.policies import BasePolicy

    class MenuAction(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy
            self.register_buffer("table", table)

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            features = BasePolicy.extract_features(self.policy, obs, self.policy.pi_features_extractor)
            logits = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
            return torch.index_select(self.table, 0, torch.argmax(logits, dim=-1))

    return MenuAction().eval()


def export_onnx(model: Any, path: Path, table: np.ndarray | None = None) -> Path:
    """Write the model's deterministic action as ONNX (input ``obs`` (batch, 27), output ``action`` (batch, 4));
    ``table``: the bracket menu's Box actions, for a categorical policy."""
    return _to_onnx(_mean_action_module(model, table), path, OBS_LAYOUT.size, ("obs", "action"))


def onnx_actions(path: Path, obs: np.ndarray) -> np.ndarray:
    """Actions ``(n, 4)`` of an exported ``policy.onnx`` for observations ``(n, 27)`` (onnxruntime, CPU)."""
    return _onnx_run(path, ("obs", "action"), obs)


def _to_onnx(module: Any, path: Path, n_in: int, names: tuple[str, str]) -> Path:
    """Export a torch module ``(batch, n_in) -> (batch, ...)`` with a dynamic batch dimension."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    # the TorchScript exporter (dynamo=False): every graph here is a plain MLP, and the dynamo exporter needs
    # onnxscript; it warns that it is legacy, which says nothing about these graphs (each is checked after export)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.zeros((1, n_in), dtype=torch.float32),),
            str(path),
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def _onnx_run(path: Path, names: tuple[str, str], x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([names[1]], {names[0]: np.asarray(x, dtype=np.float32)})[0])


def check_onnx(model: Any, path: Path, obs: np.ndarray, atol: float = 1e-5, table: np.ndarray | None = None) -> float:
    """Max abs difference between ONNX and ``model.predict(obs, deterministic=True)`` (its menu item's Box action
    with ``table``); raises above ``atol``."""
    ours = onnx_actions(path, obs)
    predicted = model.predict(obs.astype(np.float32), deterministic=True)[0]
    theirs = np.asarray(predicted if table is None else table[np.asarray(predicted, np.int64)], dtype=np.float32)
    diff = float(np.max(np.abs(ours - theirs))) if len(obs) else 0.0
    if not diff <= atol:
        raise BundleError(f"ONNX and SB3 actions differ by {diff:.3g} > atol={atol:g} on {len(obs)} observations")
    return diff


def check_observations(cfg: RunConfig, n_random: int = 2000, seed: int = 0) -> np.ndarray:
    """Random observations inside the layout's bounds plus real ones from the run's validation window."""
    from experiments.evaluation.baselines import RandomPolicy

    rng = np.random.default_rng(seed)
    low, high = OBS_LAYOUT.low, OBS_LAYOUT.high
    rand = rng.uniform(low, high, size=(n_random, OBS_LAYOUT.size)).astype(np.float32)
    from agents.stack import make_env

    env, real = make_env(cfg.stack, "val"), []
    policy = RandomPolicy(seed)
    obs, info = env.reset(seed=seed)
    done = False
    while not done and len(real) < 2000:
        real.append(obs)
        obs, _, term, trunc, info = env.step(policy(obs, info))
        done = term or trunc
    return np.vstack([rand, np.asarray(real, dtype=np.float32)])


# ----------------------------------------------------------------------------------------------- bundle parts
def _versions() -> dict[str, str]:
    out = {"tradebrain": package_version()}
    for lib in ("numpy", "onnx", "onnxruntime", "torch", "stable_baselines3", "gymnasium", "hmmlearn"):
        try:
            out[lib] = importlib.metadata.version(lib.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


def _tier2(cfg: RunConfig, data: MarketData, start: int) -> dict[str, Any]:
    """The test-split detector (fitted as the backtest fits it) with its online filter run over bars [0, start)."""
    if not cfg.stack.tiers.tier2:
        return {"enabled": False, "detector": None}
    det = fit_detector(cfg.stack, data, "test")
    det.reset_filter()
    theme, last = _theme(data), None
    for t in range(start):
        last = det.update(float(data.close[t]), None if data.vix is None else float(data.vix[t]), float(theme[t]))
    return {
        "enabled": True,
        "detector": det.to_json(),
        "fit_window": list(cfg.stack.test),
        "last_regime": None if last is None else [float(x) for x in last],
    }


def _tier1_market(cfg: RunConfig, data: MarketData, start: int) -> dict[str, Any]:
    """Tier 1 learning from the market (:mod:`agents.tier1.market`) after bars [0, start) of the run's data: the
    backtest's own stack gives the component scores and the regimes, so the live brain continues its path."""
    from agents.stack import make_env
    from agents.tier1.market import MarketTier1
    from agents.tier1.wrapper import regime_names

    s = cfg.stack
    env = make_env(s, "test", data=data)
    base: Any = env.unwrapped
    names = regime_names(env)
    bandit = ComponentBandit(gamma=s.tiers.tier1_gamma, per_regime=s.tiers.tier1_per_regime and s.tiers.tier2)
    learner = MarketTier1(bandit, s.tiers.tier1_horizon)
    comps = np.asarray(base.features.components, dtype=np.float64).tolist()
    for t in range(start):
        learner.step(float(data.close[t]), comps[t], None if names is None else names[t])
    return learner.to_json()


def _theme(data: MarketData) -> np.ndarray:
    """The theme score the Tier 2 wrapper gives the detector: the env's theme component, 0 before its look-back."""
    from envs.features import compute_features

    return np.nan_to_num(np.asarray(compute_features(data).components[:, 0], dtype=np.float64), nan=0.0)


def _warmup(data: MarketData, start: int, history_bars: int) -> dict[str, Any]:
    lo = max(0, start - history_bars)
    rows = [bar_record(data, t) for t in range(lo, start)]
    return {"ticker": data.name, "bars": rows}


def _env_section(cfg: RunConfig) -> dict[str, Any]:
    s = cfg.stack
    return {
        "costs": asdict(s.costs),
        "limits": s.limits.to_json(),
        "reward": s.reward.to_json(),
        "min_trade": s.min_trade,
        "initial_equity": s.initial_equity,
        "win_rate_window": 20,
    }


def build_spec(cfg: RunConfig, run_dir: Path, model_file: Path | None, algo: str | None) -> dict[str, Any]:
    """Everything of ``bundle.json`` except ``files`` and ``policy`` (see :mod:`experiments.live.bundle`)."""
    s = cfg.stack
    bandit = ComponentBandit(gamma=s.tiers.tier1_gamma, per_regime=s.tiers.tier1_per_regime and s.tiers.tier2)
    return {
        "format": BUNDLE_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
        "source": {
            "run": str(run_dir),
            "model": None if model_file is None else str(model_file),
            "model_sha256": None if model_file is None else sha256_file(model_file),
            "algo": algo,
            "config": cfg.name,
            "seed": cfg.seed,
            "data": s.data,
        },
        "layout": OBS_LAYOUT.to_json(),
        "action_map": ActionMap(max_position=s.limits.max_position, max_hold=s.max_hold).to_json(),
        "env": _env_section(cfg),
        "features": {"lookback": LOOKBACK, "history_bars": HISTORY_BARS},
        "tier1": {
            "enabled": s.tiers.tier1,
            "bandit": bandit.to_json(),
            "learns_from": s.tiers.tier1_learns_from,
            "horizon": s.tiers.tier1_horizon,
        },
        "meta": {"specialists": [], "selector": None},
    }


def export_bundle(
    run_dir: str | Path,
    out: str | Path,
    *,
    which: str = "best",
    start: str | None = None,
    atol: float = 1e-5,
    n_check: int = 2000,
) -> dict[str, Any]:
    """Write the bundle of a run to ``out`` (replaced if it exists); returns the ``bundle.json`` content.

    Args:
        run_dir: Run folder (``config.yaml`` and a model).
        out: Bundle folder to write.
        which: ``"best"`` (``best/best_model.zip``, else ``model.zip``) or ``"final"`` (``model.zip``).
        start: Live start date (the bars before it warm the run's ticker up); default the test window start.
        atol: Largest accepted ONNX-vs-SB3 action difference.
        n_check: Random observations in the ONNX check (plus up to 2000 real ones from the validation window).
    """
    from experiments.evaluation.policies import load_model

    run_dir, out = Path(run_dir), Path(out)
    cfg = load_config(run_dir / "config.yaml")
    model_file = model_path(run_dir, which)
    model = load_model(model_file)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    table = cfg.stack.menu.actions(ActionMap(cfg.stack.limits.max_position, cfg.stack.max_hold))
    table = table if cfg.stack.action == "menu" else None
    export_onnx(model, tmp / "policy.onnx", table)
    diff = check_onnx(model, tmp / "policy.onnx", check_observations(cfg, n_check), atol, table)
    logger.info("ONNX policy matches SB3 predict(deterministic=True): max abs diff %.3g", diff)
    data = load(cfg.stack.data)
    first = data.bar_at(start or cfg.stack.test[0])
    spec = build_spec(cfg, run_dir, model_file, type(model).__name__)
    spec["tier2"] = _tier2(cfg, data, first)
    if cfg.stack.tiers.tier1 and cfg.stack.tiers.tier1_learns_from == "market":
        spec["tier1"]["market_state"] = _tier1_market(cfg, data, first)
    spec["obs_norm"] = read_obs_norm(model_file)
    spec["policy"] = {"kind": "onnx", "file": "policy.onnx", "input": "obs", "output": "action", "opset": OPSET}
    spec["policy"]["check"] = {"max_abs_diff": diff, "n_obs": n_check, "atol": atol}
    warm = _warmup(data, first, spec["features"]["history_bars"])
    write_json_atomic(tmp / "warmup.json", warm)
    spec["warmup"] = {"ticker": warm["ticker"], "file": "warmup.json", "start": str(data.index[first].date())}
    spec["files"] = {name: sha256_file(tmp / name) for name in ("policy.onnx", "warmup.json")}
    write_json_atomic(tmp / BUNDLE_JSON, spec)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return spec


# ----------------------------------------------------------------------------------------------- Tier 4
def is_tier4_run(run_dir: Path) -> bool:
    """A `tradebrain meta-train` run folder (``tier4/tier4.json``), not a `train` run."""
    return (run_dir / "tier4" / "tier4.json").is_file()


def _specialist_module(params: Any, size_fraction: float) -> Any:
    """A torch module ``obs -> Specialist.env_action(mean action)``: the actor's mean, clipped to [-1, 1], the size
    component squeezed onto ``[0, size_fraction * cap]`` (checked against the torch path before anything is written)."""
    import torch

    from meta.policy import ActorCritic, architecture

    obs_dim, act_dim, pi, vf = architecture(params)
    net = ActorCritic(obs_dim, act_dim, pi, vf)
    net.load_state_dict({k: v.detach().to(torch.float32) for k, v in params.items()})

    class SpecialistAction(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            a = torch.clamp(self.net(obs, "actor"), -1.0, 1.0)
            return torch.cat([(a[:, :1] + 1.0) * size_fraction - 1.0, a[:, 1:]], dim=1)

    return SpecialistAction().eval()


def export_tier4(
    run_dir: str | Path, out: str | Path, *, start: str | None = None, atol: float = 1e-5, n_check: int = 2000
) -> dict[str, Any]:
    """Write the bundle of a `tradebrain meta-train` run: each specialist and the selector as ONNX.

    ``specialist_<name>.onnx`` maps ``obs`` ``(batch, 27)`` to the specialist's env action ``(batch, 4)``
    (:meth:`meta.specialists.Specialist.env_action` of its mean action, as :class:`meta.brain.Tier4Policy` acts);
    ``selector.onnx`` maps ``features`` ``(batch, 16)`` (:func:`meta.online.selector_features`) to ``logits``
    ``(batch, 3)``. Each is checked against the torch path on random and real observations (and features) before
    anything is written. The bundle's ``meta`` section names them with the schedule the backtest ran
    (``explore``, ``repick_every``) and the tiers the specialists were trained with;
    :class:`experiments.live.brain.LiveBrain` runs them with :class:`meta.online.SpecialistSchedule`, so replaying the
    test window gives the backtest's trades.
    """
    from experiments.training.meta import load_meta
    from meta.brain import Tier4, Tier4Policy
    from meta.online import N_FEATURES
    from meta.selector import greedy_action

    run_dir, out = Path(run_dir), Path(out)
    _, cfg = load_meta(run_dir / "config.yaml")
    brain = Tier4.load(run_dir / "tier4")
    schedule = Tier4Policy(brain).schedule
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    obs = check_observations(cfg, n_check)
    specialists, worst = [], 0.0
    for spec, params in brain.pairs():
        name = f"specialist_{spec.name}.onnx"
        _to_onnx(_specialist_module(params, spec.size_fraction), tmp / name, OBS_LAYOUT.size, ("obs", "action"))
        ours = _onnx_run(tmp / name, ("obs", "action"), obs)
        theirs = np.stack([spec.env_action(greedy_action(params, o)) for o in obs])
        diff = float(np.max(np.abs(ours - theirs)))
        if not diff <= atol:
            raise BundleError(f"specialist {spec.name}: ONNX and torch actions differ by {diff:.3g} > atol={atol:g}")
        worst = max(worst, diff)
        specialists.append({**spec.to_json(), "file": name, "input": "obs", "output": "action", "max_abs_diff": diff})
    rng = np.random.default_rng(0)
    feats = rng.normal(0.0, 1.0, size=(n_check, N_FEATURES)).astype(np.float32)
    _to_onnx(brain.selector, tmp / "selector.onnx", N_FEATURES, ("features", "logits"))
    import torch

    with torch.no_grad():
        theirs = brain.selector(torch.as_tensor(feats)).numpy()
    ours = _onnx_run(tmp / "selector.onnx", ("features", "logits"), feats)
    sel_diff = float(np.max(np.abs(ours - theirs)))
    if not sel_diff <= atol:
        raise BundleError(f"selector: ONNX and torch logits differ by {sel_diff:.3g} > atol={atol:g}")
    logger.info("Tier 4 ONNX matches torch: specialists %.3g, selector %.3g", worst, sel_diff)
    data = load(cfg.stack.data)
    first = data.bar_at(start or cfg.stack.test[0])
    spec_json = build_spec(cfg, run_dir, None, "tier4")
    spec_json["tier2"] = _tier2(cfg, data, first)
    spec_json["obs_norm"] = None
    spec_json["policy"] = {"kind": "tier4", "check": {"max_abs_diff": max(worst, sel_diff), "n_obs": n_check}}
    spec_json["meta"] = {
        "specialists": specialists,
        "selector": {"file": "selector.onnx", "input": "features", "output": "logits", "max_abs_diff": sel_diff},
        "explore": schedule.explore,
        "repick_every": schedule.repick_every,
        "tiers_seen": list(brain.tiers_seen),
        "source": str(run_dir / "tier4"),
    }
    warm = _warmup(data, first, spec_json["features"]["history_bars"])
    write_json_atomic(tmp / "warmup.json", warm)
    spec_json["warmup"] = {"ticker": warm["ticker"], "file": "warmup.json", "start": str(data.index[first].date())}
    files = [s["file"] for s in specialists] + ["selector.onnx", "warmup.json"]
    spec_json["files"] = {name: sha256_file(tmp / name) for name in files}
    write_json_atomic(tmp / BUNDLE_JSON, spec_json)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return spec_json


def export_rule_adapter(
    cfg: RunConfig, adapter: Any, out: str | Path, *, start: str | None = None, source: str = "rule_adapter"
) -> dict[str, Any]:
    """Write the bundle of Tier 4 adapting online: :class:`meta.rule_adapter.RuleAdapter` in ``meta.rule_adapter``.

    No network is exported: the adapter is numpy (the rule names, the prior, the evidence kind), and the bundle's
    costs, limits and action map (from ``cfg.stack``) configure its full-information simulation. The Tier 2
    detector and the warm-up bars are written as for every bundle, from ``cfg.stack.data`` before ``start`` (default:
    the test window's start). :class:`experiments.live.brain.LiveBrain` decides with it (policy kind
    ``"tier4_rules"``) as :class:`meta.rule_adapter.RuleAdapterPolicy` does in a backtest.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data = load(cfg.stack.data)
    first = data.bar_at(start or cfg.stack.test[0])
    spec_json = build_spec(cfg, Path(source), None, "tier4_rules")
    spec_json["tier2"] = _tier2(cfg, data, first)
    spec_json["obs_norm"] = None
    spec_json["policy"] = {"kind": "tier4_rules"}
    spec_json["meta"] = {"rule_adapter": adapter.to_json(), "source": source}
    warm = _warmup(data, first, spec_json["features"]["history_bars"])
    write_json_atomic(tmp / "warmup.json", warm)
    spec_json["warmup"] = {"ticker": warm["ticker"], "file": "warmup.json", "start": str(data.index[first].date())}
    spec_json["files"] = {"warmup.json": sha256_file(tmp / "warmup.json")}
    write_json_atomic(tmp / BUNDLE_JSON, spec_json)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return spec_json


def export_rules_run(run_dir: str | Path, out: str | Path, *, start: str | None = None) -> dict[str, Any]:
    """Write the ``tier4_rules`` bundle of a `tradebrain meta-train` run from its ``rule_adapter.json``
    (:func:`export_rule_adapter` with the run's config); a run without the file is a :class:`BundleError` naming
    the fix."""
    from experiments.training.meta import RULE_ADAPTER_FILE, load_meta
    from meta.rule_adapter import RuleAdapter

    run_dir = Path(run_dir)
    path = run_dir / RULE_ADAPTER_FILE
    if not path.is_file():
        raise BundleError(
            f"{run_dir} has no {RULE_ADAPTER_FILE}; fit it with `tradebrain meta-train --rules-only --run {run_dir}` "
            "(seconds; a full meta-train writes it too unless meta.rule_adapter=false), then export again"
        )
    try:
        adapter = RuleAdapter.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"{path}: {exc}; write it again with `tradebrain meta-train --rules-only --run {run_dir}`"
        ) from exc
    _, cfg = load_meta(run_dir / "config.yaml")
    return export_rule_adapter(cfg, adapter, out, start=start, source=str(path))
