"""The exported-brain bundle: one folder, ``bundle.json`` plus the files it lists (``policy.onnx``, ...).

A bundle is what :class:`experiments.live.brain.LiveBrain` loads with numpy and onnxruntime only (no torch, no SB3, no
pickle). ``experiments.live.export`` writes it from a training run; this module reads and checks it, so both sides agree
on one format. ``bundle.json`` (format :data:`BUNDLE_FORMAT`) holds:

=================  ===================================================================================================
``format``         :data:`BUNDLE_FORMAT` (a reader refuses any other value)
``created``        UTC time of the export
``versions``       ``tradebrain`` and the libraries at export time (``numpy``, ``onnx``, ``onnxruntime``, ``torch``,
                   ``stable_baselines3``); a reader refuses a bundle whose ``tradebrain`` major.minor differs
``source``         the run folder, the model file and its sha256, the algorithm, the config name and seed
``layout``         :meth:`envs.layout.ObservationLayout.to_json` (27 named slots); must equal the installed layout
``action_map``     :meth:`envs.layout.ActionMap.to_json`
``env``            ``costs`` (bps), ``limits`` (:class:`envs.risk.RiskLimits`), ``reward``
                   (:class:`envs.reward.RewardConfig`), ``min_trade``, ``initial_equity``, ``win_rate_window``
``features``       ``lookback`` (:data:`envs.features.LOOKBACK`), ``history_bars`` kept per ticker
``tier1``          ``enabled``, ``bandit`` (:meth:`agents.tier1.ComponentBandit.to_json`: settings and posteriors)
``tier2``          ``enabled``, ``detector`` (:meth:`agents.tier2.RegimeDetector.to_json`: HMM parameters,
                   scaler, rules and filter state), ``fit_window``
``obs_norm``       ``null`` or ``{"format": 1, "mean", "var", "clip_obs", "epsilon"}`` (the policy sees
                   ``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``)
``policy``         ``null`` (rules decide: Tiers 1 and 2 only), ``{"kind": "onnx", "file", "input", "output",
                   "opset"}``: the deterministic action (the Gaussian mean through the actor, clipped to [-1, 1]),
                   or ``{"kind": "tier4"}`` / ``{"kind": "tier4_rules"}``: the ``meta`` section decides
``meta``           Tier 4 (a `tradebrain meta-train` run): ``{"specialists": [{"name", "size_fraction",
                   "drawdown_penalty", "clip_penalty", "file", "input", "output", "max_abs_diff"}] (each ONNX:
                   obs (batch, 27) -> its env action (batch, 4), size bound included), "selector": {"file",
                   "input", "output"} (ONNX: features (batch, 16) -> logits (batch, 3)), "explore",
                   "repick_every", "tiers_seen"}`` (:class:`meta.online.SpecialistSchedule`); for ``tier4_rules``
                   ``{"rule_adapter": {"format_version", "rules", "prior": {"mean", "var", "noise_var"}, "dense",
                   "noise_trades"}}`` (:class:`meta.rule_adapter.RuleAdapter`); empty otherwise
``warmup``         ``null`` or ``{"ticker", "file"}``: bars before the live start, so the run's own ticker can
                   decide from its first live bar
``files``          ``{name: sha256}`` of every other file of the bundle; a reader refuses a mismatch
=================  ===================================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envs.layout import OBS_LAYOUT
from experiments.files import package_version, sha256_file

BUNDLE_FORMAT = "tradebrain.bundle/1"
"""The one bundle format this package writes and reads."""
BUNDLE_JSON = "bundle.json"
OBS_NORM_FORMAT = 1
"""Format of ``obs_norm.json`` next to a model and of the bundle's ``obs_norm`` section."""


class BundleError(ValueError):
    """A bundle that cannot be used: missing file, wrong format, hash or version. The message names the fix."""


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def check_obs_norm(norm: Any, where: str) -> dict[str, Any] | None:
    """Validate an observation normaliser record (``obs_norm.json`` or the bundle's section); None passes."""
    if norm is None:
        return None
    if not isinstance(norm, Mapping):
        raise BundleError(f"{where} is a {type(norm).__name__}; expected an object with mean, var, clip_obs, epsilon")
    if norm.get("format") != OBS_NORM_FORMAT:
        raise BundleError(f"{where} has format={norm.get('format')!r}; expected {OBS_NORM_FORMAT}")
    for key in ("mean", "var"):
        values = norm.get(key)
        if not isinstance(values, list) or len(values) != OBS_LAYOUT.size:
            raise BundleError(f"{where}[{key!r}] must be a list of {OBS_LAYOUT.size} numbers, got {values!r:.80}")
        if key == "var" and any(not isinstance(v, (int, float)) or v < 0 for v in values):
            raise BundleError(f"{where}['var'] has a negative or non-numeric value; variances are >= 0")
    for key in ("clip_obs", "epsilon"):
        value = norm.get(key)
        if not isinstance(value, (int, float)) or not value > 0:
            raise BundleError(f"{where}[{key!r}]={value!r} must be a number > 0 (e.g. clip_obs 10.0, epsilon 1e-8)")
    return dict(norm)


def read_bundle(folder: str | Path) -> dict[str, Any]:
    """Read and check ``folder/bundle.json``: format, tradebrain version, observation layout, file hashes.

    Returns:
        The parsed ``bundle.json`` with ``"_folder"`` set to the folder's path.

    Raises:
        BundleError: Missing folder or file, another format, another tradebrain major.minor version, another
            observation layout, a listed file missing or with another sha256.
    """
    root = Path(folder)
    path = root / BUNDLE_JSON
    if not path.is_file():
        raise BundleError(f"{root} is not a bundle (no {BUNDLE_JSON}); write one with `tradebrain export --run RUN`")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); export the bundle again") from None
    if not isinstance(spec, dict) or spec.get("format") != BUNDLE_FORMAT:
        got = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise BundleError(f"{path} has format {got!r}; this tradebrain reads {BUNDLE_FORMAT!r}: export it again")
    _check_versions(spec, path)
    layout = spec.get("layout", [])
    if [s.get("name") for s in layout] != list(OBS_LAYOUT.names):
        raise BundleError(
            f"{path}: the bundle's observation layout differs from this tradebrain's 27 slots "
            f"({', '.join(OBS_LAYOUT.names[:3])}, ...); export the run again with this version"
        )
    for theirs, ours in zip(layout, OBS_LAYOUT.to_json(), strict=True):  # same names, another meaning or range
        if theirs != ours:
            raise BundleError(
                f"{path}: slot {ours['name']!r} means {theirs.get('description')!r} in the bundle and "
                f"{ours['description']!r} here (the env's version changed); retrain and export the run with this "
                "version"
            )
    files = spec.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"{path} lacks the 'files' table of sha256 hashes; export the bundle again")
    for name, digest in files.items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"bundle file {name!r} listed in {path} is missing; copy the whole bundle folder")
        actual = sha256_file(file)
        if actual != digest:
            raise BundleError(
                f"bundle file {name!r} has sha256 {actual[:12]}..., {BUNDLE_JSON} says {digest[:12]}...: the file "
                "was changed or corrupted; export the bundle again (never edit a bundle by hand)"
            )
    check_obs_norm(spec.get("obs_norm"), f"{path}: obs_norm")
    spec["_folder"] = str(root)
    return spec


def _check_versions(spec: Mapping[str, Any], path: Path) -> None:
    versions = spec.get("versions")
    if not isinstance(versions, Mapping) or "tradebrain" not in versions:
        raise BundleError(f"{path} lacks versions.tradebrain; export the bundle again")
    ours, theirs = package_version(), str(versions["tradebrain"])
    if _major_minor(theirs) != _major_minor(ours):
        raise BundleError(
            f"{path} was exported by tradebrain {theirs}; this is tradebrain {ours} (major.minor must match): "
            "export the run again with this version, or install the version that wrote it"
        )
